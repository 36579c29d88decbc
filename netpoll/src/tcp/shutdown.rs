//! Stopping gracefully: stop accepting and reading, let each connection's
//! echo reach its peer within a deadline, and close with a FIN, never a
//! reset that would destroy echo already on its way.
//!
//! Echo is on its way in two places: pending output, still in our memory,
//! and what `write` already handed to the kernel, which sits in the
//! socket's send queue until the peer acknowledges it (a peer that reads
//! slowly, or not at all, can leave megabytes there). Closing a socket
//! that still has unread input makes the kernel answer with a reset, and a
//! reset throws away that send queue. So a stopping connection: flushes
//! its pending output; sends its FIN (`shutdown(Write)`); from then on
//! reads and discards whatever the peer sends, so nothing unread ever
//! draws a reset; and closes once the kernel says the peer has
//! acknowledged every byte (Linux: `SIOCOUTQ`), or at the deadline, or at
//! a second stop signal. The kernel announces no acknowledgement, so while
//! stopping the loop looks every [`ACK_CHECK_INTERVAL`].
//!
//! What was not acknowledged when a connection closed is counted in
//! [`Stats::bytes_unacknowledged`](super::Stats::bytes_unacknowledged): the
//! summary does not claim it as delivered.
//!
//! **Proved by:** `sigterm_keeps_echo_queued_in_the_kernel_for_a_slow_reader`,
//! `second_signal_is_named_and_unacknowledged_echo_is_not_counted_as_echoed`,
//! `sigterm_does_not_wait_for_idle_clients_to_hang_up` (tcp-server's tests),
//! `huge_shutdown_timeout_saturates_instead_of_panicking` (here).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::CloseReason;
use crate::stop::SIGNAL_TARGET;

/// How often a stopping loop asks the kernel whether its peers have
/// acknowledged their echo: often enough that an exit follows the last
/// acknowledgement closely, rarely enough to cost nothing.
const ACK_CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// One loop's stop: whether it is stopping, until when it waits for its
/// peers, and what it says about that (once for all the server's loops).
/// What each connection does meanwhile is the connection's
/// (`Connection::finish_for_shutdown`).
pub(super) struct Shutdown {
    /// How long a stop waits for the peers (`--shutdown-timeout`).
    timeout: Duration,
    /// Set when stopping: close whatever is left at this instant.
    deadline: Option<Instant>,
    /// A second stop signal came: the deadline was brought forward to now.
    stopped_now: bool,
    /// What the loops wait for when stopping, said once for all of them.
    tallies: Arc<StopTallies>,
}

impl Shutdown {
    /// A loop's stop, waiting at most `timeout`, sharing `tallies` with
    /// the server's other loops.
    pub(super) fn new(timeout: Duration, tallies: Arc<StopTallies>) -> Self {
        Shutdown {
            timeout,
            deadline: None,
            stopped_now: false,
            tallies,
        }
    }

    /// Stopping: no accepts, no reads, closing as output drains.
    pub(super) fn is_stopping(&self) -> bool {
        self.deadline.is_some()
    }

    /// Begins the stop, its deadline running from now; false if it had
    /// begun already.
    pub(super) fn begin(&mut self) -> bool {
        if self.is_stopping() {
            return false;
        }
        self.deadline = Some(saturating_deadline(Instant::now(), self.timeout));
        true
    }

    /// A second stop `signal`: stop waiting. `left` is this loop's
    /// connections and the echo they have not taken; the last loop to add
    /// its own says what is given up, once for all loops.
    pub(super) fn stop_now(&mut self, signal: i32, (conns, bytes): (usize, usize)) {
        if !self.stopped_now {
            if let Some((conns, bytes)) = self.tallies.stopped_now.add(conns, bytes) {
                log::warn!(
                    target: SIGNAL_TARGET,
                    "signal {signal} again: stopping now; {} of echo not taken by {}",
                    bytes_words(bytes),
                    count_words(conns, "connection")
                );
            }
        }
        self.stopped_now = true;
        self.deadline = Some(Instant::now());
    }

    /// Says at once what the stop waits for, if anything: a learner who
    /// pressed Ctrl-C should not sit through silent seconds. `left` is this
    /// loop's share; the last loop to add its own says it for all.
    pub(super) fn announce_wait(&self, (conns, bytes): (usize, usize), by_signal: bool) {
        let Some((conns, bytes)) = self.tallies.waiting.add(conns, bytes) else {
            return;
        };
        if conns == 0 {
            return;
        }
        let line = format!(
            "waiting up to {} for {} to take {} of echo{}",
            duration_words(self.timeout),
            count_words(conns, "connection"),
            bytes_words(bytes),
            if by_signal {
                "; Ctrl-C again to stop now"
            } else {
                ""
            }
        );
        if by_signal {
            log::warn!(target: SIGNAL_TARGET, "{line}");
        } else {
            log::info!("{line}");
        }
    }

    /// When the stop next needs the loop awake: at its deadline, and every
    /// [`ACK_CHECK_INTERVAL`] before it, since the kernel announces no
    /// acknowledgement.
    pub(super) fn next_timer(&self) -> Option<Instant> {
        self.deadline
            .map(|deadline| deadline.min(Instant::now() + ACK_CHECK_INTERVAL))
    }

    /// Whether the deadline has passed at `now` (or a second signal came).
    pub(super) fn deadline_passed(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline)
    }

    /// Why a connection still open at the deadline closes: `flushed` says
    /// whether its peer had taken everything.
    pub(super) fn reason_at_deadline(&self, flushed: bool) -> CloseReason {
        if self.stopped_now {
            CloseReason::StoppedNow
        } else {
            CloseReason::Shutdown { flushed }
        }
    }

    /// The loop is done. Done before any second signal, it has nothing to
    /// give up, so a busy loop's "stopping now" line need not wait for it.
    pub(super) fn end(&self) {
        if !self.stopped_now {
            let _ = self.tallies.stopped_now.add(0, 0);
        }
    }
}

/// What a server's loops wait for when it stops, added up so that one line
/// says it for all of them: each loop adds its own share once, and the last
/// one to do so gets the total to report.
pub(super) struct StopTallies {
    /// The first stop: connections still open and the echo they have not taken.
    waiting: Tally,
    /// The second signal: what is given up.
    stopped_now: Tally,
}

impl StopTallies {
    pub(super) fn new(loops: usize) -> Self {
        StopTallies {
            waiting: Tally::new(loops),
            stopped_now: Tally::new(loops),
        }
    }
}

/// Connections and bytes, added up over `loops` loops.
struct Tally {
    loops: usize,
    /// (loops counted, connections, bytes)
    sum: Mutex<(usize, usize, usize)>,
}

impl Tally {
    fn new(loops: usize) -> Self {
        Tally {
            loops,
            sum: Mutex::new((0, 0, 0)),
        }
    }

    /// Adds one loop's share; the total once every loop has added its own.
    fn add(&self, conns: usize, bytes: usize) -> Option<(usize, usize)> {
        let mut sum = self.sum.lock().unwrap_or_else(|e| e.into_inner());
        sum.0 += 1;
        sum.1 += conns;
        sum.2 += bytes;
        (sum.0 == self.loops).then_some((sum.1, sum.2))
    }
}

/// `now + timeout`, or as far as the clock goes: any `--shutdown-timeout`
/// a parser accepts must work, even one that would overflow an `Instant`
/// (and any timer a handler sets).
pub(super) fn saturating_deadline(now: Instant, timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    [timeout, CENTURY, Duration::from_secs(24 * 3600)]
        .into_iter()
        .find_map(|t| now.checked_add(t))
        .unwrap_or(now)
}

fn count_words(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `512 bytes`, `60 KiB`, `2.0 MiB`: an amount a person reads at a glance.
fn bytes_words(bytes: usize) -> String {
    const KIB: usize = 1024;
    match bytes {
        0..KIB => count_words(bytes, "byte"),
        KIB..1_048_576 => format!("{} KiB", bytes.div_ceil(KIB)),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

fn duration_words(timeout: Duration) -> String {
    if timeout.subsec_nanos() == 0 {
        format!("{} s", timeout.as_secs())
    } else {
        format!("{timeout:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_shutdown_timeout_saturates_instead_of_panicking() {
        let now = Instant::now();
        assert!(saturating_deadline(now, Duration::MAX) > now);
        assert_eq!(
            saturating_deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }

    #[test]
    fn amounts_read_at_a_glance() {
        assert_eq!(bytes_words(1), "1 byte");
        assert_eq!(bytes_words(512), "512 bytes");
        assert_eq!(bytes_words(60 * 1024), "60 KiB");
        assert_eq!(bytes_words(2 * 1024 * 1024), "2.0 MiB");
        assert_eq!(duration_words(Duration::from_secs(5)), "5 s");
    }
}
