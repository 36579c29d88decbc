//! Every command the documents give works as pasted at the repository root.
//!
//! A learner copies commands out of the README and `docs/` into a shell; a
//! command that names a binary nobody builds, a flag that does not exist or
//! a value to fill in by hand fails them at the first step. So:
//!
//! * A fenced block marked `sh` is a script: it is run whole, by
//!   `bash -e` at the repository root, and must exit 0. A block marked
//!   `sh` and one more word is not run whole, and the word says why:
//!   `sh interactive` (servers that run until Ctrl-C, a second terminal),
//!   `sh ci` (what `.ci/run` itself runs: `cargo test --workspace` inside
//!   a test would run this test again), `sh long` (a benchmark: minutes).
//!   `docs/performance.md` is the benchmarks' page: none of its blocks is
//!   run whole.
//! * Every `cargo run …` and `go run …` the documents show, in a block or
//!   in the text (the README's table), must name a program that exists
//!   with flags it takes: a Rust binary is run with the same arguments and
//!   `--help` (which parses the flags before it, then exits 0), a Rust
//!   example is built, a Go program is built. Every `cargo xtask bench …`
//!   must be a command line the bench takes: it is parsed by the bench's
//!   own parser, without running minutes of benchmark.
//!
//! A block that needs a tool this machine lacks (strace, Go, ss, python3)
//! is skipped, saying so on stderr.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use std::{env, fs};

use clap::Parser as _;
use harness::Program;

/// The bench's command line, as the `bench` binary parses it.
#[path = "../../bench/src/cli.rs"]
#[allow(dead_code, reason = "only the parser is used")]
mod bench_cli;

/// Generous: a block may build what the tests did not (the Go programs,
/// the servers in release).
const BLOCK_TIME: Duration = Duration::from_secs(600);

/// The documents a learner reads, from the repository root.
const DOCUMENTS: &[&str] = &[
    "README.md",
    "go/README.md",
    "proto/README.md",
    "docs/go-to-rust.md",
    "docs/pitfalls.md",
    "docs/event-loop.md",
    "docs/ladder.md",
    "docs/performance.md",
];

/// The words after `sh` that keep a block from being run whole.
const NOT_RUN: [&str; 3] = ["interactive", "ci", "long"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the root")
        .to_path_buf()
}

/// One fenced block: the document, its line, its info string and its text.
#[derive(Debug)]
struct Block {
    place: String,
    info: String,
    text: String,
}

/// The fenced blocks of `markdown`, and the text outside them.
fn split(document: &str, markdown: &str) -> (Vec<Block>, String) {
    let (mut blocks, mut prose, mut open) = (Vec::new(), String::new(), None::<Block>);
    for (i, line) in markdown.lines().enumerate() {
        match (open.as_mut(), line.strip_prefix("```")) {
            (None, Some(info)) => {
                let (place, info) = (format!("{document}:{}", i + 1), info.trim().to_owned());
                open = Some(Block {
                    place,
                    info,
                    text: String::new(),
                });
            }
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some(block), None) => block.text += &format!("{line}\n"),
            (None, None) => prose += &format!("{line}\n"),
        }
    }
    (blocks, prose)
}

/// The commands of a document that start with one of `starts`: its inline
/// code spans that are one, and the lines of its shell blocks that are one
/// (a comment cut off).
fn commands(blocks: &[Block], prose: &str, starts: &[&str]) -> Vec<String> {
    let spans = prose.split('`').skip(1).step_by(2).map(str::to_owned);
    let shell = blocks.iter().filter(|b| b.info.starts_with("sh"));
    let lines = shell.flat_map(|b| b.text.lines()).map(|line| {
        let line = line.split(" # ").next().unwrap_or("");
        line.split(" #\t").next().unwrap_or("").trim().to_owned()
    });
    let wanted = |c: &String| {
        starts
            .iter()
            .any(|s| directory_and_command(c).1.starts_with(s))
    };
    spans.chain(lines).filter(wanted).collect()
}

/// `cd go && go run ./tcp/server` → (`go`, `go run ./tcp/server`); a
/// command without `cd` runs at the root.
fn directory_and_command(line: &str) -> (&str, &str) {
    let cd = line
        .strip_prefix("cd ")
        .and_then(|rest| rest.split_once(" && "));
    cd.unwrap_or((".", line))
}

/// The words of a shell command line, quotes taken off (`'a b'` is one).
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    for (i, piece) in line.split('\'').enumerate() {
        match i % 2 {
            1 => words.push(piece.to_owned()),
            _ => words.extend(piece.split_whitespace().map(str::to_owned)),
        }
    }
    words
}

/// Runs `command` in `directory` of the root, bounded; returns whether it
/// exited 0, and what it printed.
fn run(mut command: Command, directory: &str, limit: Duration) -> (bool, String) {
    command.current_dir(root().join(directory));
    let mut program = Program::spawn(command).with_timeout(limit);
    let (stdout, stderr, status) = program.wait_exit();
    (
        status.success(),
        format!("{}\n{}", stdout.join("\n"), stderr.join("\n")),
    )
}

fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Whether `tool` runs here (`strace` must also be allowed to trace).
fn available(tool: &str) -> bool {
    let probe = match tool {
        "strace" => Command::new("strace")
            .args(["-o", "/dev/null", "true"])
            .output(),
        "go" => Command::new("go").arg("version").output(),
        "ss" => Command::new("ss").arg("-V").output(),
        other => Command::new(other).arg("--version").output(),
    };
    probe.is_ok_and(|out| out.status.success())
}

/// The tools a block uses that not every machine has.
fn optional_tools(script: &str) -> Vec<&'static str> {
    let uses = |word: &str| {
        let piped = format!("| {word}");
        script
            .lines()
            .any(|l| l.trim_start().starts_with(word) || l.contains(&piped))
    };
    let tools = ["strace", "go ", "ss ", "python3"]
        .into_iter()
        .filter(|tool| uses(tool));
    tools.map(str::trim).collect()
}

/// A port the Go programs hard-code that `script` uses and another
/// program holds now (a Go server of another run, `cargo xtask compare`):
/// the Go server would not start, through no fault of the document.
fn taken_go_port(script: &str) -> Option<u16> {
    [20000, 30000].into_iter().find(|port| {
        script.contains(&port.to_string())
            && std::net::TcpListener::bind(("127.0.0.1", *port)).is_err()
    })
}

#[test]
fn every_shell_block_of_the_docs_runs_as_pasted_from_the_root() {
    let mut failures = Vec::new();
    for document in DOCUMENTS {
        let text = fs::read_to_string(root().join(document)).unwrap();
        for block in split(document, &text).0 {
            let Some(reason) = block.info.strip_prefix("sh") else {
                continue;
            };
            if !reason.is_empty() && !NOT_RUN.contains(&reason.trim()) {
                let place = &block.place;
                failures.push(format!(
                    "{place}: `sh{reason}`: expected `sh` or `sh` and one of {NOT_RUN:?}"
                ));
            }
            if !reason.is_empty() || *document == "docs/performance.md" {
                continue;
            }
            let missing: Vec<_> = optional_tools(&block.text)
                .into_iter()
                .filter(|t| !available(t))
                .collect();
            if !missing.is_empty() {
                eprintln!("skipped {}: needs {}", block.place, missing.join(", "));
                continue;
            }
            if let Some(port) = taken_go_port(&block.text) {
                eprintln!(
                    "skipped {}: port {port}, which the Go programs hard-code, is taken",
                    block.place
                );
                continue;
            }
            let mut bash = Command::new("bash");
            bash.args(["-e", "-c", &block.text]);
            if let (false, output) = run(bash, ".", BLOCK_TIME) {
                failures.push(format!("{} failed:\n{output}", block.place));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_command_of_the_docs_names_a_real_program_with_flags_it_takes() {
    let mut failures = Vec::new();
    let go = available("go");
    let scratch = env::temp_dir().join(format!("docs-commands-{}", std::process::id()));
    fs::create_dir_all(&scratch).unwrap();
    let starts = ["cargo run ", "go run ", "cargo xtask bench"];
    for document in DOCUMENTS {
        let text = fs::read_to_string(root().join(document)).unwrap();
        let (blocks, prose) = split(document, &text);
        for line in commands(&blocks, &prose, &starts) {
            let (directory, command) = directory_and_command(&line);
            let words = words(command);
            let checked = if let Some(args) =
                words.strip_prefix(&["cargo".into(), "xtask".into(), "bench".into()])
            {
                let parsed = bench_cli::Args::try_parse_from(
                    std::iter::once("bench").chain(args.iter().map(String::as_str)),
                );
                // `--help` is an answer, not a misuse.
                let help = parsed.as_ref().err().is_some_and(|e| e.exit_code() == 0);
                (
                    parsed.is_ok() || help,
                    parsed.err().map(|e| e.to_string()).unwrap_or_default(),
                )
            } else if let Some(package) = words.strip_prefix(&["go".into(), "run".into()]) {
                if !go {
                    eprintln!("skipped `{line}` ({document}): no `go` here");
                    continue;
                }
                let mut build = Command::new("go");
                build
                    .args(["build", "-o"])
                    .arg(scratch.join("go-program"))
                    .args(package);
                run(build, directory, BLOCK_TIME)
            } else if words.iter().any(|w| w == "--example") {
                // An example takes only `--addr`: it is built, not run.
                let mut build = cargo();
                build.arg("build").args(&words[2..]);
                run(build, directory, BLOCK_TIME)
            } else {
                let mut help = cargo();
                help.args(["run", "-q"]).args(&words[2..]);
                if !words.iter().any(|w| w == "--") {
                    help.arg("--");
                }
                help.arg("--help");
                run(help, directory, BLOCK_TIME)
            };
            if let (false, output) = checked {
                failures.push(format!("`{line}` ({document}):\n{output}"));
            }
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn blocks_and_commands_are_found_where_a_reader_sees_them() {
    let markdown = "Run `cargo run -p tcp-server`, then:\n\n```sh interactive\n\
                    go run ./go/tcp/client   # in another terminal\n```\n\n\
                    `cargo xtask demo`, `cd go && go run ./tcp/server`\n\n\
                    ```text\ncargo run -p not-a-command\n```\n\n```sh long\n\
                    cargo xtask bench tcp --server 'a b' --server ours  # minutes\n```\n";
    let (blocks, prose) = split("x.md", markdown);
    assert_eq!(blocks.len(), 3);
    assert_eq!(
        (blocks[0].info.as_str(), blocks[0].place.as_str()),
        ("sh interactive", "x.md:3")
    );
    let commands = commands(
        &blocks,
        &prose,
        &["cargo run ", "go run ", "cargo xtask bench"],
    );
    let bench = "cargo xtask bench tcp --server 'a b' --server ours";
    let expected = [
        "cargo run -p tcp-server",
        "cd go && go run ./tcp/server",
        "go run ./go/tcp/client",
        bench,
    ];
    assert_eq!(commands, expected);
    assert_eq!(
        directory_and_command(&commands[1]),
        ("go", "go run ./tcp/server")
    );
    assert_eq!(words(bench)[4..], ["--server", "a b", "--server", "ours"]);
    assert_eq!(optional_tools(&blocks[0].text), ["go"]);
    assert_eq!(optional_tools("python3 - <<'EOF'\n"), ["python3"]);
}
