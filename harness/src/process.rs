//! [`Process`]: a child for a tool. Started in its own group with its
//! output captured, waited for with deadlines, stopped with SIGTERM, and
//! killed with its whole group when dropped. Every failure is an [`Error`]
//! value that names the child.
//!
//! Each child has a reaper thread that blocks until the child exits, kills
//! what is left of its group, reaps it and records the status where every
//! wait can see it. So a wait with a deadline is a wait on a condition
//! variable: no polling, and no SIGCHLD handler (which would interrupt
//! blocking calls with timeouts, a `recv_from` say, on every other thread
//! of the process whenever any child exits).

use std::{
    io::{self, Write},
    net::SocketAddr,
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use crate::{
    EchoLines, Error, Stream, describe,
    group::{reap_registered, spawn_grouped},
    listening_addr,
    output::Output,
    sys::{self, Group},
};

/// How long a child killed by `Drop` may take to be reaped (SIGKILL cannot
/// be ignored, so this only guards against a wedged kernel).
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running child. Dropping it kills its process group and reaps it.
pub struct Process {
    label: String,
    pid: u32,
    group: Arc<Group>,
    /// Its output and, once reaped, its exit status.
    output: Arc<Output>,
}

/// What [`Process::next_line`] found.
pub(crate) enum Next {
    Line(String),
    /// The stream closed before that line.
    Closed,
    /// The line was printed but not kept ([`crate::MAX_LINES`]).
    NotKept,
    Timeout,
}

impl Process {
    /// Starts `command` as `label`, in its own process group, with stdout
    /// and stderr captured (and echoed as `echo` says). `stdin` is written
    /// by a thread and then closed, so a client that reads until end of
    /// input finishes; `None` gives the child `/dev/null`.
    pub fn start(
        label: &str,
        mut command: Command,
        stdin: Option<Vec<u8>>,
        echo: EchoLines,
    ) -> Result<Process, Error> {
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut child, group) = spawn_grouped(&mut command).map_err(|source| Error::Spawn {
            command: describe(&command),
            source,
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let input = child.stdin.take();
        let output = Arc::new(Output::default());
        let pid = child.id();
        if let Err(source) =
            reap_when_it_exits(child, Arc::clone(&group), Arc::clone(&output), label)
        {
            // Without its reaper the child cannot be waited for: stop it
            // now (it stays a zombie until we exit, a rare leak).
            group.kill();
            return Err(Error::Io {
                label: label.to_owned(),
                doing: "start its reaper thread",
                source,
            });
        }
        // From here on the guard owns the child: any early return kills it.
        let process = Process {
            label: label.to_owned(),
            pid,
            group,
            output,
        };
        process
            .output
            .read(stdout, Stream::Stdout, label, echo.clone())?;
        process.output.read(stderr, Stream::Stderr, label, echo)?;
        if let (Some(pipe), Some(input)) = (input, stdin) {
            feed(pipe, input, label)?;
        }
        Ok(process)
    }

    /// The name this child's lines and errors are shown with.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Waits until a stdout line satisfies `wanted` and returns it. Fails
    /// at the deadline, or when the child's output ends without one.
    pub fn wait_for_line(
        &self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, Error> {
        self.wait_for_line_on(Stream::Stdout, what, timeout, wanted)
    }

    /// The same on stderr (a `--trace` line, say).
    pub fn wait_for_stderr_line(
        &self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, Error> {
        self.wait_for_line_on(Stream::Stderr, what, timeout, wanted)
    }

    fn wait_for_line_on(
        &self,
        stream: Stream,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, Error> {
        let mut found = None;
        self.wait_until_on(stream, what, timeout, |lines| {
            found = lines.iter().find(|l| wanted(l)).cloned();
            found.is_some()
        })?;
        Ok(found.expect("wait_until_on saw the line"))
    }

    /// Waits until the stdout lines so far satisfy `done`. Fails at the
    /// deadline, or when the child's output ends first.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl FnMut(&[String]) -> bool,
    ) -> Result<(), Error> {
        self.wait_until_on(Stream::Stdout, what, timeout, done)
    }

    fn wait_until_on(
        &self,
        stream: Stream,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&[String]) -> bool,
    ) -> Result<(), Error> {
        let waited = self.output.wait(Instant::now() + timeout, |captured| {
            if done(&captured.of(stream).kept) {
                Some(true)
            } else {
                captured.all_closed().then_some(false)
            }
        });
        match waited {
            Some(true) => Ok(()),
            Some(false) => Err(Error::Ended {
                label: self.label.clone(),
                what: what.to_owned(),
            }),
            None => Err(Error::Timeout {
                label: self.label.clone(),
                what: what.to_owned(),
                timeout,
            }),
        }
    }

    /// Waits for the first stdout line, `listening on <addr>`, and returns
    /// the address: every server of the project prints it first.
    pub fn listening_addr(&self, timeout: Duration) -> Result<SocketAddr, Error> {
        let first = self.wait_for_line("its first line", timeout, |_| true)?;
        listening_addr(&first).map_err(|source| Error::NotListening {
            label: self.label.clone(),
            source,
        })
    }

    /// Line `index` of `stream` (0 is the first), waiting for it until
    /// `deadline`: how [`crate::Program`] reads lines in order.
    pub(crate) fn next_line(&self, stream: Stream, index: usize, deadline: Instant) -> Next {
        let found = self.output.wait(deadline, |captured| {
            let lines = captured.of(stream);
            if let Some(line) = lines.kept.get(index) {
                Some(Next::Line(line.clone()))
            } else if lines.dropped > 0 {
                Some(Next::NotKept)
            } else {
                lines.closed.then_some(Next::Closed)
            }
        });
        found.unwrap_or(Next::Timeout)
    }

    /// Waits until `stream` is closed (the child is gone); `false` at
    /// `deadline`.
    pub(crate) fn wait_closed(&self, stream: Stream, deadline: Instant) -> bool {
        self.output
            .wait(deadline, |captured| {
                captured.of(stream).closed.then_some(())
            })
            .is_some()
    }

    /// The exact text of `stream` from line `index` on (see
    /// [`crate::Finished`]).
    pub(crate) fn text_from(&self, stream: Stream, index: usize) -> String {
        self.output.lock().of(stream).text_from(index)
    }

    /// Sends `signal` (`libc::SIGTERM`, …) to the child itself. A child
    /// that has already exited is left alone, as the kernel would ignore a
    /// signal to it (its exit status says how it ended). On Windows,
    /// SIGTERM and SIGINT become a Ctrl-Break to the child's console group
    /// (see `sys/windows.rs`); other signals are an error there.
    pub fn signal(&self, signal: libc::c_int) -> Result<(), Error> {
        // Under the lock the reaper records the exit with: while no status
        // is recorded the child is not reaped, so its pid is still ours.
        let captured = self.output.lock();
        if captured.status.is_some() {
            return Ok(());
        }
        if let Err(source) = sys::send_signal(self.pid, signal) {
            return Err(Error::Io {
                label: self.label.clone(),
                doing: "send it a signal",
                source,
            });
        }
        drop(captured);
        Ok(())
    }

    /// Waits for the child to exit, and for its output to be read to the
    /// end. At the deadline the child is killed and this is an error.
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        let deadline = Instant::now() + timeout;
        let Some(status) = self.output.wait(deadline, |captured| captured.status) else {
            self.kill();
            return Err(Error::Killed {
                label: self.label.clone(),
                timeout,
            });
        };
        self.wait_for_output_end(deadline.max(Instant::now() + Duration::from_secs(1)));
        Ok(status)
    }

    /// Sends SIGTERM (the servers' "stop and print your summary") and waits
    /// for the exit like [`Process::wait`].
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        self.signal(libc::SIGTERM)?;
        self.wait(timeout)
    }

    /// Kills the process group and waits for the reaper. Idempotent.
    pub fn kill(&mut self) {
        {
            let captured = self.output.lock();
            if captured.status.is_some() {
                return;
            }
            // Under the lock, as in `signal`: the group's leader is unreaped.
            self.group.kill();
        }
        self.output
            .wait(Instant::now() + REAP_TIMEOUT, |captured| captured.status);
        self.wait_for_output_end(Instant::now() + Duration::from_millis(500));
    }

    /// The exit status if the child has ended (and is reaped), without
    /// waiting.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.output.lock().status
    }

    fn wait_for_output_end(&self, deadline: Instant) {
        self.output
            .wait(deadline, |captured| captured.all_closed().then_some(()));
    }

    /// Every line printed on `stream` so far (bounded: see
    /// [`crate::MAX_LINES`]), without line ends.
    pub fn lines(&self, stream: Stream) -> Vec<String> {
        self.output.lock().of(stream).kept.clone()
    }

    /// Lines printed on `stream` beyond what was kept.
    pub fn dropped_lines(&self, stream: Stream) -> usize {
        self.output.lock().of(stream).dropped
    }
}

/// Starts the thread that waits for `child` to exit, kills what is left of
/// its group, reaps it and records its status in `output`.
fn reap_when_it_exits(
    mut child: Child,
    group: Arc<Group>,
    output: Arc<Output>,
    label: &str,
) -> io::Result<()> {
    thread::Builder::new()
        .name(format!("reaper of {label}"))
        .spawn(move || {
            let pid = child.id();
            sys::wait_for_exit_unreaped(&child);
            // Reaping and recording under one lock: see `Process::signal`.
            reap_registered(pid, || {
                output.update(|captured| {
                    // The child is a zombie now: its pid, and so its group
                    // id, cannot be reused yet. Anything it left in its
                    // group (a shell's background job holding our pipes)
                    // goes with it.
                    group.kill();
                    // An error means someone else reaped it (the interrupt
                    // handler, on its way to exit): call that killed.
                    let status = child.wait().unwrap_or_else(|_| sys::killed_status());
                    captured.status = Some(status);
                })
            });
        })?;
    Ok(())
}

impl Drop for Process {
    /// Whatever the caller did, or wherever it panicked.
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes `input` to a child's stdin from a thread (a child that prints
/// before it reads must not deadlock us), then closes it.
fn feed(mut pipe: ChildStdin, input: Vec<u8>, label: &str) -> Result<(), Error> {
    thread::Builder::new()
        .name(format!("stdin of {label}"))
        .spawn(move || {
            // A child that exits before reading everything closes the pipe;
            // that is its business, and the caller's checks will say.
            let _ = pipe.write_all(&input);
        })
        .map_err(|source| Error::Io {
            label: label.to_owned(),
            doing: "start the stdin writer thread",
            source,
        })?;
    Ok(())
}

/// `exit 0`, `exit 1`, `killed by signal 9`: how a child ended, in words.
pub fn exit_words(status: ExitStatus) -> String {
    match (status.code(), sys::killing_signal(status)) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The tests run small `sh` scripts as children: Unix only. The same
/// machinery is exercised on Windows by the workspace's integration tests,
/// which start our own programs.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str, stdin: Option<&str>) -> Process {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", script]);
        Process::start(
            "sh",
            command,
            stdin.map(|s| s.as_bytes().to_vec()),
            EchoLines::Silent,
        )
        .unwrap()
    }

    #[test]
    fn output_is_captured_per_stream_and_stdin_is_fed_then_closed() {
        let mut process = sh("cat; echo oops >&2", Some("one\ntwo\n"));
        assert!(process.wait(Duration::from_secs(10)).unwrap().success());
        assert_eq!(process.lines(Stream::Stdout), ["one", "two"]);
        assert_eq!(process.lines(Stream::Stderr), ["oops"]);
    }

    #[test]
    fn sigterm_lets_a_server_print_its_summary() {
        let mut process = sh(
            "trap 'echo summary: done; exit 0' TERM; echo 'listening on 127.0.0.1:9'; \
             while :; do sleep 0.01; done",
            None,
        );
        let addr = process.listening_addr(Duration::from_secs(10)).unwrap();
        assert_eq!(addr.port(), 9);
        let status = process.terminate(Duration::from_secs(10)).unwrap();
        assert!(status.success(), "{status}");
        assert_eq!(
            process.lines(Stream::Stdout).last().unwrap(),
            "summary: done"
        );
    }

    #[test]
    fn a_program_that_outlives_its_deadline_is_killed_with_its_group() {
        // The background `sleep` is the child's own child: killing the
        // group must take it too, or its open stdout would keep our reader
        // thread (and the pipe) alive.
        let mut process = sh("sleep 30 & sleep 30", None);
        let started = Instant::now();
        let err = process.wait(Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("killed"), "{err}");
        assert!(
            process.output.lock().all_closed(),
            "the grandchild still holds the pipe"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn waiting_for_a_line_the_program_never_prints_fails_when_it_ends() {
        let process = sh("echo something else", None);
        let err = process
            .wait_for_line("`wanted`", Duration::from_secs(10), |l| l == "wanted")
            .unwrap_err();
        assert!(err.to_string().contains("ended without"), "{err}");
    }

    #[test]
    fn a_first_line_other_than_listening_on_is_an_error_that_shows_it() {
        let process = sh("echo oops; exit 3", None);
        let err = process.listening_addr(Duration::from_secs(10)).unwrap_err();
        let text = crate::error::chain(&err);
        assert!(text.contains("first line should be"), "{text}");
        assert!(text.contains("\"oops\""), "{text}");
    }

    #[test]
    fn lines_beyond_the_bound_are_counted_not_kept() {
        let extra = 7;
        let mut process = sh(&format!("seq {}", crate::MAX_LINES + extra), None);
        process.wait(Duration::from_secs(10)).unwrap();
        let kept = process.lines(Stream::Stdout);
        assert_eq!(kept.len(), crate::MAX_LINES);
        assert_eq!(kept.last().unwrap(), &crate::MAX_LINES.to_string());
        assert_eq!(process.dropped_lines(Stream::Stdout), extra);
    }

    #[test]
    fn each_line_is_echoed_with_the_label_as_it_arrives() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let echo = {
            let seen = Arc::clone(&seen);
            EchoLines::Each(Arc::new(move |label: &str, stream: Stream, line: &str| {
                seen.lock()
                    .unwrap()
                    .push(format!("{label} {stream} {line}"));
            }))
        };
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "echo out; echo err >&2"]);
        let mut process = Process::start("shell", command, None, echo).unwrap();
        process.wait(Duration::from_secs(10)).unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, ["shell stderr err", "shell stdout out"]);
    }

    #[test]
    fn dropping_a_running_program_kills_and_reaps_it() {
        let process = sh("echo started; sleep 30", None);
        process
            .wait_for_line("started", Duration::from_secs(10), |l| l == "started")
            .unwrap();
        let pid = process.id() as libc::pid_t;
        drop(process);
        // SAFETY: signal 0 only checks whether the pid exists.
        let exists = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!exists, "pid {pid} survived the drop");
    }
}
