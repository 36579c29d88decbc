//! Saying where a long run is: its expected length up front, then after
//! each measurement `k/N` and the time left, on stderr (stdout is the
//! report).

use std::time::{Duration, Instant};

/// The run's measurements, counted as they finish.
pub struct Progress {
    /// Measurements planned, and each one's expected length, in order.
    planned: Vec<Duration>,
    done: usize,
    started: Instant,
}

impl Progress {
    /// A run of measurements expected to take `planned` each.
    pub fn new(planned: Vec<Duration>) -> Progress {
        Progress {
            planned,
            done: 0,
            started: Instant::now(),
        }
    }

    /// The whole run's expected length.
    pub fn expected(&self) -> Duration {
        self.planned.iter().sum()
    }

    /// `count` planned measurements will not be made (a server skipped).
    pub fn skip(&mut self, count: usize) {
        let keep = self.planned.len().saturating_sub(count).max(self.done);
        self.planned.truncate(keep);
    }

    /// One measurement finished: `bench: [3/16] tcp --conns=50, tokio: 1.3 s;
    /// about 21 s left`. The time left is what is still planned, scaled by
    /// how the run so far compared with its plan.
    pub fn finished(&mut self, what: &str, took: Duration) {
        self.done = (self.done + 1).min(self.planned.len());
        let planned_so_far: Duration = self.planned[..self.done].iter().sum();
        let planned_rest: Duration = self.planned[self.done..].iter().sum();
        let pace = self.started.elapsed().as_secs_f64() / planned_so_far.as_secs_f64().max(1e-3);
        let left = planned_rest.mul_f64(pace.clamp(0.5, 10.0));
        eprintln!(
            "bench: [{}/{}] {what}: {:.1} s; about {} left",
            self.done,
            self.planned.len(),
            took.as_secs_f64(),
            human(left)
        );
    }
}

/// `45 s`, `3 min 20 s`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs_f64().round() as u64;
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_is_counted_and_its_length_said_in_minutes_and_seconds() {
        let mut progress = Progress::new(vec![Duration::from_secs(30); 4]);
        assert_eq!(human(progress.expected()), "2 min 0 s");
        assert_eq!(human(Duration::from_millis(44_600)), "45 s");
        progress.finished("x", Duration::from_secs(1));
        progress.finished("x", Duration::from_secs(1));
        assert_eq!(progress.done, 2);
        progress.skip(1);
        assert_eq!(progress.planned.len(), 3);
        for _ in 0..5 {
            progress.finished("more than planned", Duration::ZERO);
        }
        assert_eq!(progress.done, 3);
    }
}
