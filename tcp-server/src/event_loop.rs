//! The readiness loop every TCP server of this project runs on: one mio
//! [`Poll`] per thread, connections in a [`Slab`] keyed by [`Token`], and a
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
//!   one `epoll_wait`.
//! * **Echo inside the kernel.** A handler that only echoes can say so
//!   ([`Handler::echo_in_kernel`]); once its peer streams (a read fills the
//!   whole buffer), the loop moves the stream back with `splice(2)` through
//!   a pipe, so the bytes never cross into user space. This is what Go's
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
//! * **Failure is local.** A reset or broken pipe closes that connection only.
//! * **Limits and shutdown.** `max_conns`, `EMFILE`/`ENFILE` back-off, an
//!   idle timeout swept once in a while (no timer per connection), and a
//!   graceful stop (signals or [`ServerHandle::shutdown`]) that stops
//!   accepting and reading, flushes pending output within a deadline
//!   (closing with a FIN, never a reset that would destroy it) and returns
//!   the [`Stats`].
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use tcp_server::{Conn, Handler, Server};
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

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use socket2::{Domain, Protocol, Socket, Type};

// Connections use their slab key as token; the loop's own sources take the
// top of the range, which a slab never reaches.
const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// Most reads from one connection per readiness turn. A peer that sends
/// as fast as the loop reads would otherwise keep `read_until_drained`
/// busy for ever; after this many full reads the connection goes to the
/// back of the line (the `resume` list) and the others get their turn.
const READS_PER_TURN: usize = 16;

/// How long accepting pauses after `EMFILE`/`ENFILE`: long enough not to
/// spin on a full descriptor table, short enough that queued clients barely
/// notice. Closing any connection ends the pause early.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// What a server does with one connection's bytes. One value per accepted
/// connection, made by the factory given to [`Server::new`].
///
/// The loop owns the socket: a handler never reads, writes or closes it
/// directly, it only calls [`Conn::send`] and [`Conn::close`]. Callbacks
/// run on the loop thread and must not block.
pub trait Handler {
    /// The most bytes to hand to one [`on_data`](Handler::on_data) call
    /// (clamped to `1..=`[`Server::read_buffer_size`]). A teaching server
    /// returns something small to show a message split across reads.
    fn max_read(&self) -> usize {
        usize::MAX
    }

    /// True if this handler sends back every byte it receives, unchanged,
    /// and need not see them. The loop may then echo a streaming peer
    /// inside the kernel (`splice(2)`), without calling
    /// [`on_data`](Handler::on_data) for those bytes. Default: false.
    fn echo_in_kernel(&self) -> bool {
        false
    }

    /// Bytes just read from the peer, exactly as one `read` returned them.
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]);

    /// The peer shut down its write side (read returned end-of-file). The
    /// handler may still send; afterwards the loop flushes all pending
    /// output and then closes the connection.
    fn on_peer_closed_write(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// The connection is gone (the socket is closed right after this).
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
    /// The handler called [`Conn::close`].
    Handler,
    /// The socket failed: reset by the peer, broken pipe, ...
    Error(io::Error),
    /// Nothing was read or written for the configured idle timeout.
    IdleTimeout,
    /// The server stopped. `flushed` is false when pending output was
    /// dropped because the shutdown deadline passed.
    Shutdown {
        /// Whether all pending output was written before closing.
        flushed: bool,
    },
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("peer closed the connection"),
            CloseReason::Handler => f.write_str("closed by the server's handler"),
            CloseReason::Error(e) => write!(f, "connection failed: {e}"),
            CloseReason::IdleTimeout => f.write_str("idle timeout"),
            CloseReason::Shutdown { flushed: true } => f.write_str("server shutdown"),
            CloseReason::Shutdown { flushed: false } => {
                f.write_str("server shutdown deadline passed, pending output dropped")
            }
        }
    }
}

/// Counters of one server run, summed over its event loops.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted and served.
    pub connections: u64,
    /// Connections accepted and closed at once because of `max_conns`.
    pub refused: u64,
    /// Bytes read from all connections.
    pub bytes_read: u64,
    /// Bytes written to all connections.
    pub bytes_written: u64,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.connections += other.connections;
        self.refused += other.refused;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
    }
}

/// The loop's per-connection state, kept small because 10 000 idle
/// connections must cost little: no read buffer, and `pending` holds an
/// allocation only while output is waiting for the socket.
struct ConnIo {
    stream: TcpStream,
    peer: SocketAddr,
    /// Output accepted from the handler that the socket did not take yet.
    pending: BytesMut,
    /// Loop clock (milliseconds, wrapping) of the last read or write progress.
    last_active_ms: u32,
    /// Pending output passed the high-water mark: reading waits for it to drain.
    read_paused: bool,
    /// An event said the peer's FIN (or a hang-up) has arrived, so a short
    /// read no longer proves a new edge will come: read until end-of-file.
    read_closed_seen: bool,
    /// The read side reached end-of-file; close once output is flushed.
    eof_read: bool,
    /// Shutting down: our FIN is sent, waiting for the peer's (see
    /// `EventLoop::finish_for_shutdown`).
    write_shut: bool,
    /// The peer streams and the handler echoes: move bytes with `splice`.
    splicing: bool,
}

struct Connection<H> {
    io: ConnIo,
    handler: H,
}

/// A handler's view of its connection during a callback.
pub struct Conn<'a> {
    io: &'a mut ConnIo,
    bytes_written: &'a mut u64,
    close: Option<CloseReason>,
}

impl<'a> Conn<'a> {
    fn new(io: &'a mut ConnIo, bytes_written: &'a mut u64) -> Self {
        Conn {
            io,
            bytes_written,
            close: None,
        }
    }

    /// The peer's address, for log lines.
    pub fn peer_addr(&self) -> SocketAddr {
        self.io.peer
    }

    /// Queues `data` for the peer, in order after everything sent before.
    ///
    /// When nothing is pending it is written to the socket at once, so the
    /// usual case costs one `write` and no copy; what the socket does not
    /// take is kept and written when it becomes writable. A write error
    /// (reset, broken pipe) closes this connection after the callback.
    pub fn send(&mut self, mut data: &[u8]) {
        if self.close.is_some() || data.is_empty() {
            return;
        }
        if self.io.pending.is_empty() {
            loop {
                match (&self.io.stream).write(data) {
                    // The kernel took everything: the common case.
                    Ok(n) if n == data.len() => {
                        *self.bytes_written += n as u64;
                        return;
                    }
                    Ok(0) => {
                        self.close = Some(CloseReason::Error(io::ErrorKind::WriteZero.into()));
                        return;
                    }
                    // A short write means the send buffer is full; the
                    // kernel raises a writable edge once it has room again.
                    Ok(n) => {
                        *self.bytes_written += n as u64;
                        data = &data[n..];
                        break;
                    }
                    Err(ref e) if would_block(e) => break,
                    Err(ref e) if interrupted(e) => continue,
                    Err(e) => {
                        self.close = Some(CloseReason::Error(e));
                        return;
                    }
                }
            }
        }
        self.io.pending.extend_from_slice(data);
    }

    /// Bytes accepted by [`send`](Conn::send) and not yet written.
    pub fn pending_len(&self) -> usize {
        self.io.pending.len()
    }

    /// Closes this connection as soon as the callback returns; pending
    /// output is dropped. Other connections are not affected.
    pub fn close(&mut self) {
        if self.close.is_none() {
            self.close = Some(CloseReason::Handler);
        }
    }
}

/// Builder of a server: a factory of handlers plus the loop's limits.
///
/// See the [module documentation](self) for an example.
pub struct Server<F> {
    factory: F,
    opts: Options,
}

#[derive(Debug, Clone)]
struct Options {
    threads: usize,
    max_pending: usize,
    max_conns: usize,
    idle_timeout: Option<Duration>,
    nodelay: bool,
    read_buffer_size: usize,
    shutdown_timeout: Duration,
    handle_signals: bool,
}

impl<F, H> Server<F>
where
    F: Fn(SocketAddr) -> H + Send + Sync + 'static,
    H: Handler + 'static,
{
    /// A server calling `factory(peer)` for each accepted connection.
    pub fn new(factory: F) -> Self {
        Server {
            factory,
            opts: Options {
                threads: 1,
                max_pending: 1024 * 1024,
                max_conns: 10_000,
                idle_timeout: None,
                nodelay: true,
                read_buffer_size: 64 * 1024,
                shutdown_timeout: Duration::from_secs(5),
                handle_signals: false,
            },
        }
    }

    /// Number of event loops (default 1), each on its own thread with its
    /// own listener bound with `SO_REUSEPORT`; the kernel spreads new
    /// connections over them.
    pub fn threads(mut self, threads: usize) -> Self {
        self.opts.threads = threads.max(1);
        self
    }

    /// High-water mark of one connection's pending output (default 1 MiB);
    /// above it the connection is not read from until its output drained.
    pub fn max_pending(mut self, bytes: usize) -> Self {
        self.opts.max_pending = bytes;
        self
    }

    /// Most connections served at once over all loops (default 10 000);
    /// further ones are accepted and closed at once, with a log line.
    pub fn max_conns(mut self, conns: usize) -> Self {
        self.opts.max_conns = conns;
        self
    }

    /// Closes connections with no read or write progress for this long
    /// (default: never). Checked by a periodic sweep, not per-connection timers.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.opts.idle_timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// Sets `TCP_NODELAY` on accepted sockets (default true): a reply is
    /// sent at once instead of waiting for the previous one to be acknowledged.
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.opts.nodelay = nodelay;
        self
    }

    /// Size of the loop-wide scratch buffer, the largest single read
    /// (default 64 KiB).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.opts.read_buffer_size = bytes.max(1);
        self
    }

    /// How long a graceful stop waits for pending output (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.opts.shutdown_timeout = timeout;
        self
    }

    /// Stop gracefully on SIGINT/SIGTERM, handled inside each loop (default
    /// false: a library used in tests must not take over the process' signals).
    /// A second signal during the stop drops what is still pending.
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.opts.handle_signals = on;
        self
    }

    /// Binds `addr` (port 0 picks a free port) and starts the loops on
    /// their own threads. Returns once the listeners are bound, so
    /// [`ServerHandle::local_addr`] is immediately connectable.
    pub fn start(self, addr: SocketAddr) -> io::Result<ServerHandle> {
        let threads = self.opts.threads;
        // With several loops, every listener must be on the port the first
        // one actually got, which matters when `addr` asks for port 0.
        let first = bind_listener(addr, threads > 1)?;
        let local_addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads {
            listeners.push(bind_listener(local_addr, true)?);
        }

        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            live_conns: AtomicUsize::new(0),
        });
        let factory = Arc::new(self.factory);
        // Dropping a partly built handle stops the loops already started.
        let mut handle = ServerHandle {
            local_addr,
            shared: Arc::clone(&shared),
            loops: Vec::with_capacity(threads),
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let mut listener = TcpListener::from_std(listener);
            poll.registry()
                .register(&mut listener, LISTENER, Interest::READABLE)?;
            let signals = if self.opts.handle_signals {
                let mut signals = Signals::new([SIGINT, SIGTERM])?;
                poll.registry()
                    .register(&mut signals, SIGNALS, Interest::READABLE)?;
                Some(signals)
            } else {
                None
            };
            let parts = LoopParts {
                poll,
                listener,
                signals,
                factory: Arc::clone(&factory),
                shared: Arc::clone(&shared),
                opts: self.opts.clone(),
            };
            let thread = thread::Builder::new()
                .name(format!("event-loop-{i}"))
                .spawn(move || EventLoop::new(parts).run())?;
            handle.loops.push((waker, thread));
        }
        Ok(handle)
    }
}

/// Binds one listening socket. `SO_REUSEADDR` lets a restarted server bind
/// while old connections linger in TIME_WAIT; `SO_REUSEPORT` (only asked
/// for with several loops, so two servers never share a port by accident)
/// lets each loop own a listener on the same port.
fn bind_listener(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    // The kernel caps this at net.core.somaxconn.
    socket.listen(4096)?;
    Ok(socket.into())
}

/// State shared by the loops of one server and its handle.
struct Shared {
    stop: AtomicBool,
    /// Connections open over all loops, for `max_conns`.
    live_conns: AtomicUsize,
}

/// A running server: its address, and the way to stop it.
///
/// Dropping the handle stops the server and waits for it.
pub struct ServerHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    loops: Vec<(Arc<Waker>, JoinHandle<io::Result<Stats>>)>,
}

impl ServerHandle {
    /// The address the listeners are bound to (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Asks every loop to stop gracefully: stop accepting and reading,
    /// flush pending output (within the shutdown timeout), close. Returns
    /// at once; [`join`](ServerHandle::join) waits.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for (waker, _) in &self.loops {
            // A loop that already ended has nothing to wake; that is fine.
            let _ = waker.wake();
        }
    }

    /// Waits until every loop has stopped (after a signal or
    /// [`shutdown`](ServerHandle::shutdown)) and returns the summed counters.
    pub fn join(mut self) -> io::Result<Stats> {
        let mut total = Stats::default();
        let mut first_error = None;
        for (_, thread) in std::mem::take(&mut self.loops) {
            match thread.join() {
                Ok(Ok(stats)) => total.add(&stats),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(io::Error::other("an event loop panicked"));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// [`shutdown`](ServerHandle::shutdown) then [`join`](ServerHandle::join).
    pub fn stop(self) -> io::Result<Stats> {
        self.shutdown();
        self.join()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if !self.loops.is_empty() {
            self.shutdown();
            for (_, thread) in self.loops.drain(..) {
                let _ = thread.join();
            }
        }
    }
}

/// What `start` prepares on the caller's thread (so errors surface there)
/// and moves to the loop thread. Handlers are created on the loop thread,
/// so they need not be `Send`.
struct LoopParts<F> {
    poll: Poll,
    listener: TcpListener,
    signals: Option<Signals>,
    factory: Arc<F>,
    shared: Arc<Shared>,
    opts: Options,
}

struct EventLoop<H, F> {
    poll: Poll,
    /// `None` once shutting down: dropping it stops new connections.
    listener: Option<TcpListener>,
    signals: Option<Signals>,
    factory: Arc<F>,
    shared: Arc<Shared>,
    opts: Options,
    conns: Slab<Connection<H>>,
    /// The one read buffer of this loop, shared by all its connections.
    scratch: Box<[u8]>,
    stats: Stats,
    /// Loop clock: `now_ms` is `epoch.elapsed()` in wrapping milliseconds,
    /// refreshed once per wake-up, only while something needs the time.
    epoch: Instant,
    now_ms: u32,
    /// Queued connections may be waiting in the listener. Edge-triggered
    /// readiness will not announce them again, so the loop must retry.
    accept_pending: bool,
    /// Accepting is paused (descriptors exhausted) until this instant.
    accept_paused_until: Option<Instant>,
    next_idle_sweep: Option<Instant>,
    /// Set when shutting down: close whatever is left at this instant.
    drain_deadline: Option<Instant>,
    accept_error_log: RateLimitedLog,
    refused_log: RateLimitedLog,
    /// Reused list of keys to close during a sweep or a shutdown.
    to_close: Vec<usize>,
    /// Connections that used up their turn with data still unread. No new
    /// edge is due for that data, so the loop must come back to them itself.
    resume: Vec<usize>,
    /// The `resume` list being worked through (swapped, to reuse both).
    resuming: Vec<usize>,
    /// For echoing inside the kernel; made the first time a connection
    /// streams, so servers that never splice hold no extra descriptors.
    pipe: Option<SplicePipe>,
    /// The kernel cannot splice: echo through user space from now on.
    pipe_failed: bool,
}

impl<H, F> EventLoop<H, F>
where
    F: Fn(SocketAddr) -> H,
    H: Handler,
{
    fn new(parts: LoopParts<F>) -> Self {
        let epoch = Instant::now();
        let next_idle_sweep = parts.opts.idle_timeout.map(|t| epoch + sweep_interval(t));
        EventLoop {
            poll: parts.poll,
            listener: Some(parts.listener),
            signals: parts.signals,
            factory: parts.factory,
            shared: parts.shared,
            scratch: vec![0; parts.opts.read_buffer_size].into_boxed_slice(),
            opts: parts.opts,
            conns: Slab::new(),
            stats: Stats::default(),
            epoch,
            now_ms: 0,
            accept_pending: false,
            accept_paused_until: None,
            next_idle_sweep,
            drain_deadline: None,
            accept_error_log: RateLimitedLog::default(),
            refused_log: RateLimitedLog::default(),
            to_close: Vec::new(),
            resume: Vec::new(),
            resuming: Vec::new(),
            pipe: None,
            pipe_failed: false,
        }
    }

    fn run(mut self) -> io::Result<Stats> {
        let mut events = Events::with_capacity(1024);
        // The handle may have asked to stop before this thread started.
        if self.shared.stop.load(Ordering::SeqCst) {
            self.begin_shutdown();
        }
        while !(self.draining() && self.conns.is_empty()) {
            let timeout = self.next_timeout();
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                // A signal arrived during epoll_wait: just wait again.
                Err(ref e) if interrupted(e) => continue,
                Err(e) => return Err(e),
            }
            let now = self.has_timers().then(Instant::now);
            if let (Some(now), Some(_)) = (now, self.opts.idle_timeout) {
                self.now_ms = millis_since(self.epoch, now);
            }

            let mut listener_ready = false;
            for event in events.iter() {
                match event.token() {
                    // Accept after the other events of this batch, so a slab
                    // key freed in this batch is never reused while an
                    // event for its old connection may still follow.
                    LISTENER => listener_ready = true,
                    WAKER => {
                        if self.shared.stop.load(Ordering::SeqCst) {
                            self.begin_shutdown();
                        }
                    }
                    SIGNALS => self.on_signal(),
                    Token(key) => self.on_connection_event(key, event),
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
        }
        Ok(self.stats)
    }

    fn draining(&self) -> bool {
        self.drain_deadline.is_some()
    }

    fn has_timers(&self) -> bool {
        self.opts.idle_timeout.is_some()
            || self.accept_paused_until.is_some()
            || self.drain_deadline.is_some()
    }

    /// How long `poll` may sleep: not at all if reads are waiting for their
    /// turn, else until the nearest timer, or for ever.
    fn next_timeout(&self) -> Option<Duration> {
        if !self.resume.is_empty() {
            return Some(Duration::ZERO);
        }
        let nearest = [
            self.accept_paused_until,
            self.next_idle_sweep,
            self.drain_deadline,
        ]
        .into_iter()
        .flatten()
        .min()?;
        Some(nearest.saturating_duration_since(Instant::now()))
    }

    fn on_timers(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
        }
        if let (Some(at), Some(timeout)) = (self.next_idle_sweep, self.opts.idle_timeout) {
            if now >= at {
                self.close_idle(timeout);
                self.next_idle_sweep = Some(now + sweep_interval(timeout));
            }
        }
        if self.drain_deadline.is_some_and(|t| now >= t) {
            self.to_close.clear();
            self.to_close.extend(self.conns.iter().map(|(key, _)| key));
            let keys = std::mem::take(&mut self.to_close);
            for &key in &keys {
                let flushed = self.conns.get(key).is_some_and(|c| c.io.pending.is_empty());
                self.close(key, CloseReason::Shutdown { flushed });
            }
            self.to_close = keys;
        }
    }

    /// Accepts until the listener's queue is empty. Each accepted socket
    /// is registered once for both READABLE and WRITABLE, edge-triggered,
    /// and never re-registered.
    ///
    /// Why not toggle WRITABLE only while output is pending: each toggle is
    /// an `epoll_ctl` syscall, two per stall, paid exactly when the server
    /// is busiest. Registered once, a writable edge costs at most a wake-up
    /// whose handling is a check of `pending.is_empty()`, no syscall; and
    /// edges only fire on changes (connect, buffer space freed after it
    /// ran out), so in ping-pong traffic they ride along with read events.
    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            self.accept_pending = false;
            return;
        };
        loop {
            let (mut stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                // The queue is empty: a new connection raises a new edge.
                Err(ref e) if would_block(e) => {
                    self.accept_pending = false;
                    return;
                }
                Err(ref e) if interrupted(e) => continue,
                // That one client gave up before we accepted it; the
                // others in the queue are unaffected.
                Err(ref e) if is_per_connection_accept_error(e) => continue,
                // EMFILE/ENFILE (and anything unexpected): accepting now
                // would fail again at once, so the loop would spin. Pause,
                // keep serving existing connections, and retry after the
                // pause or as soon as a connection closes. `accept_pending`
                // stays set because no new edge will announce the
                // connections already queued.
                Err(e) => {
                    let now = Instant::now();
                    if let Some(suppressed) = self.accept_error_log.ready(now) {
                        log::error!(
                            "accept failed: {e}; pausing accepts for {ACCEPT_PAUSE:?} \
                             ({suppressed} similar errors not logged; raise `ulimit -n` \
                             or lower --max-conns)"
                        );
                    }
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                    return;
                }
            };

            if self.shared.live_conns.load(Ordering::Relaxed) >= self.opts.max_conns {
                self.stats.refused += 1;
                if let Some(suppressed) = self.refused_log.ready(Instant::now()) {
                    log::warn!(
                        "refusing {peer}: {} connections open, the limit is --max-conns {} \
                         ({suppressed} more refused since the last message)",
                        self.shared.live_conns.load(Ordering::Relaxed),
                        self.opts.max_conns
                    );
                }
                // Dropping the accepted socket closes it: the client reads EOF.
                continue;
            }

            if self.opts.nodelay {
                if let Err(e) = stream.set_nodelay(true) {
                    log::debug!("{peer}: cannot set TCP_NODELAY: {e}");
                }
            }
            let entry = self.conns.vacant_entry();
            let token = Token(entry.key());
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                log::warn!("{peer}: cannot register the connection, closing it: {e}");
                continue;
            }
            self.shared.live_conns.fetch_add(1, Ordering::Relaxed);
            self.stats.connections += 1;
            log::debug!("{peer}: connected");
            entry.insert(Connection {
                io: ConnIo {
                    stream,
                    peer,
                    pending: BytesMut::new(),
                    last_active_ms: self.now_ms,
                    read_paused: false,
                    read_closed_seen: false,
                    eof_read: false,
                    write_shut: false,
                    splicing: false,
                },
                handler: (self.factory)(peer),
            });
        }
    }

    fn on_connection_event(&mut self, key: usize, event: &Event) {
        let Some(conn) = self.conns.get_mut(key) else {
            // Closed earlier in this batch.
            return;
        };
        if event.is_error() {
            // EPOLLERR: a reset or similar. Fetch the real error for the log.
            let err = match conn.io.stream.take_error() {
                Ok(Some(e)) | Err(e) => e,
                Ok(None) => io::Error::other("socket error"),
            };
            self.close(key, CloseReason::Error(err));
            return;
        }
        if event.is_read_closed() {
            conn.io.read_closed_seen = true;
        }
        // Write first: draining pending output may resume a paused read.
        let mut did_read = false;
        if event.is_writable() && !conn.io.pending.is_empty() {
            did_read = self.on_writable(key);
        }
        if !did_read && (event.is_readable() || event.is_read_closed()) {
            if self.draining() {
                self.finish_for_shutdown(key, false);
            } else {
                self.read_until_drained(key);
            }
        }
    }

    /// Flushes pending output, then finishes whatever waited for it.
    /// Returns whether it went on to read (so the caller does not read again).
    fn on_writable(&mut self, key: usize) -> bool {
        let Some(conn) = self.conns.get_mut(key) else {
            return false;
        };
        let io = &mut conn.io;
        let flushed = flush(io, &mut self.stats.bytes_written);
        io.last_active_ms = self.now_ms;
        let eof_read = io.eof_read;
        match flushed {
            Err(e) => self.close(key, CloseReason::Error(e)),
            Ok(false) => {}
            Ok(true) if self.drain_deadline.is_some() => self.finish_for_shutdown(key, false),
            Ok(true) if eof_read => self.close(key, CloseReason::PeerClosed),
            Ok(true) => {
                // Resume a read paused by backpressure (no edge will announce
                // the data that waited meanwhile), or read what arrived with
                // this event.
                io.read_paused = false;
                self.read_until_drained(key);
                return true;
            }
        }
        false
    }

    /// Reads until the socket is drained, handing each read to the handler,
    /// unless the connection is paused, finished, or the server is stopping.
    fn read_until_drained(&mut self, key: usize) {
        let Some(Connection { io, handler }) = self.conns.get_mut(key) else {
            return;
        };
        if io.read_paused || io.eof_read || self.drain_deadline.is_some() {
            return;
        }
        let mut reads = 0;
        let close = loop {
            let want = handler.max_read().clamp(1, self.scratch.len());
            // Splice only while nothing is pending: pending output must go
            // out before anything read after it.
            let spliced = io.splicing && io.pending.is_empty() && self.pipe.is_some();
            let result = match &mut self.pipe {
                Some(pipe) if spliced => {
                    pipe.echo(io, &mut self.scratch, want, &mut self.stats.bytes_written)
                }
                _ => (&io.stream).read(&mut self.scratch[..want]),
            };
            match result {
                // End-of-file: the peer shut down its write side. Everything
                // it sent has been handed to the handler; finish after the
                // pending output is flushed.
                Ok(0) => {
                    io.eof_read = true;
                    let mut conn = Conn::new(io, &mut self.stats.bytes_written);
                    handler.on_peer_closed_write(&mut conn);
                    if let Some(reason) = conn.close {
                        break Some(reason);
                    }
                    break io.pending.is_empty().then_some(CloseReason::PeerClosed);
                }
                // Echoed inside the kernel. A splice moves at most what the
                // pipe holds, so a short one does not prove the socket
                // drained: go on until WouldBlock. A small one means the
                // stream has slowed down: back to plain reads.
                Ok(n) if spliced => {
                    self.stats.bytes_read += n as u64;
                    io.last_active_ms = self.now_ms;
                    if n < want / 2 {
                        io.splicing = false;
                    }
                }
                Ok(n) => {
                    self.stats.bytes_read += n as u64;
                    io.last_active_ms = self.now_ms;
                    let mut conn = Conn::new(io, &mut self.stats.bytes_written);
                    handler.on_data(&mut conn, &self.scratch[..n]);
                    if let Some(reason) = conn.close {
                        break Some(reason);
                    }
                    // Backpressure: the peer is not reading its replies fast
                    // enough; stop taking its requests until they drain.
                    if io.pending.len() > self.opts.max_pending {
                        io.read_paused = true;
                        break None;
                    }
                    // A short read emptied the receive queue; the next read
                    // would only say WouldBlock. Unless the FIN is already
                    // in (no edge would follow it), wait for the next edge.
                    if n < want && !io.read_closed_seen {
                        break None;
                    }
                    // A full buffer: the peer is streaming. An echo handler
                    // lets the kernel carry the stream back from now on.
                    if n == self.scratch.len() && handler.echo_in_kernel() && !self.pipe_failed {
                        if self.pipe.is_none() {
                            match SplicePipe::new() {
                                Ok(pipe) => self.pipe = Some(pipe),
                                // Out of descriptors, typically: echo via user
                                // space for now, try again on a later stream.
                                Err(e) => log::debug!("no pipe for splice yet: {e}"),
                            }
                        }
                        io.splicing = self.pipe.is_some();
                    }
                }
                // Drained: edge-triggered readiness will report new data.
                Err(ref e) if would_block(e) => break None,
                Err(ref e) if interrupted(e) => continue,
                // The kernel cannot splice here; nothing was taken, so
                // read instead, and never try again.
                Err(e) if spliced && e.kind() == io::ErrorKind::Unsupported => {
                    log::warn!("cannot splice, echoing via user space: {e}");
                    self.pipe = None;
                    self.pipe_failed = true;
                    io.splicing = false;
                }
                // Reset or similar: only this connection is affected.
                Err(e) => {
                    if self.pipe.as_ref().is_some_and(|pipe| pipe.broken) {
                        log::error!("splice pipe unusable, echoing via user space: {e}");
                        self.pipe = None;
                        self.pipe_failed = true;
                    }
                    break Some(CloseReason::Error(e));
                }
            }
            reads += 1;
            if reads == READS_PER_TURN {
                self.resume.push(key);
                break None;
            }
        };
        if let Some(reason) = close {
            self.close(key, reason);
        }
    }

    fn close(&mut self, key: usize, reason: CloseReason) {
        let Some(Connection { io, mut handler }) = self.conns.try_remove(key) else {
            return;
        };
        self.shared.live_conns.fetch_sub(1, Ordering::Relaxed);
        match &reason {
            // A peer that resets or vanishes is routine on a network: worth
            // a line when asked for (RUST_LOG=info), not a warning.
            CloseReason::Error(e) if is_routine_disconnect(e) => {
                log::info!("{}: closing: {e}", io.peer)
            }
            CloseReason::Error(e) => log::warn!("{}: closing: {e}", io.peer),
            CloseReason::Shutdown { flushed: false } => {
                log::warn!("{}: {reason} ({} bytes)", io.peer, io.pending.len())
            }
            _ => log::debug!("{}: closing: {reason}", io.peer),
        }
        handler.on_close(io.peer, &reason);
        // Dropping the stream closes the descriptor, which also removes it
        // from the epoll set: no `deregister` syscall needed.
        drop(io);
        // A descriptor was freed: if accepts were paused by EMFILE, the
        // queued connections may fit now.
        if self.accept_pending {
            self.accept_paused_until = None;
        }
    }

    fn close_idle(&mut self, timeout: Duration) {
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let now = self.now_ms;
        self.to_close.clear();
        self.to_close.extend(
            self.conns
                .iter()
                .filter(|(_, c)| now.wrapping_sub(c.io.last_active_ms) >= timeout_ms)
                .map(|(key, _)| key),
        );
        let keys = std::mem::take(&mut self.to_close);
        for &key in &keys {
            self.close(key, CloseReason::IdleTimeout);
        }
        self.to_close = keys;
    }

    fn on_signal(&mut self) {
        let Some(signals) = &mut self.signals else {
            return;
        };
        let received: Vec<i32> = signals.pending().collect();
        for signal in received {
            if self.draining() {
                log::warn!("signal {signal} during shutdown: dropping pending output now");
                self.drain_deadline = Some(Instant::now());
            } else {
                log::info!("signal {signal}: shutting down");
                self.begin_shutdown();
            }
        }
    }

    /// Stops accepting and reading; connections with nothing pending close
    /// now, the others when flushed or at the deadline.
    fn begin_shutdown(&mut self) {
        if self.draining() {
            return;
        }
        self.drain_deadline = Some(Instant::now() + self.opts.shutdown_timeout);
        self.listener = None;
        self.accept_pending = false;
        self.accept_paused_until = None;
        self.to_close.clear();
        self.to_close.extend(
            self.conns
                .iter()
                .filter(|(_, c)| c.io.pending.is_empty())
                .map(|(key, _)| key),
        );
        let keys = std::mem::take(&mut self.to_close);
        for &key in &keys {
            self.finish_for_shutdown(key, true);
        }
        self.to_close = keys;
    }

    /// Closes a connection whose output is flushed, during shutdown,
    /// without destroying that output.
    ///
    /// Closing a socket that still has unread input makes the kernel send a
    /// reset instead of a FIN, and a reset throws away whatever echo is
    /// still in flight; since the loop stopped reading at shutdown, a peer
    /// that kept sending has unread input. So: send our FIN after the
    /// output (`shutdown(Write)`), discard what the peer sends, and close
    /// at its end-of-file (or at the shutdown deadline).
    ///
    /// `idle` is true for a connection that had no pending output when the
    /// shutdown began: if it has nothing unread either, its peer is not in
    /// the middle of a transfer and it closes at once, so idle clients do
    /// not delay the exit. A connection whose output had to be flushed
    /// first always waits for the peer's end-of-file: its peer may still
    /// have data in flight that would arrive after a close and draw a reset.
    fn finish_for_shutdown(&mut self, key: usize, idle: bool) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let io = &mut conn.io;
        if !io.pending.is_empty() {
            return; // on_writable comes back here once flushed
        }
        let first_visit = !io.write_shut;
        if first_visit {
            io.write_shut = true;
            if let Err(e) = io.stream.shutdown(std::net::Shutdown::Write) {
                // Typically ENOTCONN: the peer already reset the connection.
                self.close(key, CloseReason::Error(e));
                return;
            }
        }
        let mut discarded = 0;
        let result = loop {
            match (&io.stream).read(&mut self.scratch) {
                Ok(0) => break Ok(true),
                Ok(n) => discarded += n,
                Err(ref e) if would_block(e) => break Ok(false),
                Err(ref e) if interrupted(e) => continue,
                Err(e) => break Err(e),
            }
        };
        if discarded > 0 {
            log::debug!(
                "{}: shutting down, discarded {discarded} unread bytes",
                io.peer
            );
        }
        match result {
            Err(e) => self.close(key, CloseReason::Error(e)),
            Ok(eof) if eof || (idle && first_visit && discarded == 0) => {
                self.close(key, CloseReason::Shutdown { flushed: true })
            }
            // The peer is still sending: wait for its end-of-file.
            Ok(_) => {}
        }
    }
}

/// The pipe through which one loop's connections echo inside the kernel.
///
/// `splice(2)` moves data between a socket and a pipe by passing page
/// references, not by copying; socket → pipe → same socket is an echo that
/// never copies the bytes into our memory. One pipe serves every connection
/// of the loop because it is always left empty: what the socket does not
/// take at once is read out of the pipe into the connection's pending
/// output, and the connection falls back to plain reads until that drains.
struct SplicePipe {
    read: File,
    write: File,
    /// The pipe may hold stray bytes or cannot splice: never use it again.
    broken: bool,
}

impl SplicePipe {
    fn new() -> io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array we pass.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors are new and owned by nobody else.
        let (read, write) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        // A pipe has one slot per page reference. With small socket
        // buffers each slot may hold little, so ask for 1 MiB of slots (the
        // default unprivileged maximum); the default 64 KiB also works.
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, 1024 * 1024) };
        Ok(SplicePipe {
            read,
            write,
            broken: false,
        })
    }

    /// Moves up to `want` bytes from the socket back to it through the
    /// pipe. Returns the number of bytes taken from the socket (0 at
    /// end-of-file); those the socket did not take back are in `pending`.
    ///
    /// On a socket error the pipe is emptied. If even that fails, or the
    /// kernel cannot splice at all, the pipe is marked `broken` and the
    /// caller drops it, so one connection's bytes can never leak into
    /// another's echo. `ErrorKind::Unsupported` means nothing was taken.
    fn echo(
        &mut self,
        io: &mut ConnIo,
        scratch: &mut [u8],
        want: usize,
        bytes_written: &mut u64,
    ) -> io::Result<usize> {
        let socket = io.stream.as_raw_fd();
        let taken = match splice(socket, self.write.as_raw_fd(), want) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::ENOSYS | libc::EPERM)
                ) =>
            {
                self.broken = true;
                return Err(io::Error::new(io::ErrorKind::Unsupported, e));
            }
            Err(e) => return Err(e),
        };
        let mut moved = 0;
        while moved < taken {
            match splice(self.read.as_raw_fd(), socket, taken - moved) {
                Ok(n) => moved += n,
                // The send buffer is full: keep the rest as pending output.
                Err(ref e) if would_block(e) => break,
                Err(ref e) if interrupted(e) => continue,
                Err(e) => {
                    *bytes_written += moved as u64;
                    if self.empty(scratch, taken - moved).is_err() {
                        self.broken = true;
                    }
                    return Err(e);
                }
            }
        }
        *bytes_written += moved as u64;
        // Copy what the socket did not take into pending output, leaving
        // the pipe empty for the next connection.
        let mut left = taken - moved;
        while left > 0 {
            let chunk = left.min(scratch.len());
            match (&self.read).read(&mut scratch[..chunk]) {
                Ok(0) => {
                    self.broken = true;
                    return Err(pipe_lost_data());
                }
                Ok(n) => {
                    io.pending.extend_from_slice(&scratch[..n]);
                    left -= n;
                }
                Err(ref e) if interrupted(e) => continue,
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
        Ok(taken)
    }

    /// Throws away `left` bytes still in the pipe.
    fn empty(&mut self, scratch: &mut [u8], mut left: usize) -> io::Result<()> {
        while left > 0 {
            let chunk = left.min(scratch.len());
            match (&self.read).read(&mut scratch[..chunk]) {
                Ok(0) => return Err(pipe_lost_data()),
                Ok(n) => left -= n,
                Err(ref e) if interrupted(e) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn pipe_lost_data() -> io::Error {
    io::Error::other("splice pipe returned fewer bytes than it holds")
}

/// One non-blocking `splice(2)` call from `from` to `to`.
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: plain descriptors, no offsets (both ends are not files).
    let n = unsafe { libc::splice(from, ptr::null_mut(), to, ptr::null_mut(), len, flags) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Writes pending output until it is all written (`Ok(true)`) or the
/// socket is full (`Ok(false)`).
fn flush(io: &mut ConnIo, bytes_written: &mut u64) -> io::Result<bool> {
    while !io.pending.is_empty() {
        match (&io.stream).write(&io.pending) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                *bytes_written += n as u64;
                io.pending.advance(n);
                // Short write: the send buffer is full, wait for the next edge.
                if !io.pending.is_empty() {
                    return Ok(false);
                }
            }
            Err(ref e) if would_block(e) => return Ok(false),
            Err(ref e) if interrupted(e) => continue,
            Err(e) => return Err(e),
        }
    }
    // Give the memory back: an idle connection should hold no buffer.
    io.pending = BytesMut::new();
    Ok(true)
}

/// "Would block" errors are the OS's way of saying: nothing more right now.
fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// A signal interrupted the syscall before it did anything: try again.
fn interrupted(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

/// Accept errors that concern only the connection being accepted (it was
/// aborted or reset while queued, or refused by a firewall rule).
fn is_per_connection_accept_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) || matches!(err.raw_os_error(), Some(libc::EPROTO | libc::EPERM))
}

/// The peer went away abruptly (reset, or its end closed while we wrote).
fn is_routine_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

fn millis_since(epoch: Instant, now: Instant) -> u32 {
    // Wrapping on purpose: only differences of recent instants are compared.
    now.duration_since(epoch).as_millis() as u32
}

/// How often idle connections are looked for: often enough that a
/// connection closes within ~25% past its timeout, at most once a second.
fn sweep_interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Lets a repeated error be logged at most once a second.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// `Some(number suppressed since the last message)` when a message may
    /// be logged now.
    fn ready(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < Duration::from_secs(1) => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Shutdown, TcpStream as StdStream};
    use std::sync::Mutex;
    use std::sync::mpsc;

    const TEST_TIMEOUT: Duration = Duration::from_secs(20);

    fn localhost() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    fn connect(server: &ServerHandle) -> StdStream {
        let stream = StdStream::connect(server.local_addr()).unwrap();
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TEST_TIMEOUT)).unwrap();
        stream
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    struct PlainEcho;
    impl Handler for PlainEcho {
        fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
            conn.send(data);
        }
    }

    #[test]
    fn echoes_and_counts_bytes_then_stops_on_request() {
        let server = Server::new(|_| PlainEcho).start(localhost()).unwrap();
        let mut client = connect(&server);
        client.write_all(b"hello").unwrap();
        let mut reply = [0; 5];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"hello");
        client.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        let stats = server.stop().unwrap();
        assert_eq!(
            stats,
            Stats {
                connections: 1,
                refused: 0,
                bytes_read: 5,
                bytes_written: 5
            }
        );
    }

    /// Echoes, and records the largest pending output it ever saw; tells
    /// the test once pending output passed the high-water mark.
    struct RecordingEcho {
        peak: Arc<AtomicUsize>,
        over_mark: Mutex<Option<mpsc::Sender<()>>>,
        mark: usize,
    }
    impl Handler for Arc<RecordingEcho> {
        fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
            conn.send(data);
            let pending = conn.pending_len();
            self.peak.fetch_max(pending, Ordering::SeqCst);
            if pending > self.mark {
                if let Some(tx) = self.over_mark.lock().unwrap().take() {
                    let _ = tx.send(());
                }
            }
        }
    }

    #[test]
    fn pending_output_never_exceeds_high_water_mark_plus_one_read() {
        const MARK: usize = 64 * 1024;
        const READ: usize = 16 * 1024;
        const TOTAL: usize = 8 * 1024 * 1024;
        let (tx, over_mark) = mpsc::channel();
        let recorder = Arc::new(RecordingEcho {
            peak: Arc::new(AtomicUsize::new(0)),
            over_mark: Mutex::new(Some(tx)),
            mark: MARK,
        });
        let factory_recorder = Arc::clone(&recorder);
        let server = Server::new(move |_| Arc::clone(&factory_recorder))
            .max_pending(MARK)
            .read_buffer_size(READ)
            .start(localhost())
            .unwrap();

        // A client that writes 8 MiB and does not read (yet).
        let client = connect(&server);
        let mut writer = client.try_clone().unwrap();
        let sent = pattern(TOTAL, 7);
        let to_send = sent.clone();
        let writer = thread::spawn(move || writer.write_all(&to_send));

        // The kernel buffers fill up, the server's pending output passes the
        // mark, and the server stops reading: the mark is reached...
        over_mark
            .recv_timeout(TEST_TIMEOUT)
            .expect("pending output never passed the high-water mark");

        // ...and once the client reads, every byte still comes back in order.
        let mut echoed = vec![0; TOTAL];
        (&client).read_exact(&mut echoed).unwrap();
        writer.join().unwrap().unwrap();
        assert!(echoed == sent, "echo differs from what was sent");

        let peak = recorder.peak.load(Ordering::SeqCst);
        assert!(
            peak <= MARK + READ,
            "pending output reached {peak} bytes, more than the mark {MARK} + one read {READ}"
        );
        drop(client);
        server.stop().unwrap();
    }

    #[test]
    fn connection_that_used_up_its_turn_is_resumed_without_a_new_edge() {
        // One byte per read: 1000 bytes sent at once need 1000 reads, far
        // more than one turn. Nothing more is sent, so no new readiness
        // edge comes: only the loop's own resume list can finish the echo.
        struct ByteAtATime;
        impl Handler for ByteAtATime {
            fn max_read(&self) -> usize {
                1
            }
            fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
                conn.send(data);
            }
        }
        let server = Server::new(|_| ByteAtATime).start(localhost()).unwrap();
        let mut client = connect(&server);
        let sent = pattern(1000, 1);
        client.write_all(&sent).unwrap();
        let mut echoed = vec![0; sent.len()];
        client.read_exact(&mut echoed).unwrap();
        assert_eq!(echoed, sent);
        drop(client);
        server.stop().unwrap();
    }

    #[test]
    fn echo_in_kernel_streams_past_on_data_and_loses_nothing() {
        // Counts the bytes that went through user space.
        struct KernelEcho(Arc<AtomicUsize>);
        impl Handler for KernelEcho {
            fn echo_in_kernel(&self) -> bool {
                true
            }
            fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
                self.0.fetch_add(data.len(), Ordering::SeqCst);
                conn.send(data);
            }
        }
        const TOTAL: usize = 16 * 1024 * 1024;
        let seen = Arc::new(AtomicUsize::new(0));
        let factory_seen = Arc::clone(&seen);
        // A small mark, so the splice path also meets full send buffers,
        // leftovers in pending output and paused reads.
        let server = Server::new(move |_| KernelEcho(Arc::clone(&factory_seen)))
            .max_pending(64 * 1024)
            .start(localhost())
            .unwrap();
        let client = connect(&server);
        let sent = pattern(TOTAL, 3);
        let mut writer = client.try_clone().unwrap();
        let to_send = sent.clone();
        let writer = thread::spawn(move || {
            writer.write_all(&to_send)?;
            writer.shutdown(Shutdown::Write)
        });
        let mut echoed = Vec::new();
        (&client).read_to_end(&mut echoed).unwrap();
        writer.join().unwrap().unwrap();
        assert!(echoed == sent, "echo differs from what was sent");
        let seen = seen.load(Ordering::SeqCst);
        assert!(
            seen < TOTAL,
            "all {TOTAL} bytes went through on_data: no splice"
        );
        let stats = server.stop().unwrap();
        assert_eq!(
            (stats.bytes_read, stats.bytes_written),
            (TOTAL as u64, TOTAL as u64)
        );
    }

    #[test]
    fn handler_close_drops_only_that_connection() {
        struct CloseOnX;
        impl Handler for CloseOnX {
            fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
                if data.contains(&b'x') {
                    conn.close();
                } else {
                    conn.send(data);
                }
            }
        }
        let server = Server::new(|_| CloseOnX).start(localhost()).unwrap();
        let mut bad = connect(&server);
        let mut good = connect(&server);
        bad.write_all(b"x").unwrap();
        let mut buf = [0; 2];
        assert!(matches!(bad.read(&mut buf), Ok(0) | Err(_)));
        good.write_all(b"ok").unwrap();
        good.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ok");
        drop(good);
        server.stop().unwrap();
    }

    #[test]
    fn max_read_splits_what_the_handler_sees() {
        struct Sizes(Arc<Mutex<Vec<usize>>>);
        impl Handler for Sizes {
            fn max_read(&self) -> usize {
                4
            }
            fn on_data(&mut self, _conn: &mut Conn<'_>, data: &[u8]) {
                self.0.lock().unwrap().push(data.len());
            }
        }
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let factory_sizes = Arc::clone(&sizes);
        let server = Server::new(move |_| Sizes(Arc::clone(&factory_sizes)))
            .start(localhost())
            .unwrap();
        let mut client = connect(&server);
        client.write_all(b"0123456789").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        let stats = server.stop().unwrap();
        assert_eq!(stats.bytes_read, 10);
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 10);
        assert!(
            sizes.iter().all(|&n| n <= 4),
            "reads larger than max_read: {sizes:?}"
        );
    }
}
