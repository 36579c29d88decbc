//! The programs beyond the tutorial, `worker-pool` and `chat`, against
//! their Go twins (`go/beyond-the-tutorial/`): each server, Go's and ours,
//! plays the same scripted session ([`SESSIONS`]), and what each peer of
//! the session receives must be the same, as the protocols say, for both.
//! Where a protocol leaves a choice, the check allows it: the replies that
//! one request line and the next may get come in either order (a job's
//! reply waits for the job, an echo does not), a refused name's reason is
//! the server's own, and whether a job waits or is refused as busy depends
//! on whether a worker had taken the one before.

use std::{
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use harness::{Program, Stream, exit_words};

use super::Outcome;
use crate::{
    build::{Binaries, workspace_root},
    demo::{check::summary, report::shown},
    go,
};

/// How long a reply may take (the longest job of a session is 300 ms).
const REPLY: Duration = Duration::from_secs(5);

/// What the session does, in order, with its peers (numbered from 0).
enum Act {
    Connect(usize),
    Send(usize, &'static str),
    /// A line longer than the protocols allow.
    SendTooLong(usize),
    /// The lines the peer must receive next, in any order ([`CLOSED`]: the
    /// server closes its connection).
    Receive(usize, &'static [&'static str]),
    /// Three `sleep 200` against one worker and a queue of one: the first
    /// runs, the second waits or, if no worker had taken the first yet, is
    /// refused too; the third is refused. Refusals come at once.
    Busy(usize),
}

use Act::*;

/// One program's session: its name, its binary (ours) and Go twin's
/// directory, their options, and the session.
pub struct Session {
    name: &'static str,
    go: &'static str,
    args: &'static [&'static str],
    acts: &'static [Act],
}

pub const SESSIONS: [Session; 2] = [
    Session {
        name: "worker-pool",
        go: "beyond-the-tutorial/worker-pool",
        args: &["--workers", "1", "--queue", "1"],
        acts: &[
            Connect(0),
            Connect(1),
            Send(0, "hello, pool"),
            Receive(0, &["hello, pool"]),
            Send(0, "sleep 300"),
            Send(1, "another client, served meanwhile"),
            Receive(1, &["another client, served meanwhile"]),
            Send(0, "echoed before the job is done"),
            Receive(0, &["echoed before the job is done", "slept 300 ms"]),
            Send(0, "spin 20"),
            Receive(0, &["spun 20 ms"]),
            Send(0, "panic"),
            Receive(0, &["error: the job failed (panicked)"]),
            Send(0, "sleep 0"),
            Receive(0, &["slept 0 ms"]),
            Send(0, "sleep 10001"),
            Send(0, "spin ten"),
            Receive(0, &[BAD_JOB, BAD_JOB]),
            Busy(0),
            SendTooLong(1),
            Receive(1, &["error: line longer than 65536 bytes"]),
            Receive(1, &[CLOSED]),
        ],
    },
    Session {
        name: "chat",
        go: "beyond-the-tutorial/chat",
        args: &[],
        acts: &[
            Connect(0),
            Receive(
                0,
                &["* welcome, you are guest1; 0 others here; /nick NAME renames you, /quit leaves"],
            ),
            Connect(1),
            Receive(
                1,
                &["* welcome, you are guest2; 1 others here; /nick NAME renames you, /quit leaves"],
            ),
            Receive(0, &["* guest2 joined"]),
            Send(0, "hello, chat"),
            Receive(1, &["guest1: hello, chat"]),
            Send(0, "/nick alice"),
            Receive(0, &["* guest1 is now alice"]),
            Receive(1, &["* guest1 is now alice"]),
            Send(1, "/nick alice"),
            Send(1, "/nick two words"),
            Send(1, "/help"),
            Receive(
                1,
                &[
                    REFUSED,
                    REFUSED,
                    "* unknown command; /nick NAME renames you, /quit leaves",
                ],
            ),
            Send(1, "hi alice"),
            Receive(0, &["guest2: hi alice"]),
            Send(1, "/quit"),
            Receive(1, &[CLOSED]),
            Receive(0, &["* guest2 left"]),
            SendTooLong(0),
            Receive(0, &["error: line longer than 65536 bytes"]),
            Receive(0, &[CLOSED]),
        ],
    },
];

const BAD_JOB: &str = r#"error: expected "sleep MS" or "spin MS" with MS from 0 to 10000"#;
/// What a peer receives when the server closes its connection.
const CLOSED: &str = "(closed by the server)";
/// A refused name: the reason after it is each server's own.
const REFUSED: &str = "* cannot take that name: …";

/// A line as the session compares it: a refusal's reason left out.
fn normal(line: &str) -> &str {
    match line.strip_prefix("* cannot take that name: ") {
        Some(_) => REFUSED,
        None => line,
    }
}

/// The Go twin (built with `go` into `dir`) and ours for each session:
/// `(program, side, outcome)`.
pub fn run(go: &Path, dir: &Path, rust: &Binaries) -> Vec<(&'static str, &'static str, Outcome)> {
    let mut results = Vec::new();
    for session in &SESSIONS {
        let twin = twin(session, go, dir);
        let ours = match rust.get(session.name) {
            Ok(path) => Ok(Command::new(path)),
            Err(_) => Err(Outcome::Skipped(format!(
                "ours is not built yet: this workspace has no `{}` crate yet",
                session.name
            ))),
        };
        for (side, command) in [("Go twin", twin), ("ours", ours)] {
            println!("\n── {}: the session against {side}", session.name);
            let outcome = match command {
                Ok(command) => match play(session, command) {
                    Ok(()) => Outcome::Passed(Vec::new()),
                    Err(why) => Outcome::Failed(format!("{why:#}")),
                },
                Err(outcome) => outcome,
            };
            println!("   {}", outcome.describe());
            results.push((session.name, side, outcome));
        }
    }
    results
}

/// The Go twin of `session`, built from the repository's `go/` into `dir`.
fn twin(session: &Session, go: &Path, dir: &Path) -> Result<Command, Outcome> {
    let module = workspace_root().join("go");
    let output = dir.join(format!(
        "go-{}{}",
        session.name,
        std::env::consts::EXE_SUFFIX
    ));
    let package = format!("./{}", session.go);
    match go::build(go, &module, &[&package], &output) {
        Ok(()) => Ok(Command::new(output)),
        Err(why) => Err(Outcome::Failed(format!(
            "go/{} did not build: {why}",
            session.go
        ))),
    }
}

/// Starts the server, plays the session, stops the server (which must
/// then print a summary, as every server here does).
fn play(session: &Session, mut command: Command) -> Result<()> {
    command.args(["--addr", "127.0.0.1:0"]).args(session.args);
    let mut server = Program::start(session.name, command, None, None)?;
    let addr = server.announced_addr(REPLY)?;
    let played = acts(session, addr);
    let status = server.terminate(REPLY)?;
    for line in server.lines(Stream::Stdout) {
        println!("   {:>12} │ {}", "server", shown(&line));
    }
    played?;
    if !status.success() || summary(&server.lines(Stream::Stdout)).is_none() {
        bail!(
            "the server ended with {} and no summary after SIGTERM",
            exit_words(status)
        );
    }
    Ok(())
}

/// The session's acts against the server at `addr`, each line each peer
/// received shown as it comes.
fn acts(session: &Session, addr: SocketAddr) -> Result<()> {
    let mut peers: Vec<Option<(TcpStream, BufReader<TcpStream>)>> = Vec::new();
    for act in session.acts {
        let peer = match *act {
            Connect(p) | Send(p, _) | SendTooLong(p) | Receive(p, _) | Busy(p) => p,
        };
        if let Connect(p) = act {
            let stream = TcpStream::connect_timeout(&addr, REPLY)?;
            stream.set_read_timeout(Some(REPLY))?;
            let reader = BufReader::new(stream.try_clone()?);
            peers.resize_with(peers.len().max(p + 1), || None);
            peers[*p] = Some((stream, reader));
            continue;
        }
        let (stream, reader) = peers
            .get_mut(peer)
            .and_then(Option::as_mut)
            .context("a peer not connected")?;
        let mut received =
            |n: usize| -> Result<Vec<String>> { (0..n).map(|_| receive(reader, peer)).collect() };
        match act {
            Send(_, line) => writeln!(stream, "{line}")?,
            SendTooLong(_) => stream.write_all(&[b'x'; 70_000])?,
            Receive(_, expected) => {
                let mut got = received(expected.len())?;
                let mut want: Vec<&str> = expected.to_vec();
                let mut normalised: Vec<&str> = got.iter_mut().map(|l| normal(l)).collect();
                normalised.sort_unstable();
                want.sort_unstable();
                if normalised != want {
                    bail!("peer {peer} received {normalised:?}, expected {want:?}");
                }
            }
            Busy(_) => {
                for _ in 0..3 {
                    writeln!(stream, "sleep 200")?;
                }
                let got = received(3)?;
                let busy = got
                    .iter()
                    .filter(|l| *l == "busy: 1 jobs waiting, try again later");
                let refused = busy.count();
                let slept = got.iter().filter(|l| *l == "slept 200 ms").count();
                let in_order = got[..refused].iter().all(|l| l.starts_with("busy: "));
                if !(1..=2).contains(&refused) || refused + slept != 3 || !in_order {
                    bail!(
                        "peer {peer} received {got:?}: expected 1 or 2 `busy` at once, then `slept 200 ms` for the others"
                    );
                }
            }
            Connect(_) => {}
        }
    }
    Ok(())
}

/// The next line peer `peer` receives, without its `\n` ([`CLOSED`] at
/// the end of the connection); shown.
fn receive(reader: &mut BufReader<TcpStream>, peer: usize) -> Result<String> {
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .with_context(|| format!("peer {peer}: no line within {REPLY:?}"))?;
    let line = match n {
        0 => CLOSED.to_owned(),
        _ => line.trim_end_matches(['\n', '\r']).to_owned(),
    };
    println!("   {:>12} │ {}", format!("peer {peer}"), shown(&line));
    Ok(line)
}

/// The closing table: a row per program, its Go twin and ours.
pub fn table(results: &[(&str, &str, Outcome)]) -> String {
    let mark = |o: &Outcome| match o {
        Outcome::Passed(_) => "✓",
        Outcome::Failed(_) => "✗",
        Outcome::Skipped(_) => "–",
    };
    let mut out = format!("{:<21} {:<8} ours\n", "beyond the tutorial", "Go twin");
    for pair in results.chunks(2) {
        let [(name, _, twin), (_, _, ours)] = pair else {
            continue;
        };
        out += &format!("{name:<21} {:<8} {}\n", mark(twin), mark(ours));
    }
    for (name, side, outcome) in results {
        if !matches!(outcome, Outcome::Passed(_)) {
            out += &format!("{name}, {side}: {}\n", outcome.describe());
        }
    }
    out
}
