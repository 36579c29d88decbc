//! `bench [SCENARIO] [OPTIONS]`: the load generator, run by `cargo xtask
//! bench` from the release build. Everything is in the library, starting
//! at [`bench::run`]; here, only how a run ends: a misused command line in
//! one line and exit 2, a failed run in one line and exit 1.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = bench::Args::parse();
    if let Err(misuse) = args.check() {
        eprintln!("bench: {misuse}");
        return ExitCode::from(2);
    }
    match bench::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}
