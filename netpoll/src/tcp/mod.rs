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
//! # Beyond one connection
//!
//! An echo needs nothing but its own bytes; a chat server, a worker pool,
//! anything built on the loop, needs more. A handler also gets, through
//! its [`Conn`]:
//!
//! | what | how | proved by |
//! |---|---|---|
//! | speaking first | [`Handler::on_open`] | `on_open_lets_a_handler_send_before_the_peer_does` |
//! | a name for a connection, for its whole life, any thread may hold | [`ConnId`], [`Conn::id`] | `a_letter_to_an_id_whose_slot_was_reused_never_reaches_the_new_connection` |
//! | sending to and closing other connections, on any loop | [`Conn::send_to`], [`Conn::close_other`] | `a_handler_sends_to_and_closes_connections_of_other_loops` |
//! | the same from any thread, waking the loop | [`Remote`] ([`Conn::remote`]) | `a_thread_wakes_a_sleeping_loop_to_send_to_a_connection` |
//! | letters to a connection that has gone: dropped and counted | [`Stats::undelivered`] | `what_is_sent_to_a_closed_connection_is_dropped_and_counted` |
//! | a reply from another thread, keeping the connection open until it comes | [`Reply`] ([`Conn::reply_later`]) | `a_reply_keeps_the_connection_open_past_the_peers_end_of_stream` |
//! | timers: set, reset, cancel, gone with the connection | [`Conn::set_timer`], [`Conn::cancel_timer`], [`Handler::on_timer`] | `a_timer_comes_due_moved_and_cancelled_as_its_handler_says`, `a_timer_of_a_closed_connection_never_comes_due` |
//! | a last reply, then the close | [`Conn::close_after_sending`] | `close_after_sending_delivers_the_last_reply_to_a_peer_still_sending` |
//! | whole lines or frames instead of reads | [`FrameReader`] over a [`proto::Decoder`] | `a_frame_reader_hands_over_whole_lines_however_the_reads_fall` |
//!
//! Bytes from another connection or thread get what the loop's own get:
//! written after what the connection was sent before, once per turn
//! however many letters came (one `write` per connection per turn); a
//! peer that does not read them costs at most its
//! [`max_pending`](Server::max_pending) and is then disconnected
//! ([`CloseReason::TooSlow`]), never slowing the others
//! (`a_peer_that_does_not_read_what_others_send_is_disconnected_and_slows_no_one`);
//! letters posted before a stop go out with it
//! (`letters_posted_before_a_stop_go_out_with_it`). How: a letter is kept in
//! the loop's outbox while the handler runs, and delivered by the loop
//! that serves its connection, through that loop's mailbox and waker when
//! it is another (`outbox.rs`, `remote.rs`). UDP has no connections to
//! name: its handler answers each datagram's peer by address.
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
//! its idle sweep (`idle.rs`), its connections' timers (`timers.rs`), and
//! the letters it delivers (`outbox.rs`; from other loops and threads
//! through `remote.rs`). The public side is `handler.rs` ([`Handler`],
//! [`Conn`], [`CloseReason`]), which reaches its connection through one
//! `Endpoint` (`endpoint.rs`) and beyond it through the loop's `Links`
//! (`links.rs`); `id.rs` ([`ConnId`]), `remote.rs` ([`Remote`],
//! [`Reply`]), `timers.rs` ([`Timer`]), `framing.rs` ([`FrameReader`]),
//! `server.rs` (the settings of [`Server`]) and [`Stats`], here.

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
#[cfg(test)]
mod reach_tests;
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
