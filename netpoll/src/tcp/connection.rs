//! One connection, and everything it does in its turn of the loop: its
//! socket, what it has to write, and its handler; reading until the socket
//! is drained, handing each read to the handler, keeping what the socket
//! did not take, pausing a peer that does not read its replies
//! (backpressure), echoing a stream inside the kernel, and, when the server
//! stops, letting the peer take its echo before closing.
//!
//! The loop (`event_loop.rs`) owns the connections, keyed by their token in
//! a slab, and only dispatches: each readiness event goes to its
//! connection's [`Connection::on_event`], which says what the loop must do
//! next ([`Next`]). What all the connections of a loop use and none owns
//! (the one read buffer, the splice pipe, the counters, the clock, the
//! links to other connections and to timers) they borrow for their turn
//! ([`Shared`]).
//!
//! Bytes sent from elsewhere (another connection's handler, another
//! thread) come as letters, which the loop hands to
//! [`Connection::take_mail`]: kept in the pending output, under the same
//! bound as the connection's own, and written once per turn.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::endpoint::Endpoint;
use super::handler::Ending;
use super::links::Links;
use super::output::PendingOutput;
use super::splice::KernelEcho;
use super::timers::{Timer, TimerKind};
use super::{CloseReason, Conn, Handler, Stats};
use crate::os::{interrupted, is_routine_disconnect, unacknowledged, would_block};
use crate::trace::Trace;

/// Most reads from one connection per turn. A peer that sends as fast as
/// the loop reads would otherwise keep its connection's turn going for
/// ever; after this many full reads the connection goes to the back of the
/// line ([`Next::ComeBack`]) and the others get their turn.
const READS_PER_TURN: usize = 16;

/// What a connection is registered for. PRIORITY (Linux's EPOLLPRI) reports
/// urgent data: a read stops short at its mark, so from then on a short
/// read of that connection no longer proves its receive queue empty (see
/// `Connection::urgent`).
#[cfg(any(target_os = "linux", target_os = "android"))]
const INTEREST: Interest = Interest::READABLE
    .add(Interest::WRITABLE)
    .add(Interest::PRIORITY);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const INTEREST: Interest = Interest::READABLE.add(Interest::WRITABLE);

/// One accepted connection. Kept small, because 10 000 idle connections
/// must cost little: no read buffer of its own, and output holds an
/// allocation only while some is waiting for the socket.
pub(super) struct Connection<H> {
    /// The socket, the peer, the output not yet written, the name: what
    /// the handler's `Conn` reaches.
    io: Endpoint,
    read: ReadState,
    /// Loop clock (milliseconds, wrapping) of the last read or write progress.
    last_active_ms: u32,
    /// An event said the peer's FIN (or a hang-up) has arrived, so a short
    /// read no longer proves a new edge will come: read until end-of-file.
    fin_seen: bool,
    /// Shutting down: our FIN is sent, waiting for the peer to take its
    /// echo (see [`Connection::finish_for_shutdown`]).
    write_shut: bool,
    /// The peer streams and the handler echoes: move bytes with `splice`.
    splicing: bool,
    /// The handler asked to close once its output is out
    /// ([`Conn::close_after_sending`]): the connection finishes as a
    /// stopping one does, without the server stopping.
    finishing: bool,
    /// Letters were kept in its pending output this turn: the loop writes
    /// them at the turn's end, all in one go.
    to_flush: bool,
    /// The peer may have sent urgent data (`MSG_OOB`). A read stops short
    /// at the urgent mark however much follows it, and no new edge comes
    /// for what is already queued, so for this connection a short read no
    /// longer proves the receive queue empty: it is read until `WouldBlock`.
    /// Set by a priority event (Linux); where there is none, from the start.
    /// (`splice` stops at the mark too, for good: never spliced again.)
    urgent: bool,
    /// What the program does with this connection's bytes.
    handler: H,
}

/// Whether the loop reads a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// Reading as data arrives.
    Open,
    /// Pending output passed the high-water mark: reading waits for it to
    /// drain (backpressure).
    Paused,
    /// The read side reached end-of-file; close once output is flushed.
    Eof,
}

/// What the connections of one loop share for their turns, and none owns.
pub(super) struct Shared {
    /// The one read buffer of the loop.
    pub(super) scratch: Box<[u8]>,
    /// The loop's pipe for echoing inside the kernel.
    pub(super) kernel_echo: KernelEcho,
    /// What the loop did, counted as it happens.
    pub(super) stats: Stats,
    /// The loop clock at this wake-up (see `idle.rs`).
    pub(super) now_ms: u32,
    /// Above this much pending output a connection is not read from
    /// (`Server::max_pending`).
    pub(super) max_pending: usize,
    /// `--trace`: `Some` writes a line per thing a connection does.
    pub(super) trace: Option<Trace>,
    /// The outbox, the timers and the remote the handlers reach.
    pub(super) links: Links,
}

/// What a connection's turn leaves the loop to do.
#[must_use]
pub(super) enum Next {
    /// Nothing: the connection's next readiness event brings it back.
    Wait,
    /// It used up its turn with data still unread. No new edge is due for
    /// that data, so the loop must come back to it by itself.
    ComeBack,
    /// Close it, for this reason.
    Close(CloseReason),
}

/// What became of a letter's bytes.
pub(super) enum Taken {
    /// Kept in the pending output, to be written at the turn's end.
    Kept,
    /// Not for this connection any more: it is closing after its output.
    Dropped,
    /// Refused: the connection must close, for this reason.
    Refused(CloseReason),
}

/// How one read of a turn went.
enum Step {
    /// A read that counts against the turn.
    Read,
    /// A signal interrupted the read before it took anything.
    Interrupted,
    /// The turn is over.
    Done(Next),
}

/// Sets up a socket just accepted from `peer` as every connection is, and
/// registers it under `token`: once, for both READABLE and WRITABLE,
/// edge-triggered, never re-registered.
///
/// Why not toggle WRITABLE only while output is pending: each toggle is an
/// `epoll_ctl` system call, two per stall, paid exactly when the server is
/// busiest. Registered once, a writable edge costs at most a wake-up whose
/// handling is a check of whether output is pending, no system call; and
/// edges only fire on changes (connect, buffer space freed after it ran
/// out), so in ping-pong traffic they ride along with read events. (The
/// UDP loop toggles it, for the opposite reason: one socket serves every
/// peer, and a UDP socket is almost always writable, so an
/// always-registered WRITABLE would fire after every send.)
pub(super) fn set_up(
    stream: &mut TcpStream,
    peer: SocketAddr,
    token: Token,
    registry: &Registry,
    nodelay: bool,
) -> io::Result<()> {
    // At most one line each per accepted connection, which `max_conns`
    // and the accept rate bound.
    if nodelay {
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("{peer}: cannot set TCP_NODELAY: {e}");
        }
    }
    // Urgent data (MSG_OOB) stays in the stream, so its byte is echoed
    // like any other instead of being set aside by the kernel.
    if let Err(e) = socket2::SockRef::from(&*stream).set_out_of_band_inline(true) {
        log::debug!("{peer}: cannot set SO_OOBINLINE: {e}");
    }
    registry.register(stream, token, INTEREST)
}

impl<H: Handler> Connection<H> {
    /// A connection set up by [`set_up`], active as of `now_ms`, its bytes
    /// given to `handler`; `serial` is its own.
    pub(super) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        (now_ms, serial): (u32, u64),
        handler: H,
    ) -> Self {
        Connection {
            io: Endpoint {
                stream,
                peer,
                output: PendingOutput::default(),
                serial,
                replies_due: 0,
            },
            read: ReadState::Open,
            last_active_ms: now_ms,
            fin_seen: false,
            write_shut: false,
            splicing: false,
            finishing: false,
            to_flush: false,
            urgent: cfg!(not(any(target_os = "linux", target_os = "android"))),
            handler,
        }
    }

    /// Its serial: a [`ConnId`](super::ConnId) with another one names a
    /// connection that has gone.
    #[inline]
    pub(super) fn serial(&self) -> u64 {
        self.io.serial
    }

    /// The connection was just accepted as `key`: its handler may send
    /// first.
    pub(super) fn open(&mut self, key: usize, shared: &mut Shared) -> Next {
        let next = self.call_handler(key, shared, 0, |handler, conn, _| {
            handler.on_open(conn);
        });
        next.unwrap_or(Next::Wait)
    }

    /// One of its timers came due.
    pub(super) fn on_timer(&mut self, key: usize, kind: TimerKind, shared: &mut Shared) -> Next {
        if let Some(trace) = &shared.trace {
            trace.conn(key, self.io.peer, format_args!("timer {kind:?} came due"));
        }
        let timer: Timer = match kind {
            TimerKind::Handler(timer) => timer,
            // Closing after its output, and the peer did not take it all
            // in time: close anyway.
            TimerKind::Linger => return Next::Close(CloseReason::Handler),
        };
        let next = self.call_handler(key, shared, 0, |handler, conn, _| {
            handler.on_timer(conn, timer);
        });
        next.unwrap_or(Next::Wait)
    }

    /// One readiness event of this connection, whose token is `key`:
    /// writes first (draining pending output may resume a paused read),
    /// then reads, or, when the server is `stopping`, goes on with its stop.
    pub(super) fn on_event(
        &mut self,
        key: usize,
        event: &Event,
        shared: &mut Shared,
        stopping: bool,
    ) -> Next {
        let stopping = stopping || self.finishing;
        if event.is_error() {
            // EPOLLERR: a reset or similar. Fetch the real error for the log.
            let err = match self.io.stream.take_error() {
                Ok(Some(e)) | Err(e) => e,
                Ok(None) => io::Error::other("socket error"),
            };
            return Next::Close(CloseReason::Error(err));
        }
        self.trace_event(key, event, shared.trace);
        if event.is_read_closed() {
            self.fin_seen = true;
        }
        if event.is_priority() {
            self.urgent = true;
        }
        if event.is_writable() && !self.io.output.is_empty() {
            if let Some(next) = self.on_writable(key, shared, stopping) {
                return next;
            }
        }
        if !(event.is_readable() || event.is_read_closed() || event.is_priority()) {
            Next::Wait
        } else if stopping {
            self.finish_for_shutdown(shared)
        } else {
            self.read_turn(key, shared)
        }
    }

    /// `--trace`: what the event says of the socket.
    fn trace_event(&self, key: usize, event: &Event, trace: Option<Trace>) {
        let Some(trace) = trace else {
            return;
        };
        let ready = match (event.is_readable(), event.is_writable()) {
            (true, true) => "readable, writable",
            (true, false) => "readable",
            (false, true) => "writable",
            (false, false) => "event",
        };
        let fin = if event.is_read_closed() {
            " (peer closed its write side)"
        } else {
            ""
        };
        trace.conn(key, self.io.peer, format_args!("{ready}{fin}"));
    }

    /// Flushes pending output, then finishes whatever waited for it.
    /// `Some` when that settled the event (it went on to read, or the
    /// connection must close); `None` when its read side is still to see.
    fn on_writable(&mut self, key: usize, shared: &mut Shared, stopping: bool) -> Option<Next> {
        let written_before = shared.stats.bytes_written;
        let flushed = self
            .io
            .output
            .flush(&self.io.stream, &mut shared.stats.bytes_written);
        self.last_active_ms = shared.now_ms;
        if let Some(trace) = &shared.trace {
            let wrote = shared.stats.bytes_written - written_before;
            let pending = self.io.output.len();
            trace.conn(
                key,
                self.io.peer,
                format_args!("wrote {wrote} bytes of pending output, {pending} bytes pending"),
            );
            if flushed.as_ref().is_ok_and(|&all| all) && self.read == ReadState::Paused {
                trace.conn(key, self.io.peer, format_args!("resume reading"));
            }
        }
        match flushed {
            Err(e) => Some(Next::Close(CloseReason::Error(e))),
            Ok(false) => None,
            Ok(true) if stopping => match self.finish_for_shutdown(shared) {
                Next::Wait => None,
                next => Some(next),
            },
            Ok(true) if self.read == ReadState::Eof => self.done_after_end_of_stream(),
            Ok(true) if self.read == ReadState::Paused => {
                // Resume a read paused by backpressure: no edge will
                // announce the data that waited meanwhile.
                self.read = ReadState::Open;
                Some(self.read_turn(key, shared))
            }
            // Reading as usual: the event's read side says whether to.
            Ok(true) => None,
        }
    }

    /// After the peer's end of stream, with the output written: close,
    /// unless replies are still owed to it ([`Conn::reply_later`]).
    fn done_after_end_of_stream(&self) -> Option<Next> {
        (self.io.output.is_empty() && self.io.replies_due == 0)
            .then_some(Next::Close(CloseReason::PeerClosed))
    }

    /// This connection's turn of reading: until the socket is drained,
    /// handing each read to the handler, unless the connection is paused
    /// or finished, or has had [`READS_PER_TURN`] reads.
    pub(super) fn read_turn(&mut self, key: usize, shared: &mut Shared) -> Next {
        if self.read != ReadState::Open {
            return Next::Wait;
        }
        let mut reads = 0;
        while reads < READS_PER_TURN {
            match self.read_once(key, shared) {
                Step::Read => reads += 1,
                Step::Interrupted => {}
                Step::Done(next) => return next,
            }
        }
        if let Some(trace) = &shared.trace {
            trace.conn(
                key,
                self.io.peer,
                format_args!(
                    "turn used up ({READS_PER_TURN} reads): back of the line, more after the others"
                ),
            );
        }
        Next::ComeBack
    }

    /// One `read` (or, while the peer streams to an echo, one splice) and
    /// what it means.
    fn read_once(&mut self, key: usize, shared: &mut Shared) -> Step {
        let want = shared.scratch.len();
        // Splice only while nothing is pending: pending output must go out
        // before anything read after it.
        let pipe = if self.splicing && self.io.output.is_empty() && !self.urgent {
            shared.kernel_echo.pipe()
        } else {
            None
        };
        let spliced = pipe.is_some();
        let result = match pipe {
            Some(pipe) => pipe.echo(
                &self.io.stream,
                &mut self.io.output,
                &mut shared.scratch,
                &mut shared.stats.bytes_written,
            ),
            None => (&self.io.stream).read(&mut shared.scratch),
        };
        match result {
            // End-of-file: the peer shut down its write side.
            Ok(0) => Step::Done(self.on_end_of_file(key, shared)),
            Ok(n) if spliced => {
                self.on_spliced(key, n, want, shared);
                Step::Read
            }
            Ok(n) => self.on_read(key, n, shared),
            // Drained: edge-triggered readiness will report new data.
            Err(ref e) if would_block(e) => {
                if let Some(trace) = &shared.trace {
                    trace.conn(
                        key,
                        self.io.peer,
                        format_args!("would block: queue drained, wait for the next edge"),
                    );
                }
                Step::Done(Next::Wait)
            }
            Err(ref e) if interrupted(e) => Step::Interrupted,
            // The kernel cannot splice here; nothing was taken, so read
            // instead, and never try again.
            Err(e) if spliced && e.kind() == io::ErrorKind::Unsupported => {
                shared.kernel_echo.give_up(&e);
                self.splicing = false;
                Step::Read
            }
            // Reset or similar: only this connection is affected.
            Err(e) => {
                shared.kernel_echo.after_failure(&e);
                Step::Done(Next::Close(CloseReason::Error(e)))
            }
        }
    }

    /// `n` bytes read into the loop's buffer: the handler's, then what
    /// they say about the peer (not reading its replies, done for now,
    /// streaming).
    fn on_read(&mut self, key: usize, n: usize, shared: &mut Shared) -> Step {
        let want = shared.scratch.len();
        shared.stats.bytes_read += n as u64;
        self.last_active_ms = shared.now_ms;
        if let Some(next) = self.hand_over(key, n, shared) {
            return Step::Done(next);
        }
        // Backpressure: the peer is not reading its replies fast enough;
        // stop taking its requests until they drain.
        if self.io.output.len() > shared.max_pending {
            if let Some(trace) = &shared.trace {
                trace.conn(
                    key,
                    self.io.peer,
                    format_args!(
                        "paused: backpressure ({} bytes pending, above --max-pending {}): pause reading",
                        self.io.output.len(),
                        shared.max_pending
                    ),
                );
            }
            self.read = ReadState::Paused;
            return Step::Done(Next::Wait);
        }
        // A short read emptied the receive queue; the next read would only
        // say WouldBlock. Unless the FIN is already in (no edge would
        // follow it), or urgent data may have cut the read short, wait for
        // the next edge.
        if n < want && !self.fin_seen && !self.urgent {
            if let Some(trace) = &shared.trace {
                trace.conn(
                    key,
                    self.io.peer,
                    format_args!(
                        "short read ({n} < {want}): queue drained, wait for the next edge"
                    ),
                );
            }
            return Step::Done(Next::Wait);
        }
        if n == want {
            self.consider_splicing(shared);
        }
        Step::Read
    }

    /// Hands the `n` bytes read to the handler; what the connection does
    /// next, unless the handler left it to go on as it was.
    fn hand_over(&mut self, key: usize, n: usize, shared: &mut Shared) -> Option<Next> {
        let written_before = shared.stats.bytes_written;
        if let Some(trace) = &shared.trace {
            trace.conn(key, self.io.peer, format_args!("read {n} bytes"));
        }
        let next = self.call_handler(key, shared, n, |handler, conn, data| {
            handler.on_data(conn, data);
        });
        if let Some(trace) = &shared.trace {
            let wrote = shared.stats.bytes_written - written_before;
            let pending = self.io.output.len();
            if wrote > 0 || pending > 0 {
                trace.conn(
                    key,
                    self.io.peer,
                    format_args!("wrote {wrote} bytes, {pending} bytes pending"),
                );
            }
        }
        next
    }

    /// Calls the handler with its view of this connection ([`Conn`]) and
    /// the first `read` bytes of the loop's buffer; what the connection
    /// does next, unless the handler left it to go on as it was (closing,
    /// if one of its sends failed).
    #[inline(always)]
    fn call_handler(
        &mut self,
        key: usize,
        shared: &mut Shared,
        read: usize,
        callback: impl FnOnce(&mut H, &mut Conn<'_>, &[u8]),
    ) -> Option<Next> {
        let mut conn = Conn {
            io: &mut self.io,
            bytes_written: &mut shared.stats.bytes_written,
            token: key,
            links: &mut shared.links,
            ending: Ending::Open,
        };
        callback(&mut self.handler, &mut conn, &shared.scratch[..read]);
        if matches!(conn.ending, Ending::Open) {
            return None;
        }
        let ending = conn.ending;
        Some(self.after_callback(key, ending, shared))
    }

    /// What the connection does after a callback that did not leave it to
    /// go on as it was.
    fn after_callback(&mut self, key: usize, ending: Ending, shared: &mut Shared) -> Next {
        match ending {
            Ending::Open => Next::Wait,
            Ending::ComeBack => Next::ComeBack,
            Ending::Now(reason) => Next::Close(reason),
            Ending::AfterSending => self.begin_finishing(key, shared),
        }
    }

    /// The handler asked to close once its output is out: from now on the
    /// connection finishes as a stopping one does, for at most the
    /// server's linger.
    fn begin_finishing(&mut self, key: usize, shared: &mut Shared) -> Next {
        if self.finishing {
            return Next::Wait;
        }
        self.finishing = true;
        let deadline = super::shutdown::saturating_deadline(Instant::now(), shared.links.linger);
        shared.links.timers.set(key, TimerKind::Linger, deadline);
        self.finish_for_shutdown(shared)
    }

    /// A read filled the whole buffer: the peer is streaming. An echo
    /// handler lets the kernel carry the stream back from now on.
    fn consider_splicing(&mut self, shared: &mut Shared) {
        if self.handler.echo_in_kernel() && shared.kernel_echo.may_try() && !self.urgent {
            self.splicing = shared.kernel_echo.prepare();
        }
    }

    /// `n` bytes echoed inside the kernel. A splice moves at most what the
    /// pipe holds, so a short one does not prove the socket drained: the
    /// turn goes on until WouldBlock. A small one means the stream has
    /// slowed down: back to plain reads.
    fn on_spliced(&mut self, key: usize, n: usize, want: usize, shared: &mut Shared) {
        if let Some(trace) = &shared.trace {
            trace.conn(
                key,
                self.io.peer,
                format_args!("spliced {n} bytes: echoed inside the kernel"),
            );
        }
        shared.stats.bytes_read += n as u64;
        self.last_active_ms = shared.now_ms;
        if n < want / 2 {
            self.splicing = false;
        }
    }

    /// The peer shut down its write side. Everything it sent has been
    /// handed to the handler, which may still send; the connection closes
    /// once its output is flushed.
    fn on_end_of_file(&mut self, key: usize, shared: &mut Shared) -> Next {
        if let Some(trace) = &shared.trace {
            trace.conn(
                key,
                self.io.peer,
                format_args!("read 0 bytes: peer closed its write side"),
            );
        }
        self.read = ReadState::Eof;
        let next = self.call_handler(key, shared, 0, |handler, conn, _| {
            handler.on_peer_closed_write(conn);
        });
        match next {
            // Its letters are delivered all the same, by the loop.
            None | Some(Next::ComeBack) => self.done_after_end_of_stream().unwrap_or(Next::Wait),
            Some(next) => next,
        }
    }

    /// A letter's bytes for the peer, after everything it was sent before.
    /// Kept to be written at the turn's end, with whatever else comes for
    /// it meanwhile; but when they would pass the bound, the socket is
    /// first given what it can take now, and only a peer that still leaves
    /// that much unread is refused ([`CloseReason::TooSlow`]).
    pub(super) fn take_mail(&mut self, data: &[u8], shared: &mut Shared) -> Taken {
        if self.finishing || self.write_shut {
            return Taken::Dropped;
        }
        let bound = shared.max_pending;
        if self.io.output.len() + data.len() > bound {
            let written = &mut shared.stats.bytes_written;
            match self.io.output.flush(&self.io.stream, written) {
                Err(e) => return Taken::Refused(CloseReason::Error(e)),
                // All written: the letter goes the way of a `send`, what
                // the socket does not take now kept.
                Ok(true) => {
                    return match self.io.output.send(&self.io.stream, data, written) {
                        Err(e) => Taken::Refused(CloseReason::Error(e)),
                        Ok(()) if self.io.output.len() > bound => {
                            Taken::Refused(CloseReason::TooSlow { pending: 0 })
                        }
                        Ok(()) => Taken::Kept,
                    };
                }
                Ok(false) if self.io.output.len() + data.len() > bound => {
                    let pending = self.io.output.len();
                    return Taken::Refused(CloseReason::TooSlow { pending });
                }
                Ok(false) => {}
            }
        }
        self.io.output.keep(data);
        Taken::Kept
    }

    /// Marks the connection as having letters to write at the turn's end;
    /// true if it was not marked yet (the loop then lists it).
    pub(super) fn mark_to_flush(&mut self) -> bool {
        !std::mem::replace(&mut self.to_flush, true)
    }

    /// The turn's end: writes the letters kept this turn, if it was marked
    /// (a key listed for a connection since closed may be another's now).
    pub(super) fn flush_letters(
        &mut self,
        key: usize,
        shared: &mut Shared,
        stopping: bool,
    ) -> Next {
        if !std::mem::replace(&mut self.to_flush, false) || self.io.output.is_empty() {
            return Next::Wait;
        }
        let stopping = stopping || self.finishing;
        self.on_writable(key, shared, stopping)
            .unwrap_or(Next::Wait)
    }

    /// A [`Reply`](super::Reply) to this connection was settled: one
    /// fewer is owed.
    pub(super) fn settle_reply(&mut self) -> Next {
        self.io.replies_due = self.io.replies_due.saturating_sub(1);
        match self.read {
            ReadState::Eof => self.done_after_end_of_stream().unwrap_or(Next::Wait),
            _ => Next::Wait,
        }
    }

    /// The server is stopping and this connection's output is flushed:
    /// sends the FIN once, discards what the peer sends, and closes when
    /// the peer has acknowledged every byte (see `shutdown.rs`). Called
    /// again by the loop's checks and by readiness events until then.
    pub(super) fn finish_for_shutdown(&mut self, shared: &mut Shared) -> Next {
        if !self.io.output.is_empty() {
            return Next::Wait; // on_writable comes back here once flushed
        }
        let first_visit = !self.write_shut;
        if first_visit {
            self.write_shut = true;
            if let Err(e) = self.io.stream.shutdown(std::net::Shutdown::Write) {
                // Typically ENOTCONN: the peer already reset the connection.
                return Next::Close(CloseReason::Error(e));
            }
        }
        let result = self.discard_input(&mut shared.scratch);
        let delivered = match (&result, unacknowledged(&self.io.stream)) {
            (Err(_), _) => false,
            // Closing after its output, not stopping: a peer that has
            // ended too leaves nothing unread to turn the close into a
            // reset, and the kernel still delivers what is queued.
            (Ok((true, _)), _) if self.finishing => true,
            (Ok(_), Some(_)) => self.unacknowledged_echo() == 0,
            // The OS cannot say what the peer took: close at its
            // end-of-file, or at once if it was idle (nothing was unread).
            (Ok((eof, discarded)), None) => *eof || (first_visit && *discarded == 0),
        };
        match result {
            Err(e) => Next::Close(CloseReason::Error(e)),
            Ok(_) if delivered && self.finishing => Next::Close(CloseReason::Handler),
            Ok(_) if delivered => Next::Close(CloseReason::Shutdown { flushed: true }),
            // The peer has not taken all its echo yet.
            Ok(_) => Next::Wait,
        }
    }

    /// The stop's deadline passed: whether the peer had taken everything.
    pub(super) fn flushed_at_deadline(&mut self, scratch: &mut [u8]) -> bool {
        // Input left unread would make the close a reset.
        let _ = self.discard_input(scratch);
        self.io.output.is_empty() && self.unacknowledged_echo() == 0
    }

    /// Reads and throws away what the peer sent, until the socket is
    /// drained: `(end-of-file seen, bytes discarded)`.
    fn discard_input(&mut self, scratch: &mut [u8]) -> io::Result<(bool, usize)> {
        let mut discarded = 0;
        let result = loop {
            match (&self.io.stream).read(scratch) {
                Ok(0) => break Ok((true, discarded)),
                Ok(n) => discarded += n,
                Err(ref e) if would_block(e) => break Ok((false, discarded)),
                Err(ref e) if interrupted(e) => continue,
                Err(e) => break Err(e),
            }
        };
        // Once per visit of a stopping connection.
        if discarded > 0 {
            log::debug!(
                "{}: shutting down, discarded {discarded} unread bytes",
                self.io.peer
            );
        }
        result
    }

    /// Echo handed to the kernel that the peer has not acknowledged (0
    /// where the OS cannot say). After our FIN the kernel counts it as one
    /// more byte.
    fn unacknowledged_echo(&self) -> usize {
        let queued = unacknowledged(&self.io.stream).unwrap_or(0);
        if self.write_shut {
            queued.saturating_sub(1)
        } else {
            queued
        }
    }

    /// The echo this connection has not delivered: pending, and in the
    /// kernel unacknowledged.
    pub(super) fn echo_left(&self) -> usize {
        self.io.output.len() + self.unacknowledged_echo()
    }

    /// Whether output is waiting for the socket.
    pub(super) fn has_output(&self) -> bool {
        !self.io.output.is_empty()
    }

    /// Stopping, with its FIN sent and nothing pending: only the peer's
    /// acknowledgement is awaited, which no event announces.
    pub(super) fn awaits_acknowledgement(&self) -> bool {
        self.write_shut && self.io.output.is_empty()
    }

    /// Loop clock of the last read or write progress.
    pub(super) fn last_active_ms(&self) -> u32 {
        self.last_active_ms
    }

    /// Closes the connection (the socket closes as it drops) and tells its
    /// handler why; when the server is `stopping`, echo its peer had not
    /// acknowledged is counted apart: it may never arrive, and the summary
    /// must not claim it as delivered.
    pub(super) fn close(
        mut self,
        key: usize,
        reason: CloseReason,
        shared: &mut Shared,
        stopping: bool,
    ) {
        if let Some(trace) = &shared.trace {
            trace.conn(key, self.io.peer, format_args!("close: {reason}"));
        }
        if stopping {
            shared.stats.bytes_unacknowledged += self.unacknowledged_echo() as u64;
        }
        if !shared.links.timers.is_empty() {
            shared.links.timers.forget(key);
        }
        // One line per close at most.
        match &reason {
            // A peer that resets or vanishes is routine on a network: worth
            // a line when asked for (RUST_LOG=info), not a warning.
            CloseReason::Error(e) if is_routine_disconnect(e) => {
                log::info!("{}: closing: {e}", self.io.peer)
            }
            CloseReason::Error(e) => log::warn!("{}: closing: {e}", self.io.peer),
            CloseReason::Shutdown { flushed: false } => log::warn!(
                "{}: {reason} ({} bytes not taken)",
                self.io.peer,
                self.echo_left()
            ),
            _ => log::debug!("{}: closing: {reason}", self.io.peer),
        }
        self.handler.on_close(self.io.peer, &reason);
        // Dropping the stream closes the descriptor, which also removes it
        // from the epoll set: no `deregister` system call needed.
    }
}
