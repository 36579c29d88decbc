//! `cargo xtask <task>`: the project's automation, written as a plain Rust binary
//! (the cargo-xtask convention, as in rust-analyzer's `xtask/`).
//!
//! Start reading at [`Task`]: one variant per task, one module per task. To add a
//! task, add a module and a variant; `main` only dispatches. xtask is the
//! orchestrator only: every task builds the programs it runs with the one
//! build in [`build`] (cargo is run through the `CARGO` environment
//! variable, so `cargo +toolchain xtask …` builds with the same toolchain that
//! started it), and starts them through the workspace's `harness` crate. The
//! load generator and the tokio baselines are the `bench` crate, which
//! `cargo xtask bench` builds and runs.

mod bench;
mod build;
mod compare;
mod demo;
mod go;

use std::process::ExitCode;

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
    /// Builds the release binaries, then runs the `bench` crate's binary with
    /// the arguments given here: each scenario against our server and against
    /// a tokio echo server in the same run, printed as a table with the ratio
    /// ours/tokio. `cargo xtask bench --help` lists the scenarios and options.
    Bench(bench::BenchArgs),
}

/// A failed task is one line on stderr and exit status 1: the error and its
/// context, never a backtrace (which `RUST_BACKTRACE=1`, set by many
/// learners, would add to anyhow's `Debug` output of an error from `main`).
fn main() -> ExitCode {
    let outcome = match Cli::parse().task {
        Task::Demo(args) => demo::run(args),
        Task::Compare(args) => compare::run(args),
        Task::Bench(args) => bench::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cargo xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}
