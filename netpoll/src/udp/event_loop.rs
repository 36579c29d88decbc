//! The loop itself: the Go `net.ListenUDP` ([`start`](crate::Server::start))
//! and its `for { ReadFromUDP; Printf; WriteToUDP }`, on mio readiness.
//! [`EventLoop::run`] reads top to bottom: wait (or spin), dispatch the
//! events, receive until the socket is drained, hand each datagram to the
//! handler; then how the send queue is flushed and how the loop stops.
//! How it waits is every loop's (`crate::poller`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use log::{debug, warn};
use mio::net::UdpSocket;
use mio::{Events, Interest, Token, Waker};

use super::batch::{self, RecvBatch};
use super::handler::{Sent, more_dropped, send_datagram};
use super::server::{Options, Server, Udp};
use super::{Handler, SendQueue, Socket, Stats};
use crate::os::{interrupted, would_block};
use crate::poller::{self, Asked, Poller};
use crate::spin::Window;
use crate::stop::{SIGNAL_TARGET, StopRequest};
use crate::trace::Trace;
use crate::{RateLimitedLog, ServerHandle};

/// The server's one socket, at the top of the token range like the TCP
/// loop's listener; the loop's own sources (waker, signals) sit just below
/// (see `stop.rs`).
const SOCKET: Token = Token(usize::MAX);

/// The name of the loop's thread, as a debugger or `/proc` shows it; TCP's
/// loops are `tcp-loop-N`.
const THREAD_NAME: &str = "udp-loop";

/// The largest UDP payload over IPv4 is 65 507 bytes, over IPv6 (without
/// jumbograms) 65 527; 65 535 holds either. The Go server reads into 1024
/// bytes and `ReadFromUDP` silently discards the rest of a bigger datagram.
pub const RECV_BUFFER_LEN: usize = 65_535;

/// How many datagrams one readiness turn may handle before the loop polls
/// again. Under a flood the socket may never report `WouldBlock`; without a
/// budget the loop would never look at its stop and signal events.
const READ_BUDGET: usize = 256;

impl<H> Server<H>
where
    H: Handler + Send + 'static,
{
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
        let crate::Server {
            protocol: Udp { handler, options },
            loop_options,
        } = self;
        let stop = Arc::new(StopRequest::default());
        let (poller, waker) = Poller::new(&loop_options, Arc::clone(&stop), (0, 1), "datagram")?;
        let mut socket = UdpSocket::bind(addr)?;
        let local_addr = socket.local_addr()?;
        // READABLE only: WRITABLE is added while datagrams are queued (see
        // `EventLoop::want_writable`).
        poller
            .registry()
            .register(&mut socket, SOCKET, Interest::READABLE)?;
        let handle = ServerHandle::new(local_addr, stop);
        let event_loop = EventLoop::new(poller, socket, handler, &options);
        Ok((event_loop, waker, handle))
    }
}

impl<H: Handler> EventLoop<H> {
    /// Runs until a signal or [`ServerHandle::shutdown`](crate::ServerHandle::shutdown),
    /// then returns what it did.
    ///
    /// Errors from one peer's datagram are logged and never end the loop;
    /// only a failing `poll` (or `epoll_ctl`) itself does.
    pub(super) fn run(mut self) -> io::Result<Stats> {
        let mut events = Events::with_capacity(8);
        // Allocated once, on this thread; every datagram is received into
        // it and handed to the handler straight from it.
        let mut receive_buffers = RecvBatch::new();
        // Set when a turn ended on the read budget rather than on a drained
        // socket: edge-triggered readiness will not announce the datagrams
        // still waiting, so the loop must come back by itself.
        let mut more_to_read = false;

        loop {
            // Sleep until something happens, unless there is more to read
            // or traffic was so recent that the next datagram is likely to
            // follow at once (see `crate::spin`).
            self.poller.wait(&mut events, more_to_read, || None)?;
            for event in events.iter() {
                match event.token() {
                    SOCKET => {
                        if event.is_writable() {
                            self.on_writable();
                        }
                        // An error event too: reading is what collects (and
                        // clears) a socket's pending error.
                        if event.is_readable() || event.is_error() {
                            more_to_read = true;
                        }
                    }
                    token if poller::is_own(token) => match self.poller.asked(token) {
                        Asked::Stop => return Ok(self.finish()),
                        Asked::Signals(signals) => {
                            for signal in signals {
                                debug!(target: SIGNAL_TARGET, "signal {signal}: stopping");
                            }
                            return Ok(self.finish());
                        }
                        Asked::Look => {}
                    },
                    // Cannot happen (three tokens are registered).
                    token => warn!("event for unknown token {token:?}"),
                }
            }

            if more_to_read {
                let before = self.stats.datagrams;
                more_to_read = self.on_readable(&mut receive_buffers);
                if self.stats.datagrams != before {
                    self.poller.after_turn(Window::Open, true);
                }
            }
            self.want_writable(!self.queue.is_empty())?;
        }
    }

    /// Receives and handles up to [`READ_BUDGET`] datagrams, a batch per
    /// system call (`recvmmsg` on Linux, `batch.rs`; one `recv_from`
    /// elsewhere, `batch_fallback.rs`); returns whether the budget ran out
    /// before the socket was drained (more may be waiting).
    fn on_readable(&mut self, batch: &mut RecvBatch) -> bool {
        for _ in 0..READ_BUDGET.div_ceil(batch::BATCH) {
            match batch.recv(&self.socket) {
                Ok(received) => {
                    if let Some(trace) = &self.trace {
                        trace.event(format_args!(
                            "received a batch of {received} datagrams (one {} call)",
                            batch::CALL
                        ));
                    }
                    for i in 0..received {
                        if let Some((payload, peer)) = batch.datagram(i) {
                            self.on_datagram(payload, peer);
                        }
                    }
                    // A short batch: the receive queue is empty, and
                    // edge-triggered epoll will report the next datagram.
                    // No need for one more call just to hear `WouldBlock`.
                    if received < batch::BATCH {
                        return false;
                    }
                }
                // "Would block" is how the OS says the receive queue is
                // empty: wait for the next readiness event.
                Err(err) if would_block(&err) => {
                    if let Some(trace) = &self.trace {
                        trace.event(format_args!("would block: receive queue drained"));
                    }
                    return false;
                }
                // A signal interrupted the call before anything was read.
                Err(err) if interrupted(&err) => {}
                // A pending socket error, e.g. an ICMP error about an
                // earlier send on systems that report them (Windows reports
                // an ICMP port unreachable as ECONNRESET here). It concerns
                // one peer's past datagram and reading it clears it: log it
                // and keep serving. Rate limited: forged senders can cause
                // one per datagram.
                Err(err) => {
                    if let Some(suppressed) = self.receive_log.ready(Instant::now()) {
                        warn!(
                            "receive failed (a peer's earlier error?): {err}{}",
                            more_errors(suppressed)
                        );
                    }
                }
            }
        }
        true
    }

    /// One datagram: count it and hand it to the handler.
    fn on_datagram(&mut self, payload: &[u8], peer: SocketAddr) {
        self.stats.datagrams += 1;
        self.stats.bytes_read += payload.len() as u64;
        let trace = self.trace;
        let written_before = self.stats.bytes_written;
        let queued_before = self.queue.len();
        if let Some(trace) = &trace {
            trace.peer(peer, format_args!("datagram of {} bytes", payload.len()));
        }
        let (handler, mut socket) = self.handler_and_socket();
        handler.on_datagram(&mut socket, payload, peer);
        if let Some(trace) = &trace {
            let sent = self.stats.bytes_written - written_before;
            let queued = self.queue.len().saturating_sub(queued_before);
            if sent > 0 {
                trace.peer(peer, format_args!("sent {sent} bytes"));
            }
            if queued > 0 {
                trace.peer(
                    peer,
                    format_args!(
                        "socket full: {queued} datagrams queued, {} in the queue",
                        self.queue.len()
                    ),
                );
            }
        }
    }
}

/// One UDP server's loop: its socket, its handler, and the state that
/// outlives a turn.
pub(super) struct EventLoop<H> {
    /// How the loop waits (every loop's way).
    poller: Poller,
    pub(super) socket: UdpSocket,
    handler: H,
    /// Datagrams the kernel could not take yet, oldest first.
    pub(super) queue: SendQueue,
    /// Whether the socket is registered for WRITABLE as well as READABLE.
    writable: bool,
    stats: Stats,
    /// `--trace`: `Some` writes a line per loop event (see `trace.rs`).
    trace: Option<Trace>,
    /// Lines about datagrams not sent, and about failed receives: rate
    /// limited, since a peer can cause one per datagram.
    send_log: RateLimitedLog,
    receive_log: RateLimitedLog,
}

impl<H> EventLoop<H> {
    /// The loop of a socket already registered for READABLE under [`SOCKET`].
    fn new(poller: Poller, socket: UdpSocket, handler: H, options: &Options) -> Self {
        EventLoop {
            trace: poller.trace(),
            poller,
            socket,
            handler,
            queue: SendQueue::new(options.queue_datagrams, options.queue_bytes),
            writable: false,
            stats: Stats::default(),
            send_log: RateLimitedLog::default(),
            receive_log: RateLimitedLog::default(),
        }
    }

    /// The handler, and its view of the socket: the send queue and the
    /// counters it shares with the loop, borrowed field by field so that
    /// both can be used at once.
    pub(super) fn handler_and_socket(&mut self) -> (&mut H, Socket<'_>) {
        let socket = Socket {
            socket: &self.socket,
            queue: &mut self.queue,
            stats: &mut self.stats,
            send_log: &mut self.send_log,
        };
        (&mut self.handler, socket)
    }

    /// Sends queued datagrams until the queue is empty or the kernel
    /// refuses again; the next WRITABLE event resumes there.
    fn on_writable(&mut self) {
        while let Some((peer, payload)) = self.queue.front() {
            match send_datagram(&self.socket, payload, peer) {
                Sent::Whole => {
                    if let Some(trace) = &self.trace {
                        trace.peer(peer, format_args!("sent {} queued bytes", payload.len()));
                    }
                    self.stats.bytes_written += payload.len() as u64
                }
                Sent::NotNow => return,
                Sent::Failed(err) => {
                    self.stats.dropped += 1;
                    // Queued and rate limited, as a fresh send's line is.
                    if let Some(suppressed) = self.send_log.ready(Instant::now()) {
                        warn!(
                            "queued send to {peer} failed, datagram dropped: {err}{}",
                            more_dropped(suppressed)
                        );
                    }
                }
            }
            self.queue.pop_front();
        }
    }

    /// Registers the socket for WRITABLE while datagrams are queued, and
    /// for READABLE only otherwise.
    ///
    /// The TCP loop registers WRITABLE once per connection and never
    /// changes it, because each change is an `epoll_ctl` system call, paid
    /// when the server is busiest. Here the trade goes the other way: a UDP
    /// socket is writable almost always (its send buffer empties as fast as
    /// the interface sends, with no acknowledgement to wait for as TCP's
    /// data has), and the kernel reports it writable again each time a sent
    /// datagram leaves the buffer, so an always-registered WRITABLE would
    /// wake the loop after every send, for nothing. Re-registering reports
    /// the current state, so a socket that became writable in between
    /// still raises its event.
    pub(super) fn want_writable(&mut self, writable: bool) -> io::Result<()> {
        if writable == self.writable {
            return Ok(());
        }
        let interest = if writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.poller
            .registry()
            .reregister(&mut self.socket, SOCKET, interest)?;
        self.writable = writable;
        Ok(())
    }

    /// Gives queued datagrams one last chance, then totals the figures.
    fn finish(mut self) -> Stats {
        self.on_writable();
        self.stats.dropped += self.queue.dropped() + self.queue.len() as u64;
        self.stats
    }
}

/// What a rate-limited line about a failed receive adds: how many such
/// lines were held back since the last.
fn more_errors(suppressed: u64) -> String {
    match suppressed {
        0 => String::new(),
        n => format!(" ({n} more such errors since the last line)"),
    }
}
