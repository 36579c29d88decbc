//! `cargo xtask demo [tcp|stick|udp|trace|ladder]`: the whole tutorial, run
//! and checked.
//!
//! Read [`run`] first: it builds the programs once (dev profile), then runs
//! the steps in the tutorial's order. Each step says in a few lines what is
//! about to happen and why, starts the programs on ports the kernel picks
//! (`--addr 127.0.0.1:0`; each server announces its port on its first
//! line), shows their own output with their names in front, and checks one
//! behaviour on that output with the checks `compare` uses too
//! ([`check`]). The closing table lists every check; any ✗ makes the exit
//! status 1. Every program is a [`harness::Program`], killed with its
//! process group however the step ends (even on Ctrl-C), and every wait
//! has a deadline.

pub mod check;
mod ladder;
pub mod report;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use harness::{Program, Stream, exit_words};

use crate::{
    build::{Binaries, Profile, binaries, workspace_root},
    go,
};
use check::{
    exact_lines, glued_equals_repeated, number_after, payloads, picture, plural, received_texts,
    summary, traced, traced_reads,
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
/// How long a server may take to print a line we wait for, or to exit
/// after SIGTERM.
const OUTPUT: Duration = Duration::from_secs(10);

/// The message of the sticky-packet chapter, 26 bytes, and how many times
/// the chapter's clients send it.
pub const STICK_MESSAGE: &str = "Hello, Hello. How are you?";
pub const STICK_COUNT: usize = 20;

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
    /// Each Go server, then the same in one file of Rust, then ours in full.
    Ladder,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Run one part only (default: all, in the tutorial's order).
    #[arg(value_enum)]
    pub part: Option<Part>,
}

/// One step: its name, and the function that narrates, runs and checks it.
type Step = (&'static str, fn(&mut Demo) -> Result<()>);

/// The steps of each part, in the tutorial's order.
fn steps(part: Part) -> Vec<Step> {
    match part {
        Part::Tcp => vec![("1 TCP echo", tcp)],
        Part::Stick => vec![
            ("2a sticky packets", |d| stick_raw(d, &[], None)),
            ("2b spaced writes", |d| {
                stick_raw(d, &["--delay-ms", "20"], None)
            }),
            ("2c small reads", |d| stick_raw(d, &[], Some(16))),
            ("3a the fix: framing", |d| stick_framed(d, &[])),
            ("3b framing, 1-byte pieces", |d| {
                stick_framed(d, &["--chunk", "1"])
            }),
        ],
        Part::Udp => vec![("4 UDP echo", udp)],
        Part::Trace => vec![
            ("5a the loop, traced: one request", trace_tcp),
            ("5b the loop, traced: sticky packets", trace_stick),
        ],
        Part::Ladder => ladder::steps(),
    }
}

/// `cargo xtask demo`: build, run each step, print the table.
pub fn run(args: DemoArgs) -> Result<()> {
    harness::install_interrupt_handler().context("cannot install the Ctrl-C handler")?;
    let parts = args
        .part
        .map_or_else(|| Part::value_variants().to_vec(), |p| vec![p]);
    // The dev profile: the demo shows behaviour, and a learner should see
    // it within half a minute of a cold start (see `build`).
    let binaries = binaries(Profile::Dev, &PACKAGES)?;
    // The ladder's first rungs are the Go servers, when Go is there.
    let go = match go::find_go().filter(|_| parts.contains(&Part::Ladder)) {
        Some(go) => Some(go::build_tutorial(&go, &workspace_root().join("go"))?),
        None => None,
    };
    let mut demo = Demo {
        binaries,
        go,
        style: Style::detect(),
        rows: Vec::new(),
        step: "",
    };
    let started = Instant::now();
    for (name, step) in parts.into_iter().flat_map(steps) {
        demo.step = name;
        if let Err(err) = step(&mut demo) {
            demo.record("step ran to completion", Err(format!("{err:#}")));
        }
    }
    let took = started.elapsed().as_secs_f64();
    demo.style
        .narrate(&format!("Result: the steps ran in {took:.1} s"), &[]);
    print!("{}", report::table(&demo.rows, demo.style));
    let failed = demo.rows.iter().filter(|r| !r.passed).count();
    if failed > 0 {
        bail!("{failed} of {} demo checks failed", demo.rows.len());
    }
    Ok(())
}

/// The state of a demo run: the binaries and the checks so far.
struct Demo {
    binaries: Binaries,
    /// The Go programs, built, if `go` is installed and the ladder runs.
    go: Option<go::Tutorial>,
    style: Style,
    rows: Vec<Row>,
    /// The step whose checks are being recorded.
    step: &'static str,
}

impl Demo {
    fn narrate(&self, title: &str, lines: &[&str]) {
        self.style
            .narrate(&format!("{} — {title}", self.step), lines);
    }

    /// Records one check and shows its result at once.
    fn record(&mut self, check: &str, outcome: Result<String, String>) {
        let (passed, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        self.style.check_line(passed, check, &detail);
        self.rows.push(Row {
            step: self.step.to_owned(),
            check: check.to_owned(),
            passed,
            detail,
        });
    }

    /// Shows the command line, then starts it with its lines shown live.
    fn start(&self, label: &str, args: &[&str], stdin: Option<String>) -> Result<Program> {
        let (binary, rest) = args.split_first().context("a command")?;
        let mut command = Command::new(self.binaries.get(binary)?);
        command.args(rest);
        self.launch(label, &args.join(" "), command, stdin)
    }

    /// Shows `shown`, then starts `command` with its lines shown live.
    fn launch(
        &self,
        label: &str,
        shown: &str,
        command: Command,
        stdin: Option<String>,
    ) -> Result<Program> {
        println!("   {} {shown}", self.style.dim(&format!("{label:>14} $")));
        let stdin = stdin.map(String::into_bytes);
        let echo = self.style.echo_lines();
        Ok(Program::start(label, command, stdin, echo)?)
    }

    /// Starts a server on a port the kernel picks; returns it with the
    /// address it announced.
    fn server(&self, label: &str, args: &[&str]) -> Result<(Program, String)> {
        let args = [args, &["--addr", "127.0.0.1:0"]].concat();
        let program = self.start(label, &args, None)?;
        let addr = program.announced_addr(START)?;
        Ok((program, addr.to_string()))
    }

    /// Runs a client to its end, feeding it `stdin`; checks it exited 0.
    fn client(&mut self, label: &str, args: &[&str], stdin: Option<String>) -> Result<Program> {
        let mut program = self.start(label, args, stdin)?;
        let outcome = match program.wait(CLIENT)? {
            status if status.success() => Ok(String::new()),
            status => Err(exit_words(status)),
        };
        self.record(&format!("{label} exited 0"), outcome);
        Ok(program)
    }

    /// Waits for a line of `server`'s `stream` that `wanted` accepts.
    fn line(
        &self,
        server: &Program,
        stream: Stream,
        what: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        server
            .wait_for_line(stream, what, OUTPUT, wanted)
            .map_err(|e| format!("{e:#}"))
    }

    /// SIGTERM, then one check: exit 0 with a summary that `expected`
    /// accepts. Returns the server's stderr (its `--trace`, if asked for).
    fn stop(
        &mut self,
        mut server: Program,
        what: &str,
        expected: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let label = server.label().to_owned();
        let outcome = match server.terminate(OUTPUT) {
            Ok(status) if !status.success() => Err(exit_words(status)),
            Ok(_) => match summary(&server.lines(Stream::Stdout)) {
                Some(line) if expected(line) => Ok(line.to_owned()),
                Some(line) => Err(format!("printed {line:?}")),
                None => Err("printed no `summary:` line".to_owned()),
            },
            Err(e) => Err(format!("{e:#}")),
        };
        self.record(
            &format!("{label}: SIGTERM → exit 0, summary says {what}"),
            outcome,
        );
        server.lines(Stream::Stderr)
    }
}

/// The 2 000-character line: printable and varied, so a lost or repeated
/// piece shows.
fn long_line() -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..2000).map(|i| char::from(alphabet[i % 36])).collect()
}

/// Part 1: `tcp/server` and `tcp/client`.
fn tcp(d: &mut Demo) -> Result<()> {
    const SHORT: &str = "Hello, sockets!";
    // Printable text comes back as typed, backslashes and tabs included.
    const TYPED: &str = "a \"quoted\" path, C:\\Go\\src\\net,\tand a tab";
    const PREFIX: &str = "received client Data sent from terminal: ";
    d.narrate(
        "tcp-server and tcp-client (Go: tcp/server, tcp/client)",
        &[
            "tcp-server echoes every byte it reads and prints each read, as the Go server does.",
            "tcp-client sends each line of its input and prints the echo. We give it a short",
            "line, a line with quotes, backslashes and a tab, a 2 000-character line, then Q.",
            "Text is printed as typed: only what could drive a terminal is escaped (as ⟦ESC⟧).",
            "The Go client reads once, 512 bytes, so it prints a long echo in pieces, one line",
            "late; the Go server loses what its reader buffered past 128 bytes. Ours must print",
            "every echo whole, in order.",
        ],
    );
    let (server, addr) = d.server("tcp-server", &["tcp-server"])?;
    let long = long_line();
    let input = format!("{SHORT}\n{TYPED}\n{long}\nQ\n");
    let client = d.client("tcp-client", &["tcp-client", "--addr", &addr], Some(input))?;
    d.record(
        "every line echoed whole, as typed, in order",
        exact_lines(&client.lines(Stream::Stdout), &[SHORT, TYPED, &long]).map(|()| String::new()),
    );
    // Each read is one line on the server; together they must be every byte.
    let sent = format!("{SHORT}{TYPED}{long}");
    let waited = server.wait_until("every byte as reads", OUTPUT, |lines| {
        payloads(lines, PREFIX).concat().len() >= sent.len()
    });
    let reads = payloads(&server.lines(Stream::Stdout), PREFIX).concat();
    d.record(
        &format!("tcp-server printed all {} bytes it read", sent.len()),
        match waited {
            Err(e) => Err(format!("{e:#}")),
            Ok(()) if reads == sent => Ok(String::new()),
            Ok(()) => Err(format!("the reads add up to {} bytes", reads.len())),
        },
    );
    let n = sent.len() as u64;
    d.stop(server, &format!("{n} bytes read and echoed"), |line| {
        number_after(line, "read ") == Some(n) && number_after(line, "echoed ") == Some(n)
    });
    Ok(())
}

/// Part 2: the chapter's client against the unchanged server, its writes
/// spaced by `client_args`, the server's reads cut at `read_size`.
fn stick_raw(d: &mut Demo, client_args: &[&str], read_size: Option<usize>) -> Result<()> {
    let narration: &[&str] = match (client_args, read_size) {
        (_, Some(_)) => &[
            "Now the server reads at most 16 bytes at a time: every 26-byte message is cut",
            "across reads (in the picture, the same digit on both sides of a `|`). A receiver",
            "that treats one read as one message is wrong both ways: too much, or too little.",
        ],
        ([], None) => &[
            "The client writes `Hello, Hello. How are you?` 20 times, with no framing; the",
            "server prints each read as it arrived. TCP is a byte stream: several writes",
            "arrive stuck together in one read, and nothing says where a message ends.",
            "When the connection closes the server draws the reads against the 26-byte",
            "messages: each digit is a message, each `|` a read boundary.",
        ],
        _ => &[
            "The same client, pausing 20 ms between writes. Each message now usually arrives",
            "alone and gets its own read: the sticking seems gone. It is not: under load, or",
            "on a real network, the reads merge again. Only framing makes boundaries certain.",
        ],
    };
    let size = read_size.map(|n| n.to_string());
    let mut server_args = vec!["stick-demo", "server"];
    server_args.extend(size.iter().flat_map(|n| ["--read-size", n.as_str()]));
    let title = format!(
        "{} → {} (Go: socket_stick/client, the unchanged server)",
        ["stick-demo client"]
            .iter()
            .chain(client_args)
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        server_args[1..].join(" ")
    );
    d.narrate(&title, narration);
    let (server, addr) = d.server("server", &server_args)?;
    let args = [&["stick-demo", "client", "--addr", &addr][..], client_args].concat();
    d.client("client", &args, None)?;
    // The connection's picture is printed when the server sees it close:
    // after that line, every read has been printed.
    let closed = d.line(
        &server,
        Stream::Stdout,
        "the connection's `reads` picture",
        |l| l.contains(": reads "),
    );
    let lines = server.lines(Stream::Stdout);
    let reads = received_texts(&lines);
    let largest = reads.iter().map(|r| r.len()).max().unwrap_or(0);
    let total = STICK_MESSAGE.len() * STICK_COUNT;
    d.record(
        &format!("server received exactly {STICK_COUNT} × 26 = {total} bytes, in order"),
        glued_equals_repeated(&reads, STICK_MESSAGE, STICK_COUNT)
            .map(|()| format!("{}, largest {largest} bytes", plural(reads.len(), "read"))),
    );
    let picture = closed.map(|line| picture(&line).unwrap_or_default().to_owned());
    d.record(
        match read_size {
            Some(_) => "the picture shows message 1 split across reads (`1|1…`)",
            None => "the server drew where the reads fell",
        },
        picture.and_then(|p| match read_size {
            Some(_) if !p.starts_with("1|1") => Err(format!("picture: {p:?}")),
            _ if p.is_empty() => Err("no picture after `reads`".to_owned()),
            _ => Ok(p),
        }),
    );
    let n = total as u64;
    d.stop(server, &format!("{n} bytes read"), |l| {
        number_after(l, "read ") == Some(n)
    });
    Ok(())
}

/// Part 3: `socket_stick/client2` → `socket_stick/server2`, the frames
/// written as `client_args` say.
fn stick_framed(d: &mut Demo, client_args: &[&str]) -> Result<()> {
    if client_args.is_empty() {
        d.narrate(
            "stick-demo client2 → server2 (Go: socket_stick/client2, server2, proto)",
            &[
                "The fix: each message goes out as a frame, a 4-byte little-endian length and then",
                "the bytes (the `proto` crate). server2 keeps what it reads in a buffer and cuts",
                "out whole frames, however the reads fall: 20 messages in, 20 messages out.",
            ],
        );
    } else {
        d.narrate(
            "stick-demo client2 --chunk 1 → server2",
            &[
                "The hard case: client2 writes every frame one byte at a time, pausing after each,",
                "so frames arrive split, even inside the 4-byte header. The Go Decode returns an",
                "empty message here and never reads again (it loops for ever); server2 waits for",
                "the rest of the frame and still prints exactly 20 messages.",
            ],
        );
    }
    let (server, addr) = d.server("server2", &["stick-demo", "server2"])?;
    let args = [&["stick-demo", "client2", "--addr", &addr][..], client_args].concat();
    d.client("client2", &args, None)?;
    let closed = d.line(
        &server,
        Stream::Stdout,
        "the connection's `decoded` line",
        |l| l.contains(": decoded "),
    );
    let lines = server.lines(Stream::Stdout);
    let messages = payloads(&lines, "received client Data sent: ");
    let wrong = messages.iter().filter(|m| **m != STICK_MESSAGE).count();
    d.record(
        &format!("server2 printed {STICK_COUNT} messages, each exactly the text"),
        closed.and_then(|_| match (messages.len(), wrong) {
            (STICK_COUNT, 0) => Ok(String::new()),
            (n, wrong) => Err(format!(
                "{}, {wrong} of them different",
                plural(n, "message")
            )),
        }),
    );
    let n = STICK_COUNT as u64;
    d.stop(server, &format!("decoded {n} messages"), |l| {
        number_after(l, "decoded ") == Some(n)
    });
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
    let (server, addr) = d.server("udp-server", &["udp-server"])?;
    let client = d.client("udp-client", &["udp-client", "--addr", &addr], None)?;
    let expected = format!("recv:Hello server addr:{addr} count:12");
    let seen = d.line(
        &server,
        Stream::Stdout,
        "the datagram's `data:` line",
        |l| l.starts_with("data:Hello server addr:127.0.0.1:") && l.ends_with(" count:12"),
    );
    d.record(
        "the server printed the datagram, and the client its 12-byte reply",
        seen.and_then(|_| exact_lines(&client.lines(Stream::Stdout), &[&expected]))
            .map(|()| expected.clone()),
    );
    d.stop(server, "1 datagram, 12 bytes, none dropped", |line| {
        number_after(line, "served ") == Some(1)
            && number_after(line, "read ") == Some(12)
            && number_after(line, "echoed ") == Some(12)
            && line.contains("(0 dropped)")
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
            "connection's token and peer), what. Watch for the `poll:` line (epoll_wait woke",
            "the loop, with how many events), `accept <peer> → token 0` (the connection's slot),",
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
    let (server, addr) = d.server("tcp-server", &["tcp-server", "--trace", "--quiet"])?;
    let input = format!("{LINE}\nQ\n");
    d.client("tcp-client", &["tcp-client", "--addr", &addr], Some(input))?;
    let closed = d.line(&server, Stream::Stderr, "the trace's `close:` line", |l| {
        l.contains(": close: ")
    });
    let lines = server.lines(Stream::Stderr);
    // tcp-client sends the line without its newline: 13 bytes.
    let n = LINE.len();
    let shown: Result<Vec<String>, String> = [
        "→ token 0".to_owned(),
        format!(": read {n} bytes"),
        format!(": wrote {n} bytes, 0 bytes pending"),
        "short read".to_owned(),
    ]
    .iter()
    .map(|what| traced(&lines, what))
    .collect();
    d.record(
        "the trace shows the accept, the read, the write, the short read and the close",
        closed.and(shown).map(|_| String::new()),
    );
    let n = n as u64;
    d.stop(server, &format!("{n} bytes read"), |l| {
        number_after(l, "read ") == Some(n)
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
    let (server, addr) = d.server("server", &["stick-demo", "server", "--trace", "--quiet"])?;
    d.client("client", &["stick-demo", "client", "--addr", &addr], None)?;
    let closed = d.line(&server, Stream::Stderr, "the trace's `close:` line", |l| {
        l.contains(": close: ")
    });
    let reads = traced_reads(&server.lines(Stream::Stderr));
    let sizes: Vec<String> = reads.iter().map(u64::to_string).collect();
    let sum: u64 = reads.iter().sum();
    d.record(
        &format!("the traced reads add up to {total} bytes"),
        closed.and_then(|_| {
            let detail = format!("{}: {}", plural(reads.len(), "read"), sizes.join(" + "));
            if sum == total {
                Ok(format!("{STICK_COUNT} messages in {detail}"))
            } else {
                Err(format!("{sum} bytes in {detail}"))
            }
        }),
    );
    let count = reads.len() as u64;
    let what = format!("{total} bytes in {}", plural(reads.len(), "traced read"));
    d.stop(server, &what, |line| {
        number_after(line, "read ") == Some(total) && number_after(line, " in ") == Some(count)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_has_its_steps_in_the_tutorials_order() {
        let names: Vec<&str> = Part::value_variants()
            .iter()
            .flat_map(|&p| steps(p))
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names.len(), 13);
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    }
}
