//! The servers a run measures: the named presets (ours, tokio, the Go
//! baselines), any command a user gives (`--server 'CMD {addr}'`), or a
//! server already running (`--server 127.0.0.1:20000`).
//!
//! Every one is found the same way: the process measured is the one that
//! holds the serving socket (`harness::ports`), in the started command's
//! process group, or anywhere for a running server. So a server need not
//! announce its port (the Go tutorial's prints nothing), `go run` and
//! `sh -c` wrappers are seen through, and its CPU time and memory are read
//! from `/proc` like everyone else's.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use harness::{
    EchoLines, Program, Stream, exit_words,
    ports::{self, Transport},
};

/// How long a server may take to open its socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// What `{addr}` in a command becomes: a port the kernel picks.
const ANY_PORT: &str = "127.0.0.1:0";

/// A built-in server: a program of the bench's directory, per transport.
#[derive(Debug, PartialEq, Eq)]
pub struct Preset {
    /// Its name on the command line and in the tables.
    pub name: &'static str,
    /// The program for the TCP scenarios, and for the UDP one.
    programs: [Option<&'static str>; 2],
    /// Its arguments, `{addr}` standing for where to listen.
    args: &'static [&'static str],
    /// What it is, for the report's notes.
    about: &'static str,
    /// Run by default in the tcp ping-pong only (the Go baselines).
    pingpong_only: bool,
    /// The largest request it echoes whole, if it has one.
    max_len: Option<usize>,
}

/// The presets, in the order their columns come by default.
pub const PRESETS: [Preset; 4] = [
    Preset {
        name: "ours",
        programs: [Some("tcp-server"), Some("udp-server")],
        args: &["--addr", "{addr}", "--quiet"],
        about: "ours = this repository's tcp-server or udp-server, release build",
        pingpong_only: false,
        max_len: None,
    },
    Preset {
        name: "tokio",
        programs: [Some("tokio-tcp-echo"), Some("tokio-udp-echo")],
        args: &["--addr", "{addr}"],
        about: "tokio = tokio's echo example on a current_thread runtime (bench/src/baseline.rs)",
        pingpong_only: false,
        max_len: None,
    },
    Preset {
        name: "go-tutorial",
        programs: [Some("go-tutorial-tcp-server"), None],
        args: &[],
        about: "go-tutorial = go/tcp/server/main.go as published, on its own 127.0.0.1:20000, \
                its line per message going to the bench through a pipe",
        pingpong_only: true,
        // A new 128-byte bufio.Reader per read drops the rest of a longer
        // message (docs/pitfalls.md).
        max_len: Some(128),
    },
    Preset {
        name: "go-io-copy",
        programs: [Some("go-echo"), None],
        args: &["--addr", "{addr}"],
        about: "go-io-copy = bench/go/echo/main.go, a goroutine per connection doing \
                io.Copy(conn, conn)",
        pingpong_only: true,
        max_len: None,
    },
];

/// A `--server` as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// As typed: how the report and the settings line name it.
    pub text: String,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// A preset, with arguments added to its own.
    Preset(&'static Preset, Vec<String>),
    /// A shell command, `{addr}` standing for where to listen.
    Command(String),
    /// A server already running there.
    Running(SocketAddr),
}

impl ServerSpec {
    /// A preset by name, with extra arguments.
    pub fn preset(name: &str, args: &[String]) -> ServerSpec {
        let text = std::iter::once(name.to_owned()).chain(args.iter().cloned());
        parse_spec(&text.collect::<Vec<_>>().join(" ")).expect("a preset's name")
    }

    /// Whether the default list runs it in `scenario` with `len`-byte
    /// requests, and if not, why.
    pub fn skipped_by_default(&self, pingpong: bool, len: usize) -> Option<String> {
        let Kind::Preset(preset, _) = &self.kind else {
            return None;
        };
        if preset.pingpong_only && !pingpong {
            return Some(String::new());
        }
        match preset.max_len {
            Some(max) if len > max => Some(format!(
                "{} not run: it echoes messages of at most {max} B whole, these are {len} B",
                preset.name
            )),
            _ => None,
        }
    }

    /// The note saying what this server is.
    pub fn about(&self) -> String {
        match &self.kind {
            Kind::Preset(preset, _) => preset.about.to_owned(),
            Kind::Command(command) => format!("{} = `sh -c '{command}'`", self.text),
            Kind::Running(addr) => format!("{addr} = a server started by hand, found by its port"),
        }
    }
}

/// `--server`'s value: a preset name (and arguments), an address, or a command.
pub fn parse_spec(text: &str) -> Result<ServerSpec, String> {
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return Err("expected a preset (ours, tokio, go-tutorial, go-io-copy), \
                    a command with {addr}, or the ADDR of a running server"
            .to_owned());
    };
    let kind = if let Some(preset) = PRESETS.iter().find(|p| p.name == first) {
        Kind::Preset(preset, words.map(str::to_owned).collect())
    } else if let Ok(addr) = text.trim().parse::<SocketAddr>() {
        Kind::Running(addr)
    } else {
        Kind::Command(text.trim().to_owned())
    };
    Ok(ServerSpec {
        text: text.trim().to_owned(),
        kind,
    })
}

/// A server of a run, started (or found) and not yet stopped.
pub struct Server {
    /// How the tables name it.
    pub name: String,
    /// Where the load generator reaches it.
    pub addr: SocketAddr,
    /// The process measured: the one holding its socket.
    pub pid: u32,
    /// The command the bench started, if it started one.
    program: Option<Program>,
}

impl Server {
    /// Starts `spec` for `transport` from `bin_dir`, confined to `cpu`, and
    /// waits until a process of its group holds a serving socket.
    pub fn start(
        spec: &ServerSpec,
        transport: Transport,
        bin_dir: &Path,
        cpu: Option<usize>,
    ) -> Result<Server> {
        let command = match &spec.kind {
            Kind::Running(addr) => return found_running(spec, transport, *addr),
            Kind::Preset(preset, extra) => {
                let program = preset_program(preset, transport, bin_dir)?;
                let mut command = Command::new(program);
                command.args(preset.args.iter().map(|a| a.replace("{addr}", ANY_PORT)));
                command.args(extra);
                command
            }
            Kind::Command(line) => {
                let mut command = Command::new("sh");
                command.args(["-c", &line.replace("{addr}", ANY_PORT)]);
                command
            }
        };
        start_command(spec, command, transport, cpu)
    }

    /// Sends SIGTERM (a server the bench did not start is left alone),
    /// waits for the exit, killing it after a deadline; says how it ended
    /// when it printed a summary (ours do) or failed.
    pub fn stop(self) -> Result<Option<String>> {
        let Some(mut program) = self.program else {
            return Ok(None);
        };
        let status = match program.terminate(STOP_TIMEOUT) {
            Ok(status) => status,
            // Killed at the deadline: how it ended still goes in the report.
            Err(harness::Error::Killed { .. }) => program
                .exit_status()
                .context("the killed server was not reaped")?,
            Err(other) => return Err(other.into()),
        };
        let last = program.lines(Stream::Stdout).into_iter().last();
        let how = exit_words(status);
        Ok(match last {
            Some(line) if line.starts_with("summary:") => {
                Some(format!("{}: {how}, last line `{line}`", self.name))
            }
            // A server without a summary dies of SIGTERM: that is no news.
            _ if status.success() || how.ends_with(&libc::SIGTERM.to_string()) => None,
            _ => Some(format!("{}: {how}", self.name)),
        })
    }
}

/// A preset's program for `transport`, from `bin_dir`.
fn preset_program(preset: &Preset, transport: Transport, bin_dir: &Path) -> Result<PathBuf> {
    let Some(name) = preset.programs[(transport == Transport::Udp) as usize] else {
        bail!("the {} preset has no {transport} server", preset.name);
    };
    let path = bin_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        let hint = if name.starts_with("go") {
            "`cargo xtask bench` builds it when `go` is installed"
        } else {
            "`cargo xtask bench` builds it"
        };
        bail!("{} is not built ({hint})", path.display());
    }
    Ok(path)
}

fn start_command(
    spec: &ServerSpec,
    mut command: Command,
    transport: Transport,
    cpu: Option<usize>,
) -> Result<Server> {
    if let Some(cpu) = cpu {
        pin_child(&mut command, cpu);
    }
    // The server's own log goes where it would go if run by hand.
    let log = EchoLines::Each(Arc::new(|label: &str, stream: Stream, line: &str| {
        if stream == Stream::Stderr {
            eprintln!("{label}: {line}");
        }
    }));
    let program = Program::start(&spec.text, command, None, log)?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let sockets = ports::serving(transport).context("reading the socket tables")?;
        if let Some((pid, socket)) = ports::held_by(&sockets, ports::group_members(program.id()))
            .into_iter()
            .next()
        {
            return Ok(Server {
                name: spec.text.clone(),
                addr: socket.reachable(),
                pid,
                program: Some(program),
            });
        }
        if let Some(status) = program.exit_status() {
            let said = program
                .lines(Stream::Stdout)
                .into_iter()
                .chain(program.lines(Stream::Stderr));
            bail!(
                "`{}` ended ({}) before serving; it printed: {:?}",
                spec.text,
                exit_words(status),
                said.take(5).collect::<Vec<_>>()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "`{}` opened no {transport} socket within {START_TIMEOUT:?}",
                spec.text
            );
        }
        // No notification exists for "a process bound a socket": a short
        // poll, bounded by the deadline.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A server started by hand: the process holding `addr`'s port.
fn found_running(spec: &ServerSpec, transport: Transport, addr: SocketAddr) -> Result<Server> {
    let sockets: Vec<_> = ports::serving(transport)?
        .into_iter()
        .filter(|s| s.addr.port() == addr.port())
        .collect();
    let Some((pid, _)) = ports::held_by(&sockets, ports::all_processes())
        .into_iter()
        .next()
    else {
        bail!(
            "no process of this user serves {transport} on {addr}: start the server first \
             (the bench reads its CPU time, so it must be yours)"
        );
    };
    Ok(Server {
        name: spec.text.clone(),
        addr,
        pid,
        program: None,
    })
}

/// Makes the child confine itself to `cpu` before it runs the program.
#[cfg(target_os = "linux")]
fn pin_child(child: &mut Command, cpu: usize) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs in the child between fork and exec and
    // only makes one system call, which is async-signal-safe.
    unsafe {
        child.pre_exec(move || pin_current_thread(cpu));
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_child(_child: &mut Command, _cpu: usize) {}

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
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Stand-in servers are `sh` scripts, and the checks read /proc: Linux
/// only, as the bench is.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn sh(script: &str) -> ServerSpec {
        parse_spec(script).unwrap()
    }

    #[test]
    fn a_server_spec_is_a_preset_an_address_or_a_command() {
        let ours = parse_spec("ours --spin-us 0").unwrap();
        assert_eq!(
            ours.kind,
            Kind::Preset(&PRESETS[0], vec!["--spin-us".into(), "0".into()])
        );
        assert_eq!(
            ours,
            ServerSpec::preset("ours", &["--spin-us".into(), "0".into()])
        );
        let running = parse_spec("127.0.0.1:20000").unwrap();
        assert_eq!(
            running.kind,
            Kind::Running("127.0.0.1:20000".parse().unwrap())
        );
        let command = parse_spec(" ./echo --listen {addr} ").unwrap();
        assert_eq!(command.kind, Kind::Command("./echo --listen {addr}".into()));
        assert!(parse_spec("  ").is_err());
        let tutorial = ServerSpec::preset("go-tutorial", &[]);
        assert!(tutorial.skipped_by_default(true, 64).is_none());
        assert!(
            tutorial
                .skipped_by_default(true, 129)
                .unwrap()
                .contains("at most 128 B")
        );
        assert!(tutorial.skipped_by_default(false, 64).is_some());
    }

    #[test]
    fn a_command_is_measured_through_the_process_that_holds_its_socket() {
        // `sh` starts a child that listens on the port the kernel picks,
        // confined to CPU 0: the server found is that child, not the shell.
        let spec = sh("python3 -c 'import socket,time; s=socket.socket(); \
                       s.bind((\"127.0.0.1\", 0)); s.listen(); time.sleep(30)' {addr}");
        if Command::new("python3").arg("-V").output().is_err() {
            println!("skipped: no python3");
            return;
        }
        let server = Server::start(&spec, Transport::Tcp, Path::new("."), Some(0)).unwrap();
        assert!(server.addr.ip().is_loopback() && server.addr.port() != 0);
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid)).unwrap();
        assert!(status.contains("Name:\tpython3"), "{status}");
        assert!(status.contains("Cpus_allowed_list:\t0\n"), "{status}");
        // Found again by its address alone, as a server run by hand is.
        let by_hand = parse_spec(&server.addr.to_string()).unwrap();
        let again = Server::start(&by_hand, Transport::Tcp, Path::new("."), None).unwrap();
        assert_eq!(again.pid, server.pid);
        assert_eq!(again.stop().unwrap(), None);
        assert_eq!(server.stop().unwrap(), None);
    }

    #[test]
    fn a_server_that_exits_early_is_an_error_that_shows_its_output() {
        let err = Server::start(
            &sh("echo oops; exit 3"),
            Transport::Tcp,
            Path::new("."),
            None,
        )
        .err()
        .expect("must fail");
        assert!(format!("{err:#}").contains("oops"), "{err:#}");
        let err = Server::start(
            &ServerSpec::preset("go-echo-missing", &[]),
            Transport::Tcp,
            Path::new("/nowhere"),
            None,
        );
        assert!(err.is_err());
    }
}
