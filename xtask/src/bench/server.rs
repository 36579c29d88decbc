//! A server under test, run as a child process: started, asked for its address,
//! and always killed and reaped, even when the bench fails half-way.
//!
//! Every server of this project (and each baseline) prints `listening on <addr>`
//! as its first stdout line, so all of them bind port 0 and the bench reads the
//! port the kernel chose.

use std::{
    ffi::OsString,
    io::{BufRead, BufReader},
    net::SocketAddr,
    os::unix::process::CommandExt as _,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

// The contract's first line, read as the demo reads it.
use crate::demo::check::listening_addr;

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
    child: Child,
    reaped: bool,
    pub addr: SocketAddr,
    /// Stdout lines after the first, read by a thread so the server never blocks
    /// on a full pipe.
    output: Receiver<String>,
}

impl ServerProcess {
    /// Spawns `command` and waits for its `listening on <addr>` line.
    pub fn start(command: &ServerCommand) -> Result<ServerProcess> {
        let mut process = Command::new(&command.program);
        process
            .args(&command.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(cpu) = command.cpu {
            // SAFETY: the closure runs in the child between fork and exec and
            // only makes one system call, which is async-signal-safe.
            unsafe {
                process.pre_exec(move || pin_current_thread(cpu));
            }
        }
        let mut child = process
            .spawn()
            .with_context(|| format!("starting `{command}`"))?;
        let stdout = child.stdout.take();
        let (lines_tx, lines_rx) = mpsc::channel();
        // From here on the guard owns the child: any early return kills it.
        let mut server = ServerProcess {
            child,
            reaped: false,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            output: lines_rx,
        };
        let stdout = stdout.context("child stdout was not captured")?;
        thread::Builder::new()
            .name("server-stdout".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if lines_tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .context("spawning the stdout reader thread")?;

        let first = match server.output.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                bail!("`{command}` printed nothing within {START_TIMEOUT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = server.child.wait().context("waiting for the server")?;
                server.reaped = true;
                bail!("`{command}` exited ({status}) before printing `listening on <addr>`")
            }
        };
        server.addr =
            listening_addr(&first).with_context(|| format!("first stdout line of `{command}`"))?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, waits for the exit (killing it after a deadline), and
    /// returns the exit status with the server's last stdout line (its summary).
    pub fn stop(mut self) -> Result<(ExitStatus, Option<String>)> {
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill only sends a signal; the pid is our own unreaped child,
        // so it cannot have been recycled for another process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().context("waiting for the server")? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                break self.child.wait().context("waiting for the killed server")?;
            }
            thread::sleep(Duration::from_millis(5));
        };
        self.reaped = true;
        // The reader thread sees EOF once the process is gone; wait for it
        // briefly so the summary line is not lost to the race.
        let mut last = None;
        while let Ok(line) = self.output.recv_timeout(Duration::from_millis(200)) {
            last = Some(line);
        }
        Ok((status, last))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Confines the calling thread (and what it spawns or forks afterwards) to
/// one CPU.
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

#[cfg(test)]
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
            .output
            .recv_timeout(Duration::from_secs(5))
            .expect("the child printed its CPU list");
        assert_eq!(line.split_whitespace().last(), Some("0"), "{line}");
    }

    #[test]
    fn listening_line_gives_the_bound_address() {
        let addr = listening_addr("listening on 127.0.0.1:40123\n").unwrap();
        assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 40123)));
        assert!(listening_addr("listening on [::1]:9").is_ok());
    }

    #[test]
    fn other_first_lines_are_rejected() {
        assert!(listening_addr("starting up").is_err());
        assert!(listening_addr("listening on somewhere").is_err());
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
