//! `log` records, from any thread, through stderr's [`Console`]: how a
//! warning of a loop (a refusal at `--max-conns`, an accept error, the
//! stop's "waiting up to 5 s…", a rejected frame) reaches the terminal
//! without ever blocking the loop on a stderr nobody reads.
//!
//! env_logger does what it always does (reads `RUST_LOG`, filters, formats
//! the record as every Rust program's log lines look), and writes the
//! finished record into its `Target::Pipe`, which here is the stderr
//! queue instead of the stream itself. We keep env_logger rather than
//! write a `log::Log` of our own because all it lacked was where the bytes
//! go, and that is what `Target::Pipe` is for; its filter syntax and its
//! format stay the ones users know.
//!
//! The cost on a loop's hot path is nil when nothing is logged: `log`'s
//! macros first compare the record's level with a static maximum (set
//! from the filter), so a `debug!` under the default `warn` is one
//! comparison, and nothing is formatted. A record that is logged costs its
//! formatting and one short-held lock, never a write.
//!
//! A program sets this up once, first thing in `main`, and keeps the
//! returned [`StderrGuard`] until `main` returns: dropping it writes out
//! what is still queued, with the count of anything stderr did not take,
//! waiting only while stderr makes progress.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use super::{Console, STDERR};

/// Sends every `log` record into [`Console::stderr`], filtered by
/// `RUST_LOG` (default: warnings and errors). Returns the guard that
/// writes out stderr's last lines when `main` ends; keep it alive until
/// then (`let _stderr = …`). A second call changes nothing.
pub fn init() -> StderrGuard {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"));
    builder.target(env_logger::Target::Pipe(Box::new(IntoStderrQueue)));
    // env_logger colours a pipe only when told to; a terminal behind the
    // queue still deserves colours, unless the user said otherwise. (Unix
    // only: a Windows console needs its own calls to show them.)
    let told = ["RUST_LOG_STYLE", "NO_COLOR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if cfg!(unix) && !told && io::stderr().is_terminal() {
        builder.write_style(env_logger::WriteStyle::Always);
    }
    // Already set up (a second call): the first logger stays.
    let _ = builder.try_init();
    // Started now, while descriptors are plenty: its writer takes a copy
    // of stderr's, which a server out of them (EMFILE) could not make.
    Console::stderr();
    StderrGuard { _private: () }
}

/// Writes out what stderr's console still holds when dropped: the lines
/// queued, then, if stderr dropped any, how many. Waits only while stderr
/// makes progress ([`super::FINISH_PATIENCE`]), so a stuck stderr delays
/// the exit by that much and no more.
#[must_use = "stderr's last lines are written when the guard drops; keep it until main returns"]
pub struct StderrGuard {
    _private: (),
}

impl Drop for StderrGuard {
    fn drop(&mut self) {
        // Only if anything ever used stderr's console.
        if let Some(console) = STDERR.get() {
            console.finish_with_drop_count();
        }
    }
}

/// env_logger's target: each finished record (env_logger writes one
/// record per `write_all`) becomes one entry of stderr's queue.
struct IntoStderrQueue;

impl Write for IntoStderrQueue {
    fn write(&mut self, record: &[u8]) -> io::Result<usize> {
        Console::stderr().text(&String::from_utf8_lossy(record));
        Ok(record.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

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
