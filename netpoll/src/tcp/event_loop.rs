//! The loop itself: wait for readiness, hand each event to the connection it
//! concerns, then do the work no event will announce (connections resumed
//! after their turn, queued accepts, timers). One per thread.
//!
//! The other files of this module each add one concern to [`EventLoop`]:
//! `accept.rs` (new connections, limits), `io.rs` (reading, writing, pending
//! output), `shutdown.rs` (stopping gracefully), `idle.rs` (the idle sweep),
//! `splice.rs` (echoing inside the kernel).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpListener;
use mio::{Events, Poll, Token};
use slab::Slab;

use super::io::Client;
use super::server::{LoopParts, Options};
use super::splice::SplicePipe;
use super::{CloseReason, Handler, Stats};
use crate::RateLimitedLog;
use crate::os::{interrupted, is_routine_disconnect};
use crate::spin::{Spin, TcpTurn};
use crate::stop::{SIGNALS, StopRequest, StopSignals, WAKER};
use crate::trace::{Trace, WaitTrace};

/// The listener's token. Connections use their slab key as token, from 0
/// up; the loop's own sources take the top of the range, which a slab
/// never reaches (see `stop.rs` for the waker's and the signals').
pub(super) const LISTENER: Token = Token(usize::MAX);

impl<H, F> EventLoop<H, F>
where
    F: Fn(SocketAddr) -> H,
    H: Handler,
{
    /// Runs until stopped and every connection is closed; returns what the
    /// loop did.
    pub(super) fn run(mut self) -> io::Result<Stats> {
        let mut events = Events::with_capacity(1024);
        // The handle may have asked to stop before this thread started.
        if self.stop.is_requested() {
            self.begin_shutdown();
            self.announce_wait(false);
        }
        while !(self.draining() && self.clients.is_empty()) {
            // Sleep until readiness or the nearest timer, unless reads are
            // waiting for their turn, or traffic was so recent that the
            // next request is likely to follow at once (with few
            // connections; see `crate::spin`).
            let wait = self.spin.next_wait(!self.resume.is_empty());
            if let Some(trace) = &self.trace {
                self.waits.before_poll(trace, wait);
            }
            let timeout = wait.timeout(|| self.next_timer());
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                // A signal arrived during epoll_wait: just wait again.
                Err(ref e) if interrupted(e) => continue,
                Err(e) => return Err(e),
            }
            if let Some(trace) = &self.trace {
                self.waits.after_poll(trace, events.iter().count());
            }
            let before = (self.stats.connections, self.stats.bytes_read);
            let now = self.has_timers().then(Instant::now);
            if let (Some(now), Some(_)) = (now, self.opts.idle_timeout) {
                self.now_ms = super::idle::millis_since(self.epoch, now);
            }

            let mut listener_ready = false;
            for event in events.iter() {
                match event.token() {
                    // Accept after the other events of this batch, so a slab
                    // key freed in this batch is never reused while an
                    // event for its old connection may still follow.
                    LISTENER => listener_ready = true,
                    WAKER => {
                        if self.stop.is_requested() && !self.draining() {
                            self.begin_shutdown();
                            self.announce_wait(false);
                        }
                    }
                    SIGNALS => self.on_signal(),
                    Token(key) => self.on_client_event(key, event),
                }
            }

            if let Some(now) = now {
                self.on_timers(now);
            }
            // Give the connections that used up their turn another one.
            std::mem::swap(&mut self.resume, &mut self.resuming);
            for i in 0..self.resuming.len() {
                // A key closed (and even reused) since is harmless: reading
                // a connection with nothing to read just says WouldBlock.
                self.read_until_drained(self.resuming[i]);
            }
            self.resuming.clear();
            if listener_ready && self.listener.is_some() {
                self.accept_pending = true;
            }
            if self.accept_pending && self.accept_paused_until.is_none() {
                self.accept();
            }
            self.spin_after_turn(
                self.stats.connections - before.0,
                self.stats.bytes_read - before.1,
            );
        }
        if !self.stop_now {
            // Done before any second signal: nothing of this loop's to give
            // up, so a busy loop's "stopping now" line need not wait for it.
            let _ = self.stop_tallies.stopped_now.add(0, 0);
        }
        Ok(self.stats)
    }

    /// One readiness event of one connection.
    fn on_client_event(&mut self, key: usize, event: &Event) {
        let Some(client) = self.clients.get_mut(key) else {
            // Closed earlier in this batch.
            return;
        };
        if event.is_error() {
            // EPOLLERR: a reset or similar. Fetch the real error for the log.
            let err = match client.socket.stream.take_error() {
                Ok(Some(e)) | Err(e) => e,
                Ok(None) => io::Error::other("socket error"),
            };
            self.close(key, CloseReason::Error(err));
            return;
        }
        if let Some(trace) = &self.trace {
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
            trace.conn(key, client.socket.peer, format_args!("{ready}{fin}"));
        }
        if event.is_read_closed() {
            client.socket.fin_seen = true;
        }
        if event.is_priority() {
            client.socket.urgent = true;
        }
        // Write first: draining pending output may resume a paused read.
        let mut did_read = false;
        if event.is_writable() && !client.socket.pending.is_empty() {
            did_read = self.on_writable(key);
        }
        if !did_read && (event.is_readable() || event.is_read_closed() || event.is_priority()) {
            if self.draining() {
                self.finish_for_shutdown(key);
            } else {
                self.read_until_drained(key);
            }
        }
    }

    /// After a turn that `accepted` connections and `read` bytes: stay
    /// awake for the next request after a small exchange with few
    /// connections, not after a stream or with many (see
    /// [`TcpTurn::window`] and "When it pays" in `crate::spin`).
    fn spin_after_turn(&mut self, accepted: u64, read: u64) {
        let turn = TcpTurn {
            connections: self.clients.len(),
            accepted,
            read,
            read_buffer: self.scratch.len(),
        };
        self.spin.after(turn.window());
        if let (Some(trace), true) = (&self.trace, turn.had_traffic()) {
            self.waits.traffic(trace);
        }
    }

    /// How long `poll` may sleep: until the nearest timer, or for ever.
    fn next_timer(&self) -> Option<Duration> {
        // Shutting down, connections may wait for their peer to take the
        // echo still in the kernel; no event says when it has.
        let ack_check = self
            .drain_deadline
            .map(|_| Instant::now() + super::shutdown::ACK_CHECK_INTERVAL);
        let nearest = [
            self.accept_paused_until,
            self.next_idle_sweep,
            self.drain_deadline,
            ack_check,
        ]
        .into_iter()
        .flatten()
        .min()?;
        Some(nearest.saturating_duration_since(Instant::now()))
    }

    fn has_timers(&self) -> bool {
        self.opts.idle_timeout.is_some()
            || self.accept_paused_until.is_some()
            || self.drain_deadline.is_some()
    }

    fn on_timers(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
        }
        if let (Some(at), Some(timeout)) = (self.next_idle_sweep, self.opts.idle_timeout) {
            if now >= at {
                self.close_idle(timeout);
                self.next_idle_sweep = Some(now + super::idle::sweep_interval(timeout));
            }
        }
        if self.drain_deadline.is_some_and(|t| now >= t) {
            self.close_at_deadline();
        } else if self.draining() {
            self.check_delivered();
        }
    }

    /// Closes one connection and tells its handler why.
    pub(super) fn close(&mut self, key: usize, reason: CloseReason) {
        let Some(Client {
            socket,
            mut handler,
        }) = self.clients.try_remove(key)
        else {
            return;
        };
        self.live_conns.fetch_sub(1, Ordering::AcqRel);
        if let Some(trace) = &self.trace {
            trace.conn(key, socket.peer, format_args!("close: {reason}"));
        }
        if self.draining() {
            // The server is going: echo the peer has not acknowledged may
            // still arrive, or never (a peer that does not read). The
            // summary must not claim it as delivered.
            let unacknowledged = super::shutdown::unacknowledged_echo(&socket);
            self.stats.bytes_unacknowledged += unacknowledged as u64;
        }
        // One line per close at most.
        match &reason {
            // A peer that resets or vanishes is routine on a network: worth
            // a line when asked for (RUST_LOG=info), not a warning.
            CloseReason::Error(e) if is_routine_disconnect(e) => {
                log::info!("{}: closing: {e}", socket.peer)
            }
            CloseReason::Error(e) => log::warn!("{}: closing: {e}", socket.peer),
            CloseReason::Shutdown { flushed: false } => log::warn!(
                "{}: {reason} ({} bytes not taken)",
                socket.peer,
                socket.pending.len() + super::shutdown::unacknowledged_echo(&socket)
            ),
            _ => log::debug!("{}: closing: {reason}", socket.peer),
        }
        handler.on_close(socket.peer, &reason);
        // Dropping the stream closes the descriptor, which also removes it
        // from the epoll set: no `deregister` syscall needed.
        drop(socket);
        // A descriptor was freed: if accepts were paused by EMFILE, the
        // queued connections may fit now.
        if self.accept_pending {
            self.accept_paused_until = None;
        }
    }

    /// Does `action` to every connection for which `condition` holds.
    /// Collects the keys first: closing a connection changes the slab.
    pub(super) fn for_each_client_where(
        &mut self,
        condition: impl Fn(&Client<H>) -> bool,
        mut action: impl FnMut(&mut Self, usize),
    ) {
        let mut keys = std::mem::take(&mut self.to_close);
        keys.clear();
        keys.extend(
            self.clients
                .iter()
                .filter(|(_, client)| condition(client))
                .map(|(key, _)| key),
        );
        for &key in &keys {
            action(self, key);
        }
        self.to_close = keys;
    }
}

/// One event loop: its poll, its listener, its connections and the state of
/// the work it postponed.
pub(super) struct EventLoop<H, F> {
    pub(super) poll: Poll,
    /// `None` once shutting down: dropping it stops new connections.
    pub(super) listener: Option<TcpListener>,
    pub(super) signals: Option<StopSignals>,
    pub(super) factory: Arc<F>,
    pub(super) stop: Arc<StopRequest>,
    /// Connections open over all loops of the server, for `max_conns`.
    pub(super) live_conns: Arc<AtomicUsize>,
    /// What the loops wait for when stopping, said once for all of them.
    pub(super) stop_tallies: Arc<super::shutdown::StopTallies>,
    pub(super) opts: Options,
    pub(super) clients: Slab<Client<H>>,
    /// The one read buffer of this loop, shared by all its connections.
    pub(super) scratch: Box<[u8]>,
    pub(super) stats: Stats,
    /// Loop clock: `now_ms` is `epoch.elapsed()` in wrapping milliseconds,
    /// refreshed once per wake-up, only while something needs the time.
    pub(super) epoch: Instant,
    pub(super) now_ms: u32,
    /// Queued connections may be waiting in the listener. Edge-triggered
    /// readiness will not announce them again, so the loop must retry.
    pub(super) accept_pending: bool,
    /// Accepting is paused (descriptors exhausted) until this instant.
    pub(super) accept_paused_until: Option<Instant>,
    pub(super) next_idle_sweep: Option<Instant>,
    /// Set when shutting down: close whatever is left at this instant.
    pub(super) drain_deadline: Option<Instant>,
    /// A second stop signal came: the deadline was brought forward to now.
    pub(super) stop_now: bool,
    pub(super) accept_error_log: RateLimitedLog,
    pub(super) refused_log: RateLimitedLog,
    /// Reused list of keys to visit during a sweep or a shutdown.
    to_close: Vec<usize>,
    /// Connections that used up their turn with data still unread. No new
    /// edge is due for that data, so the loop must come back to them itself.
    pub(super) resume: Vec<usize>,
    /// The `resume` list being worked through (swapped, to reuse both).
    resuming: Vec<usize>,
    /// For echoing inside the kernel; made the first time a connection
    /// streams, so servers that never splice hold no extra descriptors.
    pub(super) pipe: Option<SplicePipe>,
    /// The kernel cannot splice: echo through user space from now on.
    pub(super) pipe_failed: bool,
    /// After traffic, poll a little longer before sleeping (`spin.rs`).
    spin: Spin,
    /// `--trace`: `Some` writes a line per loop event (see `trace.rs`).
    pub(super) trace: Option<Trace>,
    /// What the trace says about each wait.
    waits: WaitTrace,
}

impl<H, F> EventLoop<H, F> {
    pub(super) fn new(parts: LoopParts<F>) -> Self {
        let epoch = Instant::now();
        let trace =
            Trace::when(parts.opts.trace).map(|trace| trace.of_loop(parts.index, parts.loops));
        let next_idle_sweep = parts
            .opts
            .idle_timeout
            .map(|t| epoch + super::idle::sweep_interval(t));
        EventLoop {
            poll: parts.poll,
            listener: Some(parts.listener),
            signals: parts.signals,
            factory: parts.factory,
            stop: parts.stop,
            live_conns: parts.live_conns,
            stop_tallies: parts.stop_tallies,
            scratch: vec![0; parts.opts.read_buffer_size].into_boxed_slice(),
            spin: Spin::new(parts.opts.spin),
            opts: parts.opts,
            clients: Slab::new(),
            stats: Stats::default(),
            epoch,
            now_ms: 0,
            accept_pending: false,
            accept_paused_until: None,
            next_idle_sweep,
            drain_deadline: None,
            stop_now: false,
            accept_error_log: RateLimitedLog::default(),
            refused_log: RateLimitedLog::default(),
            to_close: Vec::new(),
            resume: Vec::new(),
            resuming: Vec::new(),
            pipe: None,
            pipe_failed: false,
            trace,
            waits: WaitTrace::new("traffic"),
        }
    }

    /// Shutting down: no accepts, no reads, closing as output drains.
    pub(super) fn draining(&self) -> bool {
        self.drain_deadline.is_some()
    }
}
