//! How every program's integration tests drive a real process.
//!
//! Each binary in this workspace is tested by spawning it, and every test
//! file needs the same things from that process, so they live here once
//! (the crate mirrors no Go file, and is never published):
//!
//! - a server is ready when its first stdout line says
//!   `listening on <addr>`, so no test sleeps to wait for it
//!   ([`Program::listening_addr`]);
//! - every wait is bounded ([`DEADLINE`]), so a hung program fails its test
//!   instead of stalling CI;
//! - stdout and stderr are read line by line on their own threads into
//!   channels, so a chatty program never blocks on a full pipe while a test
//!   waits for something else;
//! - a program is killed and reaped when its [`Program`] is dropped, so a
//!   failing test leaves no orphan behind.
//!
//! Start at [`Program`] for a program the test talks to while it runs, and
//! at [`run_to_end`] for one that is fed its stdin and waited for.

use std::cell::{Cell, OnceCell};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// The default bound on every wait. Generous on purpose: it catches a hang,
/// it is not a performance expectation, and a loaded CI machine must not
/// fail a correct program.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A spawned program with its stdout and stderr captured line by line.
///
/// Its stdin is `/dev/null` (a test program never reads the terminal).
/// A line is the text before a `\n`, decoded lossily: a `\r` stays visible,
/// and invalid UTF-8 shows as U+FFFD instead of ending the capture. Lines
/// read by one method are not seen again by another.
pub struct Program {
    child: Child,
    /// The command line, for failure messages.
    name: String,
    /// Each line with its `\n` (the last one may lack it), so that
    /// [`Program::finish`] can return the exact text.
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    timeout: Duration,
    listening: OnceCell<SocketAddr>,
    /// Set once anything read stdout: `listening on` must be the first line.
    stdout_read: Cell<bool>,
    /// The child was waited for: its pid may belong to another process now.
    reaped: bool,
}

/// What a program printed (exactly) and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        })
    }
}

impl Program {
    /// Spawns `command` with stdin from `/dev/null` and stdout and stderr
    /// captured; panics if it cannot be started.
    pub fn spawn(command: Command) -> Program {
        Program::start(command, Stdio::null()).0
    }

    fn start(mut command: Command, stdin: Stdio) -> (Program, Option<ChildStdin>) {
        let name = describe(&command);
        let mut child = command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {name}: {e}"));
        let stdout = lines_of(child.stdout.take().expect("stdout is piped"));
        let stderr = lines_of(child.stderr.take().expect("stderr is piped"));
        let stdin = child.stdin.take();
        let program = Program {
            child,
            name,
            stdout,
            stderr,
            timeout: DEADLINE,
            listening: OnceCell::new(),
            stdout_read: Cell::new(false),
            reaped: false,
        };
        (program, stdin)
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
                self.name
            );
            let first = self
                .until(Stream::Stdout, "`listening on <addr>`", |_| true)
                .remove(0);
            let addr = first.strip_prefix("listening on ").unwrap_or_else(|| {
                panic!(
                    "{}: first stdout line is not `listening on <addr>`: {first:?}",
                    self.name
                )
            });
            let addr: SocketAddr = addr
                .parse()
                .unwrap_or_else(|e| panic!("{}: {first:?} names no address: {e}", self.name));
            // Port 0 asks the kernel for a port; the line must tell the real one.
            assert_ne!(addr.port(), 0, "{}: {first:?}", self.name);
            addr
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
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
        assert!(!self.reaped, "{}: signal after it was reaped", self.name);
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits in pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions. The child is
        // not reaped yet (checked above), so the pid is still ours.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "{}: kill({pid}, {signal}): {}",
            self.name,
            io::Error::last_os_error()
        );
    }

    /// Waits for the program to exit: the stdout and stderr lines not read
    /// yet, and the exit status.
    pub fn wait_exit(&mut self) -> (Vec<String>, Vec<String>, ExitStatus) {
        let (stdout, stderr, status) = self.exit();
        let lines = |raw: Vec<String>| raw.into_iter().map(without_newline).collect();
        (lines(stdout), lines(stderr), status)
    }

    /// Waits for the program to exit, returning the exact text it printed
    /// that was not read yet (all of it, unless a line method read some).
    pub fn finish(mut self) -> Finished {
        let (stdout, stderr, status) = self.exit();
        Finished {
            status,
            stdout: stdout.concat(),
            stderr: stderr.concat(),
        }
    }

    /// Both streams to their end, then the exit status, all within one
    /// timeout. Lines keep their `\n`.
    fn exit(&mut self) -> (Vec<String>, Vec<String>, ExitStatus) {
        let deadline = Instant::now() + self.timeout;
        let stdout = self.drain(Stream::Stdout, deadline);
        let stderr = self.drain(Stream::Stderr, deadline);
        let left = deadline.saturating_duration_since(Instant::now());
        let status = self
            .child
            .wait_timeout(left)
            .unwrap_or_else(|e| panic!("{}: wait: {e}", self.name))
            .unwrap_or_else(|| {
                panic!(
                    "{}: closed its output but still running after {:?}",
                    self.name, self.timeout
                )
            });
        self.reaped = true;
        (stdout, stderr, status)
    }

    /// Every line of `stream` until the program closes it (it exits).
    fn drain(&self, stream: Stream, deadline: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match self.recv(stream, deadline) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => return lines,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: still running after {:?} ({stream} open); printed {lines:?}",
                    self.name, self.timeout
                ),
            }
        }
    }

    /// Lines of `stream`, without their `\n`, up to and including the first
    /// one matching `done`; `what` names that line in the failure message.
    fn until(&self, stream: Stream, what: &str, done: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + self.timeout;
        let mut lines = Vec::new();
        loop {
            let line = match self.recv(stream, deadline) {
                Ok(line) => without_newline(line),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: {what} not on {stream} within {:?}; got {lines:#?}",
                    self.name, self.timeout
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}: {stream} closed before {what}; got {lines:#?}",
                    self.name
                ),
            };
            let finished = done(&line);
            lines.push(line);
            if finished {
                return lines;
            }
        }
    }

    fn recv(&self, stream: Stream, deadline: Instant) -> Result<String, RecvTimeoutError> {
        let left = deadline.saturating_duration_since(Instant::now());
        match stream {
            Stream::Stdout => {
                self.stdout_read.set(true);
                self.stdout.recv_timeout(left)
            }
            Stream::Stderr => self.stderr.recv_timeout(left),
        }
    }
}

impl Drop for Program {
    /// Whatever the test did, or wherever it panicked.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` with `input` as its whole stdin, and waits (bounded by
/// [`DEADLINE`]) for it to exit: a program that hangs fails the test.
pub fn run_to_end(command: Command, input: &[u8]) -> Finished {
    let (program, stdin) = Program::start(command, Stdio::piped());
    let mut stdin = stdin.expect("stdin is piped");
    let input = input.to_vec();
    // On its own thread: the program may answer before it has read all its
    // input, and both pipes are bounded. It may also quit before reading
    // everything, so a broken pipe here is expected, not an error. The end
    // of the thread closes stdin: the program sees end of input.
    let feeder = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let finished = program.finish();
    feeder.join().expect("the stdin feeder does not panic");
    finished
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

/// Forwards each line of a pipe to a channel, so the pipe never fills up
/// and blocks the program, and a test can wait for a line with a deadline.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            // Bytes rather than `lines()`: invalid UTF-8 must not stop the
            // reading (the pipe would fill), and `\r` must not be hidden.
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    if tx.send(text).is_err() {
                        break; // The Program is gone.
                    }
                }
            }
        }
    });
    rx
}

fn without_newline(mut line: String) -> String {
    if line.ends_with('\n') {
        line.pop();
    }
    line
}

/// The command line, shortened: a test may pass a 60 000-byte argument.
fn describe(command: &Command) -> String {
    let program = command.get_program();
    let program = Path::new(program).file_name().unwrap_or(program);
    let words: Vec<_> = std::iter::once(program)
        .chain(command.get_args())
        .map(|word| word.to_string_lossy())
        .collect();
    let line = words.join(" ");
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}
