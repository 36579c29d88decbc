//! Saying where a long run is: its expected length up front, then after
//! each measurement `k/N` and the time left, on stderr (stdout is the
//! report). The plan expects every server to keep up with ours; a server's
//! first round says how fast it really is, and its remaining rounds of the
//! table are then expected to take as long (a slow server's bulk transfer
//! can take thirty times the plan).

use std::time::Duration;

/// The run's measurements, each named by its table and server: those still
/// to come with their expected lengths, and how many are done.
pub struct Progress {
    left: Vec<(String, Duration)>,
    done: usize,
}

impl Progress {
    pub fn new(planned: Vec<(String, Duration)>) -> Progress {
        Progress {
            left: planned,
            done: 0,
        }
    }

    /// How many measurements the run makes.
    pub fn len(&self) -> usize {
        self.done + self.left.len()
    }

    /// What is still to come, in all.
    pub fn expected(&self) -> Duration {
        self.left.iter().map(|(_, d)| *d).sum()
    }

    /// The measurements of `key` will not be made (a server skipped).
    pub fn skip(&mut self, key: &str) {
        self.left.retain(|(k, _)| k != key);
    }

    /// One measurement of `key` (round `round`) took `took`: `bench: [3/16]
    /// tcp --conns=50, tokio, round 1: 1.3 s; about 21 s left`.
    pub fn finished(&mut self, key: &str, round: usize, took: Duration) {
        if let Some(at) = self.left.iter().position(|(k, _)| k == key) {
            self.left.remove(at);
        }
        self.done += 1;
        for (_, expected) in self.left.iter_mut().filter(|(k, _)| k == key) {
            *expected = took;
        }
        let (done, all, left) = (self.done, self.len(), human(self.expected()));
        let took = took.as_secs_f64();
        eprintln!("bench: [{done}/{all}] {key}, round {round}: {took:.1} s; about {left} left");
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
        let mut progress = Progress::new(vec![plan("a"), plan("a"), plan("b"), plan("b")]);
        assert_eq!(human(progress.expected()), "2 min 0 s");
        assert_eq!(human(Duration::from_millis(44_600)), "45 s");
        // `b` runs first, and is ten times slower than planned: its next
        // round will be too; `a`'s are still as planned.
        progress.finished("b", 1, secs(300));
        assert_eq!(progress.expected(), secs(30 + 30 + 300));
        progress.finished("a", 1, secs(30));
        progress.skip("b");
        assert_eq!((progress.len(), progress.expected()), (3, secs(30)));
        progress.finished("a", 2, Duration::ZERO);
        assert_eq!((progress.done, progress.expected()), (3, Duration::ZERO));
    }
}
