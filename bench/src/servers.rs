//! The servers a run measures: named presets (ours, tokio, the Go
//! baselines and twins), any command a user gives (`--server 'CMD
//! {addr}'`, or `NAME=CMD` to name its column), or a server already
//! running (`--server 127.0.0.1:20000`).
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
use harness::{
    Program, Stream, exit_words,
    ports::{self, Transport},
};

use crate::cli::Scenario;

/// How long a server may take to open its socket, and to exit after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// The presets, a line each, in the order their columns come by default:
/// its name; its programs (beside the bench) for the TCP echo scenarios
/// (tcp, bulk, idle), udp, pool and chat, `-` where it has none (a preset
/// with the echo only runs in the tcp ping-pong by default: the Go
/// baselines); its arguments, `{addr}` standing for where to listen (`-`:
/// none); and
/// what it is, for the report's notes.
const PRESETS: &str = "\
ours | tcp-server udp-server worker-pool chat | --addr {addr} --quiet | ours = this repository's \
program of that name, release build
tokio | tokio-tcp-echo tokio-udp-echo tokio-worker-pool tokio-chat | --addr {addr} | tokio = \
the tokio way on a current_thread runtime: its echo example, a worker pool on spawn_blocking, \
its chat example (bench/src/baseline/)
go | - - go-worker-pool go-chat | --addr {addr} | go = the Go twin written for this project, \
go/beyond-the-tutorial/
go-tutorial | go-tutorial-tcp-server - - - | - | go-tutorial = go/tcp/server/main.go as \
published, on its own 127.0.0.1:20000, its line per message going to the bench through a pipe
go-io-copy | go-echo - - - | --addr {addr} | go-io-copy = bench/go/echo/main.go, a goroutine \
per connection doing io.Copy(conn, conn)";

/// The presets: `(name, programs, arguments, about)`.
pub fn presets() -> impl Iterator<Item = [&'static str; 4]> {
    PRESETS.lines().map(|line| {
        let mut fields = line.split(" | ");
        [(); 4].map(|()| fields.next().unwrap_or_default())
    })
}

/// Which of a preset's programs serves `scenario`, and over what.
fn service(scenario: Scenario) -> (usize, Transport) {
    match scenario {
        Scenario::Udp => (1, Transport::Udp),
        Scenario::Pool => (2, Transport::Tcp),
        Scenario::Chat => (3, Transport::Tcp),
        _ => (0, Transport::Tcp),
    }
}

/// A `--server` as given: how the tables name it (the preset and its
/// arguments, a command's NAME or the whole command, the address), and
/// what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// A preset, by name, with arguments added to its own.
    Preset(&'static str, Vec<String>),
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
        let is_name = |name: &str| {
            name.chars()
                .all(|c| c.is_alphanumeric() || "._-".contains(c))
        };
        let named = text.split_once('=').filter(|(name, _)| is_name(name));
        let kind = match (presets().find(|p| p[0] == first), text.parse()) {
            (Some(preset), _) => {
                let args = text.split_whitespace().skip(1).map(str::to_owned);
                Kind::Preset(preset[0], args.collect())
            }
            (None, Ok(addr)) => Kind::Running(addr),
            (None, Err(_)) => Kind::Command(named.map_or(text, |(_, c)| c.trim()).to_owned()),
        };
        let name = named
            .filter(|_| matches!(kind, Kind::Command(_)))
            .map_or(text, |(n, _)| n);
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
        let Kind::Preset(name, _) = self.kind else {
            return None;
        };
        let preset = presets().find(|p| p[0] == name)?;
        let programs: Vec<&str> = preset[1].split(' ').collect();
        let echo_only = programs[1..].iter().all(|p| *p == "-");
        if programs[service(scenario).0] == "-" || echo_only && scenario != Scenario::Tcp {
            return Some(String::new());
        }
        // A new 128-byte bufio.Reader per read drops the rest of a longer
        // message (docs/pitfalls.md).
        (name == "go-tutorial" && len > 128).then(|| {
            format!("{name} not run: it echoes messages of at most 128 B whole, these are {len} B")
        })
    }

    /// The note saying what this server is.
    pub fn about(&self) -> String {
        match &self.kind {
            Kind::Preset(name, _) => {
                presets().find(|p| p[0] == *name).unwrap_or_default()[3].into()
            }
            Kind::Command(command) => format!("{} = `sh -c '{command}'`", self.name),
            Kind::Running(addr) => format!("{addr} = a server started by hand, found by its port"),
        }
    }

    /// The command that starts it for `scenario`, from `bin_dir`, `{addr}`
    /// standing for a port the kernel picks.
    fn command(&self, scenario: Scenario, bin_dir: &Path) -> Result<Command> {
        let (kind, any_port) = (&self.kind, |text: &str| {
            text.replace("{addr}", "127.0.0.1:0")
        });
        let (name, extra) = match kind {
            Kind::Preset(name, extra) => (*name, extra),
            Kind::Command(line) => {
                let mut command = Command::new("sh");
                command.args(["-c", &any_port(line)]);
                return Ok(command);
            }
            Kind::Running(_) => bail!("a server already running is not started"),
        };
        let [_, programs, args, _] = presets().find(|p| p[0] == name).context("a preset")?;
        let program = programs.split(' ').nth(service(scenario).0).unwrap_or("-");
        if program == "-" {
            bail!(
                "the {name} preset has no {} server",
                crate::cli::name(scenario)
            );
        }
        let path = bin_dir.join(format!("{program}{}", std::env::consts::EXE_SUFFIX));
        if !path.is_file() {
            let why = match program {
                go if go.starts_with("go") => {
                    "`cargo xtask bench` builds it when `go` is installed"
                }
                _ if !crate::workspace_root().join(program).is_dir() => {
                    "this workspace has no such crate yet"
                }
                _ => "`cargo xtask bench` builds it",
            };
            bail!("{} is not built: {why}", path.display());
        }
        let mut command = Command::new(path);
        command
            .args(args.split_whitespace().map(any_port))
            .args(extra);
        Ok(command)
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
    /// waits until a process of its group holds a serving socket; finds a
    /// server started by hand by its port.
    pub fn start(
        spec: &Spec,
        scenario: Scenario,
        bin_dir: &Path,
        cpu: Option<usize>,
    ) -> Result<Server> {
        let (transport, name) = (service(scenario).1, spec.name.clone());
        if let Kind::Running(addr) = spec.kind {
            let held = ports::holders(transport, Some(addr.port()), ports::all_processes())?;
            let Some(&(pid, _)) = held.first() else {
                bail!(
                    "no process of this user serves {transport} on {addr}: start the server \
                     first (the bench reads its CPU time, so it must be yours)"
                );
            };
            return Ok(Server {
                name,
                addr,
                pid,
                program: None,
            });
        }
        let mut command = spec.command(scenario, bin_dir)?;
        if let Some(cpu) = cpu {
            pin_child(&mut command, cpu);
        }
        // The server's own log goes where it would go if run by hand.
        let log = Arc::new(|label: &str, stream: Stream, line: &str| {
            if stream == Stream::Stderr {
                eprintln!("{label}: {line}");
            }
        });
        let program = Program::start(&name, command, None, Some(log))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let group = ports::group_members(program.id());
            let held =
                ports::holders(transport, None, group).context("reading the socket tables")?;
            if let Some(&(pid, addr)) = held.first() {
                return Ok(Server {
                    name,
                    addr,
                    pid,
                    program: Some(program),
                });
            }
            if let Some(status) = program.exit_status() {
                let mut said = program.lines(Stream::Stdout);
                said.extend(program.lines(Stream::Stderr));
                said.truncate(5);
                let how = exit_words(status);
                bail!("`{name}` ended ({how}) before serving; it printed: {said:?}");
            }
            if Instant::now() >= deadline {
                bail!("`{name}` opened no {transport} socket within {START_TIMEOUT:?}");
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
        let (how, name) = (exit_words(status), self.name);
        Ok(match program.lines(Stream::Stdout).pop() {
            Some(last) if last.starts_with("summary:") => {
                Some(format!("{name}: {how}, last line `{last}`"))
            }
            // A server without a summary dies of SIGTERM: that is no news.
            _ if status.success() || how == format!("killed by signal {}", libc::SIGTERM) => None,
            _ => Some(format!("{name}: {how}")),
        })
    }
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
        assert_eq!(
            (ours.name.as_str(), &ours.kind),
            ("ours --spin-us 0", &Kind::Preset("ours", args.clone()))
        );
        // Arguments added for a table leave its name as it was.
        let added = Spec::preset("ours", &[]).with_args(&args);
        assert_eq!((added.name.as_str(), &added.kind), ("ours", &ours.kind));
        let running = Spec::parse("127.0.0.1:20000").unwrap().kind;
        assert_eq!(running, Kind::Running("127.0.0.1:20000".parse().unwrap()));
        let command = Spec::parse(" ./echo --listen {addr} ").unwrap();
        let echo = "./echo --listen {addr}";
        assert_eq!(
            (command.name.as_str(), command.kind),
            (echo, Kind::Command(echo.into()))
        );
        // NAME=COMMAND: a short column name; an `=` later in a command is its own.
        let named = Spec::parse("one-file=./srv --addr {addr} >/dev/null").unwrap();
        let srv = Kind::Command("./srv --addr {addr} >/dev/null".into());
        assert_eq!((named.name.as_str(), named.kind), ("one-file", srv));
        assert_eq!(Spec::parse("./srv --x=1").unwrap().name, "./srv --x=1");
        assert!(Spec::parse("  ").is_err());
        let tutorial = Spec::preset("go-tutorial", &[]);
        assert_eq!(tutorial.left_out_by_default(Scenario::Tcp, 128), None);
        let long = tutorial.left_out_by_default(Scenario::Tcp, 129).unwrap();
        assert!(long.contains("at most 128 B"), "{long}");
        for scenario in [Scenario::Bulk, Scenario::Chat] {
            assert_eq!(
                tutorial.left_out_by_default(scenario, 64).as_deref(),
                Some("")
            );
        }
        assert_eq!(
            presets().map(|p| p[0]).collect::<Vec<_>>(),
            ["ours", "tokio", "go", "go-tutorial", "go-io-copy"]
        );
        assert!(
            Spec::preset("go", &[])
                .about()
                .starts_with("go = the Go twin")
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
            assert!(
                err.contains("this workspace has no such crate yet"),
                "{err}"
            );
        }
    }
}
