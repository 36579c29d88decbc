//! The UDP server as its user sees it: [`Server`], a builder of the handler
//! and the loop's limits; [`Stats`], what a run did; and [`Server::start`],
//! which binds the socket and runs the loop on a thread of its own. The same
//! words as [`tcp::Server`](crate::tcp::Server) and
//! [`tcp::Stats`](crate::tcp::Stats).

use std::io;
use std::net::SocketAddr;
use std::ops::AddAssign;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Interest, Poll, Waker};

use super::Handler;
use super::event_loop::{EventLoop, SOCKET};
use crate::ServerHandle;
use crate::spin::DEFAULT_SPIN_US;
use crate::stop::{self, StopRequest, StopSignals};

/// Where `udp-server` listens unless `--addr` says otherwise: loopback.
///
/// The Go server binds `0.0.0.0:30000`, every interface. A UDP echo server
/// on a public interface is an open *reflector*: UDP has no handshake, so
/// anyone can send us a datagram whose source address is forged to be a
/// victim's, and we dutifully "echo" it at the victim, hiding the attacker
/// (reflection). Forge the source as *another* echo server and the two
/// bounce one datagram between them for ever; a few such loops multiply the
/// attacker's bandwidth without end (amplification). That is why the IANA
/// echo port 7 is closed almost everywhere. A teaching server should not do
/// that by default, so ours answers only on loopback. To serve other
/// machines deliberately, bind all interfaces yourself:
/// `--addr 0.0.0.0:30000` (or `[::]:30000`).
pub const DEFAULT_ADDR: &str = "127.0.0.1:30000";

/// The name of the loop's thread, as a debugger or `/proc` shows it; TCP's
/// loops are `tcp-loop-N`.
pub(super) const THREAD_NAME: &str = "udp-loop";

/// Counters of one server run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams received (zero-length ones included).
    pub datagrams: u64,
    /// Payload bytes received.
    pub bytes_read: u64,
    /// Payload bytes sent, at once or from the send queue.
    pub bytes_written: u64,
    /// Datagrams handed to [`Socket::send_to`](super::Socket::send_to) that
    /// never left: the send queue was full, the kernel refused the send, or
    /// they were still queued when the server stopped.
    pub dropped: u64,
    /// Datagrams that waited in the send queue, the kernel's send buffer
    /// being full when they were sent (see [`SendQueue`](super::SendQueue)).
    pub queued: u64,
}

impl AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.datagrams += other.datagrams;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        self.dropped += other.dropped;
        self.queued += other.queued;
    }
}

/// Builder of a server: the handler plus the loop's limits.
///
/// See the [module documentation](super) for an example.
pub struct Server<H> {
    handler: H,
    options: Options,
}

/// The loop's limits, as set on the [`Server`] builder.
#[derive(Debug, Clone)]
pub(super) struct Options {
    pub(super) queue_datagrams: usize,
    pub(super) queue_bytes: usize,
    pub(super) spin: Duration,
    pub(super) handle_signals: bool,
    pub(super) trace: bool,
}

impl<H> Server<H>
where
    H: Handler + Send + 'static,
{
    /// A server calling `handler` for every datagram.
    pub fn new(handler: H) -> Self {
        Server {
            handler,
            options: Options {
                // Of the order of the kernel's own default UDP send buffer
                // (~208 KiB on Linux) times a few: enough to ride out a
                // burst, small enough that a flood costs at most 1 MiB.
                queue_datagrams: 1024,
                queue_bytes: 1024 * 1024,
                spin: Duration::from_micros(DEFAULT_SPIN_US),
                handle_signals: false,
                trace: false,
            },
        }
    }

    /// Most datagrams kept while the kernel refuses sends (default 1024);
    /// see [`SendQueue`](super::SendQueue).
    pub fn queue_datagrams(mut self, datagrams: usize) -> Self {
        self.options.queue_datagrams = datagrams;
        self
    }

    /// Most payload bytes kept while the kernel refuses sends (default 1 MiB).
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.options.queue_bytes = bytes;
        self
    }

    /// How long to keep polling without sleeping after traffic, in case the
    /// next datagram follows at once (default [`DEFAULT_SPIN_US`] µs); zero
    /// sleeps as soon as the socket is drained. See [`spin`](crate::spin).
    pub fn spin(mut self, window: Duration) -> Self {
        self.options.spin = window;
        self
    }

    /// Stop on SIGINT/SIGTERM, handled inside the loop (default false: a
    /// library used in tests must not take over the process' signals).
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.options.handle_signals = on;
        self
    }

    /// Writes a line on stderr for each thing the loop does: each wake-up
    /// (or spin), receive batch, datagram and send (default false; see
    /// [`crate::trace`]).
    pub fn trace(mut self, on: bool) -> Self {
        self.options.trace = on;
        self
    }

    /// Binds `addr` (port 0 picks a free port) and starts the loop on a
    /// thread of its own: the Go `net.ListenUDP` and its `for` loop.
    /// Returns once the socket is bound, so
    /// [`ServerHandle::local_addr`] can be sent to at once.
    pub fn start(self, addr: SocketAddr) -> io::Result<ServerHandle<Stats>> {
        let (event_loop, waker, mut handle) = self.bind(addr)?;
        let thread = thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || event_loop.run())?;
        handle.add_loop(waker, thread);
        Ok(handle)
    }

    /// What [`start`](Self::start) does on the caller's thread, so that
    /// every error surfaces there: the socket, its registration, the waker
    /// and the signals. Returns the loop ready to run, its waker, and a
    /// handle without the loop (tests run the loop on a thread of their own).
    pub(super) fn bind(
        self,
        addr: SocketAddr,
    ) -> io::Result<(EventLoop<H>, Arc<Waker>, ServerHandle<Stats>)> {
        let poll = Poll::new()?;
        let mut socket = UdpSocket::bind(addr)?;
        let local_addr = socket.local_addr()?;
        // READABLE only: WRITABLE is added while datagrams are queued (see
        // `EventLoop::want_writable`).
        poll.registry()
            .register(&mut socket, SOCKET, Interest::READABLE)?;
        let waker = stop::waker(poll.registry())?;
        let signals = if self.options.handle_signals {
            Some(StopSignals::register(poll.registry())?)
        } else {
            None
        };
        let stop = Arc::new(StopRequest::default());
        let handle = ServerHandle::new(local_addr, Arc::clone(&stop));
        let event_loop = EventLoop::new(poll, socket, signals, stop, self.handler, &self.options);
        Ok((event_loop, waker, handle))
    }
}
