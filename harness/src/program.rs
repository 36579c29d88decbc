//! [`Program`]: a child for an integration test. The same machinery as
//! [`Process`], with a test's manners: a failure is a panic that names the
//! program and what it printed, lines are read in order (a line read by one
//! method is not seen again by another), and every wait is bounded by
//! [`DEADLINE`] unless the test says otherwise.

use std::{
    cell::{Cell, OnceCell},
    net::{SocketAddr, TcpStream},
    process::{Command, ExitStatus},
    time::{Duration, Instant},
};

use crate::{
    EchoLines, MAX_LINES, NotListening, Process, Stream, describe, error::chain, process::Next,
};

/// The default bound on every wait. Generous on purpose: it catches a hang,
/// it is not a performance expectation, and a loaded CI machine must not
/// fail a correct program.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A spawned program with its stdout and stderr captured line by line.
///
/// Its stdin is `/dev/null` (a test program never reads the terminal).
/// Lines are as [`crate::output`] says: a `\r` stays visible, invalid UTF-8
/// shows as U+FFFD.
pub struct Program {
    process: Process,
    timeout: Duration,
    listening: OnceCell<SocketAddr>,
    /// How many lines of each stream were read: the next one to read.
    read_stdout: Cell<usize>,
    read_stderr: Cell<usize>,
    /// Set once anything read stdout: `listening on` must be the first line.
    stdout_read: Cell<bool>,
}

/// What a program printed (exactly) and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Program {
    /// Spawns `command` with stdin from `/dev/null` and stdout and stderr
    /// captured; panics if it cannot be started.
    pub fn spawn(command: Command) -> Program {
        Program::start(command, None)
    }

    fn start(command: Command, stdin: Option<Vec<u8>>) -> Program {
        let name = describe(&command);
        let process = Process::start(&name, command, stdin, EchoLines::Silent)
            .unwrap_or_else(|e| panic!("{}", chain(&e)));
        Program {
            process,
            timeout: DEADLINE,
            listening: OnceCell::new(),
            read_stdout: Cell::new(0),
            read_stderr: Cell::new(0),
            stdout_read: Cell::new(false),
        }
    }

    fn name(&self) -> &str {
        self.process.label()
    }

    /// Bounds each later wait on this program by `limit` instead of
    /// [`DEADLINE`]: for a test whose claim is that the program ends in time.
    pub fn with_timeout(mut self, limit: Duration) -> Program {
        self.timeout = limit;
        self
    }

    /// The address in the program's first stdout line, `listening on
    /// <addr>`: the server contract's sign that it is ready. The first call
    /// waits for that line; later calls return the same address.
    pub fn listening_addr(&self) -> SocketAddr {
        *self.listening.get_or_init(|| {
            assert!(
                !self.stdout_read.get(),
                "{}: ask for listening_addr() before reading stdout: \
                 `listening on` is the first line",
                self.name()
            );
            let first = self
                .until(Stream::Stdout, "`listening on <addr>`", |_| true)
                .remove(0);
            let addr = crate::listening_addr(&first).unwrap_or_else(|e| match e {
                NotListening::OtherLine(_) => panic!(
                    "{}: first stdout line is not `listening on <addr>`: {first:?}",
                    self.name()
                ),
                NotListening::BadAddress { source, .. } => {
                    panic!("{}: {first:?} names no address: {source}", self.name())
                }
            });
            // Port 0 asks the kernel for a port; the line must tell the real one.
            assert_ne!(addr.port(), 0, "{}: {first:?}", self.name());
            addr
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.process.id()
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

    /// Sends `signal` (`libc::SIGTERM`, …) to the program.
    pub fn signal(&self, signal: libc::c_int) {
        if let Err(e) = self.process.signal(signal) {
            panic!("{} (signal {signal})", chain(&e));
        }
    }

    /// Stops a server the way Ctrl-C would (SIGTERM) and checks that it
    /// exited successfully; returns the stderr lines not read yet.
    pub fn stop_ok(&mut self) -> Vec<String> {
        self.signal(libc::SIGTERM);
        let (_, stderr, status) = self.wait_exit();
        assert!(
            status.success(),
            "{}: exit status {status}",
            self.process.label()
        );
        stderr
    }

    /// Waits for the program to exit: the stdout and stderr lines not read
    /// yet, and the exit status.
    pub fn wait_exit(&mut self) -> (Vec<String>, Vec<String>, ExitStatus) {
        let (stdout, stderr, status) = self.exit();
        let rest = |stream, from: usize| self.process.lines(stream).split_off(from);
        (
            rest(Stream::Stdout, stdout),
            rest(Stream::Stderr, stderr),
            status,
        )
    }

    /// Waits for the program to exit, returning the exact text it printed
    /// that was not read yet (all of it, unless a line method read some).
    pub fn finish(mut self) -> Finished {
        let (stdout, stderr, status) = self.exit();
        Finished {
            status,
            stdout: self.process.text_from(Stream::Stdout, stdout),
            stderr: self.process.text_from(Stream::Stderr, stderr),
        }
    }

    /// Both streams to their end, then the exit status, all within one
    /// timeout: where the unread lines of each stream start, and the status.
    fn exit(&mut self) -> (usize, usize, ExitStatus) {
        let deadline = Instant::now() + self.timeout;
        let stdout = self.drain(Stream::Stdout, deadline);
        let stderr = self.drain(Stream::Stderr, deadline);
        let left = deadline.saturating_duration_since(Instant::now());
        let status = self.process.wait(left).unwrap_or_else(|e| {
            panic!(
                "{}: closed its output but still running after {:?} ({})",
                self.name(),
                self.timeout,
                chain(&e)
            )
        });
        (stdout, stderr, status)
    }

    /// Waits until the program closes `stream` (it exits); returns where
    /// its unread lines start.
    fn drain(&self, stream: Stream, deadline: Instant) -> usize {
        let first = self.cursor(stream).get();
        if !self.process.wait_closed(stream, deadline) {
            panic!(
                "{}: still running after {:?} ({stream} open); printed {:?}",
                self.name(),
                self.timeout,
                self.process.lines(stream).split_off(first)
            );
        }
        first
    }

    /// Lines of `stream` up to and including the first one matching `done`;
    /// `what` names that line in the failure message.
    fn until(&self, stream: Stream, what: &str, done: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + self.timeout;
        let cursor = self.cursor(stream);
        if stream == Stream::Stdout {
            self.stdout_read.set(true);
        }
        let mut lines = Vec::new();
        loop {
            let line = match self.process.next_line(stream, cursor.get(), deadline) {
                Next::Line(line) => line,
                Next::Timeout => panic!(
                    "{}: {what} not on {stream} within {:?}; got {lines:#?}",
                    self.name(),
                    self.timeout
                ),
                Next::Closed => panic!(
                    "{}: {stream} closed before {what}; got {lines:#?}",
                    self.name()
                ),
                Next::NotKept => panic!(
                    "{}: {what} not among the first {MAX_LINES} lines of {stream}, \
                     all the harness keeps; got {lines:#?}",
                    self.name()
                ),
            };
            cursor.set(cursor.get() + 1);
            let finished = done(&line);
            lines.push(line);
            if finished {
                return lines;
            }
        }
    }

    fn cursor(&self, stream: Stream) -> &Cell<usize> {
        match stream {
            Stream::Stdout => &self.read_stdout,
            Stream::Stderr => &self.read_stderr,
        }
    }
}

/// Runs `command` with `input` as its whole stdin, and waits (bounded by
/// [`DEADLINE`]) for it to exit: a program that hangs fails the test.
/// The program may quit before reading all its input; that is no error.
pub fn run_to_end(command: Command, input: &[u8]) -> Finished {
    Program::start(command, Some(input.to_vec())).finish()
}

/// A TCP connection whose connect, reads and writes each give up at
/// [`DEADLINE`], so a stalled peer fails the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, DEADLINE)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream
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
