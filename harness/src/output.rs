//! What a child printed and how it ended: lines read by a thread per
//! stream, kept in order and bounded, the exit status recorded by the
//! child's reaper thread, and one condition variable to wait on for any of
//! it with a deadline.
//!
//! A line is the text before a `\n`, decoded lossily: a `\r` stays visible,
//! and invalid UTF-8 shows as U+FFFD instead of ending the capture (the pipe
//! would fill and block the child). The last line may lack its `\n`; that is
//! remembered, so [`crate::Finished`] can give back the exact text.

use std::{
    fmt,
    io::{BufRead, BufReader, Read},
    process::ExitStatus,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::Instant,
};

/// Lines kept per stream. Later lines are counted, not kept, so what is
/// kept is always the beginning of the output, without gaps.
pub const MAX_LINES: usize = 5_000;
/// Bytes kept per line; the rest of a longer line is dropped.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output: the teaching lines and the server contract.
    Stdout = 0,
    /// Standard error: diagnostics and `--trace`.
    Stderr = 1,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(["stdout", "stderr"][*self as usize])
    }
}

/// Shows a line as it arrives: given the child's label, the stream and the
/// line, on the reader thread (how the demo shows a program's output live).
pub type ShowLine = dyn Fn(&str, Stream, &str) + Send + Sync;

/// What the reader threads do with each line besides keeping it: nothing
/// (`None`), or show it.
pub type Echo = Option<Arc<ShowLine>>;

/// The lines of one stream.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    /// Without their `\n`.
    pub(crate) kept: Vec<String>,
    /// The last kept line had no `\n` (the child ended mid-line).
    unterminated: bool,
    /// Lines not kept because of [`MAX_LINES`].
    pub(crate) dropped: usize,
    /// Closed: the child, and anything holding its pipe, is gone.
    pub(crate) closed: bool,
}

impl Lines {
    /// The exact text of the kept lines from `from` on.
    pub(crate) fn text_from(&self, from: usize) -> String {
        let rest = self.kept.get(from..).unwrap_or_default();
        let end = if rest.is_empty() || self.unterminated {
            ""
        } else {
            "\n"
        };
        rest.join("\n") + end
    }
}

/// Everything the threads watching one child have seen.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    streams: [Lines; 2],
    /// Set when the child is reaped: from then on its pid may belong to
    /// another process, so nothing may signal it.
    pub(crate) status: Option<ExitStatus>,
}

impl Captured {
    pub(crate) fn of(&self, stream: Stream) -> &Lines {
        &self.streams[stream as usize]
    }

    pub(crate) fn all_closed(&self) -> bool {
        self.streams.iter().all(|lines| lines.closed)
    }
}

/// The two streams and the exit of one child, shared with the threads that
/// watch it.
#[derive(Debug, Default)]
pub(crate) struct Output {
    captured: Mutex<Captured>,
    changed: Condvar,
}

impl Output {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Captured> {
        // A reader thread that panicked leaves the data intact; keep going.
        self.captured.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state under the lock and wakes every waiter.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Captured)) {
        change(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until `check` returns an answer, re-asking after each change;
    /// `None` at `deadline`.
    pub(crate) fn wait<T>(
        &self,
        deadline: Instant,
        mut check: impl FnMut(&Captured) -> Option<T>,
    ) -> Option<T> {
        let left = deadline.saturating_duration_since(Instant::now());
        let waited = self
            .changed
            .wait_timeout_while(self.lock(), left, |c| check(c).is_none());
        check(&waited.unwrap_or_else(|e| e.into_inner()).0)
    }

    /// Reads `pipe` to its end into `stream`, showing each line as `echo`
    /// says (on the calling thread: the child's reader thread).
    pub(crate) fn read(&self, pipe: impl Read, stream: Stream, label: &str, echo: &Echo) {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        // Ends at end of stream or on a read error (the pipe is ours and
        // local, so an error means the same: nothing more comes).
        while let Some(ended) = read_line_bounded(&mut reader, &mut line, MAX_LINE_LEN) {
            let text = String::from_utf8_lossy(&line).into_owned();
            if let Some(show) = echo {
                show(label, stream, &text);
            }
            self.update(|captured| {
                let lines = &mut captured.streams[stream as usize];
                if lines.dropped == 0 && lines.kept.len() < MAX_LINES {
                    lines.kept.push(text);
                    lines.unterminated = !ended;
                } else {
                    lines.dropped += 1;
                }
            });
        }
        self.update(|captured| captured.streams[stream as usize].closed = true);
    }
}

/// Reads one line (without its `\n`) into `line`, keeping at most `max`
/// bytes of it. `Some(true)` for a line ended by `\n`, `Some(false)` for a
/// last line without one, `None` at the end of the stream or on an error.
fn read_line_bounded(reader: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> Option<bool> {
    line.clear();
    let n = reader.take(max as u64).read_until(b'\n', line).ok()?;
    if line.last() == Some(&b'\n') {
        line.pop();
        return Some(true);
    }
    // Cut at `max`: the rest of the line is dropped, up to its `\n`.
    let skipped = if n == max {
        reader.skip_until(b'\n').ok()?
    } else {
        0
    };
    (n > 0).then_some(skipped > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_and_the_exact_text_is_rebuilt() {
        let mut reader = std::io::Cursor::new(b"abcdef\r\nxy".to_vec());
        let mut line = Vec::new();
        assert_eq!(read_line_bounded(&mut reader, &mut line, 4), Some(true));
        assert_eq!(line, b"abcd");
        assert_eq!(read_line_bounded(&mut reader, &mut line, 10), Some(false));
        assert_eq!(line, b"xy");
        assert_eq!(read_line_bounded(&mut reader, &mut line, 4), None);
        let lines = |kept: &[&str], unterminated| Lines {
            kept: kept.iter().map(|s| s.to_string()).collect(),
            unterminated,
            ..Lines::default()
        };
        assert_eq!(lines(&["a\r", "b"], true).text_from(0), "a\r\nb");
        assert_eq!(lines(&["a", "b"], false).text_from(1), "b\n");
        assert_eq!(lines(&["a"], false).text_from(1), "");
    }
}
