//! A server under test, run as a child process: started, asked for its
//! address, stopped with SIGTERM, and always killed and reaped, even when
//! the bench fails half-way. The child machinery is the workspace's
//! `harness`; this adds what the bench needs: a CPU to pin the server to,
//! the server's log on our stderr, and its last words.
//!
//! Every server of this project (and each baseline) prints `listening on <addr>`
//! as its first stdout line, so all of them bind port 0 and the bench reads the
//! port the kernel chose.

use std::{
    ffi::OsString,
    net::SocketAddr,
    path::PathBuf,
    process::{Command, ExitStatus},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, Result};
use harness::{EchoLines, Program, Stream};

/// How long a server may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// A program and its arguments.
#[derive(Clone, Debug)]
pub struct ServerCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// The CPU the server is confined to, if any.
    pub cpu: Option<usize>,
}

impl ServerCommand {
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> ServerCommand {
        ServerCommand {
            program: program.into(),
            args: args.iter().map(OsString::from).collect(),
            cpu: None,
        }
    }

    pub fn on_cpu(mut self, cpu: Option<usize>) -> ServerCommand {
        self.cpu = cpu;
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> ServerCommand {
        self.args.push(arg.into());
        self
    }
}

impl std::fmt::Display for ServerCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.program.display())?;
        for arg in &self.args {
            write!(f, " {}", arg.to_string_lossy())?;
        }
        Ok(())
    }
}

/// A running server. Dropping it kills and reaps the process.
pub struct ServerProcess {
    process: Program,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Spawns `command` and waits for its `listening on <addr>` line.
    pub fn start(command: &ServerCommand) -> Result<ServerProcess> {
        let mut child = Command::new(&command.program);
        child.args(&command.args);
        if let Some(cpu) = command.cpu {
            pin_child(&mut child, cpu)?;
        }
        let label = command
            .program
            .file_name()
            .map_or_else(|| command.to_string(), |n| n.to_string_lossy().into_owned());
        // The server's own log goes where it would go if run by hand; its
        // stdout is the contract, read here.
        let log = EchoLines::Each(Arc::new(|_: &str, stream: Stream, line: &str| {
            if stream == Stream::Stderr {
                eprintln!("{line}");
            }
        }));
        let process = Program::start(&label, child, None, log)
            .with_context(|| format!("starting `{command}`"))?;
        let addr = process
            .announced_addr(START_TIMEOUT)
            .with_context(|| format!("first stdout line of `{command}`"))?;
        Ok(ServerProcess { process, addr })
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Sends SIGTERM, waits for the exit (killing it after a deadline), and
    /// returns the exit status with the server's last stdout line after
    /// `listening on` (its summary).
    pub fn stop(mut self) -> Result<(ExitStatus, Option<String>)> {
        let status = match self.process.terminate(STOP_TIMEOUT) {
            Ok(status) => status,
            // Killed at the deadline: how it ended still goes in the report.
            Err(harness::Error::Killed { .. }) => self
                .process
                .exit_status()
                .context("the killed server was not reaped")?,
            Err(other) => return Err(other.into()),
        };
        let last = self
            .process
            .lines(Stream::Stdout)
            .into_iter()
            .skip(1)
            .last();
        Ok((status, last))
    }
}

/// Makes the child confine itself to `cpu` before it runs the program.
#[cfg(target_os = "linux")]
fn pin_child(child: &mut Command, cpu: usize) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs in the child between fork and exec and
    // only makes one system call, which is async-signal-safe.
    unsafe {
        child.pre_exec(move || pin_current_thread(cpu));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn pin_child(_child: &mut Command, _cpu: usize) -> Result<()> {
    anyhow::bail!("pinning to a CPU: Linux only")
}

/// Confines the calling thread (and what it spawns or forks afterwards) to
/// one CPU (Linux only: `sched_setaffinity`).
#[cfg(target_os = "linux")]
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write inside it, and
    // sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Elsewhere: an error, which [`crate::run`] never reaches.
#[cfg(not(target_os = "linux"))]
pub fn pin_current_thread(_cpu: usize) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "pinning to a CPU: Linux only",
    ))
}

/// Stand-in servers are `sh` scripts, and the checks read /proc: Linux
/// only, as the bench is.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_server_can_be_confined_to_one_cpu() {
        // The child reports its own allowed CPUs, as the kernel sees them.
        let script = "echo listening on 127.0.0.1:1; \
                      grep Cpus_allowed_list /proc/self/status; sleep 5";
        let command = ServerCommand::new("sh", &["-c", script]).on_cpu(Some(0));
        let server = ServerProcess::start(&command).unwrap();
        let line = server
            .process
            .wait_for_line(
                Stream::Stdout,
                "its CPU list",
                Duration::from_secs(5),
                |l| l.starts_with("Cpus_allowed_list"),
            )
            .expect("the child printed its CPU list");
        assert_eq!(line.split_whitespace().last(), Some("0"), "{line}");
    }

    #[test]
    fn a_server_that_exits_early_is_an_error_not_a_hang() {
        let command = ServerCommand::new("sh", &["-c", "echo oops; exit 3"]);
        let err = ServerProcess::start(&command).err().expect("must fail");
        assert!(format!("{err:#}").contains("oops"), "{err:#}");
    }

    #[test]
    fn a_server_is_stopped_and_its_last_line_kept() {
        // A stand-in server: announces an address, then prints a summary on
        // SIGTERM, as our servers' contract says.
        let script = "trap 'echo summary: done; exit 0' TERM; \
                      echo 'listening on 127.0.0.1:1'; \
                      while :; do sleep 0.01; done";
        let server = ServerProcess::start(&ServerCommand::new("sh", &["-c", script])).unwrap();
        assert_eq!(server.addr.port(), 1);
        let pid = server.pid();
        let (status, last) = server.stop().unwrap();
        assert!(status.success(), "{status}");
        assert_eq!(last.as_deref(), Some("summary: done"));
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
