//! The loop itself: [`start`](crate::Server::start) binds the listeners and
//! runs one loop per thread; each loop, in `run`, waits for readiness,
//! hands each event to the connection it concerns, accepts new
//! connections, and does the work no event will announce (connections
//! resumed after their turn, queued accepts, timers).
//!
//! The loop only dispatches. A connection's turn (reading, writing, its
//! stop) is the connection's own, in `connection.rs`; the loop owns the
//! connections and a few small parts: how it waits (`crate::poller`),
//! where new connections come from (`listener.rs`), its stop
//! (`shutdown.rs`), its idle sweep (`idle.rs`) and its connections'
//! timers (`timers.rs`).
//!
//! Owning the connections, the loop is also what delivers letters to them:
//! after each connection's turn, the letters its handler left for others
//! (`outbox.rs`), and when its waker rings, those posted from other loops
//! and threads (`remote.rs`). A letter reaches its connection only if that
//! is still the one its id names; the bytes of a turn's letters are
//! written at the turn's end, one `write` per connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::thread;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpListener;
use mio::{Events, Interest, Token};
use slab::Slab;

use super::connection::{self, Connection, Next, Shared, Taken};
use super::id::next_serial;
use super::idle::IdleSweep;
use super::links::Links;
use super::listener::{ConnectionLimit, Listener, bind_listeners};
use super::outbox::{Mail, Outbox};
use super::remote::Remote;
use super::server::{Options, Server, Tcp};
use super::shutdown::{Shutdown, StopTallies};
use super::splice::KernelEcho;
use super::timers::{TimerKind, Timers};
use super::{CloseReason, ConnId, Handler, Stats};
use crate::ServerHandle;
use crate::poller::{self, Asked, Poller};
use crate::spin::TcpTurn;
use crate::stop::{SIGNAL_TARGET, StopRequest};

/// The listener's token. Connections use their slab key as token, from 0
/// up; the loop's own sources take the top of the range, which a slab
/// never reaches (see `stop.rs` for the waker's and the signals').
const LISTENER: Token = Token(usize::MAX);

impl<F, H> Server<F>
where
    F: Fn(SocketAddr) -> H + Send + Sync + 'static,
    H: Handler + 'static,
{
    /// Binds `addr` (port 0 picks a free port) and starts the loops on
    /// their own threads: the Go `net.Listen` and its `for` loop of
    /// `Accept`. Returns once the listeners are bound, so
    /// [`ServerHandle::local_addr`] is immediately connectable. An address
    /// already served fails with `AddrInUse`, however many threads either
    /// server has.
    pub fn start(self, addr: SocketAddr) -> io::Result<ServerHandle<Stats>> {
        let crate::Server {
            protocol: Tcp { factory, options },
            loop_options,
        } = self;
        let listeners = bind_listeners(addr, options.threads)?;
        let local_addr = listeners[0].local_addr()?;
        let stop = Arc::new(StopRequest::default());
        let loops = listeners.len();
        let (factory, open) = (Arc::new(factory), Arc::new(AtomicUsize::new(0)));
        let tallies = Arc::new(StopTallies::new(loops));
        // Every loop's poller first: each loop's mailbox wakes its poll,
        // and every loop can post to every other.
        let mut pollers = Vec::with_capacity(loops);
        for (index, listener) in listeners.into_iter().enumerate() {
            let (poller, waker) =
                Poller::new(&loop_options, Arc::clone(&stop), (index, loops), "traffic")?;
            let mut listener = TcpListener::from_std(listener);
            poller
                .registry()
                .register(&mut listener, LISTENER, Interest::READABLE)?;
            pollers.push((poller, waker, listener));
        }
        let remote = Remote::new(pollers.iter().map(|(_, waker, _)| Arc::clone(waker)));
        // Dropping a partly built handle stops the loops already started.
        let mut handle = ServerHandle::new(local_addr, Arc::clone(&stop));
        for (index, (poller, waker, listener)) in pollers.into_iter().enumerate() {
            let server = SharedByLoops {
                factory: Arc::clone(&factory),
                open: Arc::clone(&open),
                tallies: Arc::clone(&tallies),
                remote: remote.clone(),
            };
            let options = options.clone();
            // The loop is made on its own thread, with the handlers it makes:
            // they need not be `Send`.
            let thread = thread::Builder::new()
                .name(format!("tcp-loop-{index}"))
                .spawn(move || EventLoop::new((index, poller), listener, server, options).run())?;
            handle.add_loop(waker, thread);
        }
        Ok(handle)
    }
}

/// What the loops of one server share: the factory of handlers, the count
/// of connections open (for `max_conns`), what they wait for when
/// stopping (said once for all of them), and their mailboxes.
struct SharedByLoops<F> {
    factory: Arc<F>,
    open: Arc<AtomicUsize>,
    tallies: Arc<StopTallies>,
    remote: Remote,
}

/// One event loop: how it waits, its listener, its connections and the
/// work it postponed.
pub(super) struct EventLoop<H, F> {
    poller: Poller,
    listener: Listener,
    limit: ConnectionLimit,
    /// Makes the handler of each connection.
    factory: Arc<F>,
    /// `TCP_NODELAY` on each accepted connection.
    nodelay: bool,
    connections: Slab<Connection<H>>,
    /// What the connections share for their turns.
    shared: Shared,
    shutdown: Shutdown,
    idle: Option<IdleSweep>,
    /// Connections that used up their turn with data still unread. No new
    /// edge is due for that data, so the loop must come back to them itself.
    resume: Vec<usize>,
    /// The `resume` list being worked through (swapped, to reuse both).
    resuming: Vec<usize>,
    /// Reused list of keys to visit during a sweep or a stop.
    visiting: Vec<usize>,
    /// Connections that were kept letters this turn, to write at its end.
    to_flush: Vec<usize>,
    /// The `to_flush` list being worked through (swapped, to reuse both).
    flushing: Vec<usize>,
    /// The box the mailbox's letters are taken into (kept for its memory).
    inbox: Outbox,
    /// Reused list of the timers due at one look.
    due: Vec<(usize, TimerKind)>,
}

impl<H, F> EventLoop<H, F>
where
    F: Fn(SocketAddr) -> H,
    H: Handler,
{
    /// Runs until stopped and every connection is closed; returns what the
    /// loop did.
    fn run(mut self) -> io::Result<Stats> {
        let mut events = Events::with_capacity(1024);
        // The handle may have asked to stop before this thread started.
        if self.poller.stop_requested() {
            self.stop(false);
        }
        while !(self.shutdown.is_stopping() && self.connections.is_empty()) {
            // Sleep until readiness or the nearest timer, unless reads are
            // waiting for their turn, or traffic was so recent that the
            // next request is likely to follow at once (`crate::spin`).
            let has_timers = self.has_timers();
            let (listener, idle, shutdown) = (&self.listener, self.idle.as_ref(), &self.shutdown);
            let timers = &self.shared.links.timers;
            let busy = !self.resume.is_empty() | !self.to_flush.is_empty();
            self.poller.wait(&mut events, busy, || {
                has_timers
                    .then(|| next_timer(listener, idle, shutdown, timers))
                    .flatten()
            })?;
            let before = (self.shared.stats.connections, self.shared.stats.bytes_read);
            let now = has_timers.then(Instant::now);
            if let (Some(now), Some(idle)) = (now, &self.idle) {
                self.shared.now_ms = idle.clock(now);
            }

            let mut listener_ready = false;
            for event in events.iter() {
                match event.token() {
                    // Accept after the other events of this batch, so a slab
                    // key freed in this batch is never reused while an
                    // event for its old connection may still follow.
                    LISTENER => listener_ready = true,
                    token if poller::is_own(token) => self.on_own_event(token),
                    Token(key) => self.on_connection_event(key, event),
                }
            }

            if let Some(now) = now {
                self.on_timers(now);
            }
            self.resume_turns();
            if listener_ready {
                self.listener.ready();
            }
            if self.listener.has_work() {
                self.accept();
            }
            if !self.to_flush.is_empty() {
                self.write_letters();
            }
            self.after_turn(before);
        }
        self.close_mailbox();
        self.shutdown.end();
        Ok(self.shared.stats)
    }

    /// An event of the loop's own sources: its waker (letters, and maybe a
    /// stop asked for), or a signal.
    fn on_own_event(&mut self, token: Token) {
        match self.poller.asked(token) {
            Asked::Stop => {
                // Letters posted before the stop still go out with it.
                self.collect_mail();
                self.stop(false);
            }
            Asked::Signals(signals) => self.on_signals(signals),
            Asked::Look => self.collect_mail(),
        }
    }

    /// One readiness event of one connection, handed to it.
    fn on_connection_event(&mut self, key: usize, event: &Event) {
        let stopping = self.shutdown.is_stopping();
        // None: closed earlier in this batch.
        if let Some(connection) = self.connections.get_mut(key) {
            let next = connection.on_event(key, event, &mut self.shared, stopping);
            self.then(key, next);
        }
    }

    /// Does what a connection's turn left to do: deliver the letters its
    /// handler wrote, then go on with it. Nothing, in the usual case, at
    /// the cost of two checks: the rest is out of line (a letter's delivery
    /// may close a connection, which comes back here).
    #[inline(always)]
    fn then(&mut self, key: usize, next: Next) {
        if !(matches!(next, Next::Wait) && self.shared.links.outbox.is_empty()) {
            self.then_deliver(key, next);
        }
    }

    fn then_deliver(&mut self, key: usize, next: Next) {
        if !self.shared.links.outbox.is_empty() {
            self.deliver_outbox();
        }
        match next {
            Next::Wait => {}
            Next::ComeBack => self.resume.push(key),
            Next::Close(reason) => self.close(key, reason),
        }
    }

    /// Gives the connections that used up their turn another one.
    fn resume_turns(&mut self) {
        std::mem::swap(&mut self.resume, &mut self.resuming);
        // Stopping, the loop reads no more.
        if !self.shutdown.is_stopping() {
            for i in 0..self.resuming.len() {
                let key = self.resuming[i];
                // A key closed (and even reused) since is harmless: reading
                // a connection with nothing to read just says WouldBlock.
                if let Some(connection) = self.connections.get_mut(key) {
                    let next = connection.read_turn(key, &mut self.shared);
                    self.then(key, next);
                }
            }
        }
        self.resuming.clear();
    }

    /// Accepts until the listener's queue is empty (or accepting must
    /// pause), admitting each connection within `max_conns`.
    fn accept(&mut self) {
        let trace = self.shared.trace;
        while let Some((mut stream, peer)) = self.listener.next(trace) {
            if !self.limit.admit(peer, trace) {
                self.shared.stats.refused += 1;
                // Dropping the accepted socket closes it: the client reads EOF.
                continue;
            }
            let entry = self.connections.vacant_entry();
            let token = Token(entry.key());
            let registry = self.poller.registry();
            if let Err(e) = connection::set_up(&mut stream, peer, token, registry, self.nodelay) {
                log::warn!("{peer}: cannot register the connection, closing it: {e}");
                self.limit.release();
                continue;
            }
            self.shared.stats.connections += 1;
            if let Some(trace) = &trace {
                trace.event(format_args!("accept {peer} → token {}", token.0));
            }
            log::debug!("{peer}: connected");
            let handler = (self.factory)(peer);
            let key = entry.key();
            let clock = (self.shared.now_ms, next_serial());
            let connection = entry.insert(Connection::new(stream, peer, clock, handler));
            // Its handler may speak first.
            let next = connection.open(key, &mut self.shared);
            self.then(key, next);
        }
    }

    /// Delivers the letters this loop's handlers wrote: those for another
    /// loop posted to its mailbox (one post each), those for this one
    /// handed to their connections.
    fn deliver_outbox(&mut self) {
        let mut letters = std::mem::take(&mut self.shared.links.outbox);
        let links = &self.shared.links;
        for other in (0..links.remote.loops()).filter(|&i| i != links.loop_index) {
            links.remote.post_copies(&letters, other);
        }
        // No handler writes letters while they are delivered: the closes
        // they cause call `on_close`, which has no `Conn`.
        self.deliver(&letters);
        letters.clear();
        self.shared.links.outbox = letters;
    }

    /// The waker rang: delivers the letters posted from elsewhere.
    fn collect_mail(&mut self) {
        let mut letters = std::mem::take(&mut self.inbox);
        let links = &self.shared.links;
        links.remote.mailbox(links.loop_index).take(&mut letters);
        self.deliver(&letters);
        self.inbox = letters;
    }

    /// The loop has ended: the letters still posted, and those that come
    /// later, are for connections that have gone.
    fn close_mailbox(&mut self) {
        let mut letters = std::mem::take(&mut self.inbox);
        let links = &self.shared.links;
        links.remote.mailbox(links.loop_index).close(&mut letters);
        self.deliver(&letters);
    }

    /// Hands each letter of `letters` that is for this loop to its
    /// connection.
    fn deliver(&mut self, letters: &Outbox) {
        let here = self.shared.links.loop_index;
        for (to, mail) in letters.iter().filter(|(to, _)| to.loop_index == here) {
            self.deliver_one(to, mail);
        }
    }

    /// One letter: to its connection if that is still the one its id
    /// names, else dropped, and counted (a settled reply needs nothing).
    fn deliver_one(&mut self, to: ConnId, mail: Mail<'_>) {
        let found = self.connections.get_mut(to.key);
        let Some(connection) = found.filter(|c| c.serial() == to.serial) else {
            if mail != Mail::Release {
                self.shared.stats.undelivered += 1;
            }
            return;
        };
        let next = match mail {
            Mail::Send(data) => match connection.take_mail(data, &mut self.shared) {
                Taken::Kept if connection.mark_to_flush() => {
                    self.to_flush.push(to.key);
                    Next::Wait
                }
                Taken::Kept => Next::Wait,
                Taken::Dropped => {
                    self.shared.stats.undelivered += 1;
                    Next::Wait
                }
                Taken::Refused(reason) => Next::Close(reason),
            },
            Mail::Close => Next::Close(CloseReason::Elsewhere),
            Mail::Release => connection.settle_reply(),
        };
        self.then(to.key, next);
    }

    /// The turn's end: writes the letters each connection was kept, in
    /// one `write` each.
    fn write_letters(&mut self) {
        std::mem::swap(&mut self.to_flush, &mut self.flushing);
        let stopping = self.shutdown.is_stopping();
        for i in 0..self.flushing.len() {
            let key = self.flushing[i];
            if let Some(connection) = self.connections.get_mut(key) {
                let next = connection.flush_letters(key, &mut self.shared, stopping);
                self.then(key, next);
            }
        }
        self.flushing.clear();
    }

    /// Closes one connection and tells its handler why.
    fn close(&mut self, key: usize, reason: CloseReason) {
        let Some(connection) = self.connections.try_remove(key) else {
            return;
        };
        self.limit.release();
        let stopping = self.shutdown.is_stopping();
        connection.close(key, reason, &mut self.shared, stopping);
        // A descriptor was freed: if accepts were paused by EMFILE, the
        // queued connections may fit now.
        self.listener.descriptor_freed();
    }

    /// After a turn: stay awake for the next request after a small
    /// exchange with few connections, not after a stream or with many (see
    /// [`TcpTurn::window`] and "When it pays" in `crate::spin`).
    fn after_turn(&mut self, (connections, bytes_read): (u64, u64)) {
        let turn = TcpTurn {
            connections: self.connections.len(),
            accepted: self.shared.stats.connections - connections,
            read: self.shared.stats.bytes_read - bytes_read,
            read_buffer: self.shared.scratch.len(),
        };
        self.poller.after_turn(turn.window(), turn.had_traffic());
    }

    /// SIGINT/SIGTERM: the first begins the stop and says what it waits
    /// for; a second one during it stops waiting.
    fn on_signals(&mut self, signals: Vec<i32>) {
        for signal in signals {
            if self.shutdown.is_stopping() {
                let left = self.echo_left();
                self.shutdown.stop_now(signal, left);
            } else {
                log::info!(target: SIGNAL_TARGET, "signal {signal}: shutting down");
                self.stop(true);
            }
        }
    }

    /// Stops accepting and reading; each connection closes once its peer
    /// has taken all its echo (see `shutdown.rs`), or at the deadline.
    /// Says at once what the stop waits for.
    fn stop(&mut self, by_signal: bool) {
        if !self.shutdown.begin() {
            return;
        }
        self.listener.close();
        self.for_each_connection_where(|c| !c.has_output(), Self::finish_for_shutdown);
        let left = self.echo_left();
        self.shutdown.announce_wait(left, by_signal);
    }

    /// This loop's connections still open, and the echo they have not
    /// delivered.
    fn echo_left(&self) -> (usize, usize) {
        let bytes = self.connections.iter().map(|(_, c)| c.echo_left()).sum();
        (self.connections.len(), bytes)
    }

    fn finish_for_shutdown(&mut self, key: usize) {
        if let Some(connection) = self.connections.get_mut(key) {
            let next = connection.finish_for_shutdown(&mut self.shared);
            self.then(key, next);
        }
    }

    fn has_timers(&self) -> bool {
        self.idle.is_some()
            || self.listener.paused_until().is_some()
            || self.shutdown.is_stopping()
            || !self.shared.links.timers.is_empty()
    }

    /// What is due at `now`: the connections' timers, the end of an accept
    /// pause, an idle sweep, a stop's deadline or its look at what the
    /// peers have acknowledged.
    fn on_timers(&mut self, now: Instant) {
        if !self.shared.links.timers.is_empty() {
            self.fire_timers(now);
        }
        self.listener.on_timer(now);
        if self.idle.as_mut().is_some_and(|idle| idle.due(now)) {
            self.close_idle();
        }
        if self.shutdown.deadline_passed(now) {
            // The deadline passed, or a second signal came: close whatever
            // is left, saying whether its peer had taken everything.
            self.for_each_connection_where(|_| true, Self::close_at_deadline);
        } else if self.shutdown.is_stopping() {
            // Close the connections whose peer has now acknowledged everything.
            self.for_each_connection_where(
                Connection::awaits_acknowledgement,
                Self::finish_for_shutdown,
            );
        }
    }

    /// Closes the connections without read or write progress for the
    /// idle timeout.
    fn close_idle(&mut self) {
        let Some(idle) = self.idle else {
            return;
        };
        let now_ms = self.shared.now_ms;
        self.for_each_connection_where(
            |c| idle.is_idle(c.last_active_ms(), now_ms),
            |event_loop, key| event_loop.close(key, CloseReason::IdleTimeout),
        );
    }

    /// Calls the handler of each connection whose timer is due at `now`.
    fn fire_timers(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        self.shared.links.timers.take_due(now, &mut due);
        for &(key, kind) in &due {
            // None: closed by a timer fired before it at this look.
            if let Some(connection) = self.connections.get_mut(key) {
                let next = connection.on_timer(key, kind, &mut self.shared);
                self.then(key, next);
            }
        }
        due.clear();
        self.due = due;
    }

    fn close_at_deadline(&mut self, key: usize) {
        if let Some(connection) = self.connections.get_mut(key) {
            let flushed = connection.flushed_at_deadline(&mut self.shared.scratch);
            let reason = self.shutdown.reason_at_deadline(flushed);
            self.close(key, reason);
        }
    }

    /// Does `action` to every connection for which `condition` holds.
    /// Collects the keys first: closing a connection changes the slab.
    fn for_each_connection_where(
        &mut self,
        condition: impl Fn(&Connection<H>) -> bool,
        mut action: impl FnMut(&mut Self, usize),
    ) {
        let mut keys = std::mem::take(&mut self.visiting);
        keys.clear();
        keys.extend(
            self.connections
                .iter()
                .filter(|(_, connection)| condition(connection))
                .map(|(key, _)| key),
        );
        for &key in &keys {
            action(self, key);
        }
        self.visiting = keys;
    }
}

impl<H, F> EventLoop<H, F> {
    fn new(
        (index, poller): (usize, Poller),
        listener: TcpListener,
        server: SharedByLoops<F>,
        options: Options,
    ) -> Self {
        let epoch = Instant::now();
        EventLoop {
            shared: Shared {
                scratch: vec![0; options.read_buffer_size].into_boxed_slice(),
                kernel_echo: KernelEcho::default(),
                stats: Stats::default(),
                now_ms: 0,
                max_pending: options.max_pending,
                trace: poller.trace(),
                links: Links::new(
                    index,
                    server.remote,
                    options.shutdown_timeout,
                    poller.trace(),
                ),
            },
            poller,
            listener: Listener::new(listener),
            limit: ConnectionLimit::new(server.open, options.max_conns),
            factory: server.factory,
            nodelay: options.nodelay,
            connections: Slab::new(),
            shutdown: Shutdown::new(options.shutdown_timeout, server.tallies),
            idle: options
                .idle_timeout
                .map(|timeout| IdleSweep::new(timeout, epoch)),
            resume: Vec::new(),
            resuming: Vec::new(),
            visiting: Vec::new(),
            to_flush: Vec::new(),
            flushing: Vec::new(),
            inbox: Outbox::default(),
            due: Vec::new(),
        }
    }
}

/// How long `poll` may sleep: until the nearest timer, or for ever.
#[inline]
fn next_timer(
    listener: &Listener,
    idle: Option<&IdleSweep>,
    shutdown: &Shutdown,
    timers: &Timers,
) -> Option<Duration> {
    let nearest = [
        idle.map(IdleSweep::next),
        shutdown.next_timer(),
        timers.next_deadline(),
    ]
    .into_iter()
    .fold(listener.paused_until(), |nearest, next| {
        match (nearest, next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    })?;
    Some(nearest.saturating_duration_since(Instant::now()))
}
