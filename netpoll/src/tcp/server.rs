//! The TCP server as its user builds it: [`Server`], the builder every
//! server shares ([`crate::Server`]) with the settings of TCP connections,
//! set here: how many loops, how much output a connection may hold, how
//! many connections, how long a silent one lives, how long a stop waits.
//! [`start`](crate::Server::start) is where the loop begins, in
//! `event_loop.rs`.

use std::net::SocketAddr;
use std::time::Duration;

use super::Handler;

/// Builder of a TCP server: a factory of handlers, one per connection,
/// plus the loops' limits. `Server::new(factory)`, the settings, then
/// [`start`](crate::Server::start).
///
/// See the [module documentation](super) for an example.
pub type Server<F> = crate::Server<Tcp<F>>;

/// The TCP part of a [`Server`]: the factory of handlers, and the limits of
/// connections.
pub struct Tcp<F> {
    pub(super) factory: F,
    pub(super) options: Options,
}

/// The limits of a TCP server's loops, as set on its builder.
#[derive(Debug, Clone)]
pub(super) struct Options {
    pub(super) threads: usize,
    pub(super) max_pending: usize,
    pub(super) max_conns: usize,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) nodelay: bool,
    pub(super) read_buffer_size: usize,
    pub(super) shutdown_timeout: Duration,
}

impl<F, H> Server<F>
where
    F: Fn(SocketAddr) -> H + Send + Sync + 'static,
    H: Handler + 'static,
{
    /// A server calling `factory(peer)` for each accepted connection.
    pub fn new(factory: F) -> Self {
        crate::Server::with(Tcp {
            factory,
            options: Options {
                threads: 1,
                max_pending: 1024 * 1024,
                max_conns: 10_000,
                idle_timeout: None,
                nodelay: true,
                read_buffer_size: 64 * 1024,
                shutdown_timeout: Duration::from_secs(5),
            },
        })
    }

    /// Number of event loops (default 1), each on its own thread. How new
    /// connections are spread over them depends on the OS (see
    /// [`Spread`](super::Spread)): on Linux and FreeBSD each loop has its own listener and
    /// the kernel balances; on macOS and the other BSDs the loops share one
    /// listener; on Windows [`Server::start`] refuses more than one loop.
    pub fn threads(mut self, threads: usize) -> Self {
        self.protocol.options.threads = threads.max(1);
        self
    }

    /// High-water mark of one connection's pending output (default 1 MiB);
    /// above it the connection is not read from until its output drained.
    pub fn max_pending(mut self, bytes: usize) -> Self {
        self.protocol.options.max_pending = bytes;
        self
    }

    /// Most connections served at once over all loops (default 10 000);
    /// further ones are accepted and closed at once, with a log line.
    pub fn max_conns(mut self, conns: usize) -> Self {
        self.protocol.options.max_conns = conns;
        self
    }

    /// Closes connections with no read or write progress for this long
    /// (default: never). Checked by a periodic sweep, not per-connection timers.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.protocol.options.idle_timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// Sets `TCP_NODELAY` on accepted sockets (default true): a reply is
    /// sent at once instead of waiting for the previous one to be acknowledged.
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.protocol.options.nodelay = nodelay;
        self
    }

    /// Size of the loop-wide scratch buffer, the largest single read and
    /// so the most a handler is given at once (default 64 KiB). A small
    /// one shows a message split across reads.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.protocol.options.read_buffer_size = bytes.max(1);
        self
    }

    /// How long a graceful stop waits for every peer to take its echo,
    /// pending or queued in the kernel (default 5 s). Any value works: one
    /// too large for the clock means "until the peers are done".
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.protocol.options.shutdown_timeout = timeout;
        self
    }
}
