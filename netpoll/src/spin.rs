//! Spinning before sleeping: after handling traffic, keep polling for a
//! short window without sleeping, in case the next request follows at once.
//!
//! This is the one place the idea is explained; `--spin-us` in `--help` and
//! the loops' docs point here.
//!
//! # Why
//!
//! A client that sends one request, waits for the reply and sends the next
//! keeps exactly one request in flight. A server that goes back to sleep in
//! `epoll_wait` after every reply is then woken once per request, and waking
//! a sleeping thread (the kernel's wake-up, a context switch, on a virtual
//! machine an idle vCPU brought back) takes longer than the few
//! microseconds the client needs to answer. The round trip is then made of
//! wake-ups, not of work.
//!
//! # How
//!
//! Once a wake-up has handled traffic, the loop keeps polling *without
//! sleeping* (`poll` with a zero timeout) until its window passes with
//! nothing to do; each request that arrives meanwhile is handled at once and
//! restarts the window. Only when a whole window passes in silence does the
//! loop sleep again, so an idle server sleeps: the spin only ever follows
//! traffic. Because each try is a full zero-timeout `poll`, a stop (the
//! handle's waker, SIGINT/SIGTERM) and WRITABLE readiness are seen within one
//! try, exactly as when sleeping. Between tries the thread calls
//! [`std::thread::yield_now`]: any other runnable thread on the same core
//! (the client, or anything else) gets the core at once instead of waiting
//! for the spin to end. The cost is a busy core for at most one window after
//! the last request; a zero window is the plain readiness loop.
//!
//! # When it pays
//!
//! A spin saves a wake-up per request only where the loop would otherwise
//! sleep between requests. A TCP loop serving one connection sleeps once
//! per request, with two connections still often; with more, one wake-up
//! usually finds several requests waiting and the loop hardly sleeps at
//! all. So with one or two connections a spin multiplies the requests/s
//! and costs *less* CPU than the wake-ups it saves, while with more it has
//! little left to save and its empty looks cost CPU. A stream is the same
//! case on one connection: a turn that reads a whole read buffer pays for
//! its wake-up many times over, and as the peer takes the echo, turns that
//! only write follow one another, with gaps a spin would only burn. The
//! TCP loop therefore spins only while it serves at most
//! [`SPIN_AT_MOST_CONNECTIONS`], and only after turns that read a little
//! or accepted (`TcpTurn::window`); otherwise it is the plain readiness
//! loop. The UDP loop has one socket and always spins. The measurements behind
//! each of these sentences are in `docs/performance.md` ("One connection's
//! round trip").
//!
//! When client and server share one core, spinning cannot help (the
//! client's wake-up is what hands the core over either way) and costs a
//! few percent of CPU per request: there `--spin-us 0` is the better choice.
//!
//! # Go does the same
//!
//! Go's scheduler makes the same trade in its own way: an idle worker thread
//! (a "spinning M", `findRunnable` in `runtime/proc.go`) first polls the
//! network poller without blocking (`netpoll(0)`) and tries to steal work
//! from the other processors' run queues before it parks; its spin is a few
//! bounded rounds of looking rather than a time window.

use std::thread;
use std::time::{Duration, Instant};

/// How long, in microseconds, both loops keep polling without sleeping
/// after traffic unless their builder's `spin` says otherwise.
///
/// The window must outlast a ping-pong client's turnaround (its reply
/// arriving, its next request leaving), or the loop falls asleep just
/// before the next request; much longer only keeps a core busy for nothing
/// after the last one. This is the shortest window that reliably covered
/// the turnaround in sweeps on the development machine, for UDP and for
/// TCP alike (at 10 and 20 µs the TCP loop still fell asleep before some
/// requests); the sweeps, and what the spin buys and costs in each
/// placement of client and server, are in `docs/performance.md`.
pub const DEFAULT_SPIN_US: u64 = 50;

/// The longest window a program accepts for `--spin-us`, in microseconds
/// (one second): a spin is for the gap between a reply and the next
/// request, and a longer one only keeps a core busy for nothing.
pub const MAX_SPIN_US: u64 = 1_000_000;

/// A TCP loop spins only while it serves at most this many connections:
/// with more, it seldom sleeps between requests, so a spin has little to
/// save and costs CPU (see "When it pays" above).
pub const SPIN_AT_MOST_CONNECTIONS: usize = 2;

/// What one turn of a TCP loop did, as far as its spin is concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpTurn {
    /// Connections the loop serves after the turn.
    pub(crate) connections: usize,
    /// Connections the turn accepted.
    pub(crate) accepted: u64,
    /// Bytes the turn read.
    pub(crate) read: u64,
    /// The loop's read buffer: reading this much in one turn is streaming.
    pub(crate) read_buffer: usize,
}

/// What a turn does to the spin window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    /// A small exchange, or a new connection: the next request is likely
    /// to follow at once, so (re)open the window.
    Open,
    /// Too many connections, or a stream: a spin would not pay, so close it.
    Close,
    /// Nothing read or accepted (output leaving, a close): leave it as it is.
    Keep,
}

impl TcpTurn {
    /// What this turn does to the window (see "When it pays" above).
    pub(crate) fn window(self) -> Window {
        if self.connections > SPIN_AT_MOST_CONNECTIONS || self.read >= self.read_buffer as u64 {
            Window::Close
        } else if self.had_traffic() {
            Window::Open
        } else {
            Window::Keep
        }
    }

    /// Whether the turn read or accepted anything: what `--trace` times a
    /// spin from.
    pub(crate) fn had_traffic(self) -> bool {
        self.accepted > 0 || self.read > 0
    }
}

/// How a loop's next `poll` waits: what [`Spin::next_wait`] decides, and
/// what a `--trace` line then says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Work is already waiting (a turn cut short by its budget): look and
    /// come straight back, whatever the spin.
    Busy,
    /// Within the window after traffic: look without sleeping.
    Spin,
    /// Nothing to do: sleep until an event (or the loop's nearest timer).
    Sleep,
}

impl Wait {
    /// The `poll` timeout: zero when not sleeping; when sleeping, what
    /// `sleep` says (`None`, or until the loop's nearest timer), asked only
    /// then, so a spin's tries do not compute it.
    pub(crate) fn timeout(self, sleep: impl FnOnce() -> Option<Duration>) -> Option<Duration> {
        match self {
            Wait::Sleep => sleep(),
            Wait::Busy | Wait::Spin => Some(Duration::ZERO),
        }
    }
}

/// The spin state of one loop: how long to keep polling after traffic, and
/// until when the current window lasts.
#[derive(Debug)]
pub(crate) struct Spin {
    window: Duration,
    /// While traffic lasts: when the loop may go back to sleeping.
    until: Option<Instant>,
}

impl Spin {
    /// A spin of `window` after each turn with traffic; zero never spins.
    pub(crate) fn new(window: Duration) -> Spin {
        Spin {
            window,
            until: None,
        }
    }

    /// The loop just handled traffic: open (or restart) the window.
    pub(crate) fn after_traffic(&mut self) {
        if !self.window.is_zero() {
            self.until = Instant::now().checked_add(self.window);
        }
    }

    /// Applies what a turn does to the window.
    pub(crate) fn after(&mut self, window: Window) {
        match window {
            Window::Open => self.after_traffic(),
            // The loop sleeps when next it has nothing to do.
            Window::Close => self.until = None,
            Window::Keep => {}
        }
    }

    /// How the next `poll` waits: at once if work is already `busy`, else
    /// spinning while the window is open (see [`Spin::keep_polling`]), else
    /// sleeping.
    pub(crate) fn next_wait(&mut self, busy: bool) -> Wait {
        if busy {
            Wait::Busy
        } else if self.keep_polling() {
            Wait::Spin
        } else {
            Wait::Sleep
        }
    }

    /// Whether the next `poll` should return at once rather than sleep.
    /// While the window is open this first yields the core, so whatever
    /// else is runnable on it (the client, say) runs before we look again;
    /// with the core to ourselves the yield returns at once. Once a whole
    /// window has passed without traffic it closes, and the loop sleeps.
    fn keep_polling(&mut self) -> bool {
        match self.until {
            Some(until) if Instant::now() < until => {
                thread::yield_now();
                true
            }
            Some(_) => {
                self.until = None;
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_window_never_spins() {
        let mut spin = Spin::new(Duration::ZERO);
        spin.after_traffic();
        assert!(!spin.keep_polling());
    }

    #[test]
    fn traffic_opens_a_window_and_an_idle_loop_sleeps() {
        let mut spin = Spin::new(Duration::from_secs(3600));
        assert!(!spin.keep_polling(), "no traffic yet: sleep");
        spin.after_traffic();
        assert!(spin.keep_polling(), "just after traffic: poll again");
    }

    #[test]
    fn busy_work_never_waits_and_never_counts_as_a_spin() {
        let mut spin = Spin::new(Duration::from_secs(3600));
        assert_eq!(spin.next_wait(true), Wait::Busy);
        assert_eq!(spin.next_wait(false), Wait::Sleep, "no traffic yet");
        spin.after_traffic();
        assert_eq!(spin.next_wait(true), Wait::Busy);
        assert_eq!(spin.next_wait(false), Wait::Spin);
        let no_timer = || -> Option<Duration> { panic!("asked for a timer while not sleeping") };
        assert_eq!(Wait::Spin.timeout(no_timer), Some(Duration::ZERO));
        assert_eq!(Wait::Busy.timeout(no_timer), Some(Duration::ZERO));
        let timer = Some(Duration::from_millis(7));
        assert_eq!(Wait::Sleep.timeout(|| timer), timer);
    }

    fn turn(connections: usize, accepted: u64, read: u64) -> Window {
        let read_buffer = 65_536;
        TcpTurn {
            connections,
            accepted,
            read,
            read_buffer,
        }
        .window()
    }

    #[test]
    fn a_small_request_or_a_new_connection_opens_the_window() {
        assert_eq!(turn(1, 0, 64), Window::Open);
        assert_eq!(turn(SPIN_AT_MOST_CONNECTIONS, 0, 65_535), Window::Open);
        assert_eq!(turn(1, 1, 0), Window::Open);
    }

    #[test]
    fn more_connections_or_a_stream_close_the_window() {
        assert_eq!(turn(SPIN_AT_MOST_CONNECTIONS + 1, 0, 64), Window::Close);
        assert_eq!(turn(SPIN_AT_MOST_CONNECTIONS + 1, 1, 0), Window::Close);
        assert_eq!(turn(1, 0, 65_536), Window::Close);
        assert_eq!(turn(1, 0, 16 * 65_536), Window::Close);
    }

    #[test]
    fn a_turn_that_only_wrote_or_closed_leaves_the_window_as_it_was() {
        assert_eq!(turn(1, 0, 0), Window::Keep);
        assert_eq!(turn(0, 0, 0), Window::Keep);
        let mut spin = Spin::new(Duration::from_secs(3600));
        spin.after(Window::Open);
        spin.after(Window::Keep);
        assert_eq!(spin.next_wait(false), Wait::Spin);
        spin.after(Window::Close);
        assert_eq!(spin.next_wait(false), Wait::Sleep);
    }

    #[test]
    fn a_window_that_passed_closes_and_the_loop_sleeps() {
        let mut spin = Spin::new(Duration::from_secs(1));
        // As if the window had closed a second ago.
        spin.until = Instant::now().checked_sub(Duration::from_secs(1));
        assert!(!spin.keep_polling());
        assert!(spin.until.is_none(), "the window is closed, not re-checked");
    }
}
