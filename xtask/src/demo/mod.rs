//! `cargo xtask demo [tcp|stick|udp|trace|ladder]`: the whole tutorial, run
//! and checked.
//!
//! Read [`run`] first: it builds the programs once (dev profile), then runs
//! the steps of `script.txt` in the tutorial's order. Each step is data:
//! what the server and the client run, which line says the server has
//! printed everything, which checks read what both printed (with the rules
//! of [`check`], which `compare` uses too), and what is said before it. The
//! one runner, [`Demo::step`], says what is about to happen and why, starts
//! the server on a port the kernel picks (`--addr 127.0.0.1:0`; it
//! announces the port on its first line), runs the client, stops the server
//! with SIGTERM, shows both programs' lines live with their names in front,
//! and records each check. The ladder's steps run `compare`'s pairs instead
//! ([`Demo::ladder`]). The closing table lists every check; any ✗ makes the
//! exit status 1. Every program is a [`harness::Program`], killed with its
//! process group however the step ends (even on Ctrl-C), and every wait
//! has a deadline.

pub mod check;
pub mod report;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use harness::{Program, Stream, exit_words, ports};

use crate::{
    build::{Profile, binaries, workspace_root},
    compare::{self, Built, CHAPTERS, Chapter, Pair, SIDES, Side},
    go,
};
use check::{exact_lines, number_after, payloads, picture, plural, summary, traced, traced_reads};
use report::{Row, Style};

/// The packages of the tutorial's programs, which the demo and `compare` run.
pub const PACKAGES: [&str; 5] = [
    "tcp-server",
    "tcp-client",
    "udp-server",
    "udp-client",
    "stick-demo",
];

/// How long a server may take to print `listening on …`, or a line waited
/// for, or to exit after SIGTERM.
const OUTPUT: Duration = Duration::from_secs(10);
/// How long a client may run (the slowest, `client2 --chunk 1`, writes 600
/// pieces with a pause after each: under 2 s).
const CLIENT: Duration = Duration::from_secs(20);

/// The message of the sticky-packet chapter, 26 bytes, and how many times
/// the chapter's clients send it.
pub const STICK_MESSAGE: &str = "Hello, Hello. How are you?";
pub const STICK_COUNT: usize = 20;
/// The bytes the sticky-packet clients send.
const STICK_BYTES: u64 = (STICK_MESSAGE.len() * STICK_COUNT) as u64;

/// The lines the TCP step types: a short one, and one with quotes,
/// backslashes and a tab (printable text comes back as typed); a long one
/// is made by [`long_line`].
const SHORT: &str = "Hello, sockets!";
const TYPED: &str = "a \"quoted\" path, C:\\Go\\src\\net,\tand a tab";
/// The teaching line of the server that prints reads.
const TCP_PREFIX: &str = "received client Data sent from terminal: ";
/// The line the traced TCP step types.
const TRACED: &str = "Hello, trace!";

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

/// What a step's programs printed, for its checks.
struct Seen {
    client: Vec<String>,
    server: Vec<String>,
    /// The server's stderr: its `--trace`, if asked for.
    trace: Vec<String>,
    /// The server's label, and its `summary:` line after SIGTERM (or why none).
    label: &'static str,
    summary: Result<String, String>,
}

/// A step's checks: what each says, and what was seen (an error: wrong).
type Checks = Vec<(String, Result<String, String>)>;

impl Seen {
    /// The check that the server exited 0 after SIGTERM with a summary
    /// that `expected` accepts.
    fn summary(
        &self,
        what: &str,
        expected: impl Fn(&str) -> bool,
    ) -> (String, Result<String, String>) {
        let outcome = self.summary.clone().and_then(|line| match expected(&line) {
            true => Ok(line),
            false => Err(format!("printed {line:?}")),
        });
        (
            format!("{}: SIGTERM → exit 0, summary says {what}", self.label),
            outcome,
        )
    }
}

/// One step of `script.txt`: its name, what it runs (`part:`, `server:`,
/// `client:`, `done:`, `check:`, as written), and its heading and lines.
struct Step {
    name: &'static str,
    fields: Vec<(&'static str, &'static str)>,
    said: Vec<&'static str>,
}

impl Step {
    /// The field `key`, or "" when the step has none.
    fn field(&self, key: &str) -> &'static str {
        let found = self.fields.iter().find(|(k, _)| *k == key);
        found.map_or("", |(_, value)| value)
    }

    /// The part of the tutorial it belongs to.
    fn part(&self) -> Option<Part> {
        Part::from_str(self.field("part"), true).ok()
    }
}

/// The steps of `script.txt`, in the tutorial's order.
fn script() -> Vec<Step> {
    let sections = include_str!("script.txt").split("\n## ").skip(1);
    let step = |text: &'static str| {
        let mut lines = text.lines().take_while(|l| !l.is_empty()).peekable();
        let name = lines.next().unwrap_or_default();
        let mut fields = Vec::new();
        while let Some(field) =
            lines.next_if(|l| l.split_once(": ").is_some_and(|(k, _)| FIELDS.contains(&k)))
        {
            fields.extend(field.split_once(": "));
        }
        Step {
            name,
            fields,
            said: lines.collect(),
        }
    };
    sections.map(step).collect()
}

/// The fields a step of `script.txt` may have.
const FIELDS: [&str; 6] = ["part", "server", "client", "done", "chapter", "check"];

/// The ladder's steps, one per Go server, in the tutorial's order (each
/// said as `script.txt`'s `6 the ladder`).
const LADDER: [&str; 4] = [
    "6a the ladder: tcp/server",
    "6b the ladder: socket_stick/server",
    "6c the ladder: socket_stick/server2",
    "6d the ladder: UDP/server",
];

/// What the client of a step is fed, by the step's `check:`: the TCP
/// steps' lines, then `Q`.
fn stdin(check: &str) -> Option<String> {
    match check {
        "tcp" => Some(format!("{SHORT}\n{TYPED}\n{}\nQ\n", long_line())),
        "trace tcp" => Some(format!("{TRACED}\nQ\n")),
        _ => None,
    }
}

/// The checks a step's `check:` names, on what its programs printed.
fn checks(check: &str, seen: &Seen) -> Checks {
    match check {
        "tcp" => tcp(seen),
        "stick" => stick(seen, false),
        "stick split" => stick(seen, true),
        "summary decoded" => vec![
            seen.summary(&format!("decoded {STICK_COUNT} messages"), |l| {
                number_after(l, "decoded ") == Some(STICK_COUNT as u64)
            }),
        ],
        "summary datagram" => vec![seen.summary("1 datagram, 12 bytes, none dropped", |line| {
            let count = |key, n| number_after(line, key) == Some(n);
            count("served ", 1)
                && count("read ", 12)
                && count("echoed ", 12)
                && line.contains("(0 dropped)")
        })],
        "trace tcp" => trace_tcp(seen),
        "trace stick" => trace_stick(seen),
        other => vec![(
            format!("script.txt's `check: {other}`"),
            Err("no such checks".into()),
        )],
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
    let rust = binaries(Profile::Dev, &PACKAGES)?;
    // The ladder's first rungs are the Go servers, when Go is there.
    let go = match go::find_go().filter(|_| parts.contains(&Part::Ladder)) {
        Some(go) => Some(go::build_tutorial(&go, &workspace_root().join("go"))?),
        None => None,
    };
    let (built, style) = (Built { go, rust }, Style::detect());
    let mut demo = Demo {
        built,
        style,
        rows: Vec::new(),
        step: "",
    };
    let started = Instant::now();
    let script = script();
    for step in script.iter().filter(|s| {
        s.part()
            .is_some_and(|p| p != Part::Ladder && parts.contains(&p))
    }) {
        demo.step = step.name;
        demo.narrate(&step.said, &[]);
        if let Err(err) = demo.step(step) {
            demo.record("step ran to completion", Err(format!("{err:#}")));
        }
    }
    if parts.contains(&Part::Ladder) {
        for (name, chapter) in LADDER.into_iter().zip(&CHAPTERS) {
            demo.step = name;
            demo.ladder(chapter);
        }
    }
    let took = report::duration(started.elapsed());
    demo.style
        .narrate(&format!("Result: the steps ran in {took}"), &[]);
    print!("{}", report::table(&demo.rows, demo.style));
    let failed = demo.rows.iter().filter(|r| !r.passed).count();
    if failed > 0 {
        bail!("{failed} of {} demo checks failed", demo.rows.len());
    }
    Ok(())
}

/// The state of a demo run: the programs (the Go ones if `go` is
/// installed and the ladder runs) and the checks so far.
struct Demo {
    built: Built,
    style: Style,
    rows: Vec<Row>,
    /// The step whose checks are being recorded.
    step: &'static str,
}

impl Demo {
    /// Says what the step is about to show: its heading, and the lines
    /// under it, with `{key}` replaced by each value of `vars`.
    fn narrate(&self, said: &[&str], vars: &[(&str, &str)]) {
        let fill = |line: &&str| {
            let fill = |line: String, (key, value): &(&str, &str)| {
                line.replace(&format!("{{{key}}}"), value)
            };
            vars.iter().fold(line.to_string(), fill)
        };
        let said: Vec<String> = said.iter().map(fill).collect();
        let (title, rest) = said
            .split_first()
            .map_or(("", &[][..]), |(t, r)| (t.as_str(), r));
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        self.style
            .narrate(&format!("{} — {title}", self.step), &rest);
    }

    /// Records one check and shows its result at once.
    fn record(&mut self, check: &str, outcome: Result<String, String>) {
        let (passed, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        self.style.check_line(passed, check, &detail);
        let (step, check) = (self.step.to_owned(), check.to_owned());
        self.rows.push(Row {
            step,
            check,
            passed,
            detail,
        });
    }

    /// Shows the command line, then starts it with its lines shown live.
    fn start(
        &self,
        label: &str,
        args: &[impl AsRef<str>],
        stdin: Option<String>,
    ) -> Result<Program> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let (binary, rest) = args.split_first().context("a command")?;
        let mut command = Command::new(self.built.rust.get(binary)?);
        command.args(rest);
        self.style.command(label, &args.join(" "));
        let echo = Some(self.style.echo_lines());
        Ok(Program::start(
            label,
            command,
            stdin.map(String::into_bytes),
            echo,
        )?)
    }

    /// Runs one step: the server, the client against it, the server's
    /// stop, and the step's checks on what both printed.
    fn step(&mut self, step: &Step) -> Result<()> {
        let server_args: Vec<&str> = step.field("server").split(' ').collect();
        let client_args = step.field("client").split(' ');
        // The programs are named as the tutorial names them: `server2`.
        let label = |args: &[&'static str]| args[usize::from(args[0] == "stick-demo")];
        let (server_label, client_label) = (
            label(&server_args),
            label(&client_args.clone().collect::<Vec<_>>()),
        );
        let args = [&server_args[..], &["--addr", "127.0.0.1:0"]].concat();
        let mut server = self.start(server_label, &args, None)?;
        let addr = server.announced_addr(OUTPUT)?.to_string();
        let args: Vec<String> = client_args.map(|a| a.replace("{addr}", &addr)).collect();
        let mut client = self.start(client_label, &args, stdin(step.field("check")))?;
        let outcome = match client.wait(CLIENT)? {
            status if status.success() => Ok(String::new()),
            status => Err(exit_words(status)),
        };
        self.record(&format!("{client_label} exited 0"), outcome);
        if let Some(chapter) = CHAPTERS.iter().find(|c| c.name == step.field("chapter")) {
            let checked = chapter.check.run(Side::Rust, Side::Rust, &server, &client);
            let outcome = checked
                .map(|notes| notes.join("; "))
                .map_err(|e| format!("{e:#}"));
            self.record(&format!("the server served {}", chapter.name), outcome);
        }
        if let Some((stream, needle)) = step.field("done").split_once(' ') {
            let stream = if stream == "stderr" {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            let what = format!("{needle:?}");
            if let Err(e) = server.wait_for_line(stream, &what, OUTPUT, |l| l.contains(needle)) {
                self.record(
                    &format!("{server_label} printed {what}"),
                    Err(e.to_string()),
                );
            }
        }
        let summary = match server.terminate(OUTPUT) {
            Ok(status) if !status.success() => Err(exit_words(status)),
            Ok(_) => summary(&server.lines(Stream::Stdout))
                .map(str::to_owned)
                .ok_or_else(|| "printed no `summary:` line".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let seen = Seen {
            client: client.lines(Stream::Stdout),
            server: server.lines(Stream::Stdout),
            trace: server.lines(Stream::Stderr),
            label: server_label,
            summary,
        };
        for (check, outcome) in checks(step.field("check"), &seen) {
            self.record(&check, outcome);
        }
        Ok(())
    }

    /// A rung of the ladder: the same client of ours against each reading
    /// of `chapter`'s Go server (Go, on its fixed port, skipped when that
    /// port is taken; one file; ours), each pair run and checked as
    /// `cargo xtask compare` runs and checks it.
    fn ladder(&mut self, chapter: &'static Chapter) {
        let ((server, _), (client, sub)) = (chapter.rust[0], chapter.rust[1]);
        let client = [&[client], sub].concat().join(" ");
        let vars = [
            ("client", client.as_str()),
            ("go", chapter.go[0]),
            ("defect", chapter.defect),
            ("server", server),
            ("one_file", chapter.one_file),
        ];
        let script = script();
        let said = script.iter().find(|s| s.part() == Some(Part::Ladder));
        self.narrate(said.map_or(&[][..], |s| &s.said), &vars);
        for side in SIDES {
            let rung = format!("{} server", side.name());
            let port = chapter.port;
            if side == Side::Go && ports::in_use(chapter.transport, port).unwrap_or(false) {
                let holder = ports::holder(chapter.transport, port).ok().flatten();
                let by = holder.map_or_else(String::new, |h| format!(" by {h}"));
                println!("   – {rung} skipped: port {port} is in use{by}");
                continue;
            }
            let pair = Pair {
                chapter,
                client: Side::Rust,
                server: side,
            };
            let live = Some(self.style);
            let (outcome, _) = compare::run_pair(pair, &self.built, live);
            let check = format!("the {rung} served {}", chapter.name);
            match outcome {
                compare::Outcome::Passed(notes) => self.record(&check, Ok(notes.join("; "))),
                compare::Outcome::Failed(why) => self.record(&check, Err(why)),
                compare::Outcome::Skipped(why) => println!("   – {rung} skipped: {why}"),
            }
        }
    }
}

/// The 2 000-character line: printable and varied, so a lost or repeated
/// piece shows.
fn long_line() -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..2000).map(|i| char::from(alphabet[i % 36])).collect()
}

/// Part 1: every line echoed whole, every byte read printed.
fn tcp(seen: &Seen) -> Checks {
    let long = long_line();
    let sent = format!("{SHORT}{TYPED}{long}");
    // Each read is one line on the server; together they must be every byte.
    let reads = payloads(&seen.server, TCP_PREFIX).concat();
    let n = sent.len() as u64;
    vec![
        (
            "every line echoed whole, as typed, in order".to_owned(),
            exact_lines(&seen.client, &[SHORT, TYPED, &long]).map(|()| String::new()),
        ),
        (
            format!("tcp-server printed all {n} bytes it read"),
            match reads == sent {
                true => Ok(String::new()),
                false => Err(format!("the reads add up to {} bytes", reads.len())),
            },
        ),
        seen.summary(&format!("{n} bytes read and echoed"), |line| {
            number_after(line, "read ") == Some(n) && number_after(line, "echoed ") == Some(n)
        }),
    ]
}

/// Part 2: the chapter's client against the unchanged server (which
/// compare's check of the chapter has seen receive every byte), the reads
/// cut at 16 bytes when `split`.
fn stick(seen: &Seen, split: bool) -> Checks {
    let picture = seen
        .server
        .iter()
        .find_map(|l| picture(l))
        .unwrap_or_default();
    vec![
        drawn(picture, split),
        seen.summary(&format!("{STICK_BYTES} bytes read"), |l| {
            number_after(l, "read ") == Some(STICK_BYTES)
        }),
    ]
}

/// The check of the server's picture of the reads: drawn, and with
/// message 1 split across reads (`1|1…`) when the reads were cut short.
fn drawn(picture: &str, split: bool) -> (String, Result<String, String>) {
    let (check, ok) = match split {
        true => (
            "the picture shows message 1 split across reads (`1|1…`)",
            picture.starts_with("1|1"),
        ),
        false => ("the server drew where the reads fell", !picture.is_empty()),
    };
    let seen = if ok {
        Ok(picture.to_owned())
    } else {
        Err(format!("picture: {picture:?}"))
    };
    (check.to_owned(), seen)
}

/// Part 5a: one request through `tcp-server --trace`.
fn trace_tcp(seen: &Seen) -> Checks {
    // tcp-client sends the line without its newline: 13 bytes.
    let n = TRACED.len();
    let wanted = [
        "→ token 0".to_owned(),
        format!(": read {n} bytes"),
        format!(": wrote {n} bytes, 0 bytes pending"),
        "short read".to_owned(),
        ": close: ".to_owned(),
    ];
    let shown: Result<Vec<String>, String> =
        wanted.iter().map(|w| traced(&seen.trace, w)).collect();
    let n = n as u64;
    vec![
        (
            "the trace shows the accept, the read, the write, the short read and the close"
                .to_owned(),
            shown.map(|_| String::new()),
        ),
        seen.summary(&format!("{n} bytes read"), |l| {
            number_after(l, "read ") == Some(n)
        }),
    ]
}

/// Part 5b: the sticky-packet client against `stick-demo server --trace`.
fn trace_stick(seen: &Seen) -> Checks {
    let reads = traced_reads(&seen.trace);
    let sizes: Vec<String> = reads.iter().map(u64::to_string).collect();
    let sum: u64 = reads.iter().sum();
    let detail = format!("{}: {}", plural(reads.len(), "read"), sizes.join(" + "));
    let count = reads.len() as u64;
    let what = format!(
        "{STICK_BYTES} bytes in {}",
        plural(reads.len(), "traced read")
    );
    vec![
        (
            format!("the traced reads add up to {STICK_BYTES} bytes"),
            match sum == STICK_BYTES {
                true => Ok(format!("{STICK_COUNT} messages in {detail}")),
                false => Err(format!("{sum} bytes in {detail}")),
            },
        ),
        seen.summary(&what, |line| {
            number_after(line, "read ") == Some(STICK_BYTES)
                && number_after(line, " in ") == Some(count)
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_of_the_script_is_whole_and_in_the_tutorials_order() {
        let script = script();
        let names: Vec<&str> = script.iter().map(|s| s.name).chain(LADDER).collect();
        assert_eq!(names.len(), 14);
        let parts: Vec<Part> = script.iter().filter_map(Step::part).collect();
        assert_eq!(parts.len(), script.len(), "a step without its part");
        assert!(
            parts.windows(2).all(|w| w[0] as u8 <= w[1] as u8),
            "{parts:?}"
        );
        for step in script.iter().filter(|s| s.part() != Some(Part::Ladder)) {
            assert!(step.said.len() > 2, "{} says nothing", step.name);
            assert!(!step.field("server").is_empty() && step.field("client").contains("{addr}"));
            let seen = Seen {
                client: vec![],
                server: vec![],
                trace: vec![],
                label: "x",
                summary: Err(String::new()),
            };
            // Its own checks, the summary's at least, and its chapter's.
            let chapter = CHAPTERS
                .iter()
                .filter(|c| c.name == step.field("chapter"))
                .count();
            assert!(
                checks(step.field("check"), &seen).len() + chapter >= 2,
                "{}",
                step.name
            );
        }
    }
}
