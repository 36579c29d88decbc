//! The programs the demo (and `compare`) run: started, watched line by line,
//! stopped, and always killed and reaped.
//!
//! Three layers make sure no program outlives xtask:
//!
//! 1. [`Program`]'s `Drop` kills the program's whole process group and waits
//!    for it, so an early return or a failing check cleans up on the way out.
//! 2. Each program runs in its own process group, so a Ctrl-C in the terminal
//!    reaches xtask only; [`install_interrupt_handler`] then kills every live
//!    group and exits. (In the terminal's group, the servers would print their
//!    summaries over our last lines and the clients would die mid-step.)
//! 3. On Linux, `PR_SET_PDEATHSIG` asks the kernel to SIGKILL each program if
//!    xtask itself dies without running any of the above (e.g. `kill -9`).
//!
//! Output is read by one thread per stream, so a program never blocks on a
//! full pipe; lines are kept (bounded in number and length: a runaway
//! program, like the Go server2 looping on a split frame, cannot exhaust our
//! memory) and, if asked, echoed at once with the program's name in front.

use std::{
    ffi::OsStr,
    io::{self, BufRead, BufReader, Read, Write},
    net::SocketAddr,
    os::unix::process::{CommandExt as _, ExitStatusExt as _},
    path::Path,
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::report::Style;

/// Lines kept per stream; further lines are counted, not stored.
const MAX_LINES: usize = 5_000;
/// Bytes kept per line; the rest of a longer line is counted, not stored.
const MAX_LINE_LEN: usize = 64 * 1024;
/// How long a program killed by `Drop` may take to be reaped (SIGKILL
/// cannot be ignored, so this only guards against a wedged kernel).
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a program printed so far.
#[derive(Debug, Default)]
struct Captured {
    stdout: Vec<String>,
    stderr: Vec<String>,
    /// Lines not stored because of [`MAX_LINES`].
    dropped: usize,
    /// Streams still open; 0 once the program (and anything holding its
    /// pipes) is gone.
    open: usize,
}

#[derive(Debug, Default)]
struct Output {
    captured: Mutex<Captured>,
    changed: Condvar,
}

impl Output {
    fn lock(&self) -> MutexGuard<'_, Captured> {
        // A reader thread that panicked leaves the data intact; keep going.
        self.captured.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps until a reader thread records a change or `deadline` passes;
    /// `None` at the deadline.
    fn wait_for_change<'a>(
        &'a self,
        captured: MutexGuard<'a, Captured>,
        deadline: Instant,
    ) -> Option<MutexGuard<'a, Captured>> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let (captured, _) = self
            .changed
            .wait_timeout(captured, left)
            .unwrap_or_else(|e| e.into_inner());
        Some(captured)
    }
}

/// How a program's output is shown while it runs.
#[derive(Clone, Debug)]
pub enum Echo {
    /// Not shown; only kept (compare prints it in its matrix).
    Silent,
    /// Each line printed at once as `  <label> │ <line>`.
    Live(Style),
}

/// A running program. Dropping it kills its process group and reaps it.
pub struct Program {
    label: String,
    child: Child,
    status: Option<ExitStatus>,
    output: Arc<Output>,
}

impl Program {
    /// Starts `program` with `args`, in its own process group, with stdout
    /// and stderr captured. `stdin` is written by a thread and then closed
    /// (so a client that reads until end of input finishes); `None` gives
    /// the program an empty stdin.
    pub fn start(
        label: &str,
        program: &Path,
        args: &[&str],
        stdin: Option<Vec<u8>>,
        echo: Echo,
    ) -> Result<Program> {
        let mut command = Command::new(program);
        command.args(args);
        Program::start_command(label, command, stdin, echo)
            .with_context(|| format!("cannot start {}", describe(program, args)))
    }

    /// [`Program::start`] for a command already set up (arguments, working
    /// directory, environment); its stdio and process group are set here.
    pub fn start_command(
        label: &str,
        mut command: Command,
        stdin: Option<Vec<u8>>,
        echo: Echo,
    ) -> Result<Program> {
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = spawn_in_own_group(&mut command)?;

        let output = Arc::new(Output::default());
        // From here on the guard owns the child: any early return kills it.
        let mut program = Program {
            label: label.to_owned(),
            child,
            status: None,
            output,
        };
        let stdout = program.child.stdout.take().context("stdout not captured")?;
        let stderr = program.child.stderr.take().context("stderr not captured")?;
        program.output.lock().open = 2;
        program.read_stream(stdout, Stream::Stdout, echo.clone())?;
        program.read_stream(stderr, Stream::Stderr, echo)?;
        if let Some(input) = stdin {
            let pipe = program.child.stdin.take().context("stdin not captured")?;
            feed(pipe, input, label)?;
        }
        Ok(program)
    }

    fn read_stream(
        &self,
        pipe: impl Read + Send + 'static,
        stream: Stream,
        echo: Echo,
    ) -> Result<()> {
        let output = Arc::clone(&self.output);
        let label = self.label.clone();
        thread::Builder::new()
            .name(format!("{label}-{stream:?}"))
            .spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = Vec::new();
                // Ends at end of stream or on a read error (the pipe is ours
                // and local, so an error means the same: nothing more comes).
                while let Ok(true) = read_line_bounded(&mut reader, &mut line, MAX_LINE_LEN) {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    if let Echo::Live(style) = &echo {
                        style.program_line(&label, stream, &text);
                    }
                    let mut captured = output.lock();
                    let lines = match stream {
                        Stream::Stdout => &mut captured.stdout,
                        Stream::Stderr => &mut captured.stderr,
                    };
                    if lines.len() < MAX_LINES {
                        lines.push(text);
                    } else {
                        captured.dropped += 1;
                    }
                    drop(captured);
                    output.changed.notify_all();
                }
                output.lock().open -= 1;
                output.changed.notify_all();
            })
            .context("cannot start an output reader thread")?;
        Ok(())
    }

    /// The name this program's lines are shown with.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Waits until a stdout line satisfies `wanted` and returns it. Fails
    /// at the deadline, or when the program's output ends without one.
    pub fn wait_for_line(
        &self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let mut found = None;
        self.wait_until(what, timeout, |lines| {
            found = lines.iter().find(|l| wanted(l)).cloned();
            found.is_some()
        })?;
        found.context("the line vanished")
    }

    /// Waits until the stdout lines so far satisfy `done`. Fails at the
    /// deadline, or when the program's output ends first.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&[String]) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut captured = self.output.lock();
        loop {
            if done(&captured.stdout) {
                return Ok(());
            }
            if captured.open == 0 {
                bail!("{} ended without printing {what}", self.label);
            }
            let Some(next) = self.output.wait_for_change(captured, deadline) else {
                bail!("{} did not print {what} within {timeout:?}", self.label);
            };
            captured = next;
        }
    }

    /// Waits for the first stdout line, `listening on <addr>`, and returns
    /// the address: every server of the project prints it first.
    pub fn listening_addr(&self, timeout: Duration) -> Result<SocketAddr> {
        let first = self.wait_for_line("its first line", timeout, |_| true)?;
        super::check::listening_addr(&first).with_context(|| {
            format!(
                "{}'s first line should be `listening on <addr>`",
                self.label
            )
        })
    }

    /// Waits for the program to exit, and for its output to be read to the
    /// end. At the deadline the program is killed and this is an error.
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.try_reap()? {
                break status;
            }
            if Instant::now() >= deadline {
                self.kill();
                bail!(
                    "{} did not finish within {timeout:?}; killed it",
                    self.label
                );
            }
            // The exit cannot be waited for with a deadline in std; a short
            // poll is bounded by the deadline above.
            thread::sleep(Duration::from_millis(5));
        };
        self.wait_for_output_end(deadline.max(Instant::now() + Duration::from_secs(1)));
        Ok(status)
    }

    /// Sends SIGTERM (the servers' "stop and print your summary") and waits
    /// for the exit like [`Program::wait`].
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if self.status.is_none() {
            let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
            // SAFETY: kill only sends a signal; the pid is our own unreaped
            // child, so it cannot have been recycled for another process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        self.wait(timeout)
    }

    /// Kills the process group and reaps the program. Idempotent.
    pub fn kill(&mut self) {
        if self.status.is_some() {
            return;
        }
        kill_group(self.child.id());
        let deadline = Instant::now() + REAP_TIMEOUT;
        while Instant::now() < deadline {
            match self.try_reap() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => thread::sleep(Duration::from_millis(2)),
            }
        }
        self.wait_for_output_end(Instant::now() + Duration::from_millis(500));
    }

    /// The exit status if the program has ended, without waiting.
    pub fn try_reap(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let exited = self
            .child
            .try_wait()
            .with_context(|| format!("cannot wait for {}", self.label))?;
        if let Some(status) = exited {
            self.status = Some(status);
            // Anything the program left in its group goes with it.
            kill_group(self.child.id());
            reaped(self.child.id());
        }
        Ok(exited)
    }

    fn wait_for_output_end(&self, deadline: Instant) {
        let mut captured = self.output.lock();
        while captured.open > 0 {
            match self.output.wait_for_change(captured, deadline) {
                Some(next) => captured = next,
                None => return,
            }
        }
    }

    /// Everything printed on `stream` so far (bounded; see the module doc).
    pub fn lines(&self, stream: Stream) -> Vec<String> {
        let captured = self.output.lock();
        match stream {
            Stream::Stdout => captured.stdout.clone(),
            Stream::Stderr => captured.stderr.clone(),
        }
    }

    /// Lines printed beyond what was kept.
    pub fn dropped_lines(&self) -> usize {
        self.output.lock().dropped
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes `input` to a program's stdin from a thread (a program that prints
/// before it reads must not deadlock us), then closes it.
fn feed(mut pipe: ChildStdin, input: Vec<u8>, label: &str) -> Result<()> {
    thread::Builder::new()
        .name(format!("{label}-stdin"))
        .spawn(move || {
            // A program that exits before reading everything closes the
            // pipe; that is its business, and the step's checks will say.
            let _ = pipe.write_all(&input);
        })
        .context("cannot start the stdin writer thread")?;
    Ok(())
}

/// Reads one line (without its `\n`) into `line`, keeping at most `max`
/// bytes of it. Returns `false` at end of stream with nothing read.
fn read_line_bounded(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<bool> {
    line.clear();
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any);
        }
        any = true;
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], i + 1),
            None => (available, available.len()),
        };
        let room = max.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let found_newline = done > chunk.len();
        reader.consume(done);
        if found_newline {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(true);
        }
    }
}

/// Spawns `command` as the leader of a new process group, registered with
/// the interrupt handler (which kills the group on Ctrl-C) until it is
/// reaped. Linux also kills it if xtask dies (`PR_SET_PDEATHSIG`).
///
/// In its own group, a program does not get the terminal's Ctrl-C itself:
/// xtask stops it, in order, and says so. One `killpg` also stops anything
/// the program started (cargo's rustc processes, a shell's children).
pub fn spawn_in_own_group(command: &mut Command) -> io::Result<Child> {
    command.process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed; prctl is a plain system
    // call that touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Register under the lock the interrupt handler takes, so a Ctrl-C can
    // never miss a program that has just started.
    let mut live = live_groups();
    let child = command.spawn()?;
    live.push(child.id());
    Ok(child)
}

/// Forgets a reaped program's group (see [`spawn_in_own_group`]).
pub fn reaped(pid: u32) {
    live_groups().retain(|&p| p != pid);
}

/// Process groups of programs started and not yet reaped.
fn live_groups() -> MutexGuard<'static, Vec<u32>> {
    static LIVE: OnceLock<Mutex<Vec<u32>>> = OnceLock::new();
    LIVE.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn kill_group(pgid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid) {
        // SAFETY: killpg only sends a signal. The group is led by our own
        // child, whose pid stays reserved until we reap it; after that, the
        // group id can only be reused once every member is gone.
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
    }
}

/// On SIGINT, SIGTERM or SIGHUP: kill every program still running, say so,
/// and exit with the conventional 128 + signal status. Installed once.
pub fn install_interrupt_handler() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("cannot install the Ctrl-C handler")?;
    thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Holding the lock keeps new programs from starting meanwhile.
                let live = live_groups();
                for &pgid in live.iter() {
                    kill_group(pgid);
                }
                // Reap them too: xtask's own parent (or a container's init)
                // may never collect zombies left to it.
                let deadline = Instant::now() + Duration::from_secs(1);
                for &pid in live.iter() {
                    let Ok(pid) = libc::pid_t::try_from(pid) else {
                        continue;
                    };
                    while Instant::now() < deadline {
                        // SAFETY: waitpid on our own child writes only the
                        // status we pass (none here).
                        let done =
                            unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
                        if done != 0 {
                            break; // reaped, or already reaped by the main thread
                        }
                        thread::sleep(Duration::from_millis(2));
                    }
                }
                eprintln!(
                    "\ninterrupted: stopped {} running program(s); exiting",
                    live.len()
                );
                std::process::exit(128 + signal);
            }
        })
        .context("cannot start the interrupt thread")?;
    let _ = INSTALLED.set(());
    Ok(())
}

/// `program arg arg` for messages.
pub fn describe(program: &Path, args: &[&str]) -> String {
    let name = program
        .file_name()
        .unwrap_or(OsStr::new("?"))
        .to_string_lossy();
    std::iter::once(name.as_ref())
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `exit 0`, `exit 1`, `killed by signal 9`: how a program ended, in words.
pub fn exit_words(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, stdin: Option<&str>) -> Program {
        Program::start(
            "sh",
            Path::new("/bin/sh"),
            &["-c", script],
            stdin.map(|s| s.as_bytes().to_vec()),
            Echo::Silent,
        )
        .unwrap()
    }

    #[test]
    fn output_is_captured_per_stream_and_stdin_is_fed_then_closed() {
        let mut program = sh("cat; echo oops >&2", Some("one\ntwo\n"));
        assert!(program.wait(Duration::from_secs(10)).unwrap().success());
        assert_eq!(program.lines(Stream::Stdout), ["one", "two"]);
        assert_eq!(program.lines(Stream::Stderr), ["oops"]);
    }

    #[test]
    fn sigterm_lets_a_server_print_its_summary() {
        let mut program = sh(
            "trap 'echo summary: done; exit 0' TERM; echo 'listening on 127.0.0.1:9'; \
             while :; do sleep 0.01; done",
            None,
        );
        let addr = program.listening_addr(Duration::from_secs(10)).unwrap();
        assert_eq!(addr.port(), 9);
        let status = program.terminate(Duration::from_secs(10)).unwrap();
        assert!(status.success(), "{status}");
        assert_eq!(
            program.lines(Stream::Stdout).last().unwrap(),
            "summary: done"
        );
    }

    #[test]
    fn a_program_that_outlives_its_deadline_is_killed_with_its_group() {
        // The background `sleep` is the program's own child: killing the
        // group must take it too, or its open stdout would keep our reader
        // thread (and the pipe) alive.
        let mut program = sh("sleep 30 & sleep 30", None);
        let started = Instant::now();
        let err = program.wait(Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("killed"), "{err}");
        assert!(
            program.output.lock().open == 0,
            "the grandchild still holds the pipe"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn waiting_for_a_line_the_program_never_prints_fails_when_it_ends() {
        let program = sh("echo something else", None);
        let err = program
            .wait_for_line("`wanted`", Duration::from_secs(10), |l| l == "wanted")
            .unwrap_err();
        assert!(err.to_string().contains("ended without"), "{err}");
    }

    #[test]
    fn dropping_a_running_program_kills_and_reaps_it() {
        let program = sh("echo started; sleep 30", None);
        program
            .wait_for_line("started", Duration::from_secs(10), |l| l == "started")
            .unwrap();
        let pid = program.child.id() as libc::pid_t;
        drop(program);
        // SAFETY: signal 0 only checks whether the pid exists.
        let exists = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!exists, "pid {pid} survived the drop");
    }

    #[test]
    fn long_lines_are_cut_and_cr_lf_is_one_line_end() {
        let mut reader = io::Cursor::new(b"abcdef\r\nxy".to_vec());
        let mut line = Vec::new();
        assert!(read_line_bounded(&mut reader, &mut line, 4).unwrap());
        assert_eq!(line, b"abcd");
        assert!(read_line_bounded(&mut reader, &mut line, 4).unwrap());
        assert_eq!(line, b"xy");
        assert!(!read_line_bounded(&mut reader, &mut line, 4).unwrap());
    }
}
