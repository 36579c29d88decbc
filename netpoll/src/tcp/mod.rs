//! The readiness loop every TCP server of this project runs on: one mio
//! `Poll` per thread, connections in a `Slab` keyed by their `Token`, and a
//! small [`Handler`] per connection that only decides what to do with bytes.
//!
//! # What the loop does so a handler does not have to
//!
//! * **Edge-triggered I/O done right.** mio reports a socket once when it
//!   *becomes* ready, so the loop accepts, reads and writes until the OS says
//!   `WouldBlock`, retries `Interrupted`, and — because an edge is not
//!   repeated — remembers work it had to postpone (a paused read, a paused
//!   accept, a connection that used up its turn) and resumes it itself.
//! * **No wasted syscalls.** A read that returns fewer bytes than asked for
//!   means the receive queue is empty: the loop does not issue the extra
//!   `read` that would only say `WouldBlock` (new data, or the peer's FIN,
//!   raises a new edge); likewise a short write means the send buffer is
//!   full. A ping-pong request costs one `read`, one `write` and a share of
//!   one `epoll_wait`. The one exception: urgent data (`MSG_OOB`) stops a
//!   read short at its mark, so a connection that sent some (a priority
//!   event says so) is read until `WouldBlock` from then on, and its urgent
//!   byte is echoed in its place (`SO_OOBINLINE`).
//! * **Echo inside the kernel.** A handler that only echoes can say so
//!   ([`Handler::echo_in_kernel`]); once its peer streams (a read fills the
//!   whole buffer), the loop moves the stream back with `splice(2)` through
//!   a pipe (Linux), so the bytes never cross into user space. This is what Go's
//!   `io.Copy` does between two TCP connections.
//! * **Fairness.** A connection gets at most 16 reads per turn, so a peer
//!   that sends as fast as the loop reads cannot starve the others.
//! * **No byte lost.** [`Conn::send`] writes at once when it can and keeps
//!   the rest as pending output, written when the socket becomes writable.
//!   When the peer shuts down its write side, pending output is still flushed
//!   before the connection closes.
//! * **Backpressure.** A connection whose pending output exceeds the
//!   high-water mark ([`Server::max_pending`]) is not read from until that
//!   output has drained, so a peer that sends and never reads costs at most
//!   the mark plus one read, and never slows the others.
//! * **Small idle connections.** Reads go into one scratch buffer per loop;
//!   pending output is allocated only while there is some.
//! * **Awake when the next request comes.** Serving one or two
//!   connections, after traffic the loop keeps polling without sleeping
//!   for a short window ([`Server::spin`]), so a client with one request in
//!   flight finds it awake instead of waiting for a sleeping thread to be
//!   woken (see [`spin`](crate::spin), also for why not with more); an
//!   idle loop sleeps.
//! * **Failure is local.** A reset or broken pipe closes that connection only.
//! * **No write of its own.** Everything the loop says (its warnings,
//!   `--trace`) is a `log` record, handed to the program's logger; the
//!   programs' logger queues it for a writer thread, so a stderr nobody
//!   reads costs dropped lines, not a stalled server (see the crate doc).
//!   Lines a peer can cause at will (refusals, accept errors) are also
//!   rate limited ([`RateLimitedLog`](crate::RateLimitedLog)).
//! * **Limits and shutdown.** `max_conns`, `EMFILE`/`ENFILE` back-off, an
//!   idle timeout swept once in a while (no timer per connection), and a
//!   graceful stop (signals or [`ServerHandle::shutdown`](crate::ServerHandle::shutdown)) that stops
//!   accepting and reading, and within a deadline lets every peer take its
//!   echo, pending and queued in the kernel alike (closing with a FIN, never
//!   a reset that would destroy it), then returns the [`Stats`], which count
//!   what was never acknowledged apart (`shutdown.rs`). `max_conns` holds
//!   over all loops: a slot is taken in one atomic step.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use netpoll::tcp::{Conn, Handler, Server};
//!
//! /// Upper-cases what it receives and adds "!" when the peer is done.
//! struct Shout;
//!
//! impl Handler for Shout {
//!     fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
//!         conn.send(&data.to_ascii_uppercase());
//!     }
//!     fn on_peer_closed_write(&mut self, conn: &mut Conn<'_>) {
//!         conn.send(b"!");
//!     }
//! }
//!
//! let server = Server::new(|_peer| Shout).start("127.0.0.1:0".parse().unwrap())?;
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"hi")?;
//! client.shutdown(std::net::Shutdown::Write)?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply)?;
//! assert_eq!(reply, "HI!");
//! let stats = server.stop()?;
//! assert_eq!((stats.connections, stats.bytes_read, stats.bytes_written), (1, 2, 3));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The files
//!
//! `event_loop.rs` is the loop: [`Server::start`](crate::Server::start),
//! then `run`, which waits, dispatches each event and accepts. Each
//! connection is a `Connection` (`connection.rs`): its socket, its pending
//! output (`output.rs`), its handler, and its whole turn: reading,
//! writing, backpressure, the decision to splice (`splice.rs`, the pipe),
//! its part of a stop. The loop owns a few small parts besides: its
//! listener and `max_conns` (`listener.rs`), its stop (`shutdown.rs`) and
//! its idle sweep (`idle.rs`). The public side is `handler.rs`
//! ([`Handler`], [`Conn`], [`CloseReason`]), `server.rs` (the settings of
//! [`Server`]) and [`Stats`], here.

mod connection;
mod endpoint;
mod event_loop;
mod framing;
mod handler;
mod id;
mod idle;
mod links;
mod listener;
mod outbox;
mod output;
mod remote;
mod server;
mod shutdown;
mod splice;
#[cfg(test)]
mod tests;
mod timers;

pub use framing::{FrameReader, KEEP_CAPACITY};
pub use handler::{CloseReason, Conn, Handler};
pub use id::ConnId;
pub use listener::Spread;
pub use remote::{Remote, Reply};
pub use server::{Server, Tcp};
pub use timers::Timer;

crate::handle::counters! {
    /// Counters of one TCP server run, summed over its event loops.
    pub struct Stats {
        /// Connections accepted and served.
        pub connections: u64,
        /// Connections accepted and closed at once because of `max_conns`.
        pub refused: u64,
        /// Bytes read from all connections.
        pub bytes_read: u64,
        /// Bytes written to all connections (handed to the kernel).
        pub bytes_written: u64,
        /// Of `bytes_written`, those the peer had not acknowledged when the
        /// server, stopping, closed their connection: still on their way, or
        /// never to arrive (a peer that does not read). Linux only; 0 where
        /// the OS cannot say. See `shutdown.rs`.
        pub bytes_unacknowledged: u64,
        /// Letters (bytes sent, or a close, from another connection's
        /// handler or another thread) for a connection that had closed,
        /// or was closing after its last output: dropped, never delivered
        /// to a later connection in its slot.
        pub undelivered: u64,
    }
}

/// A running TCP server; see [`ServerHandle`](crate::ServerHandle).
pub type ServerHandle = crate::ServerHandle<Stats>;
