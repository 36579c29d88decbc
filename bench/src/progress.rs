//! Saying where a long run is: its expected length up front, then after
//! each measurement `k/N` and the time left, on stderr (stdout is the
//! report). The plan expects every server to keep up with ours; a server's
//! first round says how fast it really is, and its remaining rounds of the
//! table are then expected to take as long (a slow server's bulk transfer
//! can take thirty times the plan).

use std::time::Duration;

/// The run's measurements, each named by its table and server, counted as
/// they finish.
pub struct Progress {
    /// Measurements planned, each with its expected length, in order.
    planned: Vec<(String, Duration)>,
    done: usize,
}

impl Progress {
    pub fn new(planned: Vec<(String, Duration)>) -> Progress {
        Progress { planned, done: 0 }
    }

    /// How many measurements are planned.
    pub fn len(&self) -> usize {
        self.planned.len()
    }

    /// What is still planned, in all.
    pub fn expected(&self) -> Duration {
        self.planned[self.done..].iter().map(|(_, d)| *d).sum()
    }

    /// The measurements of `key` will not be made (a server skipped).
    pub fn skip(&mut self, key: &str) {
        let mut index = 0;
        self.planned.retain(|(k, _)| {
            index += 1;
            index <= self.done || k != key
        });
    }

    /// One measurement of `key` (round `round`) took `took`: `bench: [3/16]
    /// tcp --conns=50, tokio, round 1: 1.3 s; about 21 s left`.
    pub fn finished(&mut self, key: &str, round: usize, took: Duration) {
        self.done = (self.done + 1).min(self.planned.len());
        for (_, expected) in self.planned[self.done..]
            .iter_mut()
            .filter(|(k, _)| k == key)
        {
            *expected = took;
        }
        let (done, planned, left) = (self.done, self.planned.len(), human(self.expected()));
        let took = took.as_secs_f64();
        eprintln!("bench: [{done}/{planned}] {key}, round {round}: {took:.1} s; about {left} left");
    }
}

/// `45 s`, `3 min 20 s`.
pub fn human(duration: Duration) -> String {
    match duration.as_secs_f64().round() as u64 {
        secs @ 0..60 => format!("{secs} s"),
        secs => format!("{} min {} s", secs / 60, secs % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_follows_each_servers_own_pace() {
        let secs = Duration::from_secs;
        let plan = |key: &str| (key.to_owned(), secs(30));
        let mut progress = Progress::new(vec![plan("a"), plan("b"), plan("a"), plan("b")]);
        assert_eq!(human(progress.expected()), "2 min 0 s");
        assert_eq!(human(Duration::from_millis(44_600)), "45 s");
        // `a` is ten times slower than planned: its next round will be too.
        progress.finished("a", 1, secs(300));
        assert_eq!(progress.expected(), secs(30 + 300 + 30));
        progress.skip("b");
        assert_eq!((progress.len(), progress.expected()), (2, secs(300)));
        for round in 0..5 {
            progress.finished("a", round, Duration::ZERO);
        }
        assert_eq!((progress.done, progress.expected()), (2, Duration::ZERO));
    }
}
