//! The idle timeout: one sweep over the connections once in a while, with a
//! millisecond clock read once per wake-up, instead of a timer per
//! connection that every read and write would have to re-arm.

use std::time::{Duration, Instant};

/// One loop's idle sweep: its clock, and when it next looks for
/// connections that have been silent too long.
#[derive(Debug, Clone, Copy)]
pub(super) struct IdleSweep {
    timeout_ms: u32,
    interval: Duration,
    /// The clock's zero: connections note their last activity in
    /// milliseconds since then.
    epoch: Instant,
    next: Instant,
}

impl IdleSweep {
    /// Sweeps for connections silent for `timeout`, from `epoch` on.
    pub(super) fn new(timeout: Duration, epoch: Instant) -> Self {
        let interval = sweep_interval(timeout);
        IdleSweep {
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            interval,
            epoch,
            next: epoch + interval,
        }
    }

    /// The loop clock at `now`: milliseconds since the epoch, wrapping on
    /// purpose, since only differences of recent instants are compared.
    pub(super) fn clock(&self, now: Instant) -> u32 {
        now.duration_since(self.epoch).as_millis() as u32
    }

    /// When the next sweep is due.
    pub(super) fn next(&self) -> Instant {
        self.next
    }

    /// Whether a sweep is due at `now`; if so, the one after is scheduled.
    pub(super) fn due(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + self.interval;
        true
    }

    /// Whether a connection last active at `last_active_ms` has been silent
    /// for the timeout at `now_ms` (both on the loop clock).
    pub(super) fn is_idle(&self, last_active_ms: u32, now_ms: u32) -> bool {
        now_ms.wrapping_sub(last_active_ms) >= self.timeout_ms
    }
}

/// How often idle connections are looked for: often enough that a
/// connection closes within ~25% past its timeout, at most once a second.
fn sweep_interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}
