//! How a loop learns that it must stop: from its [`ServerHandle`], through a
//! mio [`Waker`], or from the process' SIGINT/SIGTERM, through a pipe that the
//! loop polls like any socket. Both loops, TCP and UDP, use these same two
//! sources with the same tokens.
//!
//! A signal handler may do almost nothing safely; printing the summary or
//! flushing output from inside one is out of the question. So the handler
//! (signal-hook's) only writes to a pipe, and the loop, woken by it as by any
//! socket, does the stopping itself, with all its state at hand.
//!
//! [`ServerHandle`]: crate::ServerHandle

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::{Interest, Registry, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

// The loop's own sources take the top of the token range: a TCP loop keys
// its connections from 0 upwards (slab keys), which never get there.
/// The loop's [`Waker`], woken by [`ServerHandle::shutdown`](crate::ServerHandle::shutdown).
pub(crate) const WAKER: Token = Token(usize::MAX - 1);
/// The self-pipe of [`StopSignals`].
pub(crate) const SIGNALS: Token = Token(usize::MAX - 2);

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
