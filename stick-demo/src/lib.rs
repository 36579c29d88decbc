//! The Go tutorial's sticky-packet chapter (`socket_stick/client`, the
//! unchanged `tcp/server` on port 30000, `socket_stick/server2`,
//! `socket_stick/client2` and `socket_stick/proto`): the problem made
//! visible, then fixed.
//!
//! # Why TCP "sticks"
//!
//! TCP carries a *stream of bytes*, not messages. Twenty `write`s of 26
//! bytes put 520 bytes in order into the stream and nothing else: no trace
//! of where one write ended is sent. How those bytes come out of `read` is
//! decided by things the programs do not control:
//!
//! * **At the sender**, Nagle's algorithm holds small writes back while
//!   earlier data is unacknowledged and sends them together in one segment
//!   (`client --nodelay` switches it off; Go switches it off by default).
//! * **At the receiver**, the kernel queues whatever arrives; a `read` that
//!   comes late returns everything queued so far, many messages at once,
//!   and a small read buffer (`server --read-size 16`) returns part of one.
//!
//! So one read may hold two and a half messages ("sticking") or half of one
//! ("splitting"). Pausing between writes (`--delay-ms`) makes it rarer,
//! never impossible. The fix is to put the boundaries into the stream
//! yourself: `proto` prefixes each message with its length, and the
//! receiver cuts the stream at those lengths whatever the reads look like.
//!
//! # Try it
//!
//! ```text
//! cargo run -p stick-demo -- server            # terminal 1 (port 30000)
//! cargo run -p stick-demo -- client            # terminal 2: 20 bare messages
//! cargo run -p stick-demo -- server --read-size 16   # messages split
//! cargo run -p stick-demo -- server2           # the fix
//! cargo run -p stick-demo -- client2 --chunk 1 # frames split into bytes, still 20 messages
//! ```
//!
//! # Where to start reading
//!
//! 1. [`client`]: `socket_stick/client` and `client2`, side by side.
//! 2. [`raw_server`]: the server that prints each read as it arrived, and
//!    its summary; [`boundaries`] draws where the reads ended.
//! 3. `proto` (its own crate): the frame, and the Go `Decode`'s defects.
//! 4. [`framed_server`]: `socket_stick/server2`, decoding frames on the
//!    `netpoll` TCP loop and treating the peer as hostile.
//!
//! `src/main.rs` only parses the command line and calls one of them.

pub mod boundaries;
pub mod client;
pub mod framed_server;
pub mod raw_server;

use std::net::SocketAddr;

use anyhow::Context;
use edges::cli::announce_listening;
use netpoll::tcp::{Handler, Server, Stats};

/// The chapter's programs, for the flags they share with every program:
/// they all listen or connect on the Go programs' 127.0.0.1:30000.
#[derive(Debug)]
pub struct Chapter;

impl edges::cli::Program for Chapter {
    const ADDR: &'static str = "127.0.0.1:30000";
}

/// `--read-size`, the largest single read: the loop allocates one buffer of
/// it, so it is bounded (64 MiB).
pub fn read_size(text: &str) -> Result<u32, String> {
    edges::cli::whole("bytes", "16", 1..=64 * 1024 * 1024)(text)
}

/// Starts `server` on `addr`, prints `listening on <addr>` as the first line
/// (the contract scripts and tests rely on), and waits for SIGINT/SIGTERM.
fn serve<F, H>(server: Server<F>, addr: SocketAddr) -> anyhow::Result<Stats>
where
    F: Fn(SocketAddr) -> H + Send + Sync + 'static,
    H: Handler + 'static,
{
    let server = server
        .start(addr)
        .with_context(|| format!("cannot listen on {addr}"))?;
    announce_listening(server.local_addr())?;
    let stats = server.join().context("event loop failed")?;
    netpoll::trace::finish();
    Ok(stats)
}
