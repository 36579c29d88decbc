//! The Go tutorial's UDP echo server (`UDP/server/main.go`) on a mio readiness loop.
//!
//! Where to start reading: `src/main.rs` reads beside the Go file; the loop it
//! runs is [`Server::run`], and the per-datagram work is `on_readable`, `on_datagram` and
//! `echo` below it. [`SendQueue`] is the bounded backlog for echoes the kernel
//! cannot take yet.
//!
//! # What differs from the Go server, and why
//!
//! | Go | here | why |
//! |---|---|---|
//! | binds `0.0.0.0:30000` | binds `127.0.0.1:30000` unless told otherwise | an echo server reachable from the network is an open reflector: anyone can spoof a victim's address as the source and have us send the victim traffic (see [`DEFAULT_ADDR`]) |
//! | `var data [1024]byte` | 65 535-byte receive buffers, allocated once | a larger datagram is silently truncated to 1024 bytes by `ReadFromUDP`; 65 535 holds any UDP payload |
//! | blocks in `ReadFromUDP`, then in `WriteToUDP` | mio readiness: receive until the socket is drained, `send_to`, queue on `WouldBlock` | one thread, never blocked by one peer; a full send buffer queues (bounded) instead of stalling every other peer |
//! | one `ReadFromUDP` system call per datagram | on Linux, `recvmmsg` takes up to 32 per call (`src/batch.rs`); elsewhere `recv_from` until `WouldBlock` | a batch shorter than 32 proves the socket drained, saving the extra call that only says `WouldBlock` |
//! | blocks in `ReadFromUDP` again at once, and Go's scheduler spins a little before parking | after answering, polls without sleeping for up to [`Options::spin`] (`--spin-us`, default [`DEFAULT_SPIN_US`] µs) before sleeping in `epoll_wait` | a sleeping thread takes longer to wake than a ping-pong peer takes to answer; see [Spinning before sleeping](#spinning-before-sleeping) |
//! | `fmt.Printf("data:%v …", string(data[:n]), …)` | the same line, bytes [`Escaped`] | a datagram must not be able to drive the operator's terminal |
//! | runs until killed | SIGINT/SIGTERM (or [`ShutdownHandle`]) end the loop with a [`Summary`] | scripts and tests get a clean exit 0 and the figures |
//!
//! # Spinning before sleeping
//!
//! A client that sends one datagram, waits for the echo and sends the next
//! keeps exactly one datagram in flight. A server that goes back to sleep in
//! `epoll_wait` after every echo is then woken once per datagram, and waking
//! a sleeping thread (the kernel's wake-up, a context switch, on a virtual
//! machine an idle vCPU brought back) takes longer than the few
//! microseconds the client needs to answer. The round trip is then made of
//! wake-ups, not of work.
//!
//! So once a wake-up has handled at least one datagram, [`Server::run`]
//! keeps polling *without sleeping* (`epoll_wait` with a zero timeout) for
//! up to [`Options::spin`]; each datagram that arrives meanwhile is handled
//! at once and restarts the window. Only when a whole window passes in
//! silence does the loop sleep again, so an idle server sleeps: the spin
//! only ever follows traffic. Because each try is a full zero-timeout
//! `poll`, shutdown (waker, SIGINT/SIGTERM) and WRITABLE for queued echoes
//! are seen within one try, exactly as when sleeping. Between tries the
//! thread calls [`std::thread::yield_now`]: any other runnable thread on the
//! server's core (the client, or anything else) gets the core at once
//! instead of waiting for the spin to end. The cost is a busy core for at
//! most one window after the last datagram. `--spin-us 0`
//! ([`Options::spin`] zero) is the plain readiness loop.
//!
//! What it buys, measured with `cargo xtask bench udp` on a 2-vCPU virtual
//! machine (one 64-byte datagram in flight): with client and server on
//! cores of their own, about 3× the datagrams/s of the plain loop (and of
//! the tokio baseline) at lower CPU time per datagram. When client and
//! server share one core, spinning cannot help (the client's wake-up is
//! what hands the core over either way) and costs a little: some 5 % fewer
//! datagrams/s and 15–20 % more CPU per datagram than `--spin-us 0`. Where
//! the server is known to share its core, turn the spin off.
//!
//! Go's scheduler makes the same trade in its own way: an idle worker thread
//! (a "spinning M", `findRunnable` in `runtime/proc.go`) first polls the
//! network poller without blocking (`netpoll(0)`) and tries to steal work
//! from the other processors' run queues before it parks; its spin is a
//! few bounded rounds of looking rather than a time window.
//!
//! # In-process use
//!
//! Tests of `udp-client` run a server inside the test process:
//!
//! ```
//! use std::net::UdpSocket;
//! use udp_server::{Options, Server};
//!
//! let server = Server::bind("127.0.0.1:0".parse().unwrap(), Options::quiet())
//!     .unwrap()
//!     .spawn()
//!     .unwrap();
//! let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
//! socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
//! socket.send_to(b"Hello server", server.local_addr()).unwrap();
//! let mut reply = [0; 64];
//! let (n, from) = socket.recv_from(&mut reply).unwrap();
//! assert_eq!((&reply[..n], from), (&b"Hello server"[..], server.local_addr()));
//!
//! let summary = server.stop().unwrap();
//! assert_eq!((summary.datagrams, summary.bytes, summary.dropped), (1, 12, 0));
//! ```

#[cfg(target_os = "linux")]
mod batch;
mod queue;

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::{debug, warn};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use proto::Escaped;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

pub use queue::SendQueue;

#[cfg(target_os = "linux")]
use batch::RecvBatch;
/// Elsewhere, one buffer and one `recv_from` per datagram.
#[cfg(not(target_os = "linux"))]
type RecvBatch = Vec<u8>;

/// Where the server listens unless `--addr` says otherwise.
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

/// The largest UDP payload over IPv4 is 65 507 bytes, over IPv6 (without
/// jumbograms) 65 527; 65 535 holds either. The Go server reads into 1024
/// bytes and `ReadFromUDP` silently discards the rest of a bigger datagram.
pub const RECV_BUFFER_LEN: usize = 65_535;

/// Microseconds [`Server::run`] keeps polling without sleeping after it has
/// handled a datagram (see [Spinning before sleeping](crate#spinning-before-sleeping)).
///
/// Chosen from `xtask bench-run udp` on the 2-vCPU development machine
/// (pinned, one 64-byte datagram in flight, ours / tokio): 10 µs is shorter
/// than the client's turnaround and gains little (1.4×); 20, 50 and 100 µs
/// all reach about 3× with less CPU per datagram than tokio, 20 µs still
/// sleeping now and then (91–95 % of a core busy). 50 µs leaves room for a
/// slower client while the busy tail after the last datagram stays
/// negligible.
pub const DEFAULT_SPIN_US: u64 = 50;

/// How many datagrams one readiness turn may handle before the loop polls
/// again. Under a flood the socket may never report `WouldBlock`; without a
/// budget the loop would never look at its shutdown and signal events.
const READ_BUDGET: usize = 256;

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
const SIGNALS: Token = Token(2);

/// How the server behaves; [`Options::default`] is what the binary uses
/// without flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// Don't print the Go server's per-datagram `data:… addr:… count:…`
    /// line (the summary is still returned). A benchmark wants this: the
    /// line costs a formatted write to stdout per datagram.
    pub quiet: bool,
    /// Most echoes kept while the kernel refuses sends (see [`SendQueue`]).
    pub queue_datagrams: usize,
    /// Most payload bytes kept while the kernel refuses sends.
    pub queue_bytes: usize,
    /// How long to keep polling without sleeping after handling a
    /// datagram, in case the next one follows at once; zero sleeps as soon
    /// as the socket is drained. See
    /// [Spinning before sleeping](crate#spinning-before-sleeping).
    pub spin: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            quiet: false,
            // Of the order of the kernel's own default UDP send buffer
            // (~208 KiB on Linux) times a few: enough to ride out a burst,
            // small enough that a flood costs at most 1 MiB.
            queue_datagrams: 1024,
            queue_bytes: 1024 * 1024,
            spin: Duration::from_micros(DEFAULT_SPIN_US),
        }
    }
}

impl Options {
    /// The defaults without per-datagram output: what tests and
    /// benchmarks want.
    pub fn quiet() -> Options {
        Options {
            quiet: true,
            ..Options::default()
        }
    }
}

/// What the server did, printed as its last line when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Datagrams received (zero-length ones included).
    pub datagrams: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Datagrams received but never echoed: the send queue was full, the
    /// send failed, or they were still queued when the server stopped.
    pub dropped: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "summary: datagrams={} bytes={} dropped={}",
            self.datagrams, self.bytes, self.dropped
        )
    }
}

/// A bound UDP echo server, not yet running.
pub struct Server {
    poll: Poll,
    socket: UdpSocket,
    local_addr: SocketAddr,
    waker: Arc<Waker>,
    signals: Option<Signals>,
    queue: SendQueue,
    spin: Duration,
    teaching_output: bool,
    summary: Summary,
    /// Echoes that failed for good (e.g. `EACCES` for a broadcast source);
    /// part of `summary.dropped` once the loop ends.
    send_failures: u64,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port: see [`Server::local_addr`]).
    /// This is the Go `net.ListenUDP`.
    pub fn bind(addr: SocketAddr, options: Options) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut socket = UdpSocket::bind(addr)?;
        let local_addr = socket.local_addr()?;
        // Edge-triggered: one event per "became readable", so each event
        // must be drained until `WouldBlock`. WRITABLE is added only while
        // echoes are queued, or every send would wake the loop for nothing.
        poll.registry()
            .register(&mut socket, SOCKET, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Server {
            poll,
            socket,
            local_addr,
            waker,
            signals: None,
            queue: SendQueue::new(options.queue_datagrams, options.queue_bytes),
            spin: options.spin,
            teaching_output: !options.quiet,
            summary: Summary::default(),
            send_failures: 0,
        })
    }

    /// The address actually bound, with the real port when 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Makes SIGINT and SIGTERM end [`Server::run`] cleanly.
    ///
    /// The signal handler only writes to a pipe that the loop polls like
    /// any socket, so the summary is printed by the loop itself, never from
    /// inside a signal handler. Only a binary should call this: it replaces
    /// the signals' default action for the whole process.
    pub fn stop_on_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// A handle that stops [`Server::run`] from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            waker: Arc::clone(&self.waker),
        }
    }

    /// Runs the server on a new thread: the in-process form tests use.
    pub fn spawn(self) -> io::Result<RunningServer> {
        let local_addr = self.local_addr;
        let shutdown = self.shutdown_handle();
        let thread = thread::Builder::new()
            .name(format!("udp-server {local_addr}"))
            .spawn(move || self.run())?;
        Ok(RunningServer {
            local_addr,
            shutdown,
            thread: Some(thread),
        })
    }

    /// The event loop: the Go `for { ReadFromUDP; Printf; WriteToUDP }`,
    /// until a shutdown signal or [`ShutdownHandle::shutdown`].
    ///
    /// Errors from one peer's datagram are logged and never end the loop;
    /// only a failing `poll` itself does.
    pub fn run(mut self) -> io::Result<Summary> {
        let mut events = Events::with_capacity(8);
        // Allocated once; every datagram is received into it and echoed
        // straight from it.
        #[cfg(target_os = "linux")]
        let mut receive_buffers = RecvBatch::new();
        #[cfg(not(target_os = "linux"))]
        let mut receive_buffers = vec![0; RECV_BUFFER_LEN];
        // Set when a turn ended on the read budget rather than on
        // `WouldBlock`: edge-triggered readiness will not announce the
        // datagrams still waiting, so the loop must come back by itself.
        let mut more_to_read = false;
        // While traffic lasts: when the loop may go back to sleeping. Each
        // handled datagram pushes it `self.spin` into the future.
        let mut spin_until: Option<Instant> = None;

        loop {
            let timeout = if more_to_read {
                Some(Duration::ZERO)
            } else if let Some(until) = spin_until {
                if Instant::now() < until {
                    // Let whatever else is runnable on this core (the
                    // client, say) run before looking again; with the core
                    // to ourselves this returns at once.
                    thread::yield_now();
                    Some(Duration::ZERO)
                } else {
                    // A whole window without a datagram: sleep.
                    spin_until = None;
                    None
                }
            } else {
                None
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                // A signal arrived during `epoll_wait`; its pipe event
                // will be seen on the next poll.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }

            for event in events.iter() {
                match event.token() {
                    SOCKET => {
                        if event.is_writable() {
                            self.on_writable()?;
                        }
                        // An error event too: reading is what collects
                        // (and clears) a socket's pending error.
                        if event.is_readable() || event.is_error() {
                            more_to_read = true;
                        }
                    }
                    WAKER => return Ok(self.finish()),
                    SIGNALS => {
                        if let Some(signals) = &mut self.signals {
                            for signal in signals.pending() {
                                debug!("signal {signal}: stopping");
                            }
                        }
                        return Ok(self.finish());
                    }
                    token => warn!("event for unknown token {token:?}"),
                }
            }

            if more_to_read {
                let before = self.summary.datagrams;
                more_to_read = self.on_readable(&mut receive_buffers)?;
                if self.summary.datagrams != before && !self.spin.is_zero() {
                    spin_until = Instant::now().checked_add(self.spin);
                }
            }
        }
    }

    /// Receives and echoes up to [`READ_BUDGET`] datagrams, a batch per
    /// system call; returns whether the budget ran out before the socket
    /// was drained (more may be waiting).
    #[cfg(target_os = "linux")]
    fn on_readable(&mut self, batch: &mut RecvBatch) -> io::Result<bool> {
        for _ in 0..READ_BUDGET.div_ceil(batch::BATCH) {
            match batch.recv(&self.socket) {
                Ok(received) => {
                    for i in 0..received {
                        if let Some((payload, peer)) = batch.datagram(i) {
                            self.on_datagram(payload, peer)?;
                        }
                    }
                    // A short batch: the receive queue is empty, and
                    // edge-triggered epoll will report the next datagram.
                    // No need for one more call just to hear `WouldBlock`.
                    if received < batch::BATCH {
                        return Ok(false);
                    }
                }
                // "Would block" is how the OS says the receive queue is
                // empty: wait for the next readiness event.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                // A signal interrupted the call before anything was read.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // A pending socket error, e.g. an ICMP error about an
                // earlier send on systems that report them. It concerns
                // one peer's past datagram and reading it clears it: log it
                // and keep serving.
                Err(err) => warn!("receive failed (a peer's earlier error?): {err}"),
            }
        }
        Ok(true)
    }

    /// The same as the Linux version, one `recv_from` per datagram, for
    /// systems without `recvmmsg`.
    #[cfg(not(target_os = "linux"))]
    fn on_readable(&mut self, buf: &mut RecvBatch) -> io::Result<bool> {
        for _ in 0..READ_BUDGET {
            match self.socket.recv_from(buf) {
                Ok((len, peer)) => self.on_datagram(&buf[..len], peer)?,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // E.g. Windows reports an ICMP port unreachable about an
                // earlier echo as ECONNRESET here: one peer's problem.
                Err(err) => warn!("receive failed (a peer's earlier error?): {err}"),
            }
        }
        Ok(true)
    }

    /// One datagram: count it, print the Go line unless quiet, echo it.
    fn on_datagram(&mut self, payload: &[u8], peer: SocketAddr) -> io::Result<()> {
        self.summary.datagrams += 1;
        self.summary.bytes += payload.len() as u64;
        if self.teaching_output {
            self.print_datagram(payload, peer);
        }
        self.echo(payload, peer)
    }

    /// The Go `WriteToUDP(data[:n], addr)`, except that a full send buffer
    /// queues the echo instead of blocking every other peer.
    fn echo(&mut self, payload: &[u8], peer: SocketAddr) -> io::Result<()> {
        if !self.queue.is_empty() {
            // Older echoes are waiting for WRITABLE: go behind them, so
            // one peer's replies keep their order.
            return self.enqueue(payload, peer);
        }
        loop {
            return match self.socket.send_to(payload, peer) {
                // A UDP send takes the whole datagram or fails: there is
                // no short write to finish later.
                Ok(_) => Ok(()),
                // The socket's send buffer is full: keep the echo until
                // the socket says it is writable again.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.enqueue(payload, peer),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                // This peer cannot be answered (ICMP port unreachable
                // surfacing as ECONNREFUSED, EACCES for a broadcast
                // source, EMSGSIZE…). That is about this one datagram:
                // the Go server also just logs and carries on.
                Err(err) => {
                    self.send_failures += 1;
                    warn!("echo to {peer} failed, datagram dropped: {err}");
                    Ok(())
                }
            };
        }
    }

    fn enqueue(&mut self, payload: &[u8], peer: SocketAddr) -> io::Result<()> {
        let was_empty = self.queue.is_empty();
        if !self.queue.push(peer, payload) {
            warn!(
                "send queue full ({} echoes, {} bytes): echo of {} bytes to {peer} dropped",
                self.queue.len(),
                self.queue.queued_bytes(),
                payload.len()
            );
        } else if was_empty {
            set_interest(
                self.poll.registry(),
                &mut self.socket,
                Interest::READABLE | Interest::WRITABLE,
            )?;
        }
        Ok(())
    }

    /// Sends queued echoes until the queue is empty or the kernel refuses
    /// again; drops WRITABLE interest once nothing is left.
    fn on_writable(&mut self) -> io::Result<()> {
        while let Some((peer, payload)) = self.queue.front() {
            match self.socket.send_to(payload, peer) {
                Ok(_) => {}
                // Still full: the next WRITABLE event resumes here.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    self.send_failures += 1;
                    warn!("queued echo to {peer} failed, datagram dropped: {err}");
                }
            }
            self.queue.pop_front();
        }
        set_interest(self.poll.registry(), &mut self.socket, Interest::READABLE)
    }

    /// The Go `fmt.Printf("data:%v addr:%v count:%v\n", …)`, escaped.
    fn print_datagram(&mut self, payload: &[u8], peer: SocketAddr) {
        let line = writeln!(
            io::stdout(),
            "data:{} addr:{peer} count:{}",
            Escaped(payload),
            payload.len()
        );
        if let Err(err) = line {
            // Nobody reads our stdout any more (a closed pipe): keep
            // echoing, which is the server's job, without the narration.
            warn!("cannot print to stdout ({err}); per-datagram output turned off");
            self.teaching_output = false;
        }
    }

    /// Gives queued echoes one last chance, then totals the figures.
    fn finish(mut self) -> Summary {
        if !self.queue.is_empty() {
            if let Err(err) = self.on_writable() {
                warn!("flushing queued echoes at shutdown: {err}");
            }
        }
        self.summary.dropped = self.queue.dropped() + self.send_failures + self.queue.len() as u64;
        self.summary
    }
}

/// Re-registers the socket for `interest`: one `epoll_ctl` syscall, which is
/// why it happens only when the queue turns empty or non-empty.
fn set_interest(registry: &Registry, socket: &mut UdpSocket, interest: Interest) -> io::Result<()> {
    registry.reregister(socket, SOCKET, interest)
}

/// Stops a running [`Server`] from any thread, through a mio [`Waker`]: the
/// loop wakes from `poll` at once and returns its [`Summary`].
#[derive(Clone)]
pub struct ShutdownHandle {
    waker: Arc<Waker>,
}

impl ShutdownHandle {
    /// Asks the loop to stop; returns immediately.
    pub fn shutdown(&self) -> io::Result<()> {
        self.waker.wake()
    }
}

/// A [`Server`] running on its own thread; stopped and joined on drop.
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: ShutdownHandle,
    thread: Option<JoinHandle<io::Result<Summary>>>,
}

impl RunningServer {
    /// The address the server answers on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the loop and returns what it did.
    pub fn stop(mut self) -> io::Result<Summary> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<Summary> {
        let Some(thread) = self.thread.take() else {
            return Ok(Summary::default());
        };
        self.shutdown.shutdown()?;
        thread
            .join()
            .map_err(|_| io::Error::other("udp-server thread panicked"))?
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Err(err) = self.stop_and_join() {
            warn!("stopping in-process udp-server: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket as StdUdpSocket;

    fn client() -> StdUdpSocket {
        let socket = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket
    }

    fn start() -> RunningServer {
        Server::bind("127.0.0.1:0".parse().unwrap(), Options::quiet())
            .unwrap()
            .spawn()
            .unwrap()
    }

    #[test]
    fn shutdown_handle_stops_an_idle_server_with_an_empty_summary() {
        let server = start();
        assert_ne!(server.local_addr().port(), 0);
        assert_eq!(server.stop().unwrap(), Summary::default());
    }

    #[test]
    fn summary_counts_datagrams_and_bytes_including_empty_ones() {
        let server = start();
        let socket = client();
        let mut buf = [0; 16];
        for payload in [&b"abc"[..], b"", b"defgh"] {
            socket.send_to(payload, server.local_addr()).unwrap();
            let (n, _) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], payload);
        }
        let summary = server.stop().unwrap();
        assert_eq!(
            summary,
            Summary {
                datagrams: 3,
                bytes: 8,
                dropped: 0
            }
        );
        assert_eq!(
            summary.to_string(),
            "summary: datagrams=3 bytes=8 dropped=0"
        );
    }

    /// On loopback a UDP send practically never reports `WouldBlock` (the
    /// kernel hands the datagram straight to the receiver), so these tests
    /// queue echoes the way `echo` does when it does, then let the loop run.
    #[test]
    fn queued_echoes_are_sent_when_the_socket_reports_writable_and_reading_goes_on() {
        let socket = client();
        let peer = socket.local_addr().unwrap();
        let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), Options::quiet()).unwrap();
        server.enqueue(b"queued one", peer).unwrap();
        server.enqueue(b"", peer).unwrap();
        let server = server.spawn().unwrap();

        let mut buf = [0; 64];
        for expected in [&b"queued one"[..], b""] {
            let (n, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (expected, server.local_addr()));
        }
        // With the queue drained the socket is back on READABLE only, and
        // still echoing.
        socket.send_to(b"after", server.local_addr()).unwrap();
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"after");
        assert_eq!(server.stop().unwrap().dropped, 0);
    }

    #[test]
    fn an_echo_refused_by_a_full_queue_is_counted_as_dropped() {
        let socket = client();
        let peer = socket.local_addr().unwrap();
        let options = Options {
            queue_datagrams: 1,
            ..Options::quiet()
        };
        let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), options).unwrap();
        server.enqueue(b"kept", peer).unwrap();
        server.enqueue(b"refused", peer).unwrap();
        let server = server.spawn().unwrap();

        let mut buf = [0; 64];
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"kept");
        // The loop is still serving after the drop.
        socket.send_to(b"next", server.local_addr()).unwrap();
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"next");
        assert_eq!(server.stop().unwrap().dropped, 1);
    }

    /// A send the kernel rejects for one peer (here an IPv6 destination on
    /// an IPv4 socket, the in-process stand-in for e.g. ECONNREFUSED from an
    /// ICMP error) is logged and counted, and the next peer is served.
    #[test]
    fn a_failed_send_to_one_peer_is_counted_and_the_server_keeps_serving() {
        let unreachable: SocketAddr = "[::1]:9".parse().unwrap();
        let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), Options::quiet()).unwrap();
        // Directly, as `on_datagram` sends an echo…
        server.echo(b"lost", unreachable).unwrap();
        // …and from the queue, as `on_writable` sends a delayed one.
        server.enqueue(b"lost too", unreachable).unwrap();
        let server = server.spawn().unwrap();

        let socket = client();
        socket.send_to(b"served", server.local_addr()).unwrap();
        let mut buf = [0; 64];
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"served");
        assert_eq!(server.stop().unwrap().dropped, 2);
    }

    /// Longer than any test: once it has echoed a datagram, a server with
    /// this spin never sleeps in `poll` again unless the spin is bounded by
    /// its window, so whatever it does next it does while spinning.
    const AN_HOUR: Duration = Duration::from_secs(3600);

    fn start_spinning(spin: Duration) -> RunningServer {
        let options = Options {
            spin,
            ..Options::quiet()
        };
        Server::bind("127.0.0.1:0".parse().unwrap(), options)
            .unwrap()
            .spawn()
            .unwrap()
    }

    /// Stops `server` from another thread and fails the test if that has
    /// not finished by the deadline: a spin that ignored the waker would
    /// otherwise hang the test for the rest of the window.
    fn stop_within_deadline(server: RunningServer) -> Summary {
        let (done, finished) = std::sync::mpsc::channel();
        thread::spawn(move || done.send(server.stop().unwrap()));
        finished
            .recv_timeout(Duration::from_secs(30))
            .expect("the server stops while spinning")
    }

    #[test]
    fn datagrams_sent_back_to_back_during_the_spin_window_are_all_echoed() {
        let server = start_spinning(AN_HOUR);
        let socket = client();
        let mut buf = [0; 64];
        let mut bytes = 0;
        // Each datagram goes out as soon as the previous echo is in: after
        // the first, every one arrives while the server spins.
        for round in 0..2000 {
            let payload = format!("round {round}");
            bytes += payload.len() as u64;
            socket
                .send_to(payload.as_bytes(), server.local_addr())
                .unwrap();
            let (n, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (payload.as_bytes(), server.local_addr()));
        }
        let summary = stop_within_deadline(server);
        assert_eq!(
            summary,
            Summary {
                datagrams: 2000,
                bytes,
                dropped: 0
            }
        );
    }

    #[test]
    fn shutdown_handle_stops_a_server_in_the_middle_of_its_spin() {
        let server = start_spinning(AN_HOUR);
        let socket = client();
        socket
            .send_to(b"start spinning", server.local_addr())
            .unwrap();
        let mut buf = [0; 64];
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"start spinning");
        assert_eq!(stop_within_deadline(server).datagrams, 1);
    }

    #[test]
    fn spin_zero_is_the_plain_readiness_loop_and_still_echoes() {
        let server = start_spinning(Duration::ZERO);
        let socket = client();
        let mut buf = [0; 64];
        for payload in [&b"one"[..], b"", b"three"] {
            socket.send_to(payload, server.local_addr()).unwrap();
            let (n, _) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], payload);
        }
        assert_eq!(stop_within_deadline(server).datagrams, 3);
    }

    /// The scheduler state of thread `tid` of this process: `R` while it
    /// runs or spins (a `yield_now` leaves it runnable), `S` while it
    /// sleeps in `epoll_wait`.
    #[cfg(target_os = "linux")]
    fn thread_state(tid: libc::pid_t) -> char {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        // `pid (comm) state …`: comm may hold spaces and parentheses, the
        // state follows the last `)`.
        let after_comm = &stat[stat.rfind(')').unwrap() + 1..];
        after_comm.trim_start().chars().next().unwrap()
    }

    /// A spinning thread is never in `S`: reaching it proves the loop left
    /// the spin and went back to sleeping in `poll`.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_server_sleeps_again_once_a_spin_window_passes_without_datagrams() {
        let options = Options {
            spin: Duration::from_millis(20),
            ..Options::quiet()
        };
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), options).unwrap();
        let addr = server.local_addr();
        let shutdown = server.shutdown_handle();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let thread = thread::spawn(move || {
            // SAFETY: gettid(2) has no preconditions.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            server.run()
        });
        let tid = tid_rx.recv_timeout(Duration::from_secs(30)).unwrap();

        let socket = client();
        let mut buf = [0; 64];
        for _ in 0..3 {
            socket.send_to(b"traffic", addr).unwrap();
            let (n, _) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"traffic");
            let deadline = Instant::now() + Duration::from_secs(30);
            while thread_state(tid) != 'S' {
                assert!(Instant::now() < deadline, "the server never slept again");
                // Retry pacing, not synchronisation: the state is re-read.
                thread::sleep(Duration::from_millis(1));
            }
        }
        shutdown.shutdown().unwrap();
        assert_eq!(thread.join().unwrap().unwrap().datagrams, 3);
    }

    #[test]
    fn dropping_the_running_server_stops_its_thread() {
        let server = start();
        let addr = server.local_addr();
        drop(server);
        // The socket is closed once the thread has ended, so the port can
        // be bound again.
        StdUdpSocket::bind(addr).unwrap();
    }
}
