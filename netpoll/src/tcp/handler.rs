//! What a TCP server program writes: a [`Handler`] per connection, which
//! decides what to do with bytes, and [`Conn`], its view of the connection
//! while the loop calls it. Everything else (the socket, readiness, pending
//! output, limits) is the loop's.
//!
//! Through its `Conn` a handler also reaches beyond its connection: it
//! sends to and closes others by their [`ConnId`] (letters, delivered by
//! their loop once the callback returns), sets timers, and hands a
//! [`Remote`] or a [`Reply`] to threads of its own.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::endpoint::Endpoint;
use super::links::Links;
use super::shutdown::saturating_deadline;
use super::timers::{Timer, TimerKind};
use super::{ConnId, Remote, Reply};

/// What a server does with one connection's bytes. One value per accepted
/// connection, made by the factory given to [`Server::new`](super::Server).
///
/// The loop owns the socket: a handler never reads, writes or closes it
/// directly, it only calls [`Conn::send`] and [`Conn::close`]. Callbacks
/// run on the loop thread and must not block: slow work goes to a thread of
/// its own, whose result comes back through a [`Reply`] or a [`Remote`].
pub trait Handler {
    /// The connection was just accepted: the handler may send first (a
    /// greeting), before the peer says anything, and set its timers.
    ///
    /// **Proved by:** `on_open_lets_a_handler_send_before_the_peer_does`.
    fn on_open(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// True if this handler sends back every byte it receives, unchanged,
    /// and need not see them. The loop may then echo a streaming peer
    /// inside the kernel (`splice(2)`, Linux), without calling
    /// [`on_data`](Handler::on_data) for those bytes. Default: false.
    fn echo_in_kernel(&self) -> bool {
        false
    }

    /// Bytes just read from the peer, exactly as one `read` returned them
    /// (at most [`Server::read_buffer_size`](crate::Server::read_buffer_size)).
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]);

    /// The peer shut down its write side (read returned end-of-file). The
    /// handler may still send; afterwards the loop flushes all pending
    /// output and then closes the connection.
    fn on_peer_closed_write(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// `timer`, set with [`Conn::set_timer`], came due. Timers of a
    /// connection that closed never come due.
    fn on_timer(&mut self, conn: &mut Conn<'_>, timer: Timer) {
        let _ = (conn, timer);
    }

    /// The connection is gone (the socket is closed right after this).
    /// There is no [`Conn`] to send with any more: to tell the others (a
    /// chat's "left"), send through a [`Remote`] kept from an earlier
    /// callback ([`Conn::remote`]); its letters are delivered as any.
    fn on_close(&mut self, peer: SocketAddr, reason: &CloseReason) {
        let _ = (peer, reason);
    }
}

/// Why a connection was closed, as given to [`Handler::on_close`].
#[derive(Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer shut down its write side and every byte of output was written.
    PeerClosed,
    /// The handler called [`Conn::close`] (or
    /// [`Conn::close_after_sending`], and its output went out or the peer
    /// did not take it in time).
    Handler,
    /// Another connection's handler ([`Conn::close_other`]) or another
    /// thread ([`Remote::close`]) closed it by its [`ConnId`].
    Elsewhere,
    /// The peer did not read: output sent to it by other connections or
    /// threads would have passed the server's
    /// [`max_pending`](super::Server::max_pending), with this much already
    /// waiting. A peer that does not read costs that much and no more, and
    /// slows no one else.
    TooSlow {
        /// Bytes that were waiting for the peer to read them.
        pending: usize,
    },
    /// The socket failed: reset by the peer, broken pipe, ...
    Error(io::Error),
    /// Nothing was read or written for the configured idle timeout.
    IdleTimeout,
    /// The server stopped. `flushed` is false when the shutdown deadline
    /// passed before the peer took all its output (pending, or still in
    /// the kernel's send queue).
    Shutdown {
        /// Whether all output was written, and taken by the peer, before closing.
        flushed: bool,
    },
    /// The server stopped at once, without waiting for the peer to take its
    /// output: a second stop signal came during a graceful shutdown.
    StoppedNow,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("peer closed the connection"),
            CloseReason::Handler => f.write_str("closed by the server's handler"),
            CloseReason::Elsewhere => {
                f.write_str("closed by the server, from another connection or thread")
            }
            CloseReason::TooSlow { pending } => write!(
                f,
                "too slow: it did not read what was sent to it ({pending} bytes waiting)"
            ),
            CloseReason::Error(e) => write!(f, "connection failed: {e}"),
            CloseReason::IdleTimeout => f.write_str("idle timeout"),
            CloseReason::Shutdown { flushed: true } => f.write_str("server shutdown"),
            CloseReason::Shutdown { flushed: false } => {
                f.write_str("server shutdown deadline passed before the peer took its echo")
            }
            CloseReason::StoppedNow => {
                f.write_str("second stop signal: stopped without waiting for the peer")
            }
        }
    }
}

/// A handler's view of its connection during a callback.
///
/// Made for each callback on the hot path, so it holds references only:
/// the loop builds it with a struct literal (`Connection::call_handler`).
pub struct Conn<'a> {
    /// The connection's socket, peer, pending output and name.
    pub(super) io: &'a mut Endpoint,
    pub(super) bytes_written: &'a mut u64,
    /// The connection's token (slab key): with its serial, its [`ConnId`].
    pub(super) token: usize,
    /// The loop's outbox, timers, remote and tracer.
    pub(super) links: &'a mut Links,
    /// What the connection does once the callback returns.
    pub(super) ending: Ending,
}

/// What a callback leaves its connection to do once it returns.
#[derive(Debug)]
pub(super) enum Ending {
    /// Go on as it was.
    Open,
    /// End its turn now: the letters it wrote for others pile up, and the
    /// loop delivers them before it reads more.
    ComeBack,
    /// Close once the output is written and the peer has taken it.
    AfterSending,
    /// Close now, dropping pending output.
    Now(CloseReason),
}

/// Letters a handler may write for other connections in one turn before
/// the turn ends so that the loop delivers them: a peer whose every read
/// is copied to a thousand others must not pile up a whole turn's worth.
const LETTERS_PER_TURN: usize = 256 * 1024;

impl Conn<'_> {
    /// The peer's address, for log lines.
    pub fn peer_addr(&self) -> SocketAddr {
        self.io.peer
    }

    /// This connection's id: how other connections and threads reach it
    /// ([`Conn::send_to`], [`Remote`]) for as long as it lives, and never
    /// after.
    pub fn id(&self) -> ConnId {
        ConnId {
            loop_index: self.links.loop_index,
            key: self.token,
            serial: self.io.serial,
        }
    }

    /// With `--trace` (the server's [`trace`](crate::Server::trace)), a line
    /// about this connection among the loop's own, named as the loop names
    /// it (token, peer, and loop with several); without, nothing. For a
    /// handler's own steps: a frame decoded, a partial one kept.
    pub fn trace(&self, what: fmt::Arguments<'_>) {
        if let Some(tracer) = &self.links.trace {
            tracer.conn(self.token, self.io.peer, what);
        }
    }

    /// Queues `data` for the peer, in order after everything sent before.
    ///
    /// When nothing is pending it is written to the socket at once, so the
    /// usual case costs one `write` and no copy; what the socket does not
    /// take is kept and written when it becomes writable. A write error
    /// (reset, broken pipe) closes this connection after the callback.
    pub fn send(&mut self, data: &[u8]) {
        if matches!(self.ending, Ending::Now(_)) || data.is_empty() {
            return;
        }
        let io = &mut *self.io;
        if let Err(e) = io.output.send(&io.stream, data, self.bytes_written) {
            self.ending = Ending::Now(CloseReason::Error(e));
        }
    }

    /// Bytes accepted by [`send`](Conn::send) and not yet written.
    pub fn pending_len(&self) -> usize {
        self.io.output.len()
    }

    /// Sends `data` to another connection of the server, on this loop or
    /// another (`to` itself: as [`send`](Conn::send)). It is a letter: its
    /// loop writes it once this callback has returned, after what that
    /// connection was sent before, with what else it got in the same turn
    /// in one `write`. A peer that does not read is disconnected past its
    /// bound ([`CloseReason::TooSlow`]); a letter to a connection that has
    /// closed is dropped and counted
    /// ([`Stats::undelivered`](super::Stats::undelivered)).
    ///
    /// **Proved by:** `a_handler_sends_to_and_closes_connections_of_other_loops`,
    /// `a_peer_that_does_not_read_what_others_send_is_disconnected_and_slows_no_one`.
    pub fn send_to(&mut self, data: &[u8], to: ConnId) {
        if to == self.id() {
            self.send(data);
            return;
        }
        self.links.outbox.send(data, to);
        if matches!(self.ending, Ending::Open) && self.links.outbox.weight() > LETTERS_PER_TURN {
            self.ending = Ending::ComeBack;
        }
    }

    /// Closes another connection of the server, as [`close`](Conn::close)
    /// would (its handler's `on_close` gets [`CloseReason::Elsewhere`]),
    /// once this callback has returned; `id` itself: as `close`.
    pub fn close_other(&mut self, id: ConnId) {
        if id == self.id() {
            self.close();
        } else {
            self.links.outbox.close(id);
        }
    }

    /// The server's [`Remote`], for a thread of the handler's own to send
    /// to (or close) connections, this one included.
    pub fn remote(&self) -> Remote {
        self.links.remote.clone()
    }

    /// A [`Reply`] for a thread that will answer this connection later:
    /// until it is dropped, the peer's end of stream does not close the
    /// connection.
    pub fn reply_later(&mut self) -> Reply {
        self.io.replies_due += 1;
        Reply::new(self.links.remote.clone(), self.id())
    }

    /// Sets `timer` to come due `after` from now (the handler's
    /// [`on_timer`](Handler::on_timer) is then called); a timer already set
    /// is moved (a reset). Timers of a connection that closes never come
    /// due.
    ///
    /// **Proved by:** `a_timer_comes_due_moved_and_cancelled_as_its_handler_says`,
    /// `a_timer_of_a_closed_connection_never_comes_due`.
    pub fn set_timer(&mut self, timer: Timer, after: Duration) {
        let deadline = saturating_deadline(Instant::now(), after);
        let kind = TimerKind::Handler(timer);
        self.links.timers.set(self.token, kind, deadline);
    }

    /// Cancels `timer`, if it is set.
    pub fn cancel_timer(&mut self, timer: Timer) {
        let kind = TimerKind::Handler(timer);
        self.links.timers.cancel(self.token, kind);
    }

    /// Closes this connection as soon as the callback returns; pending
    /// output is dropped. Other connections are not affected.
    pub fn close(&mut self) {
        if !matches!(self.ending, Ending::Now(_)) {
            self.ending = Ending::Now(CloseReason::Handler);
        }
    }

    /// Closes this connection once everything sent to it (in this
    /// callback too) has gone out: from now on it is not read (what the
    /// peer still sends is discarded, so that no unread byte turns the
    /// close into a reset that would destroy the last reply), its end of
    /// stream (FIN) follows the last byte, and it closes when the peer has
    /// taken it all, or has closed too, or after the server's
    /// [`shutdown_timeout`](super::Server::shutdown_timeout). Letters that
    /// come meanwhile are dropped and counted. For a last word: `error:
    /// line too long`, then goodbye.
    ///
    /// **Proved by:** `close_after_sending_delivers_the_last_reply_to_a_peer_still_sending`.
    pub fn close_after_sending(&mut self) {
        if matches!(self.ending, Ending::Open | Ending::ComeBack) {
            self.ending = Ending::AfterSending;
        }
    }
}
