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
use super::shutdown::StopTallies;
use crate::ServerHandle;
use crate::spin::DEFAULT_SPIN_US;
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
    /// Bytes written to all connections (handed to the kernel).
    pub bytes_written: u64,
    /// Of `bytes_written`, those the peer had not acknowledged when the
    /// server, stopping, closed their connection: still on their way, or
    /// never to arrive (a peer that does not read). Linux only; 0 where
    /// the OS cannot say. See `shutdown.rs`.
    pub bytes_unacknowledged: u64,
}

impl AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.connections += other.connections;
        self.refused += other.refused;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        self.bytes_unacknowledged += other.bytes_unacknowledged;
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
    pub(super) spin: Duration,
    pub(super) trace: bool,
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
                spin: Duration::from_micros(DEFAULT_SPIN_US),
                trace: false,
            },
        }
    }

    /// Number of event loops (default 1), each on its own thread. How new
    /// connections are spread over them depends on the OS (see
    /// [`Spread`]): on Linux and FreeBSD each loop has its own listener and
    /// the kernel balances; on macOS and the other BSDs the loops share one
    /// listener; on Windows [`Server::start`] refuses more than one loop.
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

    /// How long a graceful stop waits for every peer to take its echo,
    /// pending or queued in the kernel (default 5 s). Any value works: one
    /// too large for the clock means "until the peers are done".
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

    /// After a turn with traffic, keeps polling without sleeping for this
    /// long before sleeping again (default [`DEFAULT_SPIN_US`] µs), while a
    /// loop serves at most [`SPIN_AT_MOST_CONNECTIONS`](crate::spin::SPIN_AT_MOST_CONNECTIONS);
    /// zero sleeps as soon as there is nothing to do. See [`spin`](crate::spin).
    pub fn spin(mut self, window: Duration) -> Self {
        self.opts.spin = window;
        self
    }

    /// Writes a line on stderr for each thing the loops do: each wake-up,
    /// accept, read, write, pause and close (default false; see
    /// [`crate::trace`] for the format, and why it costs nothing when off).
    pub fn trace(mut self, on: bool) -> Self {
        self.opts.trace = on;
        self
    }

    /// Binds `addr` (port 0 picks a free port) and starts the loops on
    /// their own threads. Returns once the listeners are bound, so
    /// [`ServerHandle::local_addr`] is immediately connectable. An address
    /// already served fails with `AddrInUse`, however many threads either
    /// server has.
    pub fn start(self, addr: SocketAddr) -> io::Result<ServerHandle<Stats>> {
        let listeners = bind_listeners(addr, self.opts.threads)?;
        let local_addr = listeners[0].local_addr()?;

        let stop = Arc::new(StopRequest::default());
        let live_conns = Arc::new(AtomicUsize::new(0));
        let loops = listeners.len();
        let stop_tallies = Arc::new(StopTallies::new(loops));
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
                stop_tallies: Arc::clone(&stop_tallies),
                opts: self.opts.clone(),
                index: i,
                loops,
            };
            let thread = thread::Builder::new()
                .name(format!("tcp-loop-{i}"))
                .spawn(move || EventLoop::new(parts).run())?;
            handle.add_loop(waker, thread);
        }
        Ok(handle)
    }
}

/// How one port's new connections reach several loops: the one part of
/// `--threads` that differs by OS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// A listener per loop, all bound to the port with `SO_REUSEPORT`
    /// (Linux) or `SO_REUSEPORT_LB` (FreeBSD): the kernel hashes each new
    /// connection to one of them, so the loops share the work evenly and
    /// never wake for a connection another loop takes.
    KernelBalanced,
    /// One listener, registered with every loop's poller (a duplicate
    /// descriptor each). Every loop wakes for a new connection and those
    /// that lose the race to accept it see `WouldBlock`: a little wasted
    /// work, but every loop serves. For macOS and the other BSDs, where
    /// `SO_REUSEPORT` lets sockets bind the same port but sends every
    /// connection to the last one bound.
    SharedListener,
    /// Only one loop: Windows has no `SO_REUSEPORT`, and registering one
    /// socket with several pollers is not something mio promises there
    /// (its Windows backend polls through AFD on each socket's base
    /// handle), so [`Server::start`] refuses `threads > 1` with a message
    /// rather than silently serving on one loop.
    OneLoop,
}

impl Spread {
    /// This OS's way (see the variants).
    pub const HERE: Spread = if cfg!(any(target_os = "linux", target_os = "freebsd")) {
        Spread::KernelBalanced
    } else if cfg!(unix) {
        Spread::SharedListener
    } else {
        Spread::OneLoop
    };
}

/// The listeners of `threads` loops on `addr`, the first on the port the
/// kernel gave when `addr` asks for port 0.
///
/// A second server on a port already served must fail as it would with one
/// loop (`AddrInUse`), not join the first one's `SO_REUSEPORT` group and
/// take half its connections (any socket of the same user with the option
/// may join). So the port is first claimed exactly as a one-loop server
/// claims it (a listener without the option: it fails if anyone serves the
/// port, with or without the option), then released and taken at once by
/// the group. Another server could only slip into that gap of a few
/// microseconds by starting at that very moment.
fn bind_listeners(addr: SocketAddr, threads: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let first = bind_listener(addr, false)?;
    if threads == 1 {
        return Ok(vec![first]);
    }
    match Spread::HERE {
        Spread::KernelBalanced => {
            let local_addr = first.local_addr()?;
            drop(first);
            (0..threads)
                .map(|_| bind_listener(local_addr, true))
                .collect()
        }
        Spread::SharedListener => {
            let mut listeners = Vec::with_capacity(threads);
            for _ in 1..threads {
                listeners.push(first.try_clone()?);
            }
            listeners.push(first);
            Ok(listeners)
        }
        Spread::OneLoop => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{threads} threads need several listeners on one port \
                 (SO_REUSEPORT), which this OS does not have: use one thread"
            ),
        )),
    }
}

/// Binds one listening socket. `SO_REUSEADDR` lets a restarted server bind
/// while old connections linger in TIME_WAIT (on Unix; Windows' option of
/// that name would let a second server take the port, so it is left off
/// there, and Windows lets a restarted server bind anyway). `reuse_port`
/// joins the port's kernel-balanced group ([`Spread::KernelBalanced`]).
fn bind_listener(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    if reuse_port {
        join_balanced_group(&socket)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    // The kernel caps this at net.core.somaxconn.
    socket.listen(4096)?;
    Ok(socket.into())
}

/// `SO_REUSEPORT`: Linux balances connections over the group's listeners.
#[cfg(target_os = "linux")]
fn join_balanced_group(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

/// `SO_REUSEPORT_LB`: FreeBSD's balancing form (its plain `SO_REUSEPORT`
/// does not balance).
#[cfg(target_os = "freebsd")]
fn join_balanced_group(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port_lb(true)
}

/// Never called: [`Spread::HERE`] is not `KernelBalanced` here.
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
fn join_balanced_group(_socket: &Socket) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
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
    /// What the loops wait for when stopping, said once for all of them.
    pub(super) stop_tallies: Arc<StopTallies>,
    pub(super) opts: Options,
    /// This loop's number, and how many the server runs (for `--trace`).
    pub(super) index: usize,
    pub(super) loops: usize,
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpStream};

    use super::*;
    use crate::tcp::Conn;

    struct Echo;

    impl Handler for Echo {
        fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
            conn.send(data);
        }
    }

    fn start(addr: SocketAddr, threads: usize) -> io::Result<ServerHandle<Stats>> {
        Server::new(|_| Echo).threads(threads).start(addr)
    }

    fn loopback() -> SocketAddr {
        (Ipv4Addr::LOCALHOST, 0).into()
    }

    /// Issue 13.6: with `SO_REUSEPORT`, a second `--threads` server on the
    /// same port used to start and take half the first one's connections.
    #[test]
    fn a_second_server_on_a_served_port_fails_with_addr_in_use_whatever_its_threads() {
        let threads = if Spread::HERE == Spread::OneLoop {
            1
        } else {
            2
        };
        for (first_threads, second_threads) in [(threads, threads), (1, threads), (threads, 1)] {
            let first = start(loopback(), first_threads).unwrap();
            let err = start(first.local_addr(), second_threads)
                .map(|_| ())
                .expect_err("a second server started on a served port");
            assert_eq!(
                err.kind(),
                io::ErrorKind::AddrInUse,
                "{first_threads} then {second_threads} threads: {err}"
            );
            // The first server still serves.
            let mut client = TcpStream::connect(first.local_addr()).unwrap();
            client.write_all(b"still mine").unwrap();
            let mut echo = [0; 10];
            client.read_exact(&mut echo).unwrap();
            assert_eq!(&echo, b"still mine");
            first.stop_within(Duration::from_secs(30)).unwrap();
        }
    }

    #[test]
    fn several_threads_serve_on_one_port_or_are_refused_where_the_os_cannot() {
        let started = start(loopback(), 3);
        if Spread::HERE == Spread::OneLoop {
            let err = started.map(|_| ()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
            return;
        }
        let server = started.unwrap();
        for i in 0..30u8 {
            let mut client = TcpStream::connect(server.local_addr()).unwrap();
            client.write_all(&[i]).unwrap();
            let mut echo = [0];
            client.read_exact(&mut echo).unwrap();
            assert_eq!(echo, [i]);
        }
        assert_eq!(
            server
                .stop_within(Duration::from_secs(30))
                .unwrap()
                .connections,
            30
        );
    }
}
