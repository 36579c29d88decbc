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
//! on mio, and our full server). The Go programs hard-code their ports
//! (20000 for TCP echo, 30000 for the rest), so the pairs run one at a
//! time, on those ports, each after checking that the port is free
//! (`harness::ports`). Each pair shows what both sides printed and is
//! checked on that output ([`checks`]); the closing matrix has one ✓/✗ per
//! pair, and notes where a Go program's known defect showed (see
//! `docs/pitfalls.md`). Then the programs beyond the tutorial, `worker-pool`
//! and `chat`, play a scripted session against their Go twins (built from
//! the repository's `go/beyond-the-tutorial/`) and against ours ([`beyond`]).
//!
//! Exit status: 0 when every pair that ran worked, 1 when one did not, 2
//! when the comparison cannot run (no `go`, no DIR, not that layout, or a
//! fixed port already taken: [`busy_ports`] names it and its holder first).

mod beyond;
mod checks;

use std::{fmt::Write as _, path::PathBuf, process::Command, time::Duration};

use anyhow::{Context, Result, bail};
use harness::{
    EchoLines, Program, Stream, exit_words,
    ports::{self, Transport},
};

use crate::{
    build::{Binaries, Profile, binaries, in_workspace, workspace_root},
    demo::{PACKAGES, check::summary, report::shown},
    go,
};
use checks::Check;

/// How long a server may take to start, a client to run (the Go UDP client
/// would wait for ever), a port to be freed by the previous pair.
const START: Duration = Duration::from_secs(10);
const CLIENT: Duration = Duration::from_secs(10);
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
        one_file: "one_file_tcp_server",
        rust: [("tcp-server", &[]), ("tcp-client", &[])],
        check: Check::Echo,
    },
    Chapter {
        name: "sticky",
        transport: Transport::Tcp,
        port: 30000,
        go: ["socket_stick/server", "socket_stick/client"],
        one_file: "one_file_stick_server",
        rust: [("stick-demo", &["server"]), ("stick-demo", &["client"])],
        check: Check::Unframed,
    },
    Chapter {
        name: "framed",
        transport: Transport::Tcp,
        port: 30000,
        go: ["socket_stick/server2", "socket_stick/client2"],
        one_file: "one_file_stick_server2",
        rust: [("stick-demo", &["server2"]), ("stick-demo", &["client2"])],
        check: Check::Framed,
    },
    Chapter {
        name: "udp echo",
        transport: Transport::Udp,
        port: 30000,
        go: ["UDP/server", "UDP/client"],
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
        match self {
            Side::Go => "Go",
            Side::OneFile => "one-file",
            Side::Rust => "Rust",
        }
    }

    /// The sides that have clients: the one-file readings are servers.
    fn clients() -> impl Iterator<Item = Side> {
        SIDES.into_iter().filter(|&side| side != Side::OneFile)
    }
}

/// One cell of the matrix: a program, a client side and a server side.
#[derive(Clone, Copy)]
struct Pair {
    program: &'static Chapter,
    client: Side,
    server: Side,
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (client, server) = (self.client.name(), self.server.name());
        write!(
            f,
            "{}: {client} client → {server} server",
            self.program.name
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
    let required = go::PROGRAMS
        .iter()
        .filter(|(_, optional)| !optional)
        .map(|(program, _)| format!("{program}/main.go"))
        .chain(["socket_stick/proto/proto.go".to_owned()]);
    let missing: Vec<String> = required.filter(|f| !dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        cannot_run(&format!(
            "{} does not hold the Go tutorial's layout; missing: {}",
            dir.display(),
            missing.join(", ")
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
    println!("   (built in {})", tutorial.tree().display());
    // Ours beyond the tutorial, when this workspace has them.
    let packages = [&PACKAGES[..], &in_workspace(&["worker-pool", "chat"])].concat();
    let rust = binaries(Profile::Dev, &packages)?;

    let mut cells = Vec::new();
    for program in &CHAPTERS {
        for client in Side::clients() {
            for server in SIDES {
                let pair = Pair {
                    program,
                    client,
                    server,
                };
                cells.push((pair, run_pair(pair, &tutorial, &rust)));
            }
        }
    }
    let sessions = beyond::run(&go, tutorial.tree(), &rust);
    println!("\n{}\n{}", matrix(&cells), beyond::table(&sessions));
    let outcomes = cells.iter().map(|(_, o)| o);
    let outcomes: Vec<&Outcome> = outcomes.chain(sessions.iter().map(|(_, _, o)| o)).collect();
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(_)))
        .count();
    if failed > 0 {
        bail!("{failed} of {} pairs failed", outcomes.len());
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
        let needed_by: Vec<&str> = CHAPTERS
            .iter()
            .filter(|p| p.transport == transport && p.port == port)
            .map(|p| p.go[0])
            .collect();
        let who = match ports::in_use(transport, port) {
            Ok(false) => continue,
            Ok(true) => match ports::holder(transport, port) {
                Ok(Some(holder)) => format!("by {holder}"),
                _ => "by a process this user cannot see".to_owned(),
            },
            Err(e) => return Some(format!("{e}")),
        };
        busy.push(format!(
            "{transport} port {port} (needed by {}) is in use {who}",
            needed_by.join(", ")
        ));
    }
    let them = if busy.len() == 1 { "it" } else { "them" };
    (!busy.is_empty()).then(|| {
        format!(
            "{}; the Go programs hard-code their ports: stop {them} and run again",
            busy.join("; ")
        )
    })
}

/// A program of a pair, started: how it is shown, and the child.
struct Started {
    label: String,
    shown: String,
    program: Option<Program>,
}

/// The command for `side`'s server (`role` 0) or client (1) of `chapter`;
/// ours listen on, or connect to, `addr` (the Go programs hard-code it).
pub fn command(
    chapter: &Chapter,
    side: Side,
    role: usize,
    addr: &str,
    go: Option<&go::Tutorial>,
    rust: &Binaries,
) -> Result<(String, Command), Outcome> {
    let (binary, sub) = match side {
        Side::Go => {
            let dir = chapter.go[role];
            let Some(go) = go else {
                return Err(Outcome::Skipped(
                    "`go` is not installed (Debian/Ubuntu: apt-get install golang-go)".to_owned(),
                ));
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
    let path = rust
        .get(binary)
        .map_err(|e| Outcome::Failed(format!("{e:#}")))?;
    let args: Vec<&str> = sub.iter().copied().chain(["--addr", addr]).collect();
    let mut command = Command::new(path);
    command.args(&args);
    Ok((format!("{binary} {}", args.join(" ")), command))
}

/// Runs one pair and prints what both sides said.
fn run_pair(pair: Pair, go: &go::Tutorial, rust: &Binaries) -> Outcome {
    let chapter = pair.program;
    println!("\n── {pair} (port {})", chapter.port);
    let addr = format!("127.0.0.1:{}", chapter.port);
    let command = |side, role| command(chapter, side, role, &addr, Some(go), rust);
    let commands = match (command(pair.server, 0), command(pair.client, 1)) {
        (Ok(server), Ok(client)) => [server, client],
        (Err(outcome), _) | (_, Err(outcome)) => {
            println!("   {}", describe(&outcome));
            return outcome;
        }
    };
    let [(server_shown, server), (client_shown, client)] = commands;
    let mut started = [
        (pair.server, "server", server_shown),
        (pair.client, "client", client_shown),
    ]
    .map(|(side, role, shown)| Started {
        label: format!("{} {role}", side.name()),
        shown,
        program: None,
    });
    let outcome = match exchange(pair, server, client, &mut started) {
        Ok(notes) => Outcome::Passed(notes),
        Err(why) => Outcome::Failed(format!("{why:#}")),
    };
    for side in started.iter().rev() {
        println!("   {} $ {}", side.label, side.shown);
        let Some(program) = &side.program else {
            continue;
        };
        for (stream, tag) in [
            (Stream::Stdout, side.label.clone()),
            (Stream::Stderr, format!("{} (err)", side.label)),
        ] {
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
    println!("   {}", describe(&outcome));
    outcome
}

/// An outcome in one line: `✓ worked together`, `✗ why`, `– skipped: why`.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Passed(notes) if notes.is_empty() => "✓ worked together".to_owned(),
        Outcome::Passed(notes) => format!("✓ worked together; note: {}", notes.join("; ")),
        Outcome::Failed(why) => format!("✗ {why}"),
        Outcome::Skipped(why) => format!("– skipped: {why}"),
    }
}

/// Starts the server, runs the client, checks both sides' output, stops
/// the server. The programs go into `started` (server, client) so they are
/// shown even when a check fails; they are killed when it is dropped.
fn exchange(
    pair: Pair,
    server: Command,
    client: Command,
    started: &mut [Started; 2],
) -> Result<Vec<String>> {
    let Chapter {
        transport, port, ..
    } = *pair.program;
    port_becomes(transport, port, false, PORT_FREE, || Ok(())).context(format!(
        "port {port} is taken by another program; stop it and retry"
    ))?;
    let [s, c] = started;
    let server = s
        .program
        .insert(Program::start(&s.label, server, None, EchoLines::Silent)?);
    serving(pair.program, pair.server, server)?;
    let stdin = pair.program.check.stdin(pair.client);
    let client = c
        .program
        .insert(Program::start(&c.label, client, stdin, EchoLines::Silent)?);
    let status = client.wait(CLIENT)?;
    if !status.success() {
        bail!("the client ended with {}", exit_words(status));
    }
    let notes = pair
        .program
        .check
        .run(pair.client, pair.server, server, client)?;
    let status = server.terminate(START)?;
    if pair.server == Side::Rust {
        if !status.success() {
            bail!("the server ended with {} after SIGTERM", exit_words(status));
        }
        if summary(&server.lines(Stream::Stdout)).is_none() {
            bail!("the server printed no summary after SIGTERM");
        }
    }
    Ok(notes)
}

/// Waits until `side`'s server of `chapter` serves, and returns where.
/// Ours (one file or full) announce it; the Go servers print nothing, so
/// the kernel's tables are watched for their fixed port, unless the server
/// gave up.
pub fn serving(chapter: &Chapter, side: Side, server: &Program) -> Result<String> {
    if side != Side::Go {
        return Ok(server.announced_addr(START)?.to_string());
    }
    let (transport, port) = (chapter.transport, chapter.port);
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
pub fn port_becomes(
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

/// The closing matrix: per program, clients down, servers across.
fn matrix(cells: &[(Pair, Outcome)]) -> String {
    let lossy = |notes: &[String]| notes.iter().any(|n| n.contains("lost"));
    let mark = |outcome: &Outcome| match outcome {
        Outcome::Passed(notes) if lossy(notes) => "✓ (lossy)",
        Outcome::Passed(_) => "✓",
        Outcome::Failed(_) => "✗",
        Outcome::Skipped(_) => "–",
    };
    let mut out = format!("{:<10} {:<12}", "program", "client");
    for server in SIDES {
        let _ = write!(out, " {:<16}", format!("{} server", server.name()));
    }
    let rule = " ----------------".repeat(SIDES.len());
    out = out.trim_end().to_owned();
    let _ = writeln!(out, "\n{:-<10} {:-<12}{rule}", "", "");
    for program in &CHAPTERS {
        for client in Side::clients() {
            let name = if client == SIDES[0] { program.name } else { "" };
            let _ = write!(
                out,
                "{name:<10} {:<12}",
                format!("{} client", client.name())
            );
            for server in SIDES {
                let cell = cells.iter().find(|(p, _)| {
                    p.program.name == program.name && p.client == client && p.server == server
                });
                let _ = write!(out, " {:<16}", cell.map_or("?", |(_, o)| mark(o)));
            }
            out = out.trim_end().to_owned() + "\n";
        }
    }
    let mut notes = Vec::new();
    for (pair, outcome) in cells {
        match outcome {
            Outcome::Failed(why) => notes.push(format!("✗ {pair}: {why}")),
            Outcome::Skipped(why) => notes.push(format!("– {pair}: {why}")),
            Outcome::Passed(n) if lossy(n) => {
                notes.push(format!("✓ (lossy) {pair}: {}", n.join("; ")))
            }
            Outcome::Passed(_) => {}
        }
    }
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
        let pair = |program, client, server| Pair {
            program: &CHAPTERS[program],
            client,
            server,
        };
        let cells = vec![
            (pair(0, Side::Go, Side::Go), Outcome::Passed(vec![])),
            (pair(0, Side::Go, Side::OneFile), Outcome::Passed(vec![])),
            (pair(0, Side::Go, Side::Rust), Outcome::Passed(vec![])),
            (
                pair(0, Side::Rust, Side::Go),
                Outcome::Failed("no echo".into()),
            ),
            (pair(0, Side::Rust, Side::Rust), Outcome::Passed(vec![])),
            (
                pair(1, Side::Go, Side::Go),
                Outcome::Skipped("no Go program".into()),
            ),
            (
                pair(1, Side::Rust, Side::Go),
                Outcome::Passed(vec!["the Go server lost the rest".into()]),
            ),
        ];
        let text = matrix(&cells);
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows[0],
            [
                "program", "client", "Go", "server", "one-file", "server", "Rust", "server"
            ]
        );
        assert_eq!(rows[2], ["tcp", "echo", "Go", "client", "✓", "✓", "✓"]);
        assert_eq!(rows[3], ["Rust", "client", "✗", "?", "✓"]);
        assert_eq!(rows[4], ["sticky", "Go", "client", "–", "?", "?"]);
        assert!(
            text.contains("✗ tcp echo: Rust client → Go server: no echo"),
            "{text}"
        );
        assert!(
            text.contains("– sticky: Go client → Go server: no Go program"),
            "{text}"
        );
        assert!(
            text.contains("✓ (lossy) sticky: Rust client → Go server"),
            "{text}"
        );
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
