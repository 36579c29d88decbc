//! The tokio worker-pool baseline as a process of its own, so the bench reads its
//! CPU time from `/proc` exactly as it reads our server's (see
//! `bench::baseline`).

fn main() -> std::process::ExitCode {
    bench::baseline::main(bench::baseline::Baseline::Pool)
}
