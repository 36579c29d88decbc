//! Where new connections come from: the listening sockets of a server's
//! loops ([`bind_listeners`], [`Spread`]), each loop's [`Listener`], which
//! accepts until the queue is empty and backs off when the process is out
//! of file descriptors instead of spinning on the error, and the
//! [`ConnectionLimit`] that holds `max_conns` over all loops.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, Socket, Type};

use crate::RateLimitedLog;
use crate::os::{interrupted, is_per_connection_accept_error, would_block};
use crate::trace::Trace;

/// How long accepting pauses after `EMFILE`/`ENFILE`: long enough not to
/// spin on a full descriptor table, short enough that queued clients barely
/// notice. Closing any connection ends the pause early.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// One loop's listening socket, and the accepting it has postponed.
pub(super) struct Listener {
    /// `None` once the server stops: dropping it stops new connections.
    socket: Option<TcpListener>,
    /// Queued connections may be waiting. Edge-triggered readiness will
    /// not announce them again, so the loop must come back for them.
    pending: bool,
    /// Accepting is paused (descriptors exhausted) until this instant.
    paused_until: Option<Instant>,
    /// Accept errors: at most one line a second.
    error_log: RateLimitedLog,
}

impl Listener {
    pub(super) fn new(socket: TcpListener) -> Self {
        Listener {
            socket: Some(socket),
            pending: false,
            paused_until: None,
            error_log: RateLimitedLog::default(),
        }
    }

    /// The socket reported new connections.
    pub(super) fn ready(&mut self) {
        self.pending = self.socket.is_some();
    }

    /// Whether connections wait that may be accepted now.
    pub(super) fn has_work(&self) -> bool {
        self.pending && self.paused_until.is_none()
    }

    /// Stops accepting for good (the server is stopping).
    pub(super) fn close(&mut self) {
        self.socket = None;
        self.pending = false;
        self.paused_until = None;
    }

    /// Until when accepting is paused, if it is.
    pub(super) fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// Ends a pause that is over at `now`.
    pub(super) fn on_timer(&mut self, now: Instant) {
        if self.paused_until.is_some_and(|until| now >= until) {
            self.paused_until = None;
        }
    }

    /// A descriptor was freed: if a pause held connections queued, they
    /// may fit now.
    pub(super) fn descriptor_freed(&mut self) {
        if self.pending {
            self.paused_until = None;
        }
    }

    /// The next queued connection, until the queue is empty or accepting
    /// must pause.
    pub(super) fn next(&mut self, trace: Option<Trace>) -> Option<(TcpStream, SocketAddr)> {
        let Some(socket) = &self.socket else {
            self.pending = false;
            return None;
        };
        loop {
            match socket.accept() {
                Ok(accepted) => return Some(accepted),
                // The queue is empty: a new connection raises a new edge.
                Err(ref e) if would_block(e) => {
                    self.pending = false;
                    return None;
                }
                Err(ref e) if interrupted(e) => continue,
                // That one client gave up before we accepted it; the
                // others in the queue are unaffected.
                Err(ref e) if is_per_connection_accept_error(e) => continue,
                // EMFILE/ENFILE (and anything unexpected): accepting now
                // would fail again at once, so the loop would spin. Pause,
                // keep serving existing connections, and retry after the
                // pause or as soon as a connection closes. `pending` stays
                // set because no new edge will announce the connections
                // already queued.
                Err(e) => {
                    self.pause(&e, trace);
                    return None;
                }
            }
        }
    }

    fn pause(&mut self, error: &io::Error, trace: Option<Trace>) {
        let now = Instant::now();
        if let Some(suppressed) = self.error_log.ready(now) {
            log::error!(
                "accept failed: {error}; pausing accepts for {ACCEPT_PAUSE:?} \
                 ({suppressed} similar errors not logged; raise `ulimit -n` \
                 or lower --max-conns)"
            );
        }
        if let Some(trace) = &trace {
            trace.event(format_args!(
                "accept failed: {error}: pause accepting for {ACCEPT_PAUSE:?}"
            ));
        }
        self.paused_until = Some(now + ACCEPT_PAUSE);
    }
}

/// `max_conns`, held over all the loops of a server.
pub(super) struct ConnectionLimit {
    /// Connections open over all loops.
    open: Arc<AtomicUsize>,
    max: usize,
    /// Refusals: at most one line a second, so a crowd of clients cannot
    /// flood stderr.
    refused_log: RateLimitedLog,
}

impl ConnectionLimit {
    /// The limit of `max` connections, counted in `open`, which every loop
    /// of the server shares.
    pub(super) fn new(open: Arc<AtomicUsize>, max: usize) -> Self {
        ConnectionLimit {
            open,
            max,
            refused_log: RateLimitedLog::default(),
        }
    }

    /// Takes a slot for `peer`, or says why not. A slot is taken in one
    /// atomic step: with several loops, a check now and an increment later
    /// would let two loops both see the last free slot and both take it.
    pub(super) fn admit(&mut self, peer: SocketAddr, trace: Option<Trace>) -> bool {
        let max = self.max;
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            });
        let Err(open) = taken else {
            return true;
        };
        if let Some(trace) = &trace {
            trace.event(format_args!(
                "refuse {peer}: {open} connections open, --max-conns {max}"
            ));
        }
        if let Some(suppressed) = self.refused_log.ready(Instant::now()) {
            log::warn!(
                "refusing {peer}: {open} connections open, the limit is --max-conns \
                 {max} ({suppressed} more refused since the last message)"
            );
        }
        false
    }

    /// Gives back the slot of a connection that closed (or never opened).
    pub(super) fn release(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
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
    /// handle), so the server's `start` refuses `threads > 1` with a
    /// message rather than silently serving on one loop.
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
pub(super) fn bind_listeners(
    addr: SocketAddr,
    threads: usize,
) -> io::Result<Vec<std::net::TcpListener>> {
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpStream};

    use std::time::Duration;

    use super::*;
    use crate::ServerHandle;
    use crate::tcp::{Conn, Handler, Server, Stats};

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

    /// With `SO_REUSEPORT` alone, a second `--threads` server on the same
    /// port would start and take half the first one's connections.
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
