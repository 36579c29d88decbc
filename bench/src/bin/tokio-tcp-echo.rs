//! The TCP baseline as a process of its own, so the bench reads its CPU time
//! and memory from `/proc` exactly as it reads our server's (see
//! `bench::baseline`).

fn main() -> std::process::ExitCode {
    bench::baseline::main(bench::baseline::Baseline::Tcp)
}
