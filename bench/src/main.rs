//! `bench [SCENARIO] [OPTIONS]`: the load generator, run by `cargo xtask
//! bench` from the release build (run it by hand with `--help` to see the
//! scenarios). Everything is in the library, starting at [`bench::run`].

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    bench::run(bench::RunArgs::parse())
}
