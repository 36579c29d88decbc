//! `tcp/server/main.go`: the TCP echo server, read beside the Go program.
//!
//! ```go
//! listen, err := net.Listen("tcp", "127.0.0.1:20000")
//! for {
//!     conn, err := listen.Accept()
//!     go process(conn)
//! }
//! ```
//!
//! Go hides the event loop in its runtime and spends a goroutine (and its
//! stack) per connection. Here the loop is explicit, in the `netpoll`
//! library (`netpoll::tcp`), and `process` is the `Echo` handler in `echo.rs`.
//! What `main` adds to the Go program: limits, backpressure, graceful
//! shutdown with a summary, and the flags to tune them.

mod echo;

use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use edges::cli::{ConnLimits, Program, ServerFlags, SpinFlag, announce_listening, whole};
use edges::console::{self, Console};
use edges::words::plural;
use netpoll::tcp::{Server, Stats};

use echo::Echo;

/// TCP echo server: sends every byte back to the client that sent it,
/// printing each read as the Go tutorial's tcp/server does.
///
/// Prints `listening on <address>` first; Ctrl-C (or SIGTERM) lets every
/// client take its echo, then prints a one-line summary.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    server: ServerFlags<TcpServer>,

    #[command(flatten)]
    limits: ConnLimits,

    /// Stop reading a connection while its unsent echo exceeds this many
    /// bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024,
          value_parser = whole("bytes", "65536", 0..=usize::MAX))]
    max_pending: usize,

    /// On Ctrl-C or SIGTERM, wait at most this many seconds for every
    /// client to take its echo before closing anyway (a second signal stops
    /// waiting). Any value works: a very long one means "until the clients
    /// are done".
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = edges::cli::seconds_or_zero)]
    shutdown_timeout: Duration,

    /// Event loops (threads), each with its own SO_REUSEPORT listener.
    #[arg(long, value_name = "N", default_value = "1",
          value_parser = whole("threads", "2", NonZeroUsize::MIN..=NonZeroUsize::MAX))]
    threads: NonZeroUsize,

    /// Leave Nagle's algorithm on. By default TCP_NODELAY is set on every
    /// accepted connection, because an echo server wants each reply sent at
    /// once rather than held back until the previous one is acknowledged.
    #[arg(long)]
    no_nodelay: bool,

    #[command(flatten)]
    spin: SpinFlag,
}

/// The Go server's address.
#[derive(Debug)]
struct TcpServer;

impl Program for TcpServer {
    const ADDR: &'static str = "127.0.0.1:20000";
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

    // net.Listen("tcp", "127.0.0.1:20000")
    let quiet = flags.quiet;
    let server = Server::new(move |_peer| Echo::new(quiet))
        .threads(args.threads.get())
        .max_pending(args.max_pending)
        .max_conns(limits.max_conns)
        .idle_timeout(limits.idle_timeout)
        .nodelay(!args.no_nodelay)
        .shutdown_timeout(args.shutdown_timeout)
        .handle_signals(true)
        .spin(args.spin.window())
        .trace(flags.trace)
        .start(flags.addr)
        .with_context(|| format!("cannot listen on {}", flags.addr))?;

    // The contract with tests and scripts: the first line says where we are.
    announce_listening(server.local_addr())?;

    // for { conn := listen.Accept(); go process(conn) }, until SIGINT/SIGTERM.
    let stats = server.join().context("event loop failed")?;
    netpoll::trace::finish();

    // Through the console, after every teaching line still queued; on a
    // terminal, below the `^C` it echoed.
    Console::stdout().finish(
        format_args!("{}", summary(&stats)),
        console::stdout_is_terminal(),
    );
    Ok(())
}

/// The last line: what the server did, counting as echoed only what its
/// clients acknowledged (or took before it stopped): echo left in the kernel
/// when a stop closed its connection may never arrive, and says so.
fn summary(stats: &Stats) -> String {
    let delivered = stats
        .bytes_written
        .saturating_sub(stats.bytes_unacknowledged);
    let mut line = format!(
        "summary: served {} ({} refused), read {}, echoed {}",
        plural(stats.connections, "connection"),
        stats.refused,
        plural(stats.bytes_read, "byte"),
        plural(delivered, "byte")
    );
    if stats.bytes_unacknowledged > 0 {
        line.push_str(&format!(
            "; {} more sent but not acknowledged when the server stopped (they may never arrive)",
            plural(stats.bytes_unacknowledged, "byte")
        ));
    }
    line
}
