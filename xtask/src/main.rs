//! `cargo xtask <task>`: the project's automation, written as a plain Rust binary
//! (the cargo-xtask convention, as in rust-analyzer's `xtask/`).
//!
//! Start reading at [`Task`]: one variant per task, one module per task. To add a
//! task, add a module and a variant; `main` only dispatches. Tasks that run cargo
//! do it through the `CARGO` environment variable, so `cargo +toolchain xtask …`
//! builds with the same toolchain that started it.
//!
//! Hidden variants are the pieces a task re-executes from the release build of
//! this binary (the bench's load generator and its tokio baseline servers), so
//! that nothing measured is a debug build.

mod bench;
mod compare;
mod demo;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "sockets-rs project automation",
    version
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the whole tutorial, narrated and checked: TCP echo, sticky packets
    /// and the fix, UDP echo. Exits non-zero if any check fails.
    Demo(demo::DemoArgs),

    /// Run the Go tutorial's programs against ours, each client against
    /// each server, and print the matrix. Needs `go`; exits 2 without it.
    Compare(compare::CompareArgs),

    /// Benchmark tcp-server and udp-server against tokio baselines, side by side.
    ///
    /// Builds the release binaries, then runs each scenario against our server
    /// and against a tokio echo server in the same run and prints a table with
    /// the ratio ours/tokio.
    Bench(bench::BenchArgs),

    /// The bench proper, run from the release build (`cargo xtask bench` execs it).
    #[command(hide = true)]
    BenchRun(bench::RunArgs),

    /// Baseline: tokio's echo example on a current_thread runtime.
    #[command(hide = true)]
    TokioTcpEcho(bench::baseline::BaselineArgs),

    /// Baseline: a recv_from/send_to loop on a current_thread tokio runtime.
    #[command(hide = true)]
    TokioUdpEcho(bench::baseline::BaselineArgs),
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Demo(args) => demo::run(args),
        Task::Compare(args) => compare::run(args),
        Task::Bench(args) => bench::build_and_run(args),
        Task::BenchRun(args) => bench::run(args),
        Task::TokioTcpEcho(args) => bench::baseline::tcp_main(args),
        Task::TokioUdpEcho(args) => bench::baseline::udp_main(args),
    }
}

#[cfg(test)]
mod tidy {
    //! rust-analyzer's trick: a convention that a test checks stays true.

    use std::{fs, path::Path};

    /// Every source file of xtask opens with a `//!` line saying what it is for,
    /// so a newcomer can find their way without reading the code first.
    #[test]
    fn every_xtask_module_has_a_doc_comment() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let mut checked = 0;
        let mut missing = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).expect("xtask/src is readable") {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    checked += 1;
                    let text = fs::read_to_string(&path).expect("source is UTF-8");
                    if !text.trim_start().starts_with("//!") {
                        missing.push(path.display().to_string());
                    }
                }
            }
        }
        assert!(checked > 1, "found no sources to check");
        assert!(
            missing.is_empty(),
            "modules without a `//!` doc: {missing:?}"
        );
    }
}
