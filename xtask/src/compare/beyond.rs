//! The programs beyond the tutorial, `worker-pool` and `chat`, against
//! their Go twins (`go/beyond-the-tutorial/`): each server, Go's and ours,
//! plays the same scripted session (`sessions.txt`, which says how a
//! session reads), and what each peer of the session receives must be the
//! same, as the protocols say, for both. Where a protocol leaves a choice,
//! the check allows it: the replies that one request line and the next may
//! get come in either order (a job's reply waits for the job, an echo does
//! not), a refused name's reason is the server's own, and whether a job
//! waits or is refused as busy depends on whether a worker had taken the
//! one before.

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
/// What a peer receives when the server closes its connection.
const CLOSED: &str = "(closed by the server)";
/// A refused name: the reason after it is each server's own.
const REFUSED: &str = "* cannot take that name: ";

/// The sessions: `(program, Go twin's directory under go/, options, acts)`.
fn sessions() -> Vec<(
    &'static str,
    &'static str,
    Vec<&'static str>,
    Vec<&'static str>,
)> {
    let script = include_str!("sessions.txt").split("\n## ").skip(1);
    let session = |text: &'static str| {
        let mut lines = text.lines();
        let mut head = lines.next().unwrap_or_default().split(' ');
        let (name, go) = (
            head.next().unwrap_or_default(),
            head.next().unwrap_or_default(),
        );
        (
            name,
            go,
            head.collect(),
            lines.filter(|l| !l.is_empty()).collect(),
        )
    };
    script.map(session).collect()
}

/// The Go twin (built with `go` into `dir`) and ours for each session:
/// `(program, side, outcome)`.
pub fn run(go: &Path, dir: &Path, rust: &Binaries) -> Vec<(&'static str, &'static str, Outcome)> {
    let mut results = Vec::new();
    for (name, twin, args, acts) in sessions() {
        let output = dir.join(format!("go-{name}{}", std::env::consts::EXE_SUFFIX));
        let package = format!("./{twin}");
        let twin = match go::build(go, &workspace_root().join("go"), &[&package], &output) {
            Ok(()) => Ok(Command::new(output)),
            Err(why) => Err(Outcome::Failed(format!("go/{twin} did not build: {why}"))),
        };
        let ours = rust.get(name).map(Command::new).map_err(|_| {
            let why = format!("ours is not built yet: this workspace has no `{name}` crate yet");
            Outcome::Skipped(why)
        });
        for (side, command) in [("Go twin", twin), ("ours", ours)] {
            println!("\n── {name}: the session against {side}");
            let outcome = match command.map(|c| play(name, c, &args, &acts)) {
                Ok(Ok(())) => Outcome::Passed(Vec::new()),
                Ok(Err(why)) => Outcome::Failed(format!("{why:#}")),
                Err(outcome) => outcome,
            };
            println!("   {}", outcome.describe());
            results.push((name, side, outcome));
        }
    }
    results
}

/// Starts the server, plays the session, stops the server (which must
/// then print a summary, as every server here does).
fn play(name: &str, mut command: Command, args: &[&str], acts: &[&str]) -> Result<()> {
    command.args(["--addr", "127.0.0.1:0"]).args(args);
    let mut server = Program::start(name, command, None, None)?;
    let played = play_acts(acts, server.announced_addr(REPLY)?);
    let status = server.terminate(REPLY)?;
    for line in server.lines(Stream::Stdout) {
        println!("   {:>12} │ {}", "server", shown(&line));
    }
    played?;
    if !status.success() || summary(&server.lines(Stream::Stdout)).is_none() {
        let how = exit_words(status);
        bail!("the server ended with {how} and no summary after SIGTERM");
    }
    Ok(())
}

/// The session's acts against the server at `addr`, each line each peer
/// received shown as it comes.
fn play_acts(acts: &[&str], addr: SocketAddr) -> Result<()> {
    let mut peers: Vec<(TcpStream, BufReader<TcpStream>)> = Vec::new();
    for act in acts {
        let (peer, act) = act.split_once(' ').context("an act names its peer")?;
        let peer: usize = peer.parse().context("a peer is a number")?;
        if act == "connect" {
            anyhow::ensure!(peer == peers.len(), "sessions.txt: peers connect in order");
            let stream = TcpStream::connect_timeout(&addr, REPLY)?;
            stream.set_read_timeout(Some(REPLY))?;
            peers.push((stream.try_clone()?, BufReader::new(stream)));
            continue;
        }
        let (stream, reader) = peers.get_mut(peer).context("a peer not connected")?;
        let mut received = |n: usize| {
            (0..n)
                .map(|_| receive(reader, peer))
                .collect::<Result<Vec<_>>>()
        };
        if let Some(line) = act.strip_prefix("> ") {
            writeln!(stream, "{line}")?;
        } else if act == "flood" {
            stream.write_all(&[b'x'; 70_000])?;
        } else if let Some(expected) = act.strip_prefix("< ") {
            let mut want: Vec<&str> = expected.split(" | ").collect();
            let got = received(want.len())?;
            // A refusal's reason is the server's own.
            let mut got: Vec<&str> = got
                .iter()
                .map(|l| {
                    if l.starts_with(REFUSED) {
                        "* cannot take that name: …"
                    } else {
                        l
                    }
                })
                .collect();
            got.sort_unstable();
            want.sort_unstable();
            if got != want {
                bail!("peer {peer} received {got:?}, expected {want:?}");
            }
        } else if act == "busy" {
            for _ in 0..3 {
                writeln!(stream, "sleep 200")?;
            }
            let got = received(3)?;
            let refused = got
                .iter()
                .filter(|l| *l == "busy: 1 jobs waiting, try again later")
                .count();
            let slept = got.iter().filter(|l| *l == "slept 200 ms").count();
            let in_order = got[..refused].iter().all(|l| l.starts_with("busy: "));
            if !(1..=2).contains(&refused) || refused + slept != 3 || !in_order {
                bail!(
                    "peer {peer} received {got:?}: expected 1 or 2 `busy` at once, then `slept 200 ms` for the others"
                );
            }
        } else {
            bail!("sessions.txt: no act `{act}`");
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
    let mut out = format!("{:<21} {:<8} ours\n", "beyond the tutorial", "Go twin");
    for pair in results.chunks(2) {
        if let [(name, _, twin), (_, _, ours)] = pair {
            out += &format!("{name:<21} {:<8} {}\n", twin.mark(), ours.mark());
        }
    }
    for (name, side, outcome) in results {
        if !matches!(outcome, Outcome::Passed(_)) {
            out += &format!("{name}, {side}: {}\n", outcome.describe());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_reads_as_its_acts() {
        let sessions = sessions();
        let names: Vec<_> = sessions
            .iter()
            .map(|(name, go, _, _)| (*name, *go))
            .collect();
        let twins = [
            ("worker-pool", "beyond-the-tutorial/worker-pool"),
            ("chat", "beyond-the-tutorial/chat"),
        ];
        assert_eq!(names, twins);
        assert_eq!(sessions[0].2, ["--workers", "1", "--queue", "1"]);
        for (_, _, _, acts) in &sessions {
            assert!(
                acts.len() > 20
                    && acts
                        .iter()
                        .all(|a| a.chars().next().is_some_and(|c| c.is_ascii_digit()))
            );
        }
    }
}
