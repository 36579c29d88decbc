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

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::event_loop::EventLoop;
use super::io::ClientSocket;
use super::{CloseReason, Handler};
use crate::os::{interrupted, unacknowledged, would_block};
use crate::stop::SIGNAL_TARGET;

/// How often a stopping loop asks the kernel whether its peers have
/// acknowledged their echo: often enough that an exit follows the last
/// acknowledgement closely, rarely enough to cost nothing.
pub(super) const ACK_CHECK_INTERVAL: Duration = Duration::from_millis(10);

impl<H, F> EventLoop<H, F>
where
    F: Fn(SocketAddr) -> H,
    H: Handler,
{
    /// SIGINT/SIGTERM: the first begins the shutdown and says what it waits
    /// for; a second one during it stops waiting.
    pub(super) fn on_signal(&mut self) {
        let Some(signals) = &mut self.signals else {
            return;
        };
        for signal in signals.received() {
            if self.draining() {
                if !self.stop_now {
                    let (conns, bytes) = self.echo_left();
                    // One line for all loops, by the last to count its own.
                    if let Some((conns, bytes)) = self.stop_tallies.stopped_now.add(conns, bytes) {
                        log::warn!(
                            target: SIGNAL_TARGET,
                            "signal {signal} again: stopping now; {} of echo not taken by {}",
                            bytes_words(bytes),
                            count_words(conns, "connection")
                        );
                    }
                }
                self.stop_now = true;
                self.drain_deadline = Some(Instant::now());
            } else {
                log::info!(target: SIGNAL_TARGET, "signal {signal}: shutting down");
                self.begin_shutdown();
                self.announce_wait(true);
            }
        }
    }

    /// Stops accepting and reading; each connection closes once its peer
    /// has taken all its echo (see the module doc), or at the deadline.
    pub(super) fn begin_shutdown(&mut self) {
        if self.draining() {
            return;
        }
        self.drain_deadline = Some(saturating_deadline(
            Instant::now(),
            self.opts.shutdown_timeout,
        ));
        self.listener = None;
        self.accept_pending = false;
        self.accept_paused_until = None;
        self.for_each_client_where(
            |client| client.socket.pending.is_empty(),
            |event_loop, key| event_loop.finish_for_shutdown(key),
        );
    }

    /// Says at once what the stop waits for, if anything: a learner who
    /// pressed Ctrl-C should not sit through silent seconds.
    pub(super) fn announce_wait(&self, by_signal: bool) {
        let (conns, bytes) = self.echo_left();
        // One line for all loops, by the last to count its own.
        let Some((conns, bytes)) = self.stop_tallies.waiting.add(conns, bytes) else {
            return;
        };
        if conns == 0 {
            return;
        }
        let line = format!(
            "waiting up to {} for {} to take {} of echo{}",
            duration_words(self.opts.shutdown_timeout),
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

    /// The connections still open and the echo they have not delivered.
    fn echo_left(&self) -> (usize, usize) {
        let bytes = self
            .clients
            .iter()
            .map(|(_, client)| client.socket.pending.len() + unacknowledged_echo(&client.socket))
            .sum();
        (self.clients.len(), bytes)
    }

    /// Every few milliseconds while stopping: closes the connections whose
    /// peer has now acknowledged everything.
    pub(super) fn check_delivered(&mut self) {
        self.for_each_client_where(
            |client| client.socket.write_shut && client.socket.pending.is_empty(),
            |event_loop, key| event_loop.finish_for_shutdown(key),
        );
    }

    /// The shutdown deadline passed, or a second signal came: close
    /// whatever is left, saying whether its peer had taken everything.
    pub(super) fn close_at_deadline(&mut self) {
        self.for_each_client_where(
            |_| true,
            |event_loop, key| {
                let Some(client) = event_loop.clients.get_mut(key) else {
                    return;
                };
                // Input left unread would make this close a reset.
                let _ = discard_input(&mut client.socket, &mut event_loop.scratch);
                let flushed =
                    client.socket.pending.is_empty() && unacknowledged_echo(&client.socket) == 0;
                let reason = if event_loop.stop_now {
                    CloseReason::StoppedNow
                } else {
                    CloseReason::Shutdown { flushed }
                };
                event_loop.close(key, reason);
            },
        );
    }

    /// A stopping connection whose pending output is flushed: sends the
    /// FIN once, discards what the peer sends, and closes when the peer
    /// has acknowledged every byte. Called again by `check_delivered` and
    /// by readiness events until then.
    pub(super) fn finish_for_shutdown(&mut self, key: usize) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        let socket = &mut client.socket;
        if !socket.pending.is_empty() {
            return; // on_writable comes back here once flushed
        }
        let first_visit = !socket.write_shut;
        if first_visit {
            socket.write_shut = true;
            if let Err(e) = socket.stream.shutdown(std::net::Shutdown::Write) {
                // Typically ENOTCONN: the peer already reset the connection.
                self.close(key, CloseReason::Error(e));
                return;
            }
        }
        let result = discard_input(socket, &mut self.scratch);
        let delivered = match (&result, unacknowledged(&socket.stream)) {
            (Err(_), _) => false,
            (Ok(_), Some(_)) => unacknowledged_echo(socket) == 0,
            // The OS cannot say what the peer took: close at its
            // end-of-file, or at once if it was idle (nothing was unread).
            (Ok((eof, discarded)), None) => *eof || (first_visit && *discarded == 0),
        };
        match result {
            Err(e) => self.close(key, CloseReason::Error(e)),
            Ok(_) if delivered => self.close(key, CloseReason::Shutdown { flushed: true }),
            // The peer has not taken all its echo yet.
            Ok(_) => {}
        }
    }
}

/// What a server's loops wait for when it stops, added up so that one line
/// says it for all of them: each loop adds its own share once, and the last
/// one to do so gets the total to report.
pub(super) struct StopTallies {
    /// The first stop: connections still open and the echo they have not taken.
    pub(super) waiting: Tally,
    /// The second signal: what is given up.
    pub(super) stopped_now: Tally,
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
pub(super) struct Tally {
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
    pub(super) fn add(&self, conns: usize, bytes: usize) -> Option<(usize, usize)> {
        let mut sum = self.sum.lock().unwrap_or_else(|e| e.into_inner());
        sum.0 += 1;
        sum.1 += conns;
        sum.2 += bytes;
        (sum.0 == self.loops).then_some((sum.1, sum.2))
    }
}

/// Reads and throws away what the peer sent, until the socket is drained:
/// `(end-of-file seen, bytes discarded)`.
fn discard_input(socket: &mut ClientSocket, scratch: &mut [u8]) -> std::io::Result<(bool, usize)> {
    let mut discarded = 0;
    let result = loop {
        match (&socket.stream).read(scratch) {
            Ok(0) => break Ok((true, discarded)),
            Ok(n) => discarded += n,
            Err(ref e) if would_block(e) => break Ok((false, discarded)),
            Err(ref e) if interrupted(e) => continue,
            Err(e) => break Err(e),
        }
    };
    // Once per visit of a stopping connection.
    if discarded > 0 {
        log::debug!(
            "{}: shutting down, discarded {discarded} unread bytes",
            socket.peer
        );
    }
    result
}

/// Echo handed to the kernel that the peer has not acknowledged (0 where
/// the OS cannot say). After our FIN the kernel counts it as one more byte.
pub(super) fn unacknowledged_echo(socket: &ClientSocket) -> usize {
    let queued = unacknowledged(&socket.stream).unwrap_or(0);
    if socket.write_shut {
        queued.saturating_sub(1)
    } else {
        queued
    }
}

/// `now + timeout`, or as far as the clock goes: any `--shutdown-timeout`
/// a parser accepts must work, even one that would overflow an `Instant`.
fn saturating_deadline(now: Instant, timeout: Duration) -> Instant {
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
