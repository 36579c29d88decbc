//! Part 6, the ladder: each Go server read three ways, each serving the
//! same client of ours and checked as `cargo xtask compare` checks it. The
//! Go program (built from `go/` when `go` is installed, on its fixed port);
//! the same program in one file of Rust on mio (the crate's example); our
//! full server on `netpoll`. `docs/ladder.md` shows, row by row, what goes
//! wrong without each thing the full server adds, and measures it.

use anyhow::Result;
use harness::ports;

use super::{Demo, Step};
use crate::compare::{self, CHAPTERS, Chapter, Outcome, SIDES, Side};

/// One step per Go server, in the tutorial's order.
pub fn steps() -> Vec<Step> {
    vec![
        ("6a the ladder: tcp/server", |d| ladder(d, &CHAPTERS[0])),
        ("6b the ladder: socket_stick/server", |d| {
            ladder(d, &CHAPTERS[1])
        }),
        ("6c the ladder: socket_stick/server2", |d| {
            ladder(d, &CHAPTERS[2])
        }),
        ("6d the ladder: UDP/server", |d| ladder(d, &CHAPTERS[3])),
    ]
}

/// What the Go program does wrong, which the one-file reading fixes and
/// nothing more.
fn go_defect(chapter: &Chapter) -> &'static str {
    match chapter.go[0] {
        "UDP/server" => "its 1024-byte buffer cuts every longer datagram",
        "socket_stick/server2" => "Decode spins on a split frame, a negative length panics",
        _ => "a new bufio.Reader per read keeps 128 bytes and loses the rest",
    }
}

/// The three rungs of `chapter`'s server, one after the other.
fn ladder(d: &mut Demo, chapter: &Chapter) -> Result<()> {
    let ((server, _), (client, sub)) = (chapter.rust[0], chapter.rust[1]);
    let client_name = [&[client], sub].concat().join(" ");
    let go = chapter.go[0];
    let narration = [
        format!("The same {client_name} against three readings of go/{go}:"),
        format!("1 Go, go/{go}/main.go: {}.", go_defect(chapter)),
        format!("2 One file, {server}/examples/{}.rs:", chapter.one_file),
        "  the same steps on mio, the readiness loop in plain sight (Poll, a token per socket,"
            .into(),
        "  read and write until WouldBlock, output the socket did not take kept until it is".into(),
        "  writable). It fixes what Go loses, and nothing more.".into(),
        format!("3 Full, {server} on netpoll: what real peers need too (limits, a graceful"),
        "  stop with a summary, output that never stalls the loop, the spin, and over TCP".into(),
        "  backpressure and fairness): docs/ladder.md shows each one failing without it, and"
            .into(),
        "  measures what it buys.".into(),
    ];
    let lines: Vec<&str> = narration.iter().map(String::as_str).collect();
    d.narrate(&format!("go/{go}, one file, full"), &lines);
    for side in SIDES {
        let rung = format!("{} server", side.name());
        // The Go servers hard-code their port; ours take the kernel's pick.
        let port = if side == Side::Go { chapter.port } else { 0 };
        let addr = format!("127.0.0.1:{port}");
        let (shown, command) =
            match compare::command(chapter, side, 0, &addr, d.go.as_ref(), &d.binaries) {
                Ok(command) if side != Side::Go || !in_use(chapter) => command,
                Ok(_) => {
                    let holder = ports::holder(chapter.transport, port).ok().flatten();
                    let by = holder.map_or_else(String::new, |h| format!(" by {h}"));
                    println!("   – {rung} skipped: port {port} is in use{by}");
                    continue;
                }
                Err(Outcome::Skipped(why)) => {
                    println!("   – {rung} skipped: {why}");
                    continue;
                }
                Err(outcome) => {
                    d.record(&format!("{rung} started"), Err(compare::describe(&outcome)));
                    continue;
                }
            };
        let server = d.launch(&rung, &shown, command, None)?;
        let addr = compare::serving(chapter, side, &server)?;
        let args = [&[client], sub, &["--addr", &addr]].concat();
        let stdin = chapter.check.stdin(Side::Rust);
        let stdin = stdin.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        let label = format!("{} → {}", sub.first().unwrap_or(&client), side.name());
        let client = d.client(&label, &args, stdin)?;
        let checked = chapter.check.run(Side::Rust, side, &server, &client);
        d.record(
            &format!("the {rung} served {}", chapter.name),
            checked
                .map(|notes| notes.join("; "))
                .map_err(|e| format!("{e:#}")),
        );
        if side == Side::Rust {
            d.stop(server, "what it served", |_| true);
        }
    }
    Ok(())
}

/// Whether the Go server's fixed port is taken (by another program, or
/// another run): its rung is then skipped, not failed.
fn in_use(chapter: &Chapter) -> bool {
    ports::in_use(chapter.transport, chapter.port).unwrap_or(false)
}
