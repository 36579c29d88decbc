//! The TCP server as its user sees it: [`Server`], a builder of handlers and
//! limits; [`Stats`], what a run did; and [`Server::start`], which binds the
//! listeners and starts one event loop per thread.

use std::io;
use std::net::SocketAddr;
use std::ops::AddAssign;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::thread;
use std::time::Duration;

use mio::net::TcpListener;
use mio::{Interest, Poll};
use socket2::{Domain, Protocol, Socket, Type};

use super::Handler;
use super::event_loop::{EventLoop, LISTENER};
use crate::ServerHandle;
use crate::stop::{self, StopRequest, StopSignals};

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

impl AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.connections += other.connections;
        self.refused += other.refused;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
    }
}

/// Builder of a server: a factory of handlers plus the loop's limits.
///
/// See the [module documentation](super) for an example.
pub struct Server<F> {
    factory: F,
    opts: Options,
}

/// The loop's limits, as set on the [`Server`] builder.
#[derive(Debug, Clone)]
pub(super) struct Options {
    pub(super) threads: usize,
    pub(super) max_pending: usize,
    pub(super) max_conns: usize,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) nodelay: bool,
    pub(super) read_buffer_size: usize,
    pub(super) shutdown_timeout: Duration,
    pub(super) handle_signals: bool,
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

    /// Size of the loop-wide scratch buffer, the largest single read and
    /// so the most a handler is given at once (default 64 KiB). A small
    /// one shows a message split across reads.
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
    pub fn start(self, addr: SocketAddr) -> io::Result<ServerHandle<Stats>> {
        let threads = self.opts.threads;
        // With several loops, every listener must be on the port the first
        // one actually got, which matters when `addr` asks for port 0.
        let first = bind_listener(addr, threads > 1)?;
        let local_addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads {
            listeners.push(bind_listener(local_addr, true)?);
        }

        let stop = Arc::new(StopRequest::default());
        let live_conns = Arc::new(AtomicUsize::new(0));
        let factory = Arc::new(self.factory);
        // Dropping a partly built handle stops the loops already started.
        let mut handle = ServerHandle::new(local_addr, Arc::clone(&stop));
        for (i, listener) in listeners.into_iter().enumerate() {
            let poll = Poll::new()?;
            let waker = stop::waker(poll.registry())?;
            let mut listener = TcpListener::from_std(listener);
            poll.registry()
                .register(&mut listener, LISTENER, Interest::READABLE)?;
            let signals = if self.opts.handle_signals {
                Some(StopSignals::register(poll.registry())?)
            } else {
                None
            };
            let parts = LoopParts {
                poll,
                listener,
                signals,
                factory: Arc::clone(&factory),
                stop: Arc::clone(&stop),
                live_conns: Arc::clone(&live_conns),
                opts: self.opts.clone(),
            };
            let thread = thread::Builder::new()
                .name(format!("tcp-loop-{i}"))
                .spawn(move || EventLoop::new(parts).run())?;
            handle.add_loop(waker, thread);
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

/// What `start` prepares on the caller's thread (so errors surface there)
/// and moves to the loop thread. Handlers are created on the loop thread,
/// so they need not be `Send`.
pub(super) struct LoopParts<F> {
    pub(super) poll: Poll,
    pub(super) listener: TcpListener,
    pub(super) signals: Option<StopSignals>,
    pub(super) factory: Arc<F>,
    pub(super) stop: Arc<StopRequest>,
    /// Connections open over all loops, for `max_conns`.
    pub(super) live_conns: Arc<AtomicUsize>,
    pub(super) opts: Options,
}
