//! `cargo xtask compare [--go DIR]`: our programs against the Go tutorial's.
//!
//! The repository's `go/` holds the Go programs in the tutorial's layout, and
//! is the default DIR; a learner may point `--go` at a copy of their own:
//!
//! ```text
//! DIR/tcp/server/main.go           DIR/socket_stick/server2/main.go
//! DIR/tcp/client/main.go           DIR/socket_stick/client2/main.go
//! DIR/socket_stick/client/main.go  DIR/socket_stick/proto/proto.go
//! DIR/socket_stick/server/main.go  (optional: the chapter's "unchanged"
//!                                   server, moved to port 30000)
//! DIR/UDP/server/main.go           DIR/UDP/client/main.go
//! ```
//!
//! [`run`] builds them (`go.rs`) and ours (dev profile, as the demo), then,
//! for each program of the tutorial ([`CHAPTERS`]), runs every client
//! against every server ([`SIDES`]: Go, the same server in one file of Rust
//! on mio, and our full server) with [`run_pair`], which the demo's ladder
//! runs too. The Go programs hard-code their ports (20000 for TCP echo,
//! 30000 for the rest), so the pairs run one at a time, on those ports when
//! a Go program plays, each after checking that the port is free
//! (`harness::ports`). Each pair is checked on what both sides printed
//! ([`checks`]); the closing matrix has one ✓/✗ per pair, and notes where a
//! Go program's known defect showed (see `docs/pitfalls.md`). Then the
//! programs beyond the tutorial, `worker-pool` and `chat`, play a scripted
//! session against their Go twins (built from the repository's
//! `go/beyond-the-tutorial/`) and against ours ([`beyond`]).
//!
//! Exit status: 0 when every pair that ran worked, 1 when one did not, 2
//! when the comparison cannot run (no `go`, no DIR, not that layout, or a
//! fixed port already taken: [`busy_ports`] names it and its holder first).

mod beyond;
mod checks;

use std::{fmt::Write as _, path::PathBuf, process::Command, time::Duration};

use anyhow::{Context, Result, bail};
use harness::{
    Program, Stream, exit_words,
    ports::{self, Transport},
};

use crate::{
    build::{Binaries, Profile, binaries, in_workspace, workspace_root},
    demo::{
        PACKAGES,
        check::summary,
        report::{Style, shown},
    },
    go,
};
use checks::Check;

/// How long a server may take to start, a client to run (the Go UDP client
/// would wait for ever), a port to be freed by the previous pair.
const START: Duration = Duration::from_secs(10);
const CLIENT: Duration = Duration::from_secs(20);
const PORT_FREE: Duration = Duration::from_secs(5);
/// Lines of each side shown per pair.
const SHOWN_LINES: usize = 12;

/// One program of the tutorial: its Go server and client, ours, its fixed
/// port, and how a pair is checked.
pub struct Chapter {
    pub name: &'static str,
    pub transport: Transport,
    pub port: u16,
    /// The Go programs' directories under DIR: server, client.
    pub go: [&'static str; 2],
    /// What the Go server does wrong, which the one-file reading fixes.
    pub defect: &'static str,
    /// The Go server in one file of Rust: an example of the server's crate.
    pub one_file: &'static str,
    /// Our programs: binary and subcommand, server then client.
    pub rust: [(&'static str, &'static [&'static str]); 2],
    pub check: Check,
}

/// The tutorial's programs, in its order.
pub const CHAPTERS: [Chapter; 4] = [
    Chapter {
        name: "tcp echo",
        transport: Transport::Tcp,
        port: 20000,
        go: ["tcp/server", "tcp/client"],
        defect: "a new bufio.Reader per read keeps 128 bytes and loses the rest",
        one_file: "one_file_tcp_server",
        rust: [("tcp-server", &[]), ("tcp-client", &[])],
        check: Check::Echo,
    },
    Chapter {
        name: "sticky",
        transport: Transport::Tcp,
        port: 30000,
        go: ["socket_stick/server", "socket_stick/client"],
        defect: "a new bufio.Reader per read keeps 128 bytes and loses the rest",
        one_file: "one_file_stick_server",
        rust: [("stick-demo", &["server"]), ("stick-demo", &["client"])],
        check: Check::Unframed,
    },
    Chapter {
        name: "framed",
        transport: Transport::Tcp,
        port: 30000,
        go: ["socket_stick/server2", "socket_stick/client2"],
        defect: "Decode spins on a split frame, a negative length panics",
        one_file: "one_file_stick_server2",
        rust: [("stick-demo", &["server2"]), ("stick-demo", &["client2"])],
        check: Check::Framed,
    },
    Chapter {
        name: "udp echo",
        transport: Transport::Udp,
        port: 30000,
        go: ["UDP/server", "UDP/client"],
        defect: "its 1024-byte buffer cuts every longer datagram",
        one_file: "one_file_udp_server",
        rust: [("udp-server", &[]), ("udp-client", &[])],
        check: Check::Datagram,
    },
];

/// Which implementation plays a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Go,
    /// The Go server in one file of Rust (a server only).
    OneFile,
    Rust,
}

/// The implementations, as the matrix's columns (and, those with clients,
/// its rows).
pub const SIDES: [Side; 3] = [Side::Go, Side::OneFile, Side::Rust];

impl Side {
    /// How the matrix and the labels name it.
    pub fn name(self) -> &'static str {
        ["Go", "one-file", "Rust"][self as usize]
    }
}

/// One cell of the matrix: a program, a client side and a server side.
#[derive(Clone, Copy)]
pub struct Pair {
    pub chapter: &'static Chapter,
    pub client: Side,
    pub server: Side,
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (client, server) = (self.client.name(), self.server.name());
        write!(
            f,
            "{}: {client} client → {server} server",
            self.chapter.name
        )
    }
}

/// What came of one pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// They worked together; notes say what a Go defect did, if anything.
    Passed(Vec<String>),
    Failed(String),
    /// Not run: the learner has no such Go program.
    Skipped(String),
}

impl Outcome {
    /// In one line: `✓ worked together`, `✗ why`, `– skipped: why`.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Passed(notes) if notes.is_empty() => "✓ worked together".to_owned(),
            Outcome::Passed(notes) => format!("✓ worked together; note: {}", notes.join("; ")),
            Outcome::Failed(why) => format!("✗ {why}"),
            Outcome::Skipped(why) => format!("– skipped: {why}"),
        }
    }

    /// Its mark in a table: `✓ (lossy)` where a Go server lost bytes.
    fn mark(&self) -> &'static str {
        match self {
            Outcome::Passed(notes) if notes.iter().any(|n| n.contains("lost")) => "✓ (lossy)",
            Outcome::Passed(_) => "✓",
            Outcome::Failed(_) => "✗",
            Outcome::Skipped(_) => "–",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Directory with the Go tutorial's programs: tcp/server/main.go,
    /// tcp/client/main.go, socket_stick/{client,server2,client2}/main.go,
    /// socket_stick/proto/proto.go, UDP/{server,client}/main.go, and
    /// optionally socket_stick/server/main.go. Default: the repository's
    /// own go/, which holds them.
    #[arg(long, value_name = "DIR")]
    pub go: Option<PathBuf>,
}

/// Says why the comparison cannot run, and exits 2 (nothing is running yet).
fn cannot_run(message: &str) -> ! {
    eprintln!("cargo xtask compare: {message}");
    std::process::exit(2);
}

/// `cargo xtask compare [--go DIR]`.
pub fn run(args: CompareArgs) -> Result<()> {
    let dir = args.go.unwrap_or_else(|| workspace_root().join("go"));
    if !dir.is_dir() {
        cannot_run(&format!(
            "{} is not a directory; give the directory of the Go tutorial's programs: \
             cargo xtask compare --go DIR (see `cargo xtask compare --help` for the layout)",
            dir.display()
        ));
    }
    let required = go::PROGRAMS.iter().filter(|(_, optional)| !optional);
    let required = required.map(|(program, _)| format!("{program}/main.go"));
    let required = required.chain(["socket_stick/proto/proto.go".to_owned()]);
    let missing: Vec<String> = required.filter(|f| !dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        let (dir, missing) = (dir.display(), missing.join(", "));
        cannot_run(&format!(
            "{dir} does not hold the Go tutorial's layout; missing: {missing}"
        ));
    }
    if let Some(busy) = busy_ports() {
        cannot_run(&busy);
    }
    let Some(go) = go::find_go() else {
        cannot_run(
            "`go` is not on PATH, so the Go programs cannot be built. Install Go \
             (Debian/Ubuntu: apt-get install golang-go) and run this again.",
        );
    };
    harness::install_interrupt_handler().context("cannot install the Ctrl-C handler")?;
    println!(
        "Go programs from {}, built with {}",
        dir.display(),
        go.display()
    );
    let tutorial = go::build_tutorial(&go, &dir)?;
    let tree = tutorial.tree().to_owned();
    println!("   (built in {})", tree.display());
    // Ours beyond the tutorial, when this workspace has them.
    let packages = [&PACKAGES[..], &in_workspace(&["worker-pool", "chat"])].concat();
    let built = Built {
        go: Some(tutorial),
        rust: binaries(Profile::Dev, &packages)?,
    };

    let mut cells = Vec::new();
    for chapter in &CHAPTERS {
        for client in [Side::Go, Side::Rust] {
            for server in SIDES {
                let pair = Pair {
                    chapter,
                    client,
                    server,
                };
                println!("\n── {pair} (port {})", chapter.port);
                let (outcome, started) = run_pair(pair, &built, None);
                show(&started);
                println!("   {}", outcome.describe());
                cells.push((pair, outcome));
            }
        }
    }
    let sessions = beyond::run(&go, &tree, &built.rust);
    println!("\n{}\n{}", matrix(&cells), beyond::table(&sessions));
    let outcomes = cells
        .iter()
        .map(|(_, o)| o)
        .chain(sessions.iter().map(|(_, _, o)| o));
    let (failed, all) = outcomes.fold((0, 0), |(failed, all), o| {
        (
            failed + usize::from(matches!(o, Outcome::Failed(_))),
            all + 1,
        )
    });
    if failed > 0 {
        bail!("{failed} of {all} pairs failed");
    }
    Ok(())
}

/// The Go programs' fixed ports that something else holds, in one line
/// naming each port, who holds it (when that can be known) and which Go
/// programs need it; `None` when all are free. Checked before anything is
/// built, so a busy port costs the learner one line, not a timeout per pair.
fn busy_ports() -> Option<String> {
    let mut busy = Vec::new();
    for (transport, port) in [
        (Transport::Tcp, 20000),
        (Transport::Tcp, 30000),
        (Transport::Udp, 30000),
    ] {
        let needed_by = CHAPTERS
            .iter()
            .filter(|p| p.transport == transport && p.port == port);
        let needed_by: Vec<&str> = needed_by.map(|p| p.go[0]).collect();
        let who = match ports::in_use(transport, port) {
            Ok(false) => continue,
            Ok(true) => match ports::holder(transport, port) {
                Ok(Some(holder)) => format!("by {holder}"),
                _ => "by a process this user cannot see".to_owned(),
            },
            Err(e) => return Some(format!("{e}")),
        };
        let needed_by = needed_by.join(", ");
        busy.push(format!(
            "{transport} port {port} (needed by {needed_by}) is in use {who}"
        ));
    }
    let them = if busy.len() == 1 { "it" } else { "them" };
    (!busy.is_empty()).then(|| {
        let busy = busy.join("; ");
        format!("{busy}; the Go programs hard-code their ports: stop {them} and run again")
    })
}

/// The programs a pair may run: the Go tutorial's, built (when `go` is
/// installed), and ours.
pub struct Built {
    pub go: Option<go::Tutorial>,
    pub rust: Binaries,
}

/// A program of a pair: its label, its command line as shown, and the
/// child once started.
pub struct Started {
    pub label: String,
    pub shown: String,
    pub program: Option<Program>,
}

/// The command for `side`'s server (`role` 0) or client (1) of `chapter`;
/// ours listen on, or connect to, `addr` (the Go programs hard-code it).
fn command(
    chapter: &Chapter,
    side: Side,
    role: usize,
    addr: &str,
    built: &Built,
) -> Result<(String, Command), Outcome> {
    let (binary, sub) = match side {
        Side::Go => {
            let dir = chapter.go[role];
            let Some(go) = &built.go else {
                let why = "`go` is not installed (Debian/Ubuntu: apt-get install golang-go)";
                return Err(Outcome::Skipped(why.to_owned()));
            };
            return match go.get(dir) {
                Ok(path) => Ok((format!("go {dir}"), Command::new(path))),
                Err(why) if why.starts_with("no ") => Err(Outcome::Skipped(format!(
                    "{why} (optional: the chapter's unchanged server, listening on port 30000)"
                ))),
                Err(why) => Err(Outcome::Failed(format!("{dir} did not build: {why}"))),
            };
        }
        Side::OneFile => (chapter.one_file, &[][..]),
        Side::Rust => chapter.rust[role],
    };
    let path = built
        .rust
        .get(binary)
        .map_err(|e| Outcome::Failed(format!("{e:#}")))?;
    let args: Vec<&str> = sub.iter().copied().chain(["--addr", addr]).collect();
    let mut command = Command::new(path);
    command.args(&args);
    Ok((format!("{binary} {}", args.join(" ")), command))
}

/// Runs one pair: the server, then the client against it, the pair's
/// check on what both printed, and the server's stop (ours must exit 0
/// with a summary). On the Go programs' fixed port when a Go program plays
/// (they hard-code it), on one the kernel picks otherwise. With `live`,
/// each command line is shown before it starts and its lines as they come
/// (the demo); without, they are kept for [`show`] (compare). The
/// programs are returned, so that a failed pair shows what both printed.
pub fn run_pair(pair: Pair, built: &Built, live: Option<Style>) -> (Outcome, [Started; 2]) {
    let roles = [(pair.server, "server"), (pair.client, "client")];
    let mut started = roles.map(|(side, role)| Started {
        label: format!("{} {role}", side.name()),
        shown: String::new(),
        program: None,
    });
    let fixed = pair.client == Side::Go || pair.server == Side::Go;
    let addr = format!("127.0.0.1:{}", if fixed { pair.chapter.port } else { 0 });
    let server = match command(pair.chapter, pair.server, 0, &addr, built) {
        Ok((shown, server)) => {
            started[0].shown = shown;
            server
        }
        Err(outcome) => return (outcome, started),
    };
    let outcome = match exchange(pair, fixed, server, built, &mut started, live) {
        Ok(notes) => Outcome::Passed(notes),
        Err(why) => Outcome::Failed(format!("{why:#}")),
    };
    (outcome, started)
}

/// Starts the server, runs the client against where it serves, checks both
/// sides' output, stops the server; the programs go into `started`, killed
/// when it is dropped.
fn exchange(
    pair: Pair,
    fixed: bool,
    server: Command,
    built: &Built,
    started: &mut [Started; 2],
    live: Option<Style>,
) -> Result<Vec<String>> {
    let Chapter {
        transport, port, ..
    } = *pair.chapter;
    if fixed {
        port_becomes(transport, port, false, PORT_FREE, || Ok(())).context(format!(
            "port {port} is taken by another program; stop it and retry"
        ))?;
    }
    let start = |started: &mut Started, command, stdin| -> Result<()> {
        if let Some(style) = live {
            style.command(&started.label, &started.shown);
        }
        let echo = live.map(Style::echo_lines);
        started.program = Some(Program::start(&started.label, command, stdin, echo)?);
        Ok(())
    };
    let [s, c] = started;
    start(s, server, None)?;
    let s = s.program.as_mut().expect("started");
    let addr = serving(pair, s)?;
    let client = command(pair.chapter, pair.client, 1, &addr, built);
    let (shown, client) = client.map_err(|outcome| anyhow::anyhow!(outcome.describe()))?;
    c.shown = shown;
    start(c, client, pair.chapter.check.stdin(pair.client))?;
    let c = c.program.as_mut().expect("started");
    let status = c.wait(CLIENT)?;
    if !status.success() {
        bail!("the client ended with {}", exit_words(status));
    }
    let notes = pair.chapter.check.run(pair.client, pair.server, s, c)?;
    let status = s.terminate(START)?;
    if pair.server == Side::Rust {
        if !status.success() {
            bail!("the server ended with {} after SIGTERM", exit_words(status));
        }
        if summary(&s.lines(Stream::Stdout)).is_none() {
            bail!("the server printed no summary after SIGTERM");
        }
    }
    Ok(notes)
}

/// Waits until the pair's server serves, and says where. Ours (one file
/// or full) announce it; the Go servers print nothing, so the kernel's
/// tables are watched for their fixed port, unless the server gave up.
fn serving(pair: Pair, server: &Program) -> Result<String> {
    if pair.server != Side::Go {
        return Ok(server.announced_addr(START)?.to_string());
    }
    let (transport, port) = (pair.chapter.transport, pair.chapter.port);
    port_becomes(transport, port, true, START, || {
        match server.exit_status() {
            Some(status) => bail!(
                "the Go server ended ({}) before listening",
                exit_words(status)
            ),
            None => Ok(()),
        }
    })?;
    Ok(format!("127.0.0.1:{port}"))
}

/// Waits until `port` is `in_use` as wanted, checking `still_ok` between
/// looks (a server that exited will never bind). The kernel offers no
/// notification for "someone bound a port": a short poll, bounded by
/// `timeout`, is the way.
fn port_becomes(
    transport: Transport,
    port: u16,
    in_use: bool,
    timeout: Duration,
    mut still_ok: impl FnMut() -> Result<()>,
) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    while ports::in_use(transport, port)? != in_use {
        still_ok()?;
        if std::time::Instant::now() >= deadline {
            let state = if in_use { "in use" } else { "free" };
            bail!("{transport} port {port} was not {state} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Prints what each program of a pair printed, server last.
fn show(started: &[Started; 2]) {
    for side in started.iter().rev() {
        println!("   {} $ {}", side.label, side.shown);
        let Some(program) = &side.program else {
            continue;
        };
        for stream in [Stream::Stdout, Stream::Stderr] {
            let tag = match stream {
                Stream::Stdout => side.label.clone(),
                Stream::Stderr => format!("{} (err)", side.label),
            };
            let lines = program.lines(stream);
            for line in lines.iter().take(SHOWN_LINES) {
                println!("   {tag:>15} │ {}", shown(line));
            }
            let more = lines.len().saturating_sub(SHOWN_LINES) + program.dropped_lines(stream);
            if more > 0 {
                println!("   {tag:>15} │ … and {more} more lines");
            }
        }
    }
}

/// The closing matrix: per program, clients down, servers across.
fn matrix(cells: &[(Pair, Outcome)]) -> String {
    let mut out = format!("{:<10} {:<12}", "program", "client");
    for server in SIDES {
        let _ = write!(out, " {:<16}", format!("{} server", server.name()));
    }
    out = out.trim_end().to_owned();
    let _ = writeln!(
        out,
        "\n{:-<10} {:-<12}{}",
        "",
        "",
        " ----------------".repeat(SIDES.len())
    );
    for chapter in &CHAPTERS {
        for client in [Side::Go, Side::Rust] {
            let name = if client == Side::Go { chapter.name } else { "" };
            let _ = write!(
                out,
                "{name:<10} {:<12}",
                format!("{} client", client.name())
            );
            for server in SIDES {
                let cell = cells.iter().find(|(p, _)| {
                    p.chapter.name == chapter.name && p.client == client && p.server == server
                });
                let _ = write!(out, " {:<16}", cell.map_or("?", |(_, o)| o.mark()));
            }
            out = out.trim_end().to_owned() + "\n";
        }
    }
    let notes: Vec<String> = cells
        .iter()
        .filter(|(_, o)| o.mark() != "✓")
        .map(|(pair, o)| match o {
            Outcome::Failed(why) | Outcome::Skipped(why) => format!("{} {pair}: {why}", o.mark()),
            Outcome::Passed(notes) => format!("{} {pair}: {}", o.mark(), notes.join("; ")),
        })
        .collect();
    if !notes.is_empty() {
        out = format!("{out}\n{}\n", notes.join("\n"));
    }
    let passed = cells
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Passed(_)))
        .count();
    let ran = cells
        .iter()
        .filter(|(_, o)| !matches!(o, Outcome::Skipped(_)))
        .count();
    let _ = writeln!(out, "\n{passed} of {ran} pairs worked together");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_puts_clients_down_servers_across_and_lists_what_went_wrong() {
        let pair = |chapter, client, server| Pair {
            chapter: &CHAPTERS[chapter],
            client,
            server,
        };
        let (go, one_file, rust) = (Side::Go, Side::OneFile, Side::Rust);
        let cells = vec![
            (pair(0, go, go), Outcome::Passed(vec![])),
            (pair(0, go, one_file), Outcome::Passed(vec![])),
            (pair(0, go, rust), Outcome::Passed(vec![])),
            (pair(0, rust, go), Outcome::Failed("no echo".into())),
            (pair(0, rust, rust), Outcome::Passed(vec![])),
            (pair(1, go, go), Outcome::Skipped("no Go program".into())),
            (
                pair(1, rust, go),
                Outcome::Passed(vec!["the Go server lost the rest".into()]),
            ),
        ];
        let text = matrix(&cells);
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let header = [
            "program", "client", "Go", "server", "one-file", "server", "Rust", "server",
        ];
        assert_eq!(rows[0], header);
        assert_eq!(rows[2], ["tcp", "echo", "Go", "client", "✓", "✓", "✓"]);
        assert_eq!(rows[3], ["Rust", "client", "✗", "?", "✓"]);
        assert_eq!(rows[4], ["sticky", "Go", "client", "–", "?", "?"]);
        for note in [
            "✗ tcp echo: Rust client → Go server: no echo",
            "– sticky: Go client → Go server: no Go program",
            "✓ (lossy) sticky: Rust client → Go server",
        ] {
            assert!(text.contains(note), "{text}");
        }
        assert!(text.ends_with("5 of 6 pairs worked together\n"), "{text}");
    }

    #[test]
    fn every_program_has_a_fixed_go_port_and_both_sides() {
        for program in &CHAPTERS {
            assert!([20000, 30000].contains(&program.port));
            for role in 0..2 {
                assert!(go::PROGRAMS.iter().any(|(d, _)| *d == program.go[role]));
                assert!(PACKAGES.contains(&program.rust[role].0));
            }
            let example = format!("{}/examples/{}.rs", program.rust[0].0, program.one_file);
            assert!(workspace_root().join(&example).is_file(), "{example}");
        }
    }
}
