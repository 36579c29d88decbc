//! What every loop, TCP or UDP, waits with: its mio [`Poll`], the sources
//! that tell it to stop (the handle's [`Waker`], the signals), its spin, and
//! what `--trace` says about each wait. The loops differ in what they do
//! with the events; how they wait for them is written once, here.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Poll, Registry, Token, Waker};

use crate::os::interrupted;
use crate::server::LoopOptions;
use crate::spin::{Spin, Window};
use crate::stop::{self, SIGNALS, StopRequest, StopSignals, WAKER};
use crate::trace::{Trace, WaitTrace};

/// One loop's poller.
pub(crate) struct Poller {
    poll: Poll,
    /// What the handle's waker means when it wakes the loop.
    stop: Arc<StopRequest>,
    /// SIGINT/SIGTERM, when the program asked the loops to hear them.
    signals: Option<StopSignals>,
    /// After traffic, poll a little longer before sleeping (`spin.rs`).
    spin: Spin,
    /// `--trace`: `Some` writes a line per loop event (see `trace.rs`).
    trace: Option<Trace>,
    /// What the trace says about each wait.
    waits: WaitTrace,
}

/// Whether `token` is one of a poller's own sources (the waker's, the
/// signals'), whose events [`Poller::asked`] reads; every other token is
/// the loop's.
#[inline]
pub(crate) fn is_own(token: Token) -> bool {
    token == WAKER || token == SIGNALS
}

/// What an event of the poller's own sources asks of the loop.
pub(crate) enum Asked {
    /// The handle asked the server to stop ([`ServerHandle::shutdown`](crate::ServerHandle::shutdown)).
    Stop,
    /// These signals arrived, oldest first.
    Signals(Vec<i32>),
    /// The waker, with no stop asked: a wake-up is only ever a "look",
    /// and a loop with a mailbox looks there (`tcp/remote.rs`).
    Look,
}

impl Poller {
    /// The poller of loop `index` of `loops`, with the handle's `stop`
    /// request; `traffic` is what the loop's trace calls its traffic
    /// ("traffic", "datagram"). Made on the thread that starts the server,
    /// so that its errors surface there. Returns the waker the handle
    /// wakes the loop with.
    pub(crate) fn new(
        options: &LoopOptions,
        stop: Arc<StopRequest>,
        (index, loops): (usize, usize),
        traffic: &'static str,
    ) -> io::Result<(Poller, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = stop::waker(poll.registry())?;
        let signals = if options.handle_signals {
            Some(StopSignals::register(poll.registry())?)
        } else {
            None
        };
        let trace = Trace::when(options.trace).map(|trace| trace.of_loop(index, loops));
        let poller = Poller {
            poll,
            stop,
            signals,
            spin: Spin::new(options.spin),
            trace,
            waits: WaitTrace::new(traffic),
        };
        Ok((poller, waker))
    }

    /// Where the loop registers its sockets.
    pub(crate) fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// The loop's tracer: `Some` under `--trace`.
    pub(crate) fn trace(&self) -> Option<Trace> {
        self.trace
    }

    /// Whether the handle asked the server to stop (perhaps before this
    /// loop's thread even started).
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.is_requested()
    }

    /// Waits for `events`: at once when work is already `busy` (a turn cut
    /// short), without sleeping while the spin window is open, else asleep
    /// until readiness or what `timer` says (asked only then). A signal
    /// that interrupts the wait ends it with no events: the signal's own
    /// event comes with the next one.
    #[inline]
    pub(crate) fn wait(
        &mut self,
        events: &mut Events,
        busy: bool,
        timer: impl FnOnce() -> Option<Duration>,
    ) -> io::Result<()> {
        let wait = self.spin.next_wait(busy);
        if let Some(trace) = &self.trace {
            self.waits.before_poll(trace, wait);
        }
        match self.poll.poll(events, wait.timeout(timer)) {
            Ok(()) => {}
            Err(ref e) if interrupted(e) => {
                events.clear();
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        if let Some(trace) = &self.trace {
            self.waits.after_poll(trace, events.iter().count());
        }
        Ok(())
    }

    /// What an event of `token`, one of the poller's own ([`is_own`]),
    /// asks of the loop.
    pub(crate) fn asked(&mut self, token: Token) -> Asked {
        match (token, &mut self.signals) {
            (SIGNALS, Some(signals)) => Asked::Signals(signals.received()),
            (WAKER, _) if self.stop.is_requested() => Asked::Stop,
            _ => Asked::Look,
        }
    }

    /// After a turn: what it does to the spin window, and, when it read or
    /// accepted, the time the next spin is traced from.
    #[inline]
    pub(crate) fn after_turn(&mut self, window: Window, had_traffic: bool) {
        self.spin.after(window);
        if let (Some(trace), true) = (&self.trace, had_traffic) {
            self.waits.traffic(trace);
        }
    }
}
