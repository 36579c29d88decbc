//! The servers a run measures: named presets (ours, tokio, the Go
//! baselines and twins), any command a user gives (`--server 'CMD
//! {addr}'`), or a server already running (`--server 127.0.0.1:20000`).
//!
//! Each is found the same way: the process measured is the one holding the
//! serving socket (`harness::ports`), in the started command's process
//! group, or anywhere for a running server. So a server need not announce
//! its port (the Go tutorial's prints nothing), `go run` and `sh -c`
//! wrappers are seen through, and its CPU time and memory are read from
//! `/proc` like everyone else's.

use std::{
    net::SocketAddr,
    path::Path,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::cli::Scenario;
use harness::{
    Program, Stream, exit_words,
    ports::{self, Transport},
};

/// How long a server may take to open its socket, and to exit after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// What `{addr}` in a command becomes: a port the kernel picks.
const ANY_PORT: &str = "127.0.0.1:0";

/// A built-in server: a program of the bench's directory, per scenario.
#[derive(Debug, PartialEq, Eq)]
pub struct Preset {
    /// Its name on the command line and in the tables.
    pub name: &'static str,
    /// The program for the TCP echo scenarios (tcp, bulk, idle), udp,
    /// pool and chat, in that order ("": none).
    programs: [&'static str; 4],
    /// Its arguments, `{addr}` standing for where to listen.
    args: &'static [&'static str],
    /// What it is, for the report's notes.
    about: &'static str,
    /// By default, run in the tcp ping-pong only (the Go baselines).
    pingpong_only: bool,
    /// The largest request it echoes whole, if it has one.
    max_len: Option<usize>,
}

/// The presets, in the order their columns come by default.
pub const PRESETS: [Preset; 5] = [
    Preset {
        name: "ours",
        programs: ["tcp-server", "udp-server", "worker-pool", "chat"],
        args: &["--addr", "{addr}", "--quiet"],
        about: "ours = this repository's program of that name, release build",
        pingpong_only: false,
        max_len: None,
    },
    Preset {
        name: "tokio",
        programs: [
            "tokio-tcp-echo",
            "tokio-udp-echo",
            "tokio-worker-pool",
            "tokio-chat",
        ],
        args: &["--addr", "{addr}"],
        about: "tokio = the tokio way on a current_thread runtime: its echo example, a worker \
                pool on spawn_blocking, its chat example (bench/src/baseline/)",
        pingpong_only: false,
        max_len: None,
    },
    Preset {
        name: "go",
        programs: ["", "", "go-worker-pool", "go-chat"],
        args: &["--addr", "{addr}"],
        about: "go = the Go twin written for this project, go/beyond-the-tutorial/",
        pingpong_only: false,
        max_len: None,
    },
    Preset {
        name: "go-tutorial",
        programs: ["go-tutorial-tcp-server", "", "", ""],
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
        programs: ["go-echo", "", "", ""],
        args: &["--addr", "{addr}"],
        about: "go-io-copy = bench/go/echo/main.go, a goroutine per connection doing \
                io.Copy(conn, conn)",
        pingpong_only: true,
        max_len: None,
    },
];

/// Which of a preset's programs serves `scenario`, and over what.
fn service(scenario: Scenario) -> (usize, Transport) {
    match scenario {
        Scenario::Udp => (1, Transport::Udp),
        Scenario::Pool => (2, Transport::Tcp),
        Scenario::Chat => (3, Transport::Tcp),
        _ => (0, Transport::Tcp),
    }
}

/// A `--server` as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// How the tables name it: the preset and its arguments, a command's
    /// NAME (or the whole command), the address.
    pub name: String,
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

impl Spec {
    /// `--server`'s value: a preset's name (and arguments), an address,
    /// `NAME=COMMAND` or a command.
    pub fn parse(text: &str) -> Result<Spec, String> {
        let text = text.trim();
        let first = text.split_whitespace().next().ok_or(
            "--server expects a preset (ours, tokio, go, go-tutorial, go-io-copy), a command \
             with {addr} (NAME=COMMAND names its column), or the ADDR of a running server",
        )?;
        let named = text.split_once('=').filter(|(name, _)| {
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        });
        let (name, kind) = match PRESETS.iter().find(|p| p.name == first) {
            Some(preset) => {
                let args = text.split_whitespace().skip(1).map(str::to_owned).collect();
                (text, Kind::Preset(preset, args))
            }
            None => match (text.parse(), named) {
                (Ok(addr), _) => (text, Kind::Running(addr)),
                (_, Some((name, command))) => (name, Kind::Command(command.trim().to_owned())),
                _ => (text, Kind::Command(text.to_owned())),
            },
        };
        Ok(Spec {
            name: name.to_owned(),
            kind,
        })
    }

    /// The preset `name`, with extra arguments.
    pub fn preset(name: &str, args: &[String]) -> Spec {
        Spec::parse(&[&[name.to_owned()], args].concat().join(" ")).expect("a preset's name")
    }

    /// The same server with `args` added, if it is a preset (`--workers
    /// 4`); its name in the tables unchanged.
    pub fn with_args(&self, args: &[String]) -> Spec {
        let mut spec = self.clone();
        if let Kind::Preset(_, extra) = &mut spec.kind {
            extra.extend_from_slice(args);
        }
        spec
    }

    /// Why the default list leaves this out of a `scenario` table (of
    /// `len`-byte requests): `Some("")` without a note.
    pub fn left_out_by_default(&self, scenario: Scenario, len: usize) -> Option<String> {
        let Kind::Preset(preset, _) = &self.kind else {
            return None;
        };
        let pingpong = scenario == Scenario::Tcp;
        match preset.max_len {
            _ if preset.programs[service(scenario).0].is_empty() => Some(String::new()),
            _ if preset.pingpong_only && !pingpong => Some(String::new()),
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
            Kind::Command(command) => format!("{} = `sh -c '{command}'`", self.name),
            Kind::Running(addr) => format!("{addr} = a server started by hand, found by its port"),
        }
    }
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
    /// Starts `spec` for `scenario` from `bin_dir`, confined to `cpu`, and
    /// waits until a process of its group holds a serving socket.
    pub fn start(
        spec: &Spec,
        scenario: Scenario,
        bin_dir: &Path,
        cpu: Option<usize>,
    ) -> Result<Server> {
        let (program, transport) = service(scenario);
        let mut command = match &spec.kind {
            Kind::Running(addr) => return found_running(spec, transport, *addr),
            Kind::Preset(preset, extra) => {
                let name = preset.programs[program];
                if name.is_empty() {
                    bail!(
                        "the {} preset has no {} server",
                        preset.name,
                        crate::cli::name(scenario)
                    );
                }
                let path = bin_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
                if !path.is_file() {
                    let why = match name {
                        go if go.starts_with("go") => {
                            "is not built: `cargo xtask bench` builds it when `go` is installed"
                                .to_owned()
                        }
                        _ if !crate::workspace_root().join(name).is_dir() => {
                            format!("is not built yet: this workspace has no `{name}` crate yet")
                        }
                        _ => "is not built: `cargo xtask bench` builds it".to_owned(),
                    };
                    bail!("{} {why}", path.display());
                }
                let mut command = Command::new(path);
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
        if let Some(cpu) = cpu {
            pin_child(&mut command, cpu);
        }
        // The server's own log goes where it would go if run by hand.
        let log = Arc::new(|label: &str, stream: Stream, line: &str| {
            if stream == Stream::Stderr {
                eprintln!("{label}: {line}");
            }
        });
        let program = Program::start(&spec.name, command, None, Some(log))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let group = ports::group_members(program.id());
            let held =
                ports::holders(transport, None, group).context("reading the socket tables")?;
            if let Some(&(pid, addr)) = held.first() {
                let (name, program) = (spec.name.clone(), Some(program));
                return Ok(Server {
                    name,
                    addr,
                    pid,
                    program,
                });
            }
            if let Some(status) = program.exit_status() {
                let mut said = program.lines(Stream::Stdout);
                said.extend(program.lines(Stream::Stderr));
                said.truncate(5);
                bail!(
                    "`{}` ended ({}) before serving; it printed: {said:?}",
                    spec.name,
                    exit_words(status)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "`{}` opened no {transport} socket within {START_TIMEOUT:?}",
                    spec.name
                );
            }
            // No notification exists for "a process bound a socket": a
            // short poll, bounded by the deadline.
            std::thread::sleep(Duration::from_millis(10));
        }
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
            Err(failed) => program.exit_status().ok_or(failed)?,
        };
        let how = exit_words(status);
        Ok(match program.lines(Stream::Stdout).pop() {
            Some(last) if last.starts_with("summary:") => {
                Some(format!("{}: {how}, last line `{last}`", self.name))
            }
            // A server without a summary dies of SIGTERM: that is no news.
            _ if status.success() || how == format!("killed by signal {}", libc::SIGTERM) => None,
            _ => Some(format!("{}: {how}", self.name)),
        })
    }
}

/// A server started by hand: the process holding `addr`'s port.
fn found_running(spec: &Spec, transport: Transport, addr: SocketAddr) -> Result<Server> {
    let held = ports::holders(transport, Some(addr.port()), ports::all_processes())?;
    let Some(&(pid, _)) = held.first() else {
        bail!(
            "no process of this user serves {transport} on {addr}: start the server first \
             (the bench reads its CPU time, so it must be yours)"
        );
    };
    let (name, program) = (spec.name.clone(), None);
    Ok(Server {
        name,
        addr,
        pid,
        program,
    })
}

/// Makes the child confine itself to `cpu` before it runs the program.
fn pin_child(child: &mut Command, cpu: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: the closure runs in the child between fork and exec and
    // only makes one system call, which is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(child, move || pin_current_thread(cpu));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (child, cpu);
}

/// Confines the calling thread (and what it spawns or forks afterwards) to
/// one CPU (Linux only: `sched_setaffinity`; elsewhere an error, which the
/// bench never reaches).
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write inside it,
    // and sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 {
            return Ok(());
        }
    }
    let _ = cpu;
    Err(std::io::Error::last_os_error())
}

/// Stand-in servers are `sh` and python scripts, and the checks read
/// /proc: Linux only, as the bench is.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_server_spec_is_a_preset_an_address_or_a_command_named_or_not() {
        let ours = Spec::parse("ours --spin-us 0").unwrap();
        let args = vec!["--spin-us".to_owned(), "0".to_owned()];
        // Arguments added for a table leave its name as it was.
        let added = Spec::preset("ours", &[]).with_args(&args);
        assert_eq!((added.name.as_str(), &added.kind), ("ours", &ours.kind));
        assert_eq!(
            (ours.name.as_str(), ours.kind),
            ("ours --spin-us 0", Kind::Preset(&PRESETS[0], args))
        );
        let running = Spec::parse("127.0.0.1:20000").unwrap().kind;
        assert_eq!(running, Kind::Running("127.0.0.1:20000".parse().unwrap()));
        let command = Spec::parse(" ./echo --listen {addr} ").unwrap();
        assert_eq!(command.kind, Kind::Command("./echo --listen {addr}".into()));
        assert_eq!(command.name, "./echo --listen {addr}");
        // NAME=COMMAND: a short column name; an `=` later in a command is its own.
        let named = Spec::parse("one-file=./srv --addr {addr} >/dev/null").unwrap();
        assert_eq!(
            (named.name.as_str(), named.kind),
            (
                "one-file",
                Kind::Command("./srv --addr {addr} >/dev/null".into())
            )
        );
        assert_eq!(Spec::parse("./srv --x=1").unwrap().name, "./srv --x=1");
        assert!(Spec::parse("  ").is_err());
        let tutorial = Spec::preset("go-tutorial", &[]);
        assert_eq!(tutorial.left_out_by_default(Scenario::Tcp, 64), None);
        let long = tutorial.left_out_by_default(Scenario::Tcp, 129).unwrap();
        assert!(long.contains("at most 128 B"), "{long}");
        assert_eq!(
            tutorial.left_out_by_default(Scenario::Bulk, 64).as_deref(),
            Some("")
        );
        assert_eq!(
            tutorial.left_out_by_default(Scenario::Chat, 64).as_deref(),
            Some("")
        );
    }

    #[test]
    fn a_command_is_measured_through_the_process_that_holds_its_socket() {
        if Command::new("python3").arg("-V").output().is_err() {
            println!("skipped: no python3");
            return;
        }
        // `sh` starts a child that listens on a port the kernel picks,
        // confined to CPU 0: the server found is that child, not the shell.
        let spec = Spec::parse(
            "python3 -c 'import socket,time; s=socket.socket(); \
             s.bind((\"127.0.0.1\", 0)); s.listen(); time.sleep(30)' {addr}",
        )
        .unwrap();
        let server = Server::start(&spec, Scenario::Tcp, Path::new("."), Some(0)).unwrap();
        assert!(server.addr.ip().is_loopback() && server.addr.port() != 0);
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid)).unwrap();
        assert!(status.contains("Name:\tpython3"), "{status}");
        assert!(status.contains("Cpus_allowed_list:\t0\n"), "{status}");
        // Found again by its address alone, as a server run by hand is.
        let by_hand = Spec::parse(&server.addr.to_string()).unwrap();
        let again = Server::start(&by_hand, Scenario::Tcp, Path::new("."), None).unwrap();
        assert_eq!(again.pid, server.pid);
        assert_eq!(
            (again.stop().unwrap(), server.stop().unwrap()),
            (None, None)
        );
    }

    #[test]
    fn a_server_that_cannot_serve_is_an_error_that_says_why() {
        let early = Spec::parse("echo oops; exit 3").unwrap();
        let err = Server::start(&early, Scenario::Tcp, Path::new("."), None).err();
        assert!(format!("{:#}", err.unwrap()).contains("oops"));
        let ours = Spec::preset("ours", &[]);
        let err = Server::start(&ours, Scenario::Tcp, Path::new("/nowhere"), None).err();
        let err = format!("{:#}", err.unwrap());
        assert!(err.contains("/nowhere/tcp-server is not built"), "{err}");
        // A program whose crate the workspace does not have says so.
        let err = Server::start(&ours, Scenario::Pool, Path::new("/nowhere"), None).err();
        let err = format!("{:#}", err.unwrap());
        if !crate::workspace_root().join("worker-pool").is_dir() {
            assert!(err.contains("no `worker-pool` crate yet"), "{err}");
        }
    }
}
