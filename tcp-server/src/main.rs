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

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use edges::cli::{announce_listening, resolve};
use edges::console::{self, Console};
use netpoll::spin::{DEFAULT_SPIN_US, MAX_SPIN_US};
use netpoll::tcp::{Server, Stats};

use echo::Echo;

/// TCP echo server: writes back every byte it receives.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:20000", value_parser = resolve)]
    addr: SocketAddr,

    /// Do not print every read (keeps the final summary).
    #[arg(long)]
    quiet: bool,

    /// Stop reading a connection while its unsent echo exceeds this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    max_pending: usize,

    /// Most connections served at once; further ones are accepted and closed.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_conns: usize,

    /// Close connections silent for this many seconds (default: never).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: Option<u64>,

    /// On SIGINT/SIGTERM, wait at most this long for every client to take
    /// its echo before closing anyway (a second signal stops waiting). Any
    /// value works: a very long one means "until the clients are done".
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    shutdown_timeout: u64,

    /// Event loops (threads), each with its own SO_REUSEPORT listener.
    #[arg(long, value_name = "N", default_value = "1")]
    threads: NonZeroUsize,

    /// Leave Nagle's algorithm on. By default TCP_NODELAY is set on every
    /// accepted connection, because an echo server wants each reply sent at
    /// once rather than held back until the previous one is acknowledged.
    #[arg(long)]
    no_nodelay: bool,

    /// After traffic, keep polling this long before sleeping; 0 = sleep at once.
    ///
    /// Polling a little is cheaper than sleeping when the next request
    /// follows at once, because waking a sleeping thread takes longer than
    /// a ping-pong client takes to answer; an idle server still sleeps. Only
    /// with one or two connections, and not for a stream: there one wake-up
    /// serves much work and there is little to save. The cost: a core kept
    /// busy for up to this long after the last request, and, where client
    /// and server share one core (where the spin cannot help), a few percent
    /// more CPU per request: use 0 there. Why and how: netpoll/src/spin.rs;
    /// measurements: docs/performance.md. At most 1000000 (one second).
    #[arg(
        long,
        value_name = "MICROSECONDS",
        default_value_t = DEFAULT_SPIN_US,
        value_parser = clap::value_parser!(u64).range(0..=MAX_SPIN_US)
    )]
    spin_us: u64,

    /// Watch the event loop work: one line on stderr per wake-up, accept,
    /// read, write, pause and close, with the microseconds since start.
    #[arg(long)]
    trace: bool,
}

fn main() -> ExitCode {
    // Every log record and trace line goes through one bounded stderr
    // queue, so a stderr nobody reads never stops a loop; `_stderr` writes
    // out what is left in it as `main` returns.
    let _stderr = edges::console::logger::init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, like Go's `fmt.Println("listen failed, err:", err)`.
            Console::stderr().line(format_args!("tcp-server: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    netpoll::raise_open_file_limit();

    // net.Listen("tcp", "127.0.0.1:20000")
    let server = Server::new(move |_peer| Echo::new(args.quiet))
        .threads(args.threads.get())
        .max_pending(args.max_pending)
        .max_conns(args.max_conns)
        .idle_timeout(args.idle_timeout.map(Duration::from_secs))
        .nodelay(!args.no_nodelay)
        .shutdown_timeout(Duration::from_secs(args.shutdown_timeout))
        .handle_signals(true)
        .spin(Duration::from_micros(args.spin_us))
        .trace(args.trace)
        .start(args.addr)
        .with_context(|| format!("listen on {} failed", args.addr))?;

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

/// `1 connection`, `2 connections`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
