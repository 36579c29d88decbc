//! The UDP baseline as a process of its own, so the bench reads its CPU time
//! and memory from `/proc` exactly as it reads our server's (see
//! `bench::baseline`).

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    bench::baseline::udp_main(bench::baseline::BaselineArgs::parse())
}
