//! New connections: accept until the listener's queue is empty, refuse
//! what is over `max_conns`, and back off when the process is out of file
//! descriptors instead of spinning on the error.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::{Interest, Token};

use super::Handler;
use super::event_loop::EventLoop;
use super::io::{Client, ClientSocket};
use crate::os::{interrupted, is_per_connection_accept_error, would_block};

/// How long accepting pauses after `EMFILE`/`ENFILE`: long enough not to
/// spin on a full descriptor table, short enough that queued clients barely
/// notice. Closing any connection ends the pause early.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// What a connection is registered for. PRIORITY (Linux's EPOLLPRI) reports
/// urgent data: a read stops short at its mark, so from then on a short
/// read of that connection no longer proves its receive queue empty (see
/// `ClientSocket::urgent`).
#[cfg(any(target_os = "linux", target_os = "android"))]
const CONNECTION_INTEREST: Interest = Interest::READABLE
    .add(Interest::WRITABLE)
    .add(Interest::PRIORITY);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const CONNECTION_INTEREST: Interest = Interest::READABLE.add(Interest::WRITABLE);

impl<H, F> EventLoop<H, F>
where
    F: Fn(SocketAddr) -> H,
    H: Handler,
{
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
    /// (The UDP loop toggles it, for the opposite reason: one socket serves
    /// every peer, and a UDP socket is almost always writable, so an
    /// always-registered WRITABLE would fire after every send.)
    pub(super) fn accept(&mut self) {
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
                    // At most once a second.
                    if let Some(suppressed) = self.accept_error_log.ready(now) {
                        log::error!(
                            "accept failed: {e}; pausing accepts for {ACCEPT_PAUSE:?} \
                             ({suppressed} similar errors not logged; raise `ulimit -n` \
                             or lower --max-conns)"
                        );
                    }
                    if let Some(trace) = &self.trace {
                        trace.event(format_args!(
                            "accept failed: {e}: pause accepting for {ACCEPT_PAUSE:?}"
                        ));
                    }
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                    return;
                }
            };

            // Admission takes a slot in one atomic step: with several loops,
            // a check now and an increment later would let two loops both
            // see the last free slot and both take it.
            let max_conns = self.opts.max_conns;
            let admitted =
                self.live_conns
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                        (open < max_conns).then_some(open + 1)
                    });
            if let Err(open) = admitted {
                self.stats.refused += 1;
                if let Some(trace) = &self.trace {
                    trace.event(format_args!(
                        "refuse {peer}: {open} connections open, --max-conns {max_conns}"
                    ));
                }
                // At most once a second: a crowd of clients cannot flood
                // stderr.
                if let Some(suppressed) = self.refused_log.ready(Instant::now()) {
                    log::warn!(
                        "refusing {peer}: {open} connections open, the limit is --max-conns \
                         {max_conns} ({suppressed} more refused since the last message)"
                    );
                }
                // Dropping the accepted socket closes it: the client reads EOF.
                continue;
            }

            // At most one line each per accepted connection, which
            // `max_conns` and the accept rate bound.
            if self.opts.nodelay {
                if let Err(e) = stream.set_nodelay(true) {
                    log::debug!("{peer}: cannot set TCP_NODELAY: {e}");
                }
            }
            // Urgent data (MSG_OOB) stays in the stream, so its byte is
            // echoed like any other instead of being set aside by the kernel.
            if let Err(e) = socket2::SockRef::from(&stream).set_out_of_band_inline(true) {
                log::debug!("{peer}: cannot set SO_OOBINLINE: {e}");
            }
            let entry = self.clients.vacant_entry();
            let token = Token(entry.key());
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, token, CONNECTION_INTEREST)
            {
                log::warn!("{peer}: cannot register the connection, closing it: {e}");
                self.live_conns.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            self.stats.connections += 1;
            if let Some(trace) = &self.trace {
                trace.event(format_args!("accept {peer} → token {}", token.0));
            }
            log::debug!("{peer}: connected");
            entry.insert(Client {
                socket: ClientSocket::new(stream, peer, self.now_ms),
                handler: (self.factory)(peer),
            });
        }
    }
}
