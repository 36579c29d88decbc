//! What a client asks, one line each, and the slow work it may ask for.
//!
//! | request line | reply (one line) | where |
//! |---|---|---|
//! | `sleep MS` (MS from 0 to 10 000) | `slept MS ms` | a worker blocks MS ms |
//! | `spin MS` | `spun MS ms` | a worker computes for MS ms |
//! | `panic` | `error: the job failed (panicked)` | a worker's job panics |
//! | `sleep` or `spin` with a bad or out-of-range number | [`BAD_JOB`] | at once, on the loop |
//! | anything else | the same line | at once, on the loop |
//!
//! Read as the Go twin reads it: the word before the first space, then
//! the rest as a whole number (`strconv.Atoi`: a sign allowed, nothing
//! else). A line is bytes: one that is not UTF-8 is no job, and is echoed.

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

/// The longest job a request may ask for, in milliseconds.
pub const MAX_MS: i64 = 10_000;

/// The reply to `sleep` or `spin` with a number that is not one, or out of
/// range.
pub const BAD_JOB: &str = r#"error: expected "sleep MS" or "spin MS" with MS from 0 to 10000"#;

/// The reply to a job that panicked.
pub const FAILED: &str = "error: the job failed (panicked)";

/// What one line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Slow work, for a worker.
    Job(Job),
    /// `sleep` or `spin` without a usable number.
    BadJob,
    /// Anything else: the line, to send back.
    Echo(&'a [u8]),
}

/// Slow work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Block (a blocking call: `thread::sleep`) this many milliseconds.
    Sleep(u64),
    /// Compute (a busy loop on the clock) this many milliseconds.
    Spin(u64),
    /// Panic: a job that fails.
    Panic,
}

impl Request<'_> {
    /// Reads one line (without its newline).
    pub fn parse(line: &[u8]) -> Request<'_> {
        if line == b"panic" {
            return Request::Job(Job::Panic);
        }
        let (word, number) = match line.iter().position(|&b| b == b' ') {
            Some(space) => (&line[..space], &line[space + 1..]),
            None => (line, &b""[..]),
        };
        let job: fn(u64) -> Job = match word {
            b"sleep" => Job::Sleep,
            b"spin" => Job::Spin,
            _ => return Request::Echo(line),
        };
        let ms = std::str::from_utf8(number)
            .ok()
            .and_then(|number| number.parse::<i64>().ok())
            .filter(|ms| (0..=MAX_MS).contains(ms));
        match ms {
            Some(ms) => Request::Job(job(ms.unsigned_abs())),
            None => Request::BadJob,
        }
    }
}

impl Job {
    /// Does the work, on the calling thread (a worker's); the reply line,
    /// without its newline.
    pub fn run(self) -> String {
        match self {
            Job::Sleep(ms) => {
                thread::sleep(Duration::from_millis(ms));
                format!("slept {ms} ms")
            }
            Job::Spin(ms) => {
                let end = Instant::now() + Duration::from_millis(ms);
                while Instant::now() < end {
                    std::hint::spin_loop();
                }
                format!("spun {ms} ms")
            }
            Job::Panic => panic!("the client asked this job to panic"),
        }
    }
}

impl fmt::Display for Job {
    /// The request, as the client wrote it: `sleep 300`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Job::Sleep(ms) => write!(f, "sleep {ms}"),
            Job::Spin(ms) => write!(f, "spin {ms}"),
            Job::Panic => f.write_str("panic"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_read_as_the_go_twin_reads_them() {
        let cases: [(&[u8], Request<'_>); 12] = [
            (b"sleep 20", Request::Job(Job::Sleep(20))),
            (b"spin 0", Request::Job(Job::Spin(0))),
            (b"sleep 10000", Request::Job(Job::Sleep(10_000))),
            (b"sleep +5", Request::Job(Job::Sleep(5))),
            (b"panic", Request::Job(Job::Panic)),
            (b"sleep 10001", Request::BadJob),
            (b"sleep -1", Request::BadJob),
            (b"spin ten", Request::BadJob),
            (b"sleep", Request::BadJob),
            (b"sleep  5", Request::BadJob),
            (b"panic now", Request::Echo(b"panic now")),
            (b"sleepy 5", Request::Echo(b"sleepy 5")),
        ];
        for (line, expected) in cases {
            assert_eq!(
                Request::parse(line),
                expected,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(Request::parse(b"\xff sleep"), Request::Echo(b"\xff sleep"));
        assert_eq!(Request::parse(b"sleep \xff"), Request::BadJob);
    }

    #[test]
    fn a_job_says_what_it_did() {
        assert_eq!(Job::Sleep(0).run(), "slept 0 ms");
        assert_eq!(Job::Spin(1).run(), "spun 1 ms");
        assert_eq!(Job::Spin(1).to_string(), "spin 1");
    }
}
