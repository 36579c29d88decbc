//! `--trace`: one line on stderr per thing the event loop does (a wake-up
//! of `poll`, an accept, a read, a write, a pause, a close), so a learner
//! can watch the loop work on their own traffic. The one place that knows
//! the clock and the line format; both loops and stick-demo's handlers
//! write through it.
//!
//! Off by default and free when off: a loop holds an `Option<Trace>`, and
//! every trace point is `if let Some(trace) = &self.trace { … }`, so with
//! the flag off no argument is formatted and nothing is allocated.
//!
//! Where the lines go: each is a `log` record of target [`TARGET`], at
//! level trace, already formatted, so that this crate needs no output of
//! its own and the lines join the loop's warnings in one stream, in the
//! order they happened. The record goes to the program's logger directly,
//! past `log`'s level gate: the program asked for these lines with
//! `.trace(true)`, and a `RUST_LOG=warn` must not hide them. The programs'
//! logger (`edges/src/console/logger.rs`) prints them as they are through
//! its bounded stderr queue, where a stderr nobody reads costs dropped
//! lines, counted, never a stalled loop (a trace writes several lines per
//! request, on the loop thread). Any other logger shows them when its
//! filter lets the target through (env_logger:
//! `RUST_LOG=netpoll::trace=trace`).
//!
//! **Proved by:** `full_stderr_under_trace_stops_neither_serving_nor_stopping`
//! (tcp-server), `trace_shows_the_accept_read_write_and_close_of_one_request`,
//! `without_trace_nothing_is_traced`.
//!
//! A line reads: `    1234 µs  conn 0 127.0.0.1:51234: read 5 bytes`: the
//! microseconds since the server started tracing, who (the loop itself, a
//! connection's token and peer, or a UDP peer), and what happened. With
//! `--threads` each loop has its own tokens, so its lines name it:
//! `loop 1: accept …`, `loop 1 conn 0 127.0.0.1:51234: read 5 bytes`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::spin::Wait;

/// The `log` target of every trace line.
pub const TARGET: &str = "netpoll::trace";

/// The tracer of one loop (or handler): cheap to copy, all copies share the
/// process' trace clock.
#[derive(Debug, Clone, Copy)]
pub struct Trace {
    start: Instant,
    /// Which loop writes, when a server runs several (`--threads`): each
    /// has its own tokens, so `conn 0` alone would not say whose.
    loop_index: Option<usize>,
}

impl Trace {
    /// `Some` tracer when `on`, else `None`: what a loop keeps, so that a
    /// trace point off costs one check of an `Option`.
    pub fn when(on: bool) -> Option<Trace> {
        on.then(Trace::new)
    }

    /// A tracer; the clock starts at the first one made in the process.
    pub fn new() -> Trace {
        static START: OnceLock<Instant> = OnceLock::new();
        Trace {
            start: *START.get_or_init(Instant::now),
            loop_index: None,
        }
    }

    /// The tracer of loop `index` of a server running `loops` of them:
    /// with more than one, every line names its loop (`loop 1: …`,
    /// `loop 1 conn 0 …`).
    pub fn of_loop(self, index: usize, loops: usize) -> Trace {
        Trace {
            loop_index: (loops > 1).then_some(index),
            ..self
        }
    }

    /// A line about the loop itself (`poll`, accept, timers).
    pub fn event(&self, what: fmt::Arguments<'_>) {
        match self.loop_index {
            Some(index) => self.line(format_args!("loop {index}: {what}")),
            None => self.line(format_args!("loop: {what}")),
        }
    }

    /// A line about one TCP connection, named by its token and peer (and
    /// its loop, when there are several).
    pub fn conn(&self, token: usize, peer: SocketAddr, what: fmt::Arguments<'_>) {
        match self.loop_index {
            Some(index) => self.line(format_args!("loop {index} conn {token} {peer}: {what}")),
            None => self.line(format_args!("conn {token} {peer}: {what}")),
        }
    }

    /// A line about one UDP peer (UDP has no connections, so no token).
    pub fn peer(&self, peer: SocketAddr, what: fmt::Arguments<'_>) {
        self.line(format_args!("{peer}: {what}"));
    }

    /// Microseconds since the trace clock started.
    pub fn micros(&self) -> u128 {
        self.start.elapsed().as_micros()
    }

    fn line(&self, what: fmt::Arguments<'_>) {
        TRACED.store(true, Ordering::Relaxed);
        emit(format_args!("{:>9} µs  {what}", self.micros()));
    }
}

/// What a loop's trace says about its waits: how long each sleep lasted,
/// when a spin found work, and when one gave up and the loop went to sleep
/// (see [`crate::spin`]). Both loops keep one, and call it only when
/// tracing.
#[derive(Debug)]
pub(crate) struct WaitTrace {
    /// What counts as traffic for this loop, as the lines name it.
    traffic: &'static str,
    /// When the loop last handled traffic, on the trace clock (µs).
    last_traffic: u128,
    /// How the current (or last) poll waits, and when it began.
    wait: Wait,
    polled_from: u128,
}

impl WaitTrace {
    /// For a loop whose traffic is called `traffic` in the lines
    /// ("datagram", "traffic").
    pub(crate) fn new(traffic: &'static str) -> WaitTrace {
        WaitTrace {
            traffic,
            last_traffic: 0,
            wait: Wait::Sleep,
            polled_from: 0,
        }
    }

    /// Just before `poll`: a spin that ended with nothing to do is said
    /// once, as the loop goes to sleep.
    pub(crate) fn before_poll(&mut self, trace: &Trace, wait: Wait) {
        let now = trace.micros();
        if self.wait == Wait::Spin && wait == Wait::Sleep {
            let spun = now.saturating_sub(self.last_traffic);
            trace.event(format_args!(
                "spun {spun} µs since the last {}: sleeping until the next event",
                self.traffic
            ));
        }
        self.wait = wait;
        self.polled_from = now;
    }

    /// Just after `poll` returned `count` events. A sleep is always said
    /// (it is what the loop waited for); a look that found nothing is not,
    /// or a spinning loop would write a line per try.
    pub(crate) fn after_poll(&self, trace: &Trace, count: usize) {
        let now = trace.micros();
        match self.wait {
            Wait::Sleep => {
                let slept = now.saturating_sub(self.polled_from);
                trace.event(format_args!(
                    "poll: {count} events after sleeping {slept} µs"
                ));
            }
            Wait::Spin if count > 0 => {
                let spun = now.saturating_sub(self.last_traffic);
                trace.event(format_args!(
                    "spinning: woke {spun} µs after the last {}, {count} events, \
                     without sleeping",
                    self.traffic
                ));
            }
            Wait::Busy if count > 0 => trace.event(format_args!(
                "poll: {count} events (did not sleep: more to read)"
            )),
            Wait::Spin | Wait::Busy => {}
        }
    }

    /// The loop handled traffic: the next spin is timed from now.
    pub(crate) fn traffic(&mut self, trace: &Trace) {
        self.last_traffic = trace.micros();
    }
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

/// Set by the first trace line, so that [`finish`] knows there was a trace.
static TRACED: AtomicBool = AtomicBool::new(false);

/// Ends the trace with `trace ends`, after every line before it. A server
/// calls it before it exits; without any trace line it does nothing.
pub fn finish() {
    if TRACED.load(Ordering::Relaxed) {
        let micros = Trace::new().micros();
        emit(format_args!("{micros:>9} µs  loop: trace ends"));
    }
}

/// Hands one finished line to the program's logger (see the module doc
/// for why past the level gate).
fn emit(line: fmt::Arguments<'_>) {
    log::logger().log(
        &log::Record::builder()
            .target(TARGET)
            .level(log::Level::Trace)
            .args(line)
            .build(),
    );
}
