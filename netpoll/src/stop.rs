//! How a loop learns that it must stop: from its [`ServerHandle`], through a
//! mio [`Waker`], or from the user's Ctrl-C, through a socket-like source
//! that the loop polls like any socket. Both loops, TCP and UDP, use these
//! same two sources with the same tokens.
//!
//! A signal handler may do almost nothing safely; printing the summary or
//! flushing output from inside one is out of the question. So the handler
//! only makes the loop's [`SIGNALS`] source readable, and the loop, woken by
//! it as by any socket, does the stopping itself, with all its state at hand.
//! How the handler reaches the loop is the one thing that differs by
//! platform, and [`StopSignals`] hides it:
//!
//! - **Unix** (Linux, macOS, the BSDs): SIGINT and SIGTERM, through
//!   signal-hook's self-pipe (`signal-hook-mio`), as a daemon manager or a
//!   terminal sends them.
//! - **Windows**: the console control handler: Ctrl-C, Ctrl-Break and the
//!   console window closing. The `ctrlc` crate (its `termination` feature
//!   is the Unix half, which we do not use) installs it with
//!   `SetConsoleCtrlHandler` and runs our function on its own thread, not in
//!   the handler's context; we chose it because it is small, widely used,
//!   and that is all it does. Windows has no pipe that its readiness API
//!   (AFD, under mio) can poll, so the "self-pipe" is a pair of loopback UDP
//!   sockets connected to each other, the same trick Python's asyncio uses:
//!   the handler sends a byte, the loop's socket becomes readable. Being
//!   connected, the loop's socket accepts datagrams from its partner only.
//!   When the console *closes*, Windows ends the process as soon as the
//!   handler returns, so there the summary may not be seen (nor is there a
//!   window left to show it in).
//!
//! A second Ctrl-C (or signal) is delivered the same way, which is how the
//! TCP loop learns to stop waiting for pending output.
//!
//! What a loop says in answer to a signal is logged under
//! [`SIGNAL_TARGET`], so that a program's logger can start it on a line of
//! its own, below the `^C` the terminal echoed.
//!
//! [`ServerHandle`]: crate::ServerHandle

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::{Registry, Token, Waker};

#[cfg(unix)]
pub(crate) use unix::StopSignals;
#[cfg(windows)]
pub(crate) use windows::StopSignals;

// The loop's own sources take the top of the token range: a TCP loop keys
// its connections from 0 upwards (slab keys), which never get there.
/// The loop's [`Waker`], woken by [`ServerHandle::shutdown`](crate::ServerHandle::shutdown).
pub(crate) const WAKER: Token = Token(usize::MAX - 1);
/// The self-pipe of [`StopSignals`].
pub(crate) const SIGNALS: Token = Token(usize::MAX - 2);

/// The `log` target of what a loop says in answer to SIGINT/SIGTERM: "waiting
/// up to 5 s for 2 connections…", "signal 2 again: stopping now…". On a
/// terminal these follow the `^C` the terminal echoed where the cursor was.
pub const SIGNAL_TARGET: &str = "netpoll::signal";

/// The request to stop, shared by a server's handle and its loops. The waker
/// only says "look"; the flag says what was meant, so a wake-up for another
/// reason can never be mistaken for a stop.
#[derive(Default)]
pub(crate) struct StopRequest(AtomicBool);

impl StopRequest {
    pub(crate) fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A loop's own [`Waker`], registered under [`WAKER`].
pub(crate) fn waker(registry: &Registry) -> io::Result<Arc<Waker>> {
    Waker::new(registry, WAKER).map(Arc::new)
}

/// SIGINT and SIGTERM, delivered to a loop as readiness of [`SIGNALS`].
///
/// Only a binary asks for them (`handle_signals(true)` on either server):
/// they replace the signals' default action for the whole process, which a
/// library used inside tests must not do behind their back.
#[cfg(unix)]
mod unix {
    use std::io;

    use mio::{Interest, Registry};
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook_mio::v1_0::Signals;

    use super::SIGNALS;

    pub(crate) struct StopSignals(Signals);

    impl StopSignals {
        /// Installs the handlers and registers their pipe with the loop.
        pub(crate) fn register(registry: &Registry) -> io::Result<StopSignals> {
            let mut signals = Signals::new([SIGINT, SIGTERM])?;
            registry.register(&mut signals, SIGNALS, Interest::READABLE)?;
            Ok(StopSignals(signals))
        }

        /// The signals received since the last call, oldest first.
        pub(crate) fn received(&mut self) -> Vec<i32> {
            self.0.pending().collect()
        }
    }
}

/// Ctrl-C, Ctrl-Break and the console closing, delivered to a loop as
/// readiness of [`SIGNALS`] (see the module doc for the socket pair).
#[cfg(windows)]
mod windows {
    use std::io;
    use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
    use std::sync::{Mutex, MutexGuard, OnceLock};

    use mio::{Interest, Registry};

    use super::SIGNALS;
    use crate::os::{interrupted, would_block};

    /// What a loop's `received` reports for one console event: the number
    /// the C runtime gives Ctrl-C, so log lines read as on Unix. (`ctrlc`
    /// does not say which of the console events it was.)
    const CONSOLE_EVENT: i32 = 2;

    pub(crate) struct StopSignals {
        /// The loop's end of the pair, registered under [`SIGNALS`].
        socket: mio::net::UdpSocket,
    }

    impl StopSignals {
        /// Installs the console handler (once per process) and gives this
        /// loop a socket pair that the handler writes to.
        pub(crate) fn register(registry: &Registry) -> io::Result<StopSignals> {
            install_handler()?;
            let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            let receiver = UdpSocket::bind(loopback)?;
            let sender = UdpSocket::bind(loopback)?;
            receiver.connect(sender.local_addr()?)?;
            sender.connect(receiver.local_addr()?)?;
            receiver.set_nonblocking(true)?;
            let mut socket = mio::net::UdpSocket::from_std(receiver);
            registry.register(&mut socket, SIGNALS, Interest::READABLE)?;
            senders().push(sender);
            Ok(StopSignals { socket })
        }

        /// One entry per console event since the last call.
        pub(crate) fn received(&mut self) -> Vec<i32> {
            let mut events = Vec::new();
            let mut byte = [0; 1];
            loop {
                match self.socket.recv(&mut byte) {
                    Ok(_) => events.push(CONSOLE_EVENT),
                    Err(ref e) if interrupted(e) => continue,
                    // Drained; or an ICMP error left by a send, not an event.
                    Err(ref e) if would_block(e) => break,
                    Err(e) => {
                        log::debug!("console event socket: {e}");
                        break;
                    }
                }
            }
            events
        }
    }

    impl Drop for StopSignals {
        /// The handler stops writing to a loop that has ended.
        fn drop(&mut self) {
            if let Ok(ours) = self.socket.local_addr() {
                senders().retain(|s| s.peer_addr().ok() != Some(ours));
            }
        }
    }

    /// The handler's ends of every live loop's pair.
    fn senders() -> MutexGuard<'static, Vec<UdpSocket>> {
        static SENDERS: Mutex<Vec<UdpSocket>> = Mutex::new(Vec::new());
        SENDERS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The handler: one datagram to every live loop.
    pub(super) fn notify_loops() {
        for sender in senders().iter() {
            // A full buffer already holds an unread event: enough.
            let _ = sender.send(&[1]);
        }
    }

    /// `ctrlc` allows one handler per process; every loop shares it.
    fn install_handler() -> io::Result<()> {
        static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
        let installed =
            INSTALLED.get_or_init(|| ctrlc::set_handler(notify_loops).map_err(|e| e.to_string()));
        installed.clone().map_err(io::Error::other)
    }
}

/// What the console handler does, minus the console: a test cannot press
/// Ctrl-C, so it calls the handler's function itself.
#[cfg(all(test, windows))]
mod tests {
    use std::time::{Duration, Instant};

    use mio::{Events, Poll};

    use super::*;

    #[test]
    fn each_console_event_wakes_every_registered_loop_once() {
        let polls: Vec<Poll> = (0..2).map(|_| Poll::new().unwrap()).collect();
        let mut signals: Vec<StopSignals> = polls
            .iter()
            .map(|poll| StopSignals::register(poll.registry()).unwrap())
            .collect();
        windows::notify_loops();
        windows::notify_loops();
        let deadline = Instant::now() + Duration::from_secs(30);
        for (poll, signals) in polls.into_iter().zip(&mut signals) {
            let mut poll = poll;
            let mut events = Events::with_capacity(4);
            let mut seen = Vec::new();
            while seen.len() < 2 {
                assert!(Instant::now() < deadline, "saw {seen:?}");
                poll.poll(&mut events, Some(Duration::from_secs(1)))
                    .unwrap();
                if events.iter().any(|e| e.token() == SIGNALS) {
                    seen.extend(signals.received());
                }
            }
            assert_eq!(seen, [2, 2]);
        }
    }
}
