//! Teaching output that can never stall a server: every line a server
//! prints while it serves (the Go programs' `fmt.Println` per read, per
//! message, per datagram) goes through a [`Console`], a bounded queue that a
//! writer thread of its own drains to stdout.
//!
//! Why: a write to stdout blocks when stdout is a pipe that nobody reads
//! (`server | less` left on its first page, a stuck log collector). Written
//! on the loop thread, that one blocked `write` would stop the loop, and so
//! every client. Here the loop only appends a line to the queue; when the
//! queue is full (stdout is not keeping up) the line is dropped and counted,
//! stderr says so once, and the count is given again when the server stops.
//! A closed stdout is the same: the lines go nowhere and serving goes on.
//!
//! The summary a server prints when it stops goes through the same queue
//! ([`Console::finish`]), after everything printed before it, and the
//! server waits for it only while stdout makes progress, so even a stuck
//! stdout cannot keep it from exiting.
//!
//! **Proved by:** `full_stdout_does_not_stop_the_server_from_serving`
//! (tcp-server), `full_stdout_does_not_stop_the_udp_server`,
//! `a_blocked_writer_costs_dropped_lines_not_a_blocked_caller` (here).

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::Duration;

/// How many bytes of lines may wait for stdout before new ones are dropped:
/// enough for a burst of reads, little enough to be no memory worry.
pub const QUEUE_BYTES: usize = 1024 * 1024;

/// How long [`Console::finish`] waits for stdout to make progress before
/// it gives up on the lines still queued.
pub const FINISH_PATIENCE: Duration = Duration::from_secs(1);

/// A line queue drained to a writer (stdout) by a thread of its own.
pub struct Console {
    shared: Arc<Shared>,
    /// The writer failed (a closed stdout): skip even formatting lines.
    closed: Arc<AtomicBool>,
}

struct Shared {
    /// The stream's name in messages about it: `stdout`, `stderr`.
    name: &'static str,
    state: Mutex<State>,
    /// Lines were queued (the writer waits on it).
    queued: Condvar,
    /// The writer finished a batch (`finish` waits on it).
    progress: Condvar,
    capacity: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    queued_bytes: usize,
    /// The writer holds a batch it has not finished writing.
    busy: bool,
    /// Batches written, so that `finish` can tell progress from a stall.
    batches: u64,
    dropped: u64,
    /// The first drop was reported on stderr.
    reported: bool,
}

impl Console {
    /// The process' stdout console, started on first use.
    pub fn stdout() -> &'static Console {
        static STDOUT: OnceLock<Console> = OnceLock::new();
        STDOUT.get_or_init(|| Console::new(io::stdout(), QUEUE_BYTES))
    }

    /// A console writing to `writer`, keeping at most `capacity` bytes of
    /// lines queued (one line is always accepted into an empty queue).
    pub fn new(writer: impl Write + Send + 'static, capacity: usize) -> Console {
        Console::named("stdout", writer, capacity)
    }

    /// The same, for a stream that messages about it call `name` (the
    /// `--trace` console writes to stderr: see [`crate::trace`]).
    pub fn named(
        name: &'static str,
        writer: impl Write + Send + 'static,
        capacity: usize,
    ) -> Console {
        let shared = Arc::new(Shared {
            name,
            state: Mutex::new(State::default()),
            queued: Condvar::new(),
            progress: Condvar::new(),
            capacity,
        });
        let closed = Arc::new(AtomicBool::new(false));
        let (thread_shared, thread_closed) = (Arc::clone(&shared), Arc::clone(&closed));
        let started = thread::Builder::new()
            .name("console".to_owned())
            .spawn(move || drain(&thread_shared, &thread_closed, writer));
        if let Err(e) = started {
            log::warn!("cannot start the output thread ({e}); teaching output turned off");
            closed.store(true, Ordering::Relaxed);
        }
        Console { shared, closed }
    }

    /// Queues one line (a newline is added). Never blocks on the writer: if
    /// the queue is full the line is dropped and counted.
    pub fn line(&self, args: fmt::Arguments<'_>) {
        self.push(args, false);
    }

    /// Queues a line; `always` lets it past a full queue (the summary: the
    /// last line, so the queue stays bounded).
    fn push(&self, args: fmt::Arguments<'_>, always: bool) {
        if self.closed.load(Ordering::Relaxed) {
            self.lock().dropped += 1;
            return;
        }
        let mut line = String::new();
        let _ = line.write_fmt(args);
        line.push('\n');
        let mut state = self.lock();
        let fits = always
            || state.queue.is_empty()
            || state.queued_bytes + line.len() <= self.shared.capacity;
        if !fits {
            state.dropped += 1;
            if !std::mem::replace(&mut state.reported, true) && self.shared.may_log() {
                drop(state);
                log::warn!(
                    "{} is not keeping up (a pipe nobody reads?): dropping output lines \
                     while it is full, and still serving; the count is given at exit",
                    self.shared.name
                );
            }
            return;
        }
        state.queued_bytes += line.len();
        state.queue.push_back(line);
        drop(state);
        self.shared.queued.notify_one();
    }

    /// Lines dropped so far, because the queue was full or the writer failed.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Queues the server's last line, `summary` (on a terminal, on a line
    /// of its own: the terminal echoed `^C` where the cursor was), then
    /// waits until everything queued is written, for as long as the writer
    /// keeps making progress ([`FINISH_PATIENCE`] without any ends the
    /// wait). Says on stderr what could not be written. Returns the number
    /// of lines dropped or left unwritten.
    pub fn finish(&self, summary: fmt::Arguments<'_>, on_terminal: bool) -> u64 {
        if on_terminal && !CTRL_C_LINE_ENDED.swap(true, Ordering::Relaxed) {
            self.push(format_args!(""), true);
        }
        self.push(summary, true);
        let mut state = self.lock();
        loop {
            if state.all_written() {
                break;
            }
            let batches = state.batches;
            let (next, _) = self
                .shared
                .progress
                .wait_timeout_while(state, FINISH_PATIENCE, |s| {
                    s.batches == batches && !s.all_written()
                })
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            if state.batches == batches && !state.all_written() {
                // No progress for a whole FINISH_PATIENCE: stdout is stuck.
                let unwritten = state.queue.len() as u64 + u64::from(state.busy);
                state.dropped += unwritten;
                break;
            }
        }
        let dropped = state.dropped;
        drop(state);
        if dropped > 0 && self.shared.may_log() {
            log::warn!(
                "{dropped} output lines were dropped: {} did not take them",
                self.shared.name
            );
        }
        dropped
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn all_written(&self) -> bool {
        self.queue.is_empty() && !self.busy
    }
}

/// Set once stderr ended the line on which the terminal echoed `^C`, so
/// that the summary need not.
static CTRL_C_LINE_ENDED: AtomicBool = AtomicBool::new(false);

/// Ends the terminal's line after a `^C`, on stderr, before a diagnostic
/// about the stop is logged there (see [`Console::finish`] for stdout's
/// side). Does nothing when stderr is not a terminal.
pub fn end_line_after_ctrl_c() {
    if io::stderr().is_terminal() {
        let _ = writeln!(io::stderr());
        CTRL_C_LINE_ENDED.store(true, Ordering::Relaxed);
    }
}

impl Shared {
    /// Whether this console may say things about itself. Those messages go
    /// to stderr through `log`, written on the caller's thread: a console
    /// *on* stderr (the `--trace` one) keeps quiet, or a full stderr would
    /// block the very loop the console is there to protect.
    fn may_log(&self) -> bool {
        self.name != "stderr"
    }
}

/// Whether the process' stdout is a terminal (see [`Console::finish`]).
pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// The writer thread: takes every queued line at once, writes them in one
/// go, and tells `finish` it made progress. A write error (a closed stdout)
/// ends the output for good; the loop thread never learns of it but as
/// lines counted as dropped.
fn drain(shared: &Shared, closed: &AtomicBool, mut writer: impl Write) {
    let mut batch = VecDeque::new();
    let mut bytes = Vec::new();
    loop {
        {
            let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            while state.queue.is_empty() {
                state = shared.queued.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            std::mem::swap(&mut batch, &mut state.queue);
            state.queued_bytes = 0;
            state.busy = true;
        }
        bytes.clear();
        for line in batch.drain(..) {
            bytes.extend_from_slice(line.as_bytes());
        }
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        let result = writer.write_all(&bytes).and_then(|()| writer.flush());
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.busy = false;
        state.batches += 1;
        if let Err(e) = result {
            closed.store(true, Ordering::Relaxed);
            state.dropped += lines + state.queue.len() as u64;
            state.queue.clear();
            state.queued_bytes = 0;
            let first = !std::mem::replace(&mut state.reported, true);
            drop(state);
            shared.progress.notify_all();
            if first && shared.may_log() {
                log::warn!(
                    "cannot write to {} ({e}); output turned off, still serving",
                    shared.name
                );
            }
            return;
        }
        drop(state);
        shared.progress.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A writer that blocks until the test lets it go, like a full pipe.
    struct Blocked(Mutex<mpsc::Receiver<()>>, Arc<Mutex<Vec<u8>>>);
    impl Write for Blocked {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().recv().map_err(io::Error::other)?;
            self.1.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_writer_costs_dropped_lines_not_a_blocked_caller() {
        let (release, gate) = mpsc::channel();
        let written = Arc::new(Mutex::new(Vec::new()));
        let console = Console::new(Blocked(Mutex::new(gate), Arc::clone(&written)), 64);
        // 1 000 lines of 10 bytes into 64 bytes of queue, with the writer
        // stuck on its first write: every call returns, most lines drop.
        // At most two queues' worth got through: the batch the writer took
        // (it may take it late) and the queue behind it.
        for i in 0..1000 {
            console.line(format_args!("line {i:04}"));
        }
        let dropped = console.dropped();
        assert!(dropped >= 1000 - 2 * 7, "{dropped} dropped");
        // Once the writer moves again, what was kept arrives, summary last.
        for _ in 0..10 {
            release.send(()).unwrap();
        }
        let total = console.finish(format_args!("summary: done"), false);
        assert_eq!(total, dropped);
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("line 0000\n"), "{text}");
        assert!(text.ends_with("\nsummary: done\n"), "{text}");
        assert_eq!(text.lines().count() as u64, 1000 - dropped + 1, "{text}");
    }

    #[test]
    fn finish_writes_every_line_in_order_then_the_summary() {
        struct Collect(Arc<Mutex<Vec<u8>>>);
        impl Write for Collect {
            fn write(&mut self, data: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(data);
                Ok(data.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let written = Arc::new(Mutex::new(Vec::new()));
        let console = Console::new(Collect(Arc::clone(&written)), QUEUE_BYTES);
        console.line(format_args!("one"));
        console.line(format_args!("two"));
        assert_eq!(console.finish(format_args!("summary: 2"), true), 0);
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        // On a terminal the summary starts on a line of its own (after `^C`).
        assert_eq!(text, "one\ntwo\n\nsummary: 2\n");
    }
}
