//! `worker-pool`: the Go tutorial's advice, "it is more recommended to
//! establish a goroutine worker pool", as an event-loop program. Read it
//! beside its Go twin, `go/beyond-the-tutorial/worker-pool/main.go`:
//!
//! ```go
//! jobs := make(chan job, *queue)
//! for i := 0; i < *workers; i++ {
//!     go worker(jobs)
//! }
//! for {
//!     conn, err := listen.Accept()
//!     go process(conn, jobs, *queue)
//! }
//! ```
//!
//! In Go a goroutine per connection reads lines and a pool of goroutines
//! does the slow work. Here the event loop (`netpoll`) already replaces
//! the goroutine per connection, and what a pool is *for* stays: slow work
//! (a blocking call, a heavy computation) done by a fixed number of
//! threads while the loop serves everyone else, each result handed back
//! to its connection. The pool is `pool.rs`; a connection's requests are
//! `session.rs`; the protocol is `request.rs`.

mod pool;
mod request;
mod session;

use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use edges::cli::{ConnLimits, Program, ServerFlags, announce_listening, whole};
use edges::console::{self, Console};
use edges::words::plural;
use netpoll::tcp::{Server, Stats};

use pool::Pool;
use session::{Counts, Session, Shared};

/// A line server whose slow requests run on a pool of worker threads while
/// the event loop answers everyone else at once: `sleep MS` blocks a
/// worker MS ms and `spin MS` computes MS ms (MS from 0 to 10000), each
/// answered with one line when done; `panic` fails its job only; any other
/// line is echoed at once.
///
/// Prints `listening on <address>` first and a line per job done; Ctrl-C
/// (or SIGTERM) prints a one-line summary.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    server: ServerFlags<WorkerPool>,

    #[command(flatten)]
    limits: ConnLimits,

    /// Worker threads that run the jobs.
    #[arg(long, value_name = "N", default_value = "4",
          value_parser = whole("workers", "4", NonZeroUsize::MIN..=MAX_WORKERS))]
    workers: NonZeroUsize,

    /// Jobs that may wait for a worker, over all connections; past them a
    /// job is answered `busy` at once.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = whole("jobs", "64", 0..=usize::MAX))]
    queue: usize,
}

/// More threads than any machine runs at once: a typo, not a pool.
const MAX_WORKERS: NonZeroUsize = NonZeroUsize::new(4096).unwrap();

/// The Go twin's address.
#[derive(Debug)]
struct WorkerPool;

impl Program for WorkerPool {
    const ADDR: &'static str = "127.0.0.1:21000";
}

fn main() -> ExitCode {
    edges::program::main(run)
}

fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        server: flags,
        limits,
        ..
    } = &args;
    netpoll::raise_open_file_limit();

    // jobs := make(chan job, *queue); go worker(jobs), *workers times
    let pool = Pool::start(args.workers.get(), args.queue).context("cannot start the workers")?;
    let shared = Arc::new(Shared {
        pool,
        counts: Counts::default(),
        quiet: flags.quiet,
    });

    // net.Listen, and for each conn := listen.Accept(): go process(conn)
    let sessions = Arc::clone(&shared);
    let server = Server::new(move |peer| Session::new(Arc::clone(&sessions), peer))
        .max_conns(limits.max_conns)
        .idle_timeout(limits.idle_timeout)
        .handle_signals(true)
        .trace(flags.trace)
        .start(flags.addr)
        .with_context(|| format!("cannot listen on {}", flags.addr))?;

    // The contract with tests and scripts: the first line says where we are.
    announce_listening(server.local_addr())?;

    // Until SIGINT/SIGTERM: the loop stops, then the pool (the jobs still
    // running are not waited for: their connections are closed).
    let stats = server.join().context("event loop failed")?;
    shared.pool.stop();
    netpoll::trace::finish();

    Console::stdout().finish(
        format_args!("{}", summary(&stats, &shared.counts)),
        console::stdout_is_terminal(),
    );
    Ok(())
}

/// The last line: connections, jobs (refused as busy, failed), echoes; and
/// replies that found their connection closed, if any.
fn summary(stats: &Stats, counts: &Counts) -> String {
    let count = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
    let mut line = format!(
        "summary: served {}, {} ({} busy, {} failed), {}",
        plural(stats.connections, "connection"),
        plural(count(&counts.jobs), "job"),
        count(&counts.busy),
        count(&counts.failed),
        plural(count(&counts.echoed), "echoed line")
    );
    if stats.undelivered > 0 {
        line.push_str(&format!(
            "; {} dropped: the connection had closed before the job was done",
            plural(stats.undelivered, "job result")
        ));
    }
    line
}
