//! `cargo xtask bench [ARGS]`: builds the servers and the `bench` crate in
//! release, then runs the `bench` binary with ARGS. The load generator and
//! the tokio baselines live in `bench/`, so that tokio and hdrhistogram are
//! compiled for the bench only, never before a learner's `cargo xtask demo`;
//! the scenarios, options and tables are documented there
//! (`cargo xtask bench --help` prints them, after the build).

use std::{ffi::OsString, process::Command};

use anyhow::{Context, Result};

use crate::build::{Profile, binaries};

/// The servers measured, and the load generator with its baselines.
const PACKAGES: [&str; 3] = ["tcp-server", "udp-server", "bench"];

#[derive(clap::Args, Debug)]
// `--help` too is the bench's: it knows its options, xtask only passes them on.
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    /// The scenario and options, passed to the bench binary as they are
    /// (`cargo xtask bench --help` lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

/// Builds, then replaces this process with the release `bench` binary, so
/// that a Ctrl-C and the exit status are the bench's own.
pub fn run(args: BenchArgs) -> Result<()> {
    let binaries = binaries(Profile::Release, &PACKAGES)?;
    let bench = binaries.get("bench")?;
    let servers = binaries
        .get("tcp-server")?
        .parent()
        .context("tcp-server has no directory")?;
    let typed: Vec<String> = std::env::args().skip(1).collect();
    let mut command = Command::new(bench);
    command
        .args(&args.args)
        .arg("--bin-dir")
        .arg(servers)
        .arg("--invoked-as")
        .arg(format!("cargo xtask {}", typed.join(" ")));
    let error = exec(command);
    Err(error).with_context(|| format!("executing {}", bench.display()))
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
