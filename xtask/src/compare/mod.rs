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
//! [`run`] builds them (`go.rs`) and ours (dev profile, as the demo), then, for
//! each program of the tutorial, runs every client against every server:
//! Go → Go, Go → Rust, Rust → Go, Rust → Rust. The Go programs hard-code
//! their ports (20000 for TCP echo, 30000 for the rest), so the pairs run
//! one at a time, on those ports, each after checking that the port is free
//! ([`ports`]). Each pair shows what both sides printed and is checked on
//! that output; the closing matrix has one ✓/✗ per pair, and notes where a
//! Go program's known defect showed (see `docs/pitfalls.md`).
//!
//! Exit status: 0 when every pair that ran worked, 1 when one did not, 2
//! when the comparison cannot run (no `go`, no DIR, not that layout, or a
//! fixed port already taken: [`busy_ports`] names it and its holder first).

use std::{fmt, path::PathBuf, process::Command, time::Duration};

use anyhow::{Context, Result, bail};
use harness::{EchoLines, Program, Stream, exit_words};

use crate::{
    build::{Binaries, Profile, binaries, workspace_root},
    demo::{
        PACKAGES,
        check::{
            glued_equals_repeated, payload, payloads, pieces_of_repeated, plural, received_texts,
            summary,
        },
        report::shown,
    },
    go,
};
use harness::ports::{self, Transport};

/// How long a server may take to start listening.
const START: Duration = Duration::from_secs(10);
/// How long a client may run; the Go UDP client would wait for ever.
const CLIENT: Duration = Duration::from_secs(10);
/// How long a server may take to print what it received.
const OUTPUT: Duration = Duration::from_secs(5);
/// How long a port may stay taken after the previous pair.
const PORT_FREE: Duration = Duration::from_secs(5);
/// Lines of each side shown per pair.
const SHOWN_LINES: usize = 12;

const STICK_MESSAGE: &str = "Hello, Hello. How are you?";
const STICK_COUNT: usize = 20;

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
    let go_programs = go::build_tutorial(&go, &dir)?;
    println!("   (built in {})", go_programs.tree().display());
    let rust = binaries(Profile::Dev, &PACKAGES)?;

    let mut cells = Vec::new();
    for family in Family::ALL {
        for (client, server) in [
            (Side::Go, Side::Go),
            (Side::Go, Side::Rust),
            (Side::Rust, Side::Go),
            (Side::Rust, Side::Rust),
        ] {
            let pair = Pair {
                family,
                client,
                server,
            };
            let outcome = run_pair(pair, &go_programs, &rust);
            cells.push((pair, outcome));
        }
    }

    println!("\n{}", matrix(&cells));
    let failed = cells
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
        .count();
    if failed > 0 {
        bail!("{failed} of {} pairs failed", cells.len());
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
        let needed_by: Vec<&str> = Family::ALL
            .iter()
            .filter(|f| f.transport() == transport && f.port() == port)
            .map(|f| f.go_dir(Role::Server))
            .collect();
        let who = match ports::in_use(transport, port) {
            Ok(false) => continue,
            Ok(true) => match ports::holder(transport, port) {
                Ok(Some(holder)) => format!("by {holder}"),
                _ => "by a process this user cannot see".to_owned(),
            },
            Err(e) => return Some(format!("{e:#}")),
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

/// Which implementation plays a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Go,
    Rust,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Go => "Go",
            Side::Rust => "Rust",
        })
    }
}

/// One program of the tutorial: a server and its client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Tcp,
    Stick,
    Framed,
    Udp,
}

impl Family {
    const ALL: [Family; 4] = [Family::Tcp, Family::Stick, Family::Framed, Family::Udp];

    fn name(self) -> &'static str {
        match self {
            Family::Tcp => "tcp echo",
            Family::Stick => "sticky",
            Family::Framed => "framed",
            Family::Udp => "udp echo",
        }
    }

    fn port(self) -> u16 {
        match self {
            Family::Tcp => 20000,
            _ => 30000,
        }
    }

    fn transport(self) -> Transport {
        match self {
            Family::Udp => Transport::Udp,
            _ => Transport::Tcp,
        }
    }

    /// The Go program's directory under DIR.
    fn go_dir(self, role: Role) -> &'static str {
        match (self, role) {
            (Family::Tcp, Role::Server) => "tcp/server",
            (Family::Tcp, Role::Client) => "tcp/client",
            (Family::Stick, Role::Server) => "socket_stick/server",
            (Family::Stick, Role::Client) => "socket_stick/client",
            (Family::Framed, Role::Server) => "socket_stick/server2",
            (Family::Framed, Role::Client) => "socket_stick/client2",
            (Family::Udp, Role::Server) => "UDP/server",
            (Family::Udp, Role::Client) => "UDP/client",
        }
    }

    /// Our binary and its subcommand, if any.
    fn rust(self, role: Role) -> (&'static str, &'static [&'static str]) {
        match (self, role) {
            (Family::Tcp, Role::Server) => ("tcp-server", &[]),
            (Family::Tcp, Role::Client) => ("tcp-client", &[]),
            (Family::Stick, Role::Server) => ("stick-demo", &["server"]),
            (Family::Stick, Role::Client) => ("stick-demo", &["client"]),
            (Family::Framed, Role::Server) => ("stick-demo", &["server2"]),
            (Family::Framed, Role::Client) => ("stick-demo", &["client2"]),
            (Family::Udp, Role::Server) => ("udp-server", &[]),
            (Family::Udp, Role::Client) => ("udp-client", &[]),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Server,
    Client,
}

#[derive(Clone, Copy, Debug)]
struct Pair {
    family: Family,
    client: Side,
    server: Side,
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} client → {} server",
            self.family.name(),
            self.client,
            self.server
        )
    }
}

/// What came of one pair.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// They worked together; notes say what a Go defect did, if anything.
    Passed(Vec<String>),
    Failed(String),
    /// Not run: the learner has no such Go program.
    Skipped(String),
}

/// A program to start: how to show it, and the command.
struct Launch {
    label: String,
    shown: String,
    program: PathBuf,
    args: Vec<String>,
}

fn launch(pair: Pair, role: Role, go: &go::Tutorial, rust: &Binaries) -> Result<Launch, Outcome> {
    let side = match role {
        Role::Server => pair.server,
        Role::Client => pair.client,
    };
    let role_name = match role {
        Role::Server => "server",
        Role::Client => "client",
    };
    let label = format!("{side} {role_name}");
    match side {
        Side::Go => {
            let dir = pair.family.go_dir(role);
            match go.get(dir) {
                Ok(path) => Ok(Launch {
                    label,
                    shown: format!("go {dir}"),
                    program: path.to_path_buf(),
                    args: Vec::new(),
                }),
                Err(why) if why.starts_with("no ") => Err(Outcome::Skipped(format!(
                    "{why} (optional: the chapter's unchanged server, listening on port 30000)"
                ))),
                Err(why) => Err(Outcome::Failed(format!("{dir} did not build: {why}"))),
            }
        }
        Side::Rust => {
            let (binary, sub) = pair.family.rust(role);
            let program = rust
                .get(binary)
                .map_err(|e| Outcome::Failed(format!("{e:#}")))?
                .to_path_buf();
            let mut args: Vec<String> = sub.iter().map(|s| s.to_string()).collect();
            args.extend([
                "--addr".to_owned(),
                format!("127.0.0.1:{}", pair.family.port()),
            ]);
            Ok(Launch {
                label,
                shown: std::iter::once(binary.to_owned())
                    .chain(args.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
                program,
                args,
            })
        }
    }
}

fn start(launch: &Launch, stdin: Option<Vec<u8>>) -> Result<Program> {
    let mut command = Command::new(&launch.program);
    command.args(&launch.args);
    Ok(Program::start(
        &launch.label,
        command,
        stdin,
        EchoLines::Silent,
    )?)
}

/// Runs one pair and prints what both sides said.
fn run_pair(pair: Pair, go: &go::Tutorial, rust: &Binaries) -> Outcome {
    println!("\n── {pair} (port {})", pair.family.port());
    let (server, client) = match (
        launch(pair, Role::Server, go, rust),
        launch(pair, Role::Client, go, rust),
    ) {
        (Ok(s), Ok(c)) => (s, c),
        (Err(outcome), _) | (_, Err(outcome)) => {
            println!("   {}", describe(&outcome));
            return outcome;
        }
    };
    let mut server_program = None;
    let mut client_program = None;
    let outcome = match exchange(
        pair,
        &server,
        &client,
        &mut server_program,
        &mut client_program,
    ) {
        Ok(notes) => Outcome::Passed(notes),
        Err(why) => Outcome::Failed(format!("{why:#}")),
    };
    for (launch, program) in [(&client, &client_program), (&server, &server_program)] {
        println!("   {} $ {}", launch.label, launch.shown);
        if let Some(program) = program {
            show_output(&launch.label, program);
        }
    }
    println!("   {}", describe(&outcome));
    outcome
}

fn show_output(label: &str, program: &Program) {
    for stream in [Stream::Stdout, Stream::Stderr] {
        let lines = program.lines(stream);
        let tag = match stream {
            Stream::Stdout => format!("{label:>12} │"),
            Stream::Stderr => format!("{:>12} │", format!("{label} (err)")),
        };
        for line in lines.iter().take(SHOWN_LINES) {
            println!("   {tag} {}", shown(line));
        }
        let more = lines.len().saturating_sub(SHOWN_LINES) + program.dropped_lines(stream);
        if more > 0 {
            println!("   {tag} … and {more} more lines");
        }
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Passed(notes) if notes.is_empty() => "✓ worked together".to_owned(),
        Outcome::Passed(notes) => format!("✓ worked together; note: {}", notes.join("; ")),
        Outcome::Failed(why) => format!("✗ {why}"),
        Outcome::Skipped(why) => format!("– skipped: {why}"),
    }
}

/// Starts the server, runs the client, checks both sides' output, stops
/// the server. The programs are handed back (for display) through the
/// `Option`s, so they are shown even when a check fails; they are killed
/// when the caller drops them.
fn exchange(
    pair: Pair,
    server: &Launch,
    client: &Launch,
    server_slot: &mut Option<Program>,
    client_slot: &mut Option<Program>,
) -> Result<Vec<String>> {
    let family = pair.family;
    let (transport, port) = (family.transport(), family.port());
    port_becomes(transport, port, false, PORT_FREE, || Ok(())).map_err(|e| {
        e.context(format!(
            "port {port} is taken by another program; stop it and retry"
        ))
    })?;

    let server_program = server_slot.insert(start(server, None)?);
    match pair.server {
        Side::Rust => {
            server_program.announced_addr(START)?;
        }
        Side::Go => {
            // The Go servers print nothing when they start: wait for the
            // kernel to show the port bound, unless the server gave up.
            port_becomes(transport, port, true, START, || {
                if let Some(status) = server_program.exit_status() {
                    bail!(
                        "the Go server ended ({}) before listening",
                        exit_words(status)
                    );
                }
                Ok(())
            })?;
        }
    }

    let stdin =
        (family == Family::Tcp).then(|| format!("{}\nQ\n", tcp_line(pair.client)).into_bytes());
    let client_program = client_slot.insert(start(client, stdin)?);
    let status = client_program.wait(CLIENT)?;
    if !status.success() {
        bail!("the client ended with {}", exit_words(status));
    }

    let notes = match family {
        Family::Tcp => check_tcp(pair, server_program, client_program)?,
        Family::Stick => check_stick(pair, server_program)?,
        Family::Framed => check_framed(pair, server_program)?,
        Family::Udp => check_udp(server_program, client_program)?,
    };

    let status = server_program.terminate(START)?;
    if pair.server == Side::Rust {
        if !status.success() {
            bail!("the server ended with {} after SIGTERM", exit_words(status));
        }
        if summary(&server_program.lines(Stream::Stdout)).is_none() {
            bail!("the server printed no summary after SIGTERM");
        }
    }
    Ok(notes)
}

/// Waits until `port` is `in_use` as `wanted`, checking `still_ok` between
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

fn tcp_line(client: Side) -> String {
    format!("hello from the {client} client")
}

const TCP_PREFIX: &str = "received client Data sent from terminal: ";
const STICK_PREFIX: &str = "received client Data sent: ";

fn check_tcp(pair: Pair, server: &Program, client: &Program) -> Result<Vec<String>> {
    let line = tcp_line(pair.client);
    server.wait_for_line(Stream::Stdout, &format!("{line:?}"), OUTPUT, |l| {
        payload(l, TCP_PREFIX) == Some(&line)
    })?;
    let echoes = client.lines(Stream::Stdout);
    if echoes.first() != Some(&line) {
        bail!(
            "the client printed {:?}, not the echo {line:?}",
            echoes.first()
        );
    }
    Ok(Vec::new())
}

/// The unframed messages: every byte for our server; for a Go server, what
/// it printed must be pieces of the messages (it may lose some: a note).
fn check_stick(pair: Pair, server: &Program) -> Result<Vec<String>> {
    let total = STICK_MESSAGE.len() * STICK_COUNT;
    match pair.server {
        Side::Rust => {
            server.wait_for_line(
                Stream::Stdout,
                "the connection's `reads` picture",
                OUTPUT,
                |l| l.contains(": reads "),
            )?;
            let lines = server.lines(Stream::Stdout);
            let reads = received_texts(&lines);
            glued_equals_repeated(&reads, STICK_MESSAGE, STICK_COUNT)
                .map_err(anyhow::Error::msg)?;
            Ok(vec![format!(
                "{total} bytes arrived in {}",
                plural(reads.len(), "read")
            )])
        }
        Side::Go => {
            // The Go server prints a failed read when the client has gone.
            server.wait_for_line(Stream::Stdout, "`read from client failed`", OUTPUT, |l| {
                l.starts_with("read from client failed")
            })?;
            let lines = server.lines(Stream::Stdout);
            let reads = received_texts(&lines);
            let printed: usize = reads.iter().map(|r| r.len()).sum();
            if printed == 0 || !pieces_of_repeated(&reads, STICK_MESSAGE) {
                bail!("the Go server printed {printed} bytes that are not the client's messages");
            }
            let mut notes = vec![format!(
                "{printed} of {total} bytes printed in {}",
                plural(reads.len(), "read")
            )];
            if printed < total {
                notes.push(
                    "the Go server lost the rest: it reads 128 bytes through a new bufio.Reader \
                     each time and drops what that reader buffered (docs/pitfalls.md)"
                        .to_owned(),
                );
            }
            Ok(notes)
        }
    }
}

/// The framed messages: exactly 20, each the text.
fn check_framed(pair: Pair, server: &Program) -> Result<Vec<String>> {
    match pair.server {
        Side::Rust => {
            server.wait_for_line(
                Stream::Stdout,
                "the connection's `decoded` line",
                OUTPUT,
                |l| l.contains(": decoded "),
            )?;
        }
        Side::Go => {
            // server2 says nothing at end of stream; wait for the messages,
            // or for the empty-message loop of its Decode to show.
            server.wait_until("20 messages", OUTPUT, |lines| {
                let messages = payloads(lines, STICK_PREFIX);
                messages.len() >= STICK_COUNT
            })?;
        }
    }
    let lines = server.lines(Stream::Stdout);
    let messages = payloads(&lines, STICK_PREFIX);
    let empty = messages.iter().filter(|m| m.is_empty()).count();
    if empty > 0 {
        // Past the lines kept, the count is a lower bound.
        let more = if server.dropped_lines(Stream::Stdout) > 0 {
            " or more"
        } else {
            ""
        };
        bail!(
            "the server printed {empty}{more} empty messages: the Go Decode returns \"\" when a frame \
             has not fully arrived, and never reads more (docs/pitfalls.md)"
        );
    }
    let right = messages.iter().filter(|m| **m == STICK_MESSAGE).count();
    if messages.len() != STICK_COUNT || right != STICK_COUNT {
        bail!(
            "{} messages printed, {right} of them the text, expected {STICK_COUNT}",
            messages.len()
        );
    }
    Ok(Vec::new())
}

fn check_udp(server: &Program, client: &Program) -> Result<Vec<String>> {
    server.wait_for_line(
        Stream::Stdout,
        "`data:Hello server … count:12`",
        OUTPUT,
        |l| l.starts_with("data:Hello server addr:") && l.ends_with(" count:12"),
    )?;
    let expected = "recv:Hello server addr:127.0.0.1:30000 count:12";
    let lines = client.lines(Stream::Stdout);
    if lines.first().map(String::as_str) != Some(expected) {
        bail!(
            "the client printed {:?}, expected {expected:?}",
            lines.first()
        );
    }
    Ok(Vec::new())
}

/// The closing matrix: per program, clients down, servers across.
fn matrix(cells: &[(Pair, Outcome)]) -> String {
    use std::fmt::Write as _;
    let mark = |outcome: &Outcome| match outcome {
        Outcome::Passed(notes) if notes.iter().any(|n| n.contains("lost")) => "✓ (lossy)",
        Outcome::Passed(_) => "✓",
        Outcome::Failed(_) => "✗",
        Outcome::Skipped(_) => "–",
    };
    let mut out = String::new();
    let _ = writeln!(out, "program    client       Go server    Rust server");
    let _ = writeln!(out, "{:-<10} {:-<12} {:-<12} {:-<11}", "", "", "", "");
    for family in Family::ALL {
        for client in [Side::Go, Side::Rust] {
            let cell = |server: Side| {
                cells
                    .iter()
                    .find(|(p, _)| p.family == family && p.client == client && p.server == server)
                    .map_or("?", |(_, o)| mark(o))
            };
            let name = if client == Side::Go {
                family.name()
            } else {
                ""
            };
            let row = format!(
                "{name:<10} {:<12} {:<12} {}",
                format!("{client} client"),
                cell(Side::Go),
                cell(Side::Rust)
            );
            let _ = writeln!(out, "{row}");
        }
    }
    let mut notes = Vec::new();
    for (pair, outcome) in cells {
        match outcome {
            Outcome::Failed(why) => notes.push(format!("✗ {pair}: {why}")),
            Outcome::Skipped(why) => notes.push(format!("– {pair}: {why}")),
            Outcome::Passed(n) if n.iter().any(|n| n.contains("lost")) => {
                notes.push(format!("✓ (lossy) {pair}: {}", n.join("; ")))
            }
            Outcome::Passed(_) => {}
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            let _ = writeln!(out, "{note}");
        }
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

    fn pair(family: Family, client: Side, server: Side) -> Pair {
        Pair {
            family,
            client,
            server,
        }
    }

    #[test]
    fn matrix_puts_clients_down_servers_across_and_lists_what_went_wrong() {
        let cells = vec![
            (
                pair(Family::Tcp, Side::Go, Side::Go),
                Outcome::Passed(vec![]),
            ),
            (
                pair(Family::Tcp, Side::Go, Side::Rust),
                Outcome::Passed(vec![]),
            ),
            (
                pair(Family::Tcp, Side::Rust, Side::Go),
                Outcome::Failed("no echo".into()),
            ),
            (
                pair(Family::Tcp, Side::Rust, Side::Rust),
                Outcome::Passed(vec![]),
            ),
            (
                pair(Family::Stick, Side::Go, Side::Go),
                Outcome::Skipped("no Go program".into()),
            ),
            (
                pair(Family::Stick, Side::Rust, Side::Go),
                Outcome::Passed(vec![
                    "128 of 520 bytes printed".into(),
                    "the Go server lost the rest".into(),
                ]),
            ),
        ];
        let text = matrix(&cells);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["tcp", "echo", "Go", "client", "✓", "✓"]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["Rust", "client", "✗", "✓"]
        );
        assert_eq!(
            lines[4].split_whitespace().collect::<Vec<_>>(),
            ["sticky", "Go", "client", "–", "?"]
        );
        assert!(lines[5].contains("✓ (lossy)"), "{text}");
        assert!(
            text.contains("✗ tcp echo: Rust client → Go server: no echo"),
            "{text}"
        );
        assert!(
            text.contains("– sticky: Go client → Go server: no Go program"),
            "{text}"
        );
        assert!(text.ends_with("4 of 5 pairs worked together\n"), "{text}");
    }

    #[test]
    fn every_family_has_a_fixed_go_port_and_both_sides() {
        for family in Family::ALL {
            assert!([20000, 30000].contains(&family.port()));
            for role in [Role::Server, Role::Client] {
                assert!(go::PROGRAMS.iter().any(|(d, _)| *d == family.go_dir(role)));
                assert!(PACKAGES.contains(&family.rust(role).0));
            }
        }
    }
}
