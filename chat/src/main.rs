//! `chat`: the classic next program after an echo server, on the same
//! event loop. Read it beside its Go twin,
//! `go/beyond-the-tutorial/chat/main.go`:
//!
//! ```go
//! listen, err := net.Listen("tcp", *addr)
//! go h.run()
//! for n := 1; ; n++ {
//!     conn, err := listen.Accept()
//!     c := &client{conn: conn, name: fmt.Sprintf("guest%d", n), ...}
//!     h.register <- c
//!     go c.writeLines()
//!     go h.readLines(c)
//! }
//! ```
//!
//! In Go each client has two goroutines (one reads its lines, one writes
//! what it is sent) and a hub goroutine owns the room. Here the event loop
//! (`netpoll`) reads and writes every connection; a [`Client`] handler
//! turns each connection's reads into lines and requests (`client.rs`);
//! the [`Room`] is the hub, shared by the handlers (`room.rs`, which also
//! says why one roster behind a lock); the protocol's words are in
//! `protocol.rs`. What `main` adds to the Go program: limits, a peer that
//! does not read disconnected at `--max-pending` without slowing the
//! others, several loops (`--threads`), and a graceful stop with its
//! summary.

mod client;
mod protocol;
mod room;

use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use edges::cli::{ConnLimits, Program, ServerFlags, announce_listening, whole};
use edges::console::{self, Console};
use edges::words::plural;
use netpoll::tcp::{Server, Stats};

use client::Client;
use room::{Counts, Room};

/// A chat server: every line a peer sends goes to every other peer, under
/// its name (`guestN` until `/nick NAME`); joins and leaves are announced,
/// and `/quit` leaves. Talk to it with `nc 127.0.0.1 22000`.
///
/// Prints `listening on <address>` first, then a line for each thing said
/// and done in the room; Ctrl-C (or SIGTERM) prints a one-line summary.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    server: ServerFlags<Chat>,

    #[command(flatten)]
    limits: ConnLimits,

    /// Disconnect a peer that leaves this many bytes unread (the others'
    /// lines waiting for it); the others are told it was too slow.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024,
          value_parser = whole("bytes", "1048576", 1..=usize::MAX))]
    max_pending: usize,

    /// Event loops (threads) sharing the room, each with its own
    /// SO_REUSEPORT listener where the OS has them.
    #[arg(long, value_name = "N", default_value = "1",
          value_parser = whole("threads", "2", NonZeroUsize::MIN..=NonZeroUsize::MAX))]
    threads: NonZeroUsize,

    /// On Ctrl-C or SIGTERM, wait at most this many seconds for every peer
    /// to take the lines sent to it before closing anyway (a second signal
    /// stops waiting).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = edges::cli::seconds_or_zero)]
    shutdown_timeout: Duration,
}

/// The most one read takes from a peer (the loop's default is 64 KiB).
///
/// Every line a peer says is copied to every other peer under its name,
/// so a read costs each of them up to 131 times its size: a read of
/// empty lines (`\n`, one byte each) from a peer whose name is 32
/// four-byte characters is 131 bytes a line for each member. A read's
/// lines reach the members at once, before any of them had a chance to
/// read; at 64 KiB that is 8.6 MB each, past the default `--max-pending`,
/// and a peer that reads as fast as it can would be dropped as too slow.
/// At 4 KiB it is at most 537 KB, and the loop writes it out before it
/// reads the flooder again (proved by
/// `a_flood_of_empty_lines_under_a_long_name_gets_no_reader_dropped`).
/// Chat lines are short: a smaller read costs a long line a few more
/// reads, nothing else.
const READ_SIZE: usize = 4 * 1024;

/// The Go twin's address.
#[derive(Debug)]
struct Chat;

impl Program for Chat {
    const ADDR: &'static str = "127.0.0.1:22000";
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

    // go h.run(): the room every connection joins.
    let room = Arc::new(Room::new());

    // net.Listen, and for each conn := listen.Accept(): register it, read
    // its lines, write what it is sent.
    let quiet = flags.quiet;
    let members = Arc::clone(&room);
    let server = Server::new(move |peer| Client::new(Arc::clone(&members), peer, quiet))
        .threads(args.threads.get())
        .max_pending(args.max_pending)
        .read_buffer_size(READ_SIZE)
        .max_conns(limits.max_conns)
        .idle_timeout(limits.idle_timeout)
        .shutdown_timeout(args.shutdown_timeout)
        .handle_signals(true)
        .trace(flags.trace)
        .start(flags.addr)
        .with_context(|| format!("cannot listen on {}", flags.addr))?;

    // The contract with tests and scripts: the first line says where we are.
    announce_listening(server.local_addr())?;

    // Until SIGINT/SIGTERM.
    let stats = server.join().context("event loop failed")?;
    netpoll::trace::finish();

    // Through the console, after every line of the transcript still queued.
    Console::stdout().finish(
        format_args!("{}", summary(&stats, room.counts())),
        console::stdout_is_terminal(),
    );
    Ok(())
}

/// The last line: connections, lines said and how many times they were
/// sent on, peers dropped for not reading.
fn summary(stats: &Stats, counts: Counts) -> String {
    format!(
        "summary: served {}, {} delivered {}, {} dropped as too slow",
        plural(stats.connections, "connection"),
        plural(counts.lines, "line"),
        plural(counts.deliveries, "time"),
        counts.too_slow
    )
}
