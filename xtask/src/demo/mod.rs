//! `cargo xtask demo [tcp|stick|udp|trace]`: the whole tutorial, run and checked.
//!
//! Read [`run`] first: it builds the programs once (dev profile), then runs the
//! parts in the tutorial's order: [`tcp`], the sticky-packet steps
//! ([`stick_raw`] to [`stick_framed_chunks`]), [`udp`], and the event loop
//! at work under `--trace` ([`trace_tcp`], [`trace_stick`]). Each step
//! says in a few lines what is about to happen and why, starts the programs
//! on ports the kernel picks (`--addr 127.0.0.1:0`; each server announces
//! its port on its first line), shows their own output with their names in
//! front, and checks that output: the bytes echoed, the bytes a server
//! received, the messages it decoded, the summary it printed on SIGTERM.
//! The closing table lists every check; any ✗ makes the exit status 1.
//!
//! Every program is a [`harness::Program`], killed with its process group
//! and reaped however the step ends (even on Ctrl-C), and every wait has a
//! deadline.

pub mod check;
pub mod report;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use harness::{Program, Stream, exit_words};

use crate::build::{Binaries, Profile, binaries};
use check::{
    exact_lines, glued_equals_repeated, number_after, payloads, picture, read_sizes,
    received_texts, summary, traced, traced_reads,
};
use report::{Row, Style};

/// The packages of the tutorial's programs, which the demo and `compare` run.
pub const PACKAGES: [&str; 5] = [
    "tcp-server",
    "tcp-client",
    "udp-server",
    "udp-client",
    "stick-demo",
];

/// How long a server may take to print `listening on …`.
const START: Duration = Duration::from_secs(10);
/// How long a client may run (the slowest, `client2 --chunk 1`, writes 600
/// pieces with a pause after each: under 2 s).
const CLIENT: Duration = Duration::from_secs(20);
/// How long a server may take to print a line we wait for.
const OUTPUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM.
const STOP: Duration = Duration::from_secs(5);

/// The message of the sticky-packet chapter, 26 bytes.
const STICK_MESSAGE: &str = "Hello, Hello. How are you?";
/// How many times the chapter's clients send it.
const STICK_COUNT: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// TCP echo: tcp-server and a scripted tcp-client.
    Tcp,
    /// Sticky packets and the length-prefix fix: stick-demo.
    Stick,
    /// UDP echo: udp-server and udp-client.
    Udp,
    /// The event loop at work: a TCP exchange and sticky packets, `--trace`d.
    Trace,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Run one part only (default: all four, in the tutorial's order).
    #[arg(value_enum)]
    pub part: Option<Part>,
}

/// `cargo xtask demo`: build, run each part, print the table.
pub fn run(args: DemoArgs) -> Result<()> {
    harness::install_interrupt_handler().context("cannot install the Ctrl-C handler")?;
    // The dev profile: the demo shows behaviour, and a learner should see
    // it within half a minute of a cold start (see `build`).
    let binaries = binaries(Profile::Dev, &PACKAGES)?;
    let style = Style::detect();
    let started = Instant::now();
    let mut demo = Demo {
        binaries,
        style,
        rows: Vec::new(),
        step: String::new(),
    };
    let parts = match args.part {
        Some(part) => vec![part],
        None => vec![Part::Tcp, Part::Stick, Part::Udp, Part::Trace],
    };
    for part in parts {
        match part {
            Part::Tcp => demo.run_step("1 TCP echo", tcp),
            Part::Stick => {
                demo.run_step("2a sticky packets", stick_raw);
                demo.run_step("2b spaced writes", stick_spaced);
                demo.run_step("2c small reads", stick_small_reads);
                demo.run_step("3a the fix: framing", stick_framed);
                demo.run_step("3b framing, 1-byte pieces", stick_framed_chunks);
            }
            Part::Udp => demo.run_step("4 UDP echo", udp),
            Part::Trace => {
                demo.run_step("5a the loop, traced: one request", trace_tcp);
                demo.run_step("5b the loop, traced: sticky packets", trace_stick);
            }
        }
    }

    style.narrate(
        &format!(
            "Result ({:.1} s after the build)",
            started.elapsed().as_secs_f64()
        ),
        &[],
    );
    print!("{}", report::table(&demo.rows, style));
    let failed = demo.rows.iter().filter(|r| !r.passed).count();
    if failed > 0 {
        bail!("{failed} of {} demo checks failed", demo.rows.len());
    }
    Ok(())
}

/// The state of a demo run: the binaries and the checks so far.
struct Demo {
    binaries: Binaries,
    style: Style,
    rows: Vec<Row>,
    /// The step whose checks are being recorded.
    step: String,
}

impl Demo {
    /// Runs one step; a step that cannot finish (a program that does not
    /// start, or misses a deadline) is one failed check, and the demo goes on.
    fn run_step(&mut self, name: &str, step: fn(&mut Demo) -> Result<()>) {
        self.step = name.to_owned();
        if let Err(err) = step(self) {
            self.record("step ran to completion", Err(format!("{err:#}")));
        }
    }

    fn narrate(&self, title: &str, lines: &[&str]) {
        self.style
            .narrate(&format!("{} — {title}", self.step), lines);
    }

    /// Records one check and shows its result at once.
    fn record(&mut self, check: &str, outcome: Result<String, String>) -> bool {
        let (passed, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        self.style.check_line(passed, check, &detail);
        self.rows.push(Row {
            step: self.step.clone(),
            check: check.to_owned(),
            passed,
            detail,
        });
        passed
    }

    fn binary(&self, name: &str) -> Result<&Path> {
        self.binaries.get(name)
    }

    /// Starts a server on a port the kernel picks; returns it with the
    /// address it announced.
    fn server(&self, label: &str, binary: &str, args: &[&str]) -> Result<(Program, String)> {
        let mut all = args.to_vec();
        all.extend(["--addr", "127.0.0.1:0"]);
        let program = self.start(label, binary, &all, None)?;
        let addr = program.announced_addr(START)?;
        Ok((program, addr.to_string()))
    }

    /// Runs a client to its end, feeding it `stdin`.
    fn client(
        &self,
        label: &str,
        binary: &str,
        args: &[&str],
        stdin: Option<String>,
    ) -> Result<Program> {
        let mut program = self.start(label, binary, args, stdin.map(String::into_bytes))?;
        program.wait(CLIENT)?;
        Ok(program)
    }

    /// Shows the command line, then starts it with its lines shown live.
    fn start(
        &self,
        label: &str,
        binary: &str,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<Program> {
        self.show_command(label, binary, args);
        let mut command = Command::new(self.binary(binary)?);
        command.args(args);
        Ok(Program::start(
            label,
            command,
            stdin,
            self.style.echo_lines(),
        )?)
    }

    fn show_command(&self, label: &str, binary: &str, args: &[&str]) {
        let command = std::iter::once(binary)
            .chain(args.iter().copied())
            .collect::<Vec<_>>();
        println!(
            "   {} {}",
            self.style.dim(&format!("{:>14} $", label)),
            command.join(" ")
        );
    }

    /// Checks that a client exited 0.
    fn exited_zero(&mut self, program: &mut Program) {
        let status = program.wait(Duration::ZERO);
        let outcome = match status {
            Ok(s) if s.success() => Ok(String::new()),
            Ok(s) => Err(exit_words(s)),
            Err(e) => Err(format!("{e:#}")),
        };
        self.record(&format!("{} exited 0", program.label()), outcome);
    }

    /// SIGTERM, then: exit 0, and a summary line that `expected` accepts.
    /// Returns the server's stderr lines (its `--trace`, if asked for).
    fn stop(
        &mut self,
        mut server: Program,
        what: &str,
        expected: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let label = server.label().to_owned();
        let outcome = match server.terminate(STOP) {
            Ok(status) if status.success() => Ok(String::new()),
            Ok(status) => Err(exit_words(status)),
            Err(e) => Err(format!("{e:#}")),
        };
        self.record(&format!("{label}: SIGTERM → exit 0"), outcome);
        let lines = server.lines(Stream::Stdout);
        let outcome = match summary(&lines) {
            Some(line) if expected(line) => Ok(line.to_owned()),
            Some(line) => Err(format!("printed {line:?}")),
            None => Err("printed no `summary:` line".to_owned()),
        };
        self.record(&format!("{label}: summary says {what}"), outcome);
        server.lines(Stream::Stderr)
    }

    /// Waits for the traced line that says a connection closed: after it,
    /// the connection's whole trace is on stderr.
    fn traced_close(&mut self, server: &Program) -> bool {
        let closed =
            server.wait_for_line(Stream::Stderr, "the trace's `close:` line", OUTPUT, |l| {
                l.contains(": close: ")
            });
        self.record(
            "the trace shows the close, with its reason",
            closed
                .map(|line| line.trim().to_owned())
                .map_err(|e| format!("{e:#}")),
        )
    }
}

/// The 2 000-character line: printable and varied, so a lost or repeated
/// piece shows.
fn long_line() -> String {
    (0..2000)
        .map(|i| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36]))
        .collect()
}

/// Part 1: `tcp/server` and `tcp/client`.
fn tcp(d: &mut Demo) -> Result<()> {
    const SHORT: &str = "Hello, sockets!";
    // Printable text comes back as typed, backslashes and tabs included;
    // the `\x07` here is four typed characters, not a BEL.
    const TYPED: &str = "a \"quoted\" C:\\path\\x07\tand a tab";
    const PREFIX: &str = "received client Data sent from terminal: ";
    d.narrate(
        "tcp-server and tcp-client (Go: tcp/server, tcp/client)",
        &[
            "tcp-server echoes every byte it reads and prints each read, as the Go server does.",
            "tcp-client sends each line of its input and prints the echo. We give it a short",
            "line, a line with quotes, backslashes and a tab (shown as typed: only what could",
            "drive a terminal is escaped, as ⟦ESC⟧), a 2 000-character line, then Q. The Go",
            "client reads once, 512 bytes, so it prints a long echo in pieces, one line late;",
            "the Go server loses what its reader buffered past 128 bytes. Ours must print",
            "every echo whole, in order.",
        ],
    );
    let (server, addr) = d.server("tcp-server", "tcp-server", &[])?;
    let long = long_line();
    let input = format!("{SHORT}\n{TYPED}\n{long}\nQ\n");
    let mut client = d.client("tcp-client", "tcp-client", &["--addr", &addr], Some(input))?;
    d.exited_zero(&mut client);
    let echoes = client.lines(Stream::Stdout);
    d.record(
        "short line echoed",
        match echoes.first() {
            Some(line) if line == SHORT => Ok(String::new()),
            other => Err(format!("first line printed: {other:?}")),
        },
    );
    d.record(
        "quotes, backslashes and a tab echoed exactly as typed",
        match echoes.get(1) {
            Some(line) if line == TYPED => Ok(String::new()),
            other => Err(format!("second line printed: {other:?}")),
        },
    );
    d.record(
        "2 000-character line echoed whole, on one line",
        exact_lines(&echoes, &[SHORT, TYPED, &long]).map(|()| String::new()),
    );

    // Each read is one line on the server; together they must be every byte.
    let sent = SHORT.len() + TYPED.len() + long.len();
    let waited = server.wait_until("every byte as reads", OUTPUT, |lines| {
        payloads(lines, PREFIX)
            .iter()
            .map(|p| p.len())
            .sum::<usize>()
            >= sent
    });
    let lines = server.lines(Stream::Stdout);
    let reads = payloads(&lines, PREFIX);
    d.record(
        &format!("tcp-server printed all {sent} bytes it read"),
        waited.map_err(|e| format!("{e:#}")).and_then(|()| {
            (reads.concat() == format!("{SHORT}{TYPED}{long}"))
                .then(|| format!("in {} reads", reads.len()))
                .ok_or_else(|| format!("the reads add up to {} bytes", reads.concat().len()))
        }),
    );
    d.stop(server, &format!("{sent} bytes read and echoed"), |line| {
        number_after(line, "read ") == Some(sent as u64)
            && number_after(line, "echoed ") == Some(sent as u64)
    });
    Ok(())
}

/// Waits for the raw server's per-connection summary, then checks what it
/// printed: every byte, as reads of at most `max_read` bytes.
fn raw_server_checks(d: &mut Demo, server: &Program, max_read: Option<usize>) {
    let total = STICK_MESSAGE.len() * STICK_COUNT;
    // The connection's summary is printed when the server sees it close:
    // after that line, every read has been printed.
    let closed = server.wait_for_line(
        Stream::Stdout,
        "the connection's `reads` picture",
        OUTPUT,
        |l| l.contains(": reads "),
    );
    let picture = match closed {
        Ok(line) => picture(&line).unwrap_or_default().to_owned(),
        Err(e) => {
            d.record("the server saw the connection close", Err(format!("{e:#}")));
            return;
        }
    };
    let lines = server.lines(Stream::Stdout);
    let reads = received_texts(&lines);
    let (largest, count) = read_sizes(&reads);
    d.record(
        &format!(
            "server received exactly {STICK_COUNT} × {} = {total} bytes, in order",
            STICK_MESSAGE.len()
        ),
        glued_equals_repeated(&reads, STICK_MESSAGE, STICK_COUNT)
            .map(|()| format!("{count} reads, largest {largest} bytes")),
    );
    if let Some(max) = max_read {
        d.record(
            &format!("no read was larger than {max} bytes, so messages were split"),
            if largest <= max && count >= total.div_ceil(max) {
                Ok(format!("{count} reads"))
            } else {
                Err(format!("{count} reads, largest {largest} bytes"))
            },
        );
        // No read can hold a whole 26-byte message, so the picture must
        // show message 1 on both sides of a boundary.
        d.record(
            "the picture shows message 1 split across reads (`1|1…`)",
            if picture.starts_with("1|1") {
                Ok(picture)
            } else {
                Err(format!("picture: {picture:?}"))
            },
        );
    } else {
        d.record(
            "the server drew where the reads fell",
            if picture.is_empty() {
                Err("no picture after `reads`".to_owned())
            } else {
                Ok(picture)
            },
        );
    }
}

fn stop_raw(d: &mut Demo, server: Program) {
    let total = (STICK_MESSAGE.len() * STICK_COUNT) as u64;
    d.stop(server, &format!("read {total} bytes"), |line| {
        number_after(line, "read ") == Some(total)
    });
}

/// Part 2a: `socket_stick/client` against the unchanged server.
fn stick_raw(d: &mut Demo) -> Result<()> {
    d.narrate(
        "stick-demo client → server (Go: socket_stick/client, the unchanged server)",
        &[
            "The client writes `Hello, Hello. How are you?` 20 times, with no framing; the",
            "server prints each read as it arrived. TCP is a byte stream: several writes",
            "arrive stuck together in one read, and nothing says where a message ends.",
            "When the connection closes the server draws the reads against the 26-byte",
            "messages: each digit is a message, each `|` a read boundary.",
        ],
    );
    let (server, addr) = d.server("server", "stick-demo", &["server"])?;
    let mut client = d.client("client", "stick-demo", &["client", "--addr", &addr], None)?;
    d.exited_zero(&mut client);
    raw_server_checks(d, &server, None);
    stop_raw(d, server);
    Ok(())
}

/// Part 2b: the same with a pause between writes.
fn stick_spaced(d: &mut Demo) -> Result<()> {
    d.narrate(
        "stick-demo client --delay-ms 20 → server",
        &[
            "The same client, pausing 20 ms between writes. Each message now usually arrives",
            "alone and gets its own read: the sticking seems gone. It is not: under load, or",
            "on a real network, the reads merge again. Only framing makes boundaries certain.",
        ],
    );
    let (server, addr) = d.server("server", "stick-demo", &["server"])?;
    let mut client = d.client(
        "client",
        "stick-demo",
        &["client", "--addr", &addr, "--delay-ms", "20"],
        None,
    )?;
    d.exited_zero(&mut client);
    raw_server_checks(d, &server, None);
    stop_raw(d, server);
    Ok(())
}

/// Part 2c: the other half of the problem, one message split across reads.
fn stick_small_reads(d: &mut Demo) -> Result<()> {
    d.narrate(
        "stick-demo client → server --read-size 16",
        &[
            "Now the server reads at most 16 bytes at a time: every 26-byte message is cut",
            "across reads (in the picture, the same digit on both sides of a `|`). A receiver",
            "that treats one read as one message is wrong both ways: too much, or too little.",
        ],
    );
    let (server, addr) = d.server("server", "stick-demo", &["server", "--read-size", "16"])?;
    let mut client = d.client("client", "stick-demo", &["client", "--addr", &addr], None)?;
    d.exited_zero(&mut client);
    raw_server_checks(d, &server, Some(16));
    stop_raw(d, server);
    Ok(())
}

/// Waits for server2's per-connection line, then checks the messages.
fn framed_checks(d: &mut Demo, server: &Program) {
    const PREFIX: &str = "received client Data sent: ";
    let closed = server.wait_for_line(
        Stream::Stdout,
        "the connection's `decoded` line",
        OUTPUT,
        |l| l.contains(": decoded "),
    );
    let line = match closed {
        Ok(line) => line,
        Err(e) => {
            d.record("the server saw the connection close", Err(format!("{e:#}")));
            return;
        }
    };
    let lines = server.lines(Stream::Stdout);
    let messages = payloads(&lines, PREFIX);
    let wrong = messages.iter().filter(|m| **m != STICK_MESSAGE).count();
    d.record(
        &format!("server2 printed {STICK_COUNT} messages, each exactly the text"),
        if messages.len() == STICK_COUNT && wrong == 0 {
            Ok(String::new())
        } else {
            Err(format!(
                "{} messages, {wrong} of them different",
                messages.len()
            ))
        },
    );
    d.record(
        &format!("its connection line says {STICK_COUNT} messages decoded"),
        if number_after(&line, ": decoded ") == Some(STICK_COUNT as u64) {
            Ok(line)
        } else {
            Err(format!("printed {line:?}"))
        },
    );
}

fn stop_framed(d: &mut Demo, server: Program) {
    d.stop(server, &format!("decoded {STICK_COUNT} messages"), |line| {
        number_after(line, "decoded ") == Some(STICK_COUNT as u64)
    });
}

/// Part 3a: `socket_stick/client2` → `socket_stick/server2`.
fn stick_framed(d: &mut Demo) -> Result<()> {
    d.narrate(
        "stick-demo client2 → server2 (Go: socket_stick/client2, server2, proto)",
        &[
            "The fix: each message goes out as a frame, a 4-byte little-endian length and then",
            "the bytes (the `proto` crate). server2 keeps what it reads in a buffer and cuts",
            "out whole frames, however the reads fall: 20 messages in, 20 messages out.",
        ],
    );
    let (server, addr) = d.server("server2", "stick-demo", &["server2"])?;
    let mut client = d.client("client2", "stick-demo", &["client2", "--addr", &addr], None)?;
    d.exited_zero(&mut client);
    framed_checks(d, &server);
    stop_framed(d, server);
    Ok(())
}

/// Part 3b: frames that arrive in 1-byte pieces.
fn stick_framed_chunks(d: &mut Demo) -> Result<()> {
    d.narrate(
        "stick-demo client2 --chunk 1 → server2",
        &[
            "The hard case: client2 writes every frame one byte at a time, pausing after each,",
            "so frames arrive split, even inside the 4-byte header. The Go Decode returns an",
            "empty message here and never reads again (it loops for ever); server2 waits for",
            "the rest of the frame and still prints exactly 20 messages.",
        ],
    );
    let (server, addr) = d.server("server2", "stick-demo", &["server2"])?;
    let mut client = d.client(
        "client2",
        "stick-demo",
        &["client2", "--addr", &addr, "--chunk", "1"],
        None,
    )?;
    d.exited_zero(&mut client);
    framed_checks(d, &server);
    stop_framed(d, server);
    Ok(())
}

/// Part 4: `UDP/server` and `UDP/client`.
fn udp(d: &mut Demo) -> Result<()> {
    d.narrate(
        "udp-server and udp-client (Go: UDP/server, UDP/client)",
        &[
            "UDP keeps message boundaries but promises nothing else: no connection, no",
            "delivery. The client sends one datagram, `Hello server`; the server prints it",
            "(data, sender, count, as in Go) and sends it back. Unlike the Go client, ours",
            "gives up after --timeout instead of waiting for ever for a lost reply.",
        ],
    );
    let (server, addr) = d.server("udp-server", "udp-server", &[])?;
    let mut client = d.client("udp-client", "udp-client", &["--addr", &addr], None)?;
    d.exited_zero(&mut client);
    let expected = format!("recv:Hello server addr:{addr} count:12");
    d.record(
        "udp-client printed `recv:Hello server` from the server, 12 bytes",
        exact_lines(&client.lines(Stream::Stdout), &[&expected]).map(|()| expected.clone()),
    );
    let seen = server.wait_for_line(Stream::Stdout, "the datagram's `data:` line", OUTPUT, |l| {
        l.starts_with("data:Hello server addr:127.0.0.1:") && l.ends_with(" count:12")
    });
    d.record(
        "udp-server printed `data:Hello server … count:12`",
        seen.map_err(|e| format!("{e:#}")),
    );
    d.stop(server, "1 datagram, 12 bytes, none dropped", |line| {
        number_after(line, "datagrams=") == Some(1)
            && number_after(line, "bytes=") == Some(12)
            && number_after(line, "dropped=") == Some(0)
    });
    Ok(())
}

/// Part 5a: one request through `tcp-server --trace`.
fn trace_tcp(d: &mut Demo) -> Result<()> {
    const LINE: &str = "Hello, trace!";
    d.narrate(
        "tcp-server --trace: the life of one request (docs/event-loop.md)",
        &[
            "The Go server's loop is hidden in its runtime; ours is in netpoll, and --trace",
            "prints each thing it does on stderr: µs since start, who (the loop, or a",
            "connection's token and peer), what. Watch for: `poll: 1 events after sleeping`",
            "(epoll_wait woke the loop), `accept <peer> → token 0` (the connection's slot),",
            "`read 13 bytes`, `wrote 13 bytes, 0 bytes pending` (the echo, all taken by the",
            "kernel), then `short read (13 < 65536): queue drained`: a read smaller than the",
            "buffer emptied the socket, so the loop stops reading without another read that",
            "would only say WouldBlock (\"would block\" is the OS's \"nothing now\"). Then",
            "`spun N µs since the last traffic: sleeping`: after traffic the loop polls a",
            "little longer before sleeping, in case the next request follows at once",
            "(--spin-us). At the end, `read 0 bytes`: the peer closed its write side, and the",
            "loop closes.",
        ],
    );
    let (server, addr) = d.server("tcp-server", "tcp-server", &["--trace", "--quiet"])?;
    let input = format!("{LINE}\nQ\n");
    let mut client = d.client("tcp-client", "tcp-client", &["--addr", &addr], Some(input))?;
    d.exited_zero(&mut client);
    if d.traced_close(&server) {
        let lines = server.lines(Stream::Stderr);
        // tcp-client sends the line without its newline.
        let sent = LINE.len();
        d.record(
            "the trace shows the accept, peer → token",
            traced(&lines, "→ token 0"),
        );
        d.record(
            &format!("the trace shows the read of {sent} bytes"),
            traced(&lines, &format!(": read {sent} bytes")),
        );
        d.record(
            &format!("the trace shows the write of {sent} bytes, none pending"),
            traced(&lines, &format!(": wrote {sent} bytes, 0 bytes pending")),
        );
        d.record(
            "the trace shows the short read that ended the round",
            traced(&lines, "short read"),
        );
    }
    d.stop(server, &format!("{} bytes read", LINE.len()), |line| {
        number_after(line, "read ") == Some(LINE.len() as u64)
    });
    Ok(())
}

/// Part 5b: the sticky-packet client against `stick-demo server --trace`.
fn trace_stick(d: &mut Demo) -> Result<()> {
    let total = (STICK_MESSAGE.len() * STICK_COUNT) as u64;
    d.narrate(
        "stick-demo client → server --trace: where 20 messages become a few reads",
        &[
            "The client's 20 writes of 26 bytes, traced on the server: each `read N bytes`",
            "line is one read of whatever had arrived. While the loop slept in epoll_wait,",
            "several messages piled up in the socket's receive queue, and one read took them",
            "all: that is the sticking. The reads' sizes must add up to the 520 bytes sent,",
            "and there must be as many as the server's summary counts.",
        ],
    );
    let (server, addr) = d.server("server", "stick-demo", &["server", "--trace", "--quiet"])?;
    let mut client = d.client("client", "stick-demo", &["client", "--addr", &addr], None)?;
    d.exited_zero(&mut client);
    let closed = d.traced_close(&server);
    let reads = traced_reads(&server.lines(Stream::Stderr));
    if closed {
        let sum: u64 = reads.iter().sum();
        let sizes = reads
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" + ");
        d.record(
            &format!("the traced reads add up to {total} bytes"),
            if sum == total {
                Ok(format!(
                    "{STICK_COUNT} messages in {} reads: {sizes}",
                    reads.len()
                ))
            } else {
                Err(format!("{sum} bytes: {sizes}"))
            },
        );
    }
    let count = reads.len() as u64;
    d.stop(
        server,
        &format!("{total} bytes in the {count} traced reads"),
        |line| {
            number_after(line, "read ") == Some(total) && number_after(line, " in ") == Some(count)
        },
    );
    Ok(())
}
