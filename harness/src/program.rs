//! [`Program`]: a running child, started in its own group with its output
//! captured, waited for with deadlines, stopped with SIGTERM, and killed
//! with its whole group when dropped.
//!
//! Two faces over one machinery. A tool (the demo, compare, the bench)
//! calls the fallible methods, whose failures are `io::Error`s naming the
//! child and what was waited for, which it can record and go on from. A
//! test calls the short ones ([`Program::listening_addr`],
//! [`Program::stdout_until`], …), each a panic naming the program and what
//! it printed, each bounded by [`DEADLINE`] unless the test says otherwise.
//! Both read lines in order: a line read once is not read again.
//!
//! Each child has a reaper thread that blocks until the child exits, kills
//! what is left of its group, reaps it and records the status where every
//! wait sees it. So a wait with a deadline is a wait on a condition
//! variable: no polling, and no SIGCHLD handler (which would interrupt
//! blocking calls with timeouts on every other thread whenever any child
//! exits).

use std::{
    cell::{Cell, OnceCell},
    io::{self, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Command, ExitStatus, Stdio},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use crate::{
    Echo, MAX_LINES, Stream,
    group::{reap_registered, spawn_grouped},
    output::Output,
    sys::{self, Group},
};

/// The default bound on every wait of a test. Generous on purpose: it
/// catches a hang, it is not a performance expectation, and a loaded CI
/// machine must not fail a correct program.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How long a child killed by `Drop` may take to be reaped (SIGKILL cannot
/// be ignored, so this only guards against a wedged kernel).
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running child. Dropping it kills its process group and reaps it.
pub struct Program {
    label: String,
    pid: u32,
    group: Arc<Group>,
    /// Its output and, once reaped, its exit status.
    output: Arc<Output>,
    /// The bound on a test's waits ([`Program::with_timeout`]).
    timeout: Duration,
    listening: OnceCell<SocketAddr>,
    /// How many lines of stdout and of stderr were read: the next to read.
    read: [Cell<usize>; 2],
}

/// What a program printed (exactly) and how it ended.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Its stdout not read yet, byte for byte (but see [`crate::output`]).
    pub stdout: String,
    /// Its stderr not read yet.
    pub stderr: String,
}

/// An error naming what went wrong with the child `label`.
fn error(label: &str, kind: io::ErrorKind, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(kind, format!("{label}: {why}"))
}

/// Starts a named thread for the child `label`.
fn spawn(label: &str, role: &str, run: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let started = thread::Builder::new()
        .name(format!("{role} of {label}"))
        .spawn(run);
    started
        .map(drop)
        .map_err(|e| error(label, e.kind(), format!("cannot start a thread: {e}")))
}

impl Program {
    /// Starts `command` as `label`, in its own process group, with stdout
    /// and stderr captured (and shown as `echo` says). `stdin` is written
    /// by a thread and then closed, so a client that reads until end of
    /// input finishes; `None` gives the child `/dev/null`.
    pub fn start(
        label: &str,
        mut command: Command,
        stdin: Option<Vec<u8>>,
        echo: Echo,
    ) -> io::Result<Program> {
        let input = if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        command
            .stdin(input)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut child, group) = spawn_grouped(&mut command).map_err(|e| {
            error(
                &describe(&command),
                e.kind(),
                format!("cannot start it: {e}"),
            )
        })?;
        let (stdout, stderr, pipe) = (child.stdout.take(), child.stderr.take(), child.stdin.take());
        let output = Arc::new(Output::default());
        let pid = child.id();
        let (reaped_group, reaped) = (Arc::clone(&group), Arc::clone(&output));
        let reaper = spawn(label, "reaper", move || {
            sys::wait_for_exit_unreaped(&child);
            // Reaping and recording under one lock: see `Program::send`.
            reap_registered(pid, || {
                reaped.update(|captured| {
                    // A zombie now: its pid, and so its group id, cannot be
                    // reused yet. Anything it left in its group (a shell's
                    // background job holding our pipes) goes with it.
                    reaped_group.kill();
                    // An error means the interrupt handler reaped it.
                    let status = child.wait().unwrap_or_else(|_| sys::killed_status());
                    captured.status = Some(status);
                })
            });
        });
        if let Err(e) = reaper {
            // Without its reaper the child cannot be waited for.
            group.kill();
            return Err(e);
        }
        // From here on the guard owns the child: any early return kills it.
        let program = Program {
            label: label.to_owned(),
            pid,
            group,
            output,
            timeout: DEADLINE,
            listening: OnceCell::new(),
            read: [Cell::new(0), Cell::new(0)],
        };
        let reader = |stream: Stream, pipe: Box<dyn io::Read + Send>| {
            let (output, echo, name) =
                (Arc::clone(&program.output), echo.clone(), label.to_owned());
            let read = move || output.read(pipe, stream, &name, &echo);
            spawn(label, &stream.to_string(), read)
        };
        reader(Stream::Stdout, Box::new(stdout.expect("piped")))?;
        reader(Stream::Stderr, Box::new(stderr.expect("piped")))?;
        if let (Some(mut pipe), Some(input)) = (pipe, stdin) {
            // A child that prints before it reads must not deadlock us; one
            // that exits before reading everything closes the pipe: its
            // business, and the caller's checks will say.
            spawn(label, "stdin", move || drop(pipe.write_all(&input)))?;
        }
        Ok(program)
    }

    /// The name this child's lines and errors are shown with.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The process id (also its process group id on Unix).
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The next lines of `stream`, up to and including the first that
    /// `done` accepts (`what` names it in an error), waiting for them until
    /// `timeout`. Lines returned are read: the next call starts after them.
    pub fn lines_until(
        &self,
        stream: Stream,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> io::Result<Vec<String>> {
        let deadline = Instant::now() + timeout;
        let cursor = &self.read[stream as usize];
        let fail = |kind, why: String| Err(error(&self.label, kind, why));
        let mut lines = Vec::new();
        loop {
            let index = cursor.get();
            let next = self.output.wait(deadline, |captured| {
                let lines = captured.of(stream);
                match lines.kept.get(index) {
                    Some(line) => Some(Ok(line.clone())),
                    None if lines.dropped > 0 => Some(fail(
                        io::ErrorKind::OutOfMemory,
                        format!(
                            "{what} not among the first {MAX_LINES} lines of {stream}, all kept"
                        ),
                    )),
                    None if lines.closed => Some(fail(
                        io::ErrorKind::UnexpectedEof,
                        format!("{stream} closed before {what}"),
                    )),
                    None => None,
                }
            });
            let timed_out = || {
                fail(
                    io::ErrorKind::TimedOut,
                    format!("{what} not on {stream} within {timeout:?}"),
                )
            };
            let line = next.unwrap_or_else(timed_out)?;
            cursor.set(index + 1);
            let finished = done(&line);
            lines.push(line);
            if finished {
                return Ok(lines);
            }
        }
    }

    /// The first line of `stream` from here on that `wanted` accepts
    /// (earlier ones are read and skipped).
    pub fn wait_for_line(
        &self,
        stream: Stream,
        what: &str,
        timeout: Duration,
        wanted: impl FnMut(&str) -> bool,
    ) -> io::Result<String> {
        let mut lines = self.lines_until(stream, what, timeout, wanted)?;
        Ok(lines.pop().expect("the matching line ends the list"))
    }

    /// The address in the first stdout line, `listening on <addr>`, which
    /// every server of the project prints first; waits for it until
    /// `timeout`, and remembers it.
    pub fn announced_addr(&self, timeout: Duration) -> io::Result<SocketAddr> {
        if let Some(addr) = self.listening.get() {
            return Ok(*addr);
        }
        let what = "`listening on <addr>`";
        let first = self.wait_for_line(Stream::Stdout, what, timeout, |_| true)?;
        let addr = first
            .trim_end()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok());
        match addr.filter(|addr: &SocketAddr| addr.port() != 0) {
            Some(addr) => Ok(*self.listening.get_or_init(|| addr)),
            None => Err(error(
                &self.label,
                io::ErrorKind::InvalidData,
                format!("first stdout line is not `listening on <addr>`: {first:?}"),
            )),
        }
    }

    /// Sends `signal` (`libc::SIGTERM`, …) to the child itself. A child
    /// that has already exited is left alone: its pid may be another
    /// process's by now. On Windows, SIGTERM and SIGINT become a
    /// Ctrl-Break to the child's console group (see `sys/windows.rs`);
    /// other signals are an error there.
    pub fn send(&self, signal: libc::c_int) -> io::Result<()> {
        // Under the lock the reaper records the exit with: while no status
        // is recorded the child is not reaped, so its pid is still ours.
        let captured = self.output.lock();
        if captured.status.is_some() {
            return Ok(());
        }
        #[cfg(test)]
        SIGNALS_SENT.with(|sent| sent.set(sent.get() + 1));
        sys::send_signal(self.pid, signal).map_err(|e| {
            error(
                &self.label,
                e.kind(),
                format!("cannot send it signal {signal}: {e}"),
            )
        })
    }

    /// Waits for the child to exit, and for its output to be read to the
    /// end. At the deadline the child is killed and this is an error.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let Some(status) = self.output.wait(deadline, |captured| captured.status) else {
            self.kill();
            let why = format!("still running after {timeout:?}; killed it");
            return Err(error(&self.label, io::ErrorKind::TimedOut, why));
        };
        let closed = Instant::now() + timeout.max(Duration::from_secs(1));
        self.output.wait(closed, |c| c.all_closed().then_some(()));
        Ok(status)
    }

    /// Sends SIGTERM (the servers' "stop and print your summary") and waits
    /// for the exit like [`Program::wait`].
    pub fn terminate(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        self.send(libc::SIGTERM)?;
        self.wait(timeout)
    }

    /// Kills the process group and waits for the reaper. Idempotent.
    pub fn kill(&mut self) {
        {
            // Under the lock, as in `send`: the group's leader is unreaped.
            let captured = self.output.lock();
            if captured.status.is_some() {
                return;
            }
            self.group.kill();
        }
        self.output
            .wait(Instant::now() + REAP_TIMEOUT, |captured| captured.status);
        let closed = Instant::now() + Duration::from_millis(500);
        self.output.wait(closed, |c| c.all_closed().then_some(()));
    }

    /// The exit status if the child has ended (and is reaped), without
    /// waiting.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.output.lock().status
    }

    /// Every line printed on `stream` so far, read or not (bounded: see
    /// [`crate::MAX_LINES`]), without line ends.
    pub fn lines(&self, stream: Stream) -> Vec<String> {
        self.output.lock().of(stream).kept.clone()
    }

    /// Lines printed on `stream` beyond what was kept.
    pub fn dropped_lines(&self, stream: Stream) -> usize {
        self.output.lock().of(stream).dropped
    }

    /// The lines of `stream` not read yet.
    fn unread(&self, stream: Stream) -> Vec<String> {
        self.lines(stream)
            .split_off(self.read[stream as usize].get())
    }
}

/// A test's face: the same calls, each failure a panic naming the program
/// and what it printed, each wait bounded by [`DEADLINE`] or
/// [`Program::with_timeout`].
impl Program {
    /// Spawns `command` with stdin from `/dev/null` and stdout and stderr
    /// captured; panics if it cannot be started.
    pub fn spawn(command: Command) -> Program {
        let label = describe(&command);
        Program::start(&label, command, None, None).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Bounds each later wait on this program by `limit` instead of
    /// [`DEADLINE`]: for a test whose claim is that the program ends in time.
    pub fn with_timeout(mut self, limit: Duration) -> Program {
        self.timeout = limit;
        self
    }

    /// The next lines of `stream` up to the first `done` accepts, or a
    /// panic with the error and the lines the failed call read.
    fn until(&self, stream: Stream, what: &str, done: impl FnMut(&str) -> bool) -> Vec<String> {
        let from = self.read[stream as usize].get();
        self.lines_until(stream, what, self.timeout, done)
            .unwrap_or_else(|e| panic!("{e}; got {:#?}", self.lines(stream).split_off(from)))
    }

    /// The address in the program's first stdout line, `listening on
    /// <addr>`: the server contract's sign that it is ready. The first call
    /// waits for that line; later calls return the same address.
    pub fn listening_addr(&self) -> SocketAddr {
        assert!(
            self.listening.get().is_some() || self.read[0].get() == 0,
            "{}: ask for listening_addr() before reading stdout: `listening on` is the first line",
            self.label
        );
        self.announced_addr(self.timeout)
            .unwrap_or_else(|e| panic!("{e}; got {:#?}", self.lines(Stream::Stdout)))
    }

    /// A TCP connection to [`Program::listening_addr`] (see [`connect`]).
    pub fn connect(&self) -> TcpStream {
        connect(self.listening_addr())
    }

    /// The next stdout line.
    pub fn next_stdout_line(&self) -> String {
        self.stdout_until(|_| true).remove(0)
    }

    /// The stdout lines up to and including the first one matching `done`.
    pub fn stdout_until(&self, done: impl Fn(&str) -> bool) -> Vec<String> {
        self.until(Stream::Stdout, "the expected line", done)
    }

    /// The stderr lines up to and including the first one matching `done`.
    pub fn stderr_until(&self, done: impl Fn(&str) -> bool) -> Vec<String> {
        self.until(Stream::Stderr, "the expected line", done)
    }

    /// The first stdout line containing `needle`; earlier lines are skipped.
    pub fn wait_for_stdout(&self, needle: &str) -> String {
        self.wait_for(Stream::Stdout, needle)
    }

    /// The first stderr line containing `needle` (a log line, usually);
    /// earlier lines are skipped.
    pub fn wait_for_stderr(&self, needle: &str) -> String {
        self.wait_for(Stream::Stderr, needle)
    }

    fn wait_for(&self, stream: Stream, needle: &str) -> String {
        let what = format!("a line containing {needle:?}");
        let mut lines = self.until(stream, &what, |line| line.contains(needle));
        lines.pop().expect("`until` ends with the matching line")
    }

    /// Sends `signal` (`libc::SIGTERM`, …) to the program (see
    /// [`Program::send`]).
    pub fn signal(&self, signal: libc::c_int) {
        self.send(signal).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops a server the way Ctrl-C would (SIGTERM) and checks that it
    /// exited successfully; returns the stderr lines not read yet.
    pub fn stop_ok(&mut self) -> Vec<String> {
        self.signal(libc::SIGTERM);
        let (_, stderr, status) = self.wait_exit();
        assert!(status.success(), "{}: exit status {status}", self.label);
        stderr
    }

    /// Waits for the program to exit: the stdout and stderr lines not read
    /// yet, and the exit status.
    pub fn wait_exit(&mut self) -> (Vec<String>, Vec<String>, ExitStatus) {
        let status = self.exit();
        (
            self.unread(Stream::Stdout),
            self.unread(Stream::Stderr),
            status,
        )
    }

    /// Waits for the program to exit, returning the exact text it printed
    /// that was not read yet (all of it, unless a line method read some).
    pub fn finish(mut self) -> Finished {
        let status = self.exit();
        let text = |stream: Stream| {
            let from = self.read[stream as usize].get();
            self.output.lock().of(stream).text_from(from)
        };
        let (stdout, stderr) = (text(Stream::Stdout), text(Stream::Stderr));
        Finished {
            status,
            stdout,
            stderr,
        }
    }

    /// Both streams to their end, then the exit status, all within one
    /// timeout.
    fn exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + self.timeout;
        for stream in [Stream::Stdout, Stream::Stderr] {
            if self
                .output
                .wait(deadline, |c| c.of(stream).closed.then_some(()))
                .is_none()
            {
                let (label, timeout, printed) = (&self.label, self.timeout, self.unread(stream));
                panic!(
                    "{label}: still running after {timeout:?} ({stream} open); printed {printed:?}"
                );
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let label = self.label.clone();
        self.wait(left)
            .unwrap_or_else(|e| panic!("{label}: closed its output but {e}"))
    }
}

impl Drop for Program {
    /// Whatever the caller did, or wherever it panicked.
    fn drop(&mut self) {
        self.kill();
    }
}

/// The command line for messages, shortened: a test may pass a 60 000-byte
/// argument.
fn describe(command: &Command) -> String {
    let program = command.get_program();
    let program = Path::new(program).file_name().unwrap_or(program);
    let words = std::iter::once(program).chain(command.get_args());
    let line = words
        .map(|word| word.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// Runs `command` with `input` as its whole stdin, and waits (bounded by
/// [`DEADLINE`]) for it to exit: a program that hangs fails the test.
/// The program may quit before reading all its input; that is no error.
pub fn run_to_end(command: Command, input: &[u8]) -> Finished {
    let label = describe(&command);
    let started = Program::start(&label, command, Some(input.to_vec()), None);
    started.unwrap_or_else(|e| panic!("{e}")).finish()
}

/// A TCP connection whose connect, reads and writes each give up at
/// [`DEADLINE`], so a stalled peer fails the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let connected = TcpStream::connect_timeout(&addr, DEADLINE).and_then(|stream| {
        stream.set_read_timeout(Some(DEADLINE))?;
        stream.set_write_timeout(Some(DEADLINE))?;
        io::Result::Ok(stream)
    });
    connected.unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// Asserts that `expected` are found in `lines` in that order, each in a
/// line of its own, later than the one before: how tests read a `--trace`.
pub fn assert_lines_in_order(lines: &[String], expected: &[impl AsRef<str>]) {
    let mut from = 0;
    for needle in expected {
        let needle = needle.as_ref();
        match lines[from..].iter().position(|l| l.contains(needle)) {
            Some(at) => from += at + 1,
            None => panic!("no line containing {needle:?} after line {from} of {lines:#?}"),
        }
    }
}

/// `exit 0`, `exit 1`, `killed by signal 9`: how a child ended, in words.
pub fn exit_words(status: ExitStatus) -> String {
    match (status.code(), sys::killing_signal(status)) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

#[cfg(test)]
thread_local! {
    /// Signals this thread asked the kernel to deliver.
    static SIGNALS_SENT: Cell<usize> = const { Cell::new(0) };
}

/// The property the harness's own integration tests cannot see: after a
/// child is reaped, no signal is sent to its pid at all.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Program {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        Program::spawn(command)
    }

    #[test]
    fn a_signal_to_a_program_that_has_exited_sends_nothing() {
        let mut program = sh("exit 3");
        let (_, _, status) = program.wait_exit();
        assert_eq!(status.code(), Some(3));
        let before = SIGNALS_SENT.with(Cell::get);
        // Its pid may be another process's by now: nothing may reach it.
        program.signal(libc::SIGTERM);
        assert_eq!(SIGNALS_SENT.with(Cell::get), before, "a signal was sent");
        assert_eq!(program.exit_status().and_then(|s| s.code()), Some(3));
        // A running child is signalled, and its status is read afresh.
        let mut program = sh("exec sleep 600");
        program.signal(libc::SIGTERM);
        assert_eq!(SIGNALS_SENT.with(Cell::get), before + 1);
        let (_, _, status) = program.wait_exit();
        let killed_by = std::os::unix::process::ExitStatusExt::signal(&status);
        assert_eq!(killed_by, Some(libc::SIGTERM));
    }
}
