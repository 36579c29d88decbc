//! A warning that a peer can cause a million times a second must not be
//! logged a million times: it would flood stderr, and every line costs its
//! formatting on the loop. The loops (accept errors, refusals at
//! `--max-conns`, UDP send errors) and the programs (a rejected frame, a
//! stray datagram) log such warnings through a [`RateLimitedLog`].

use std::time::{Duration, Instant};

/// Lets a repeated message be logged a few times a second at most, so a
/// peer (or a full descriptor table) that causes it a million times
/// cannot flood stderr; the lines it holds back are counted and the count
/// goes with the next line.
///
/// ```
/// use std::time::{Duration, Instant};
/// use netpoll::RateLimitedLog;
/// let mut log = RateLimitedLog::per_second(2);
/// let now = Instant::now();
/// assert_eq!(log.ready(now), Some(0));
/// assert_eq!(log.ready(now), Some(0));
/// assert_eq!(log.ready(now), None); // the third in the same second
/// assert_eq!(log.ready(now + Duration::from_secs(1)), Some(1));
/// ```
#[derive(Debug)]
pub struct RateLimitedLog {
    /// Lines allowed per window.
    burst: u32,
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl RateLimitedLog {
    /// How long a window lasts.
    const WINDOW: Duration = Duration::from_secs(1);

    /// At most `burst` lines a second: a learner trying a few bad inputs
    /// sees each; a flood costs `burst` lines a second.
    pub fn per_second(burst: u32) -> RateLimitedLog {
        RateLimitedLog {
            burst,
            window_start: None,
            logged: 0,
            suppressed: 0,
        }
    }

    /// `Some(number suppressed since the last line)` when a line may be
    /// logged now.
    pub fn ready(&mut self, now: Instant) -> Option<u64> {
        let window_over = self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= Self::WINDOW);
        if window_over {
            self.window_start = Some(now);
            self.logged = 0;
        }
        if self.logged < self.burst {
            self.logged += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// One line a second.
impl Default for RateLimitedLog {
    fn default() -> Self {
        RateLimitedLog::per_second(1)
    }
}
