//! Output that can never stall a server: every line a server prints while
//! it serves goes through a [`Console`], a bounded queue that a writer
//! thread of its own drains to the stream. There are two: stdout's, for
//! the teaching output (the Go programs' `fmt.Println` per read, per
//! message, per datagram), and stderr's, for everything else.
//!
//! Why: a write to stdout or stderr blocks when the stream is a pipe that
//! nobody reads (`server 2>&1 | less` left on its first page, a stuck log
//! collector, a supervisor that stopped reading). Written on the loop
//! thread, that one blocked `write` would stop the loop, and so every
//! client, and even a stop signal (the loop is what hears it). Here the
//! loop only appends a line to the queue; when the queue is full (the
//! stream is not keeping up) the line is dropped and counted, said once,
//! and the count is given again when the server stops. A closed stream is
//! the same: the lines go nowhere and serving goes on.
//!
//! [`Console::stderr`] is the only way anything reaches stderr while a
//! server serves: every `log` record of every thread (a `--trace` line, a
//! refusal at `--max-conns`, the stop's "waiting up to 5 s…", a rejected
//! frame: see [`logger`]) and a program's line when it fails. One queue keeps them in the order they were made. stderr says
//! its own drops in that same queue, as soon as it takes lines again (there
//! is nowhere else to say them).
//!
//! At exit a server waits for its queues only while their streams make
//! progress: the summary goes through stdout's queue ([`Console::finish`]),
//! after everything printed before it, and stderr's last lines, with the
//! count of what it dropped, go out as the [`logger::StderrGuard`] drops. So
//! even a stuck stream cannot keep the server from exiting.
//!
//! **Proved by:** `full_stdout_does_not_stop_the_server_from_serving`
//! (tcp-server), `full_stdout_does_not_stop_the_udp_server`,
//! `a_blocked_writer_costs_dropped_lines_not_a_blocked_caller`,
//! `a_stuck_stderr_says_what_it_dropped_once_it_takes_lines_again`,
//! `a_stream_stuck_for_good_lets_the_last_wait_end` (here); for stderr,
//! `full_stderr_stops_neither_serving_nor_stopping` and
//! `full_stderr_under_trace_stops_neither_serving_nor_stopping`
//! (tcp-server), `full_stdout_and_stderr_stop_neither_serving_nor_stopping`
//! (udp-server), `full_stderr_does_not_stop_server2_rejecting_frames`
//! (stick-demo).

pub mod logger;

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::Duration;

/// How many bytes of lines may wait for a stream before new ones are
/// dropped: enough for a burst of reads, little enough to be no memory worry.
pub const QUEUE_BYTES: usize = 1024 * 1024;

/// How long a console's last wait ([`Console::finish`]) lasts without the
/// stream making progress before it gives up on the lines still queued.
pub const FINISH_PATIENCE: Duration = Duration::from_secs(1);

/// stderr's console, once anything used it.
static STDERR: OnceLock<Console> = OnceLock::new();

/// A line queue drained to a writer (stdout, stderr) by a thread of its own.
pub struct Console {
    shared: Arc<Shared>,
    /// The writer failed (a closed stream): skip even formatting lines.
    closed: Arc<AtomicBool>,
}

/// How a console says that it dropped lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reports {
    /// Through `log`, so on stderr's console: stdout's way.
    ToLog,
    /// In its own queue, once it has room again: stderr's way, since a
    /// report through `log` would come back to this very queue.
    InQueue,
}

struct Shared {
    /// The stream's name in messages about it: `stdout`, `stderr`.
    name: &'static str,
    reports: Reports,
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
    /// Lines of the batch the writer is writing (0 when it is not).
    busy: u64,
    /// Batches written, so that `finish` can tell progress from a stall.
    batches: u64,
    dropped: u64,
    /// The first drop was reported, or (for [`Reports::InQueue`]) will be
    /// with the next line that fits.
    reported: bool,
    /// [`Reports::InQueue`]: lines were dropped and that is not said yet.
    report_due: bool,
}

impl Console {
    /// The process' stdout console, started on first use.
    pub fn stdout() -> &'static Console {
        static STDOUT: OnceLock<Console> = OnceLock::new();
        STDOUT.get_or_init(|| Console::new(io::stdout(), QUEUE_BYTES))
    }

    /// The process' stderr console, started on first use: the one way to
    /// stderr while a server serves (see the module doc).
    pub fn stderr() -> &'static Console {
        STDERR.get_or_init(|| {
            Console::start("stderr", Reports::InQueue, stderr_writer(), QUEUE_BYTES)
        })
    }

    /// A console writing to `writer`, keeping at most `capacity` bytes of
    /// lines queued (one line is always accepted into an empty queue). It
    /// reports its drops through `log`, as stdout's does.
    pub fn new(writer: impl Write + Send + 'static, capacity: usize) -> Console {
        Console::start("stdout", Reports::ToLog, writer, capacity)
    }

    fn start(
        name: &'static str,
        reports: Reports,
        writer: impl Write + Send + 'static,
        capacity: usize,
    ) -> Console {
        let shared = Arc::new(Shared {
            name,
            reports,
            state: Mutex::new(State::default()),
            queued: Condvar::new(),
            progress: Condvar::new(),
            capacity,
        });
        let closed = Arc::new(AtomicBool::new(false));
        let (thread_shared, thread_closed) = (Arc::clone(&shared), Arc::clone(&closed));
        let started = thread::Builder::new()
            .name(format!("{name} writer"))
            .spawn(move || drain(&thread_shared, &thread_closed, writer));
        if let Err(e) = started {
            closed.store(true, Ordering::Relaxed);
            // Not from stderr's own console: the warning would be a line
            // for the console still being made.
            if reports == Reports::ToLog {
                log::warn!("cannot start the {name} thread ({e}); its output is turned off");
            }
        }
        Console { shared, closed }
    }

    /// Queues one line (a newline is added). Never blocks on the writer: if
    /// the queue is full the line is dropped and counted.
    pub fn line(&self, args: fmt::Arguments<'_>) {
        self.push(|text| writeln_to(text, args), false);
    }

    /// Queues `text` as it is: a `log` record, which ends its own line.
    pub(crate) fn text(&self, text: &str) {
        self.push(|queued| queued.push_str(text), false);
    }

    /// Queues what `write` writes; `always` lets it past a full queue (a
    /// program's last words, so the queue stays bounded).
    fn push(&self, write: impl FnOnce(&mut String), always: bool) {
        if self.closed.load(Ordering::Relaxed) {
            self.lock().dropped += 1;
            return;
        }
        let mut line = String::new();
        write(&mut line);
        let mut state = self.lock();
        let fits = always
            || state.queue.is_empty()
            || state.queued_bytes + line.len() <= self.shared.capacity;
        if !fits {
            state.dropped += 1;
            if !std::mem::replace(&mut state.reported, true) {
                match self.shared.reports {
                    Reports::InQueue => state.report_due = true,
                    Reports::ToLog => {
                        drop(state);
                        log::warn!(
                            "{} is not keeping up (a pipe nobody reads?): dropping output lines \
                             while it is full, and still serving; the count is given at exit",
                            self.shared.name
                        );
                    }
                }
            }
            return;
        }
        if std::mem::take(&mut state.report_due) {
            // The first line that fits since the first drop: said first.
            let mut report = String::new();
            writeln_to(
                &mut report,
                format_args!(
                    "{} was not keeping up (a pipe nobody reads?): {} lines dropped, \
                     still serving; the count is given at exit",
                    self.shared.name, state.dropped
                ),
            );
            state.queued_bytes += report.len();
            state.queue.push_back(report);
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
            self.push(|text| text.push('\n'), true);
        }
        self.push(|text| writeln_to(text, summary), true);
        let dropped = self.wait_while_writing();
        if dropped > 0 && self.shared.reports == Reports::ToLog {
            log::warn!(
                "{dropped} output lines were dropped: {} did not take them",
                self.shared.name
            );
        }
        dropped
    }

    /// stderr's last words: how many lines it dropped, if any, queued past
    /// a full queue; then the same bounded wait as [`Console::finish`].
    /// Returns the number of lines dropped or left unwritten.
    pub(crate) fn finish_with_drop_count(&self) -> u64 {
        let dropped = self.dropped();
        if dropped > 0 {
            let name = self.shared.name;
            self.push(
                |text| {
                    writeln_to(
                        text,
                        format_args!("{dropped} lines were dropped: {name} did not take them"),
                    )
                },
                true,
            );
        }
        self.wait_while_writing()
    }

    /// Waits until everything queued is written, or until the writer has
    /// made no progress for [`FINISH_PATIENCE`], when what is left counts
    /// as dropped. Returns the lines dropped in all.
    fn wait_while_writing(&self) -> u64 {
        let mut state = self.lock();
        while !state.all_written() {
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
                // No progress for a whole FINISH_PATIENCE: the stream is stuck.
                let unwritten = state.queue.len() as u64 + state.busy;
                state.dropped += unwritten;
                break;
            }
        }
        state.dropped
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn all_written(&self) -> bool {
        self.queue.is_empty() && self.busy == 0
    }
}

/// `args` and a newline, appended to `text`.
fn writeln_to(text: &mut String, args: fmt::Arguments<'_>) {
    // Writing to a String cannot fail.
    let _ = text.write_fmt(args);
    text.push('\n');
}

/// Set once stderr ended the line on which the terminal echoed `^C`, so
/// that the summary need not.
static CTRL_C_LINE_ENDED: AtomicBool = AtomicBool::new(false);

/// Ends the terminal's line after a `^C`, on stderr, before a diagnostic
/// about the stop is logged there (see [`Console::finish`] for stdout's
/// side). Does nothing when stderr is not a terminal. Queued like every
/// stderr line: a loop calls it, and a terminal can stall too (Ctrl-S).
pub fn end_line_after_ctrl_c() {
    if io::stderr().is_terminal() {
        Console::stderr().line(format_args!(""));
        CTRL_C_LINE_ENDED.store(true, Ordering::Relaxed);
    }
}

/// Whether the process' stdout is a terminal (see [`Console::finish`]).
pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// What stderr's console writes to: a descriptor of its own for the
/// process' stderr, not `io::stderr()`. A write through `io::stderr()`
/// holds std's stderr lock for as long as it blocks, so a stuck stderr
/// would also stop every `eprintln!` of the process, on any thread, until
/// it moved. The exception is a Windows console, which only std's `Stderr`
/// writes correctly (it turns UTF-8 into the console's UTF-16).
fn stderr_writer() -> Box<dyn Write + Send> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = io::stderr().as_fd().try_clone_to_owned() {
            return Box::new(std::fs::File::from(fd));
        }
    }
    #[cfg(windows)]
    if !io::stderr().is_terminal() {
        use std::os::windows::io::AsHandle;
        if let Ok(handle) = io::stderr().as_handle().try_clone_to_owned() {
            return Box::new(std::fs::File::from(handle));
        }
    }
    Box::new(io::stderr())
}

/// The writer thread: takes every queued line at once, writes them in one
/// go, and tells `finish` it made progress. A write error (a closed stream)
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
            state.busy = batch.len() as u64;
        }
        bytes.clear();
        let lines = batch.len() as u64;
        for line in batch.drain(..) {
            bytes.extend_from_slice(line.as_bytes());
        }
        let result = writer.write_all(&bytes).and_then(|()| writer.flush());
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.busy = 0;
        state.batches += 1;
        if let Err(e) = result {
            closed.store(true, Ordering::Relaxed);
            state.dropped += lines + state.queue.len() as u64;
            state.queue.clear();
            state.queued_bytes = 0;
            let first = !std::mem::replace(&mut state.reported, true);
            drop(state);
            shared.progress.notify_all();
            // A closed stderr cannot be told about itself.
            if first && shared.reports == Reports::ToLog {
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
    fn a_stuck_stderr_says_what_it_dropped_once_it_takes_lines_again() {
        let (release, gate) = mpsc::channel();
        let written = Arc::new(Mutex::new(Vec::new()));
        let blocked = Blocked(Mutex::new(gate), Arc::clone(&written));
        let console = Console::start("stderr", Reports::InQueue, blocked, 256);
        for i in 0..100 {
            console.line(format_args!("line {i:04}"));
        }
        let dropped = console.dropped();
        assert!(dropped > 0);
        // stderr moves again: the next line that fits goes out after the
        // report of the drops, which comes once only.
        for _ in 0..100 {
            release.send(()).unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !console.lock().all_written() {
            assert!(std::time::Instant::now() < deadline, "never written");
            thread::yield_now();
        }
        console.line(format_args!("after"));
        console.line(format_args!("after again"));
        let total = console.finish_with_drop_count();
        assert_eq!(total, dropped);
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let report = format!(
            "stderr was not keeping up (a pipe nobody reads?): {dropped} lines dropped, \
             still serving; the count is given at exit\nafter\nafter again\n"
        );
        assert!(text.contains(&report), "{text}");
        assert_eq!(text.matches("not keeping up").count(), 1, "{text}");
        assert!(
            text.ends_with(&format!(
                "\n{dropped} lines were dropped: stderr did not take them\n"
            )),
            "{text}"
        );
    }

    #[test]
    fn a_stream_stuck_for_good_lets_the_last_wait_end() {
        // The writer's first write never returns, as on a full pipe that
        // nobody will ever read: the last wait gives up once the writer
        // made no progress for FINISH_PATIENCE, and counts what was left.
        let (_never_released, gate) = mpsc::channel::<()>();
        let written = Arc::new(Mutex::new(Vec::new()));
        let blocked = Blocked(Mutex::new(gate), Arc::clone(&written));
        let console = Console::start("stderr", Reports::InQueue, blocked, QUEUE_BYTES);
        console.line(format_args!("never written"));
        console.line(format_args!("nor this"));
        assert_eq!(console.finish_with_drop_count(), 2);
        assert!(written.lock().unwrap().is_empty());
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
