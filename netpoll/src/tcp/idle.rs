//! The idle timeout: one sweep over the connections once in a while, with a
//! millisecond clock read once per wake-up, instead of a timer per
//! connection that every read and write would have to re-arm.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::event_loop::EventLoop;
use super::{CloseReason, Handler};

impl<H, F> EventLoop<H, F>
where
    F: Fn(SocketAddr) -> H,
    H: Handler,
{
    /// Closes the connections without read or write progress for `timeout`.
    pub(super) fn close_idle(&mut self, timeout: Duration) {
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let now = self.now_ms;
        self.for_each_client_where(
            |client| now.wrapping_sub(client.socket.last_active_ms) >= timeout_ms,
            |event_loop, key| event_loop.close(key, CloseReason::IdleTimeout),
        );
    }
}

/// The loop clock: milliseconds since `epoch`, wrapping on purpose, since
/// only differences of recent instants are compared.
pub(super) fn millis_since(epoch: Instant, now: Instant) -> u32 {
    now.duration_since(epoch).as_millis() as u32
}

/// How often idle connections are looked for: often enough that a
/// connection closes within ~25% past its timeout, at most once a second.
pub(super) fn sweep_interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}
