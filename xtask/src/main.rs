//! `cargo xtask <task>`: the project's automation, written as a plain Rust
//! binary (the cargo-xtask convention, as in rust-analyzer's `xtask/`).
//!
//! Start reading at [`Task`]: one variant per task, one module per task;
//! `main` only dispatches. Every task builds the programs it runs with the
//! one build in [`build`] (cargo run through the `CARGO` environment
//! variable, so `cargo +toolchain xtask …` builds with the toolchain that
//! started it) and starts them through the workspace's `harness` crate.

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
    /// Run the whole tutorial, narrated and checked: TCP echo, sticky
    /// packets and the fix, UDP echo, the event loop at work under
    /// `--trace` (`trace`), and each Go server read three ways, Go, one
    /// file of Rust, ours (`ladder`). Exits non-zero if any check fails.
    Demo(demo::DemoArgs),

    /// Run the Go tutorial's programs against ours (and its servers in one
    /// file of Rust), each client against each server, and the Go twins of
    /// worker-pool and chat against ours; print the matrix. Needs `go`;
    /// exits 2 without it.
    Compare(compare::CompareArgs),

    /// Measure echo servers side by side: ours against tokio, and Go when
    /// `go` is installed, or any server you name (`--server`). Builds in
    /// release first; `cargo xtask bench --help` lists the scenarios and
    /// options at once.
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
