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
//!   a test would run this test again).
//! * Every `cargo run …` and `go run …` the documents show, in a block or
//!   in the text (the README's table), must name a program that exists
//!   with flags it takes: a Rust binary is run with the same arguments and
//!   `--help` (which parses the flags before it, then exits 0), a Rust
//!   example is built, a Go program is built.
//!
//! A block that needs a tool this machine lacks (strace, Go, ss) is skipped,
//! saying so on stderr. `docs/performance.md` is the benchmarks' page: its
//! blocks run for minutes and are measured by `cargo xtask bench`; only its
//! `cargo run`/`go run` commands are checked here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use std::{env, fs};

use harness::Program;

/// Generous: a block may build what the tests did not (the Go programs).
const BLOCK_TIME: Duration = Duration::from_secs(300);

/// The documents a learner reads, from the repository root.
const DOCUMENTS: &[&str] = &[
    "README.md",
    "go/README.md",
    "proto/README.md",
    "docs/go-to-rust.md",
    "docs/pitfalls.md",
    "docs/event-loop.md",
    "docs/performance.md",
];

/// Documents whose blocks are not run whole (see the module doc).
const BLOCKS_NOT_RUN: &[&str] = &["docs/performance.md"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace root")
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
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (open.as_mut(), line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    place: format!("{document}:{}", i + 1),
                    info: info.trim().to_owned(),
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some(block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
    }
    (blocks, prose)
}

/// The `cargo run …` and `go run …` commands of a document: its inline code
/// spans that are one, and the lines of its shell blocks that are one (a
/// comment cut off).
fn run_commands(blocks: &[Block], prose: &str) -> Vec<String> {
    let spans = prose.split('`').skip(1).step_by(2).map(str::to_owned);
    let lines = blocks
        .iter()
        .filter(|b| b.info.starts_with("sh"))
        .flat_map(|b| b.text.lines())
        .map(|line| line.split(" #").next().unwrap_or("").trim().to_owned());
    spans
        .chain(lines)
        .filter(|c| {
            let (_, command) = directory_and_command(c);
            command.starts_with("cargo run ") || command.starts_with("go run ")
        })
        .collect()
}

/// `cd go && go run ./tcp/server` → (`go`, `go run ./tcp/server`); a
/// command without `cd` runs at the root.
fn directory_and_command(line: &str) -> (&str, &str) {
    line.strip_prefix("cd ")
        .and_then(|rest| rest.split_once(" && "))
        .unwrap_or((".", line))
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
        script
            .lines()
            .any(|l| l.trim_start().starts_with(word) || l.contains(&format!("| {word}")))
    };
    ["strace", "go ", "ss "]
        .into_iter()
        .filter(|tool| uses(tool))
        .map(str::trim)
        .collect()
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
        let (blocks, _) = split(document, &text);
        for block in blocks {
            let Some(reason) = block.info.strip_prefix("sh") else {
                continue;
            };
            if !reason.is_empty() && !matches!(reason.trim(), "interactive" | "ci") {
                failures.push(format!(
                    "{}: `sh{reason}`: expected `sh`, `sh interactive` or `sh ci`",
                    block.place
                ));
            }
            if !reason.is_empty() || BLOCKS_NOT_RUN.contains(document) {
                continue;
            }
            let missing: Vec<_> = optional_tools(&block.text)
                .into_iter()
                .filter(|tool| !available(tool))
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
            let (ok, output) = run(bash, ".", BLOCK_TIME);
            if !ok {
                failures.push(format!("{} failed:\n{output}", block.place));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_cargo_run_and_go_run_of_the_docs_names_a_real_program() {
    let mut failures = Vec::new();
    let go = available("go");
    let scratch = env::temp_dir().join(format!("docs-commands-{}", std::process::id()));
    fs::create_dir_all(&scratch).unwrap();
    for document in DOCUMENTS {
        let text = fs::read_to_string(root().join(document)).unwrap();
        let (blocks, prose) = split(document, &text);
        for line in run_commands(&blocks, &prose) {
            let (directory, command) = directory_and_command(&line);
            let words: Vec<&str> = command.split_whitespace().collect();
            let checked = if let Some(package) = words.strip_prefix(&["go", "run"]) {
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
            } else if words.contains(&"--example") {
                // An example takes only `--addr`: it is built, not run.
                let mut build = cargo();
                build.arg("build").args(&words[2..]);
                run(build, directory, BLOCK_TIME)
            } else {
                let mut help = cargo();
                help.args(["run", "-q"]).args(&words[2..]);
                if !words.contains(&"--") {
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
                    ```text\ncargo run -p not-a-command\n```\n";
    let (blocks, prose) = split("x.md", markdown);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].info, "sh interactive");
    assert_eq!(blocks[0].place, "x.md:3");
    let commands = run_commands(&blocks, &prose);
    assert_eq!(
        commands,
        [
            "cargo run -p tcp-server",
            "cd go && go run ./tcp/server",
            "go run ./go/tcp/client"
        ]
    );
    assert_eq!(
        directory_and_command(&commands[1]),
        ("go", "go run ./tcp/server")
    );
    assert_eq!(optional_tools(&blocks[0].text), ["go"]);
}
