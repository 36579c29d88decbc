//! `cargo xtask bench [ARGS]`: builds the servers and the `bench` crate in
//! release, and the Go baselines when `go` is installed, then runs the
//! `bench` binary with ARGS. The load generator and the tokio baselines
//! live in `bench/`, so that tokio is compiled for the bench only, never
//! before a learner's `cargo xtask demo`; its command line is compiled here
//! too, so that `--help` answers at once, before any build.

use std::{ffi::OsString, path::Path, process::Command};

use anyhow::{Context, Result};
use clap::CommandFactory as _;

use crate::{
    build::{Profile, binaries, in_workspace, workspace_root},
    go,
};

/// The bench's command line, as the `bench` binary parses it.
#[path = "../../bench/src/cli.rs"]
#[allow(dead_code, reason = "xtask only prints its help")]
mod cli;

/// The servers measured, and the load generator with its baselines: those
/// this workspace has (the bench says of the others that they are not built).
const PACKAGES: [&str; 5] = ["tcp-server", "udp-server", "worker-pool", "chat", "bench"];

/// The Go baselines and twins: the program name the bench's presets look
/// for, the module it is built in, and the package.
const GO_BASELINES: [(&str, &str, &str); 4] = [
    // The tutorial's server as published, on its own 127.0.0.1:20000.
    ("go-tutorial-tcp-server", "go", "./tcp/server"),
    // The idiomatic echo: a goroutine per connection, io.Copy.
    ("go-echo", "bench/go/echo", "main.go"),
    // The Go twins of worker-pool and chat, written for this project.
    ("go-worker-pool", "go", "./beyond-the-tutorial/worker-pool"),
    ("go-chat", "go", "./beyond-the-tutorial/chat"),
];

#[derive(clap::Args, Debug)]
// `--help` is the bench's: its options, printed from its own parser.
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    /// The scenario and options, passed to the bench binary as they are
    /// (`cargo xtask bench --help` lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

/// Prints the help, or builds, then replaces this process with the
/// release `bench` binary, so that a Ctrl-C and the exit status are the
/// bench's own.
pub fn run(args: BenchArgs) -> Result<()> {
    if args.args.iter().any(|a| a == "--help" || a == "-h") {
        // A pager or `head` that stops reading is no error.
        let help = cli::Args::command().render_long_help().to_string();
        let _ = std::io::Write::write_all(&mut std::io::stdout(), help.as_bytes());
        return Ok(());
    }
    let binaries = binaries(Profile::Release, &in_workspace(&PACKAGES))?;
    let bench = binaries.get("bench")?;
    let dir = bench.parent().context("the bench has no directory")?;
    build_go_baselines(dir);
    let typed: Vec<String> = std::env::args().skip(1).collect();
    let mut command = Command::new(bench);
    command
        .args(&args.args)
        .arg("--invoked-as")
        .arg(format!("cargo xtask {}", typed.join(" ")));
    let error = exec(command);
    Err(error).with_context(|| format!("executing {}", bench.display()))
}

/// Builds the Go baselines and twins into `dir`, beside the bench, when
/// `go` is installed; otherwise the bench runs without them and says so.
fn build_go_baselines(dir: &Path) {
    let Some(go) = go::find_go() else {
        println!("`go` is not installed: the Go baselines will be skipped");
        return;
    };
    for (name, module, package) in GO_BASELINES {
        let output = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        if let Err(why) = go::build(&go, &workspace_root().join(module), &[package], &output) {
            println!("{name} not built, so not measured: {why}");
        }
    }
}

/// Replaces this process with `command`; returns only on failure.
#[cfg(unix)]
fn exec(mut command: Command) -> std::io::Error {
    use std::os::unix::process::CommandExt as _;
    command.exec()
}

/// Windows cannot replace a process: run the bench and exit with its code
/// (Ctrl-C reaches it directly, as every process of the console).
#[cfg(not(unix))]
fn exec(mut command: Command) -> std::io::Error {
    match command.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(error) => error,
    }
}
