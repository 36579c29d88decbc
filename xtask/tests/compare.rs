//! `cargo xtask compare`: refuses clearly when it cannot run, and, when `go`
//! is installed, runs our programs against the Go tutorial's programs in the
//! repository's `go/` directory (the tutorial's layout and code) in every
//! pair.
//!
//! The full run builds our programs and the Go programs, and uses
//! the Go programs' fixed ports 20000 and 30000; it is skipped, with a
//! message, where `go` is missing.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use harness::{Finished, Program};

/// The tests that reach the port check take this first: one holds port
/// 20000 on purpose, the full run needs it free.
static FIXED_PORTS: Mutex<()> = Mutex::new(());

fn fixed_ports() -> MutexGuard<'static, ()> {
    FIXED_PORTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn xtask() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.arg("compare").env("RUST_BACKTRACE", "0");
    command
}

/// The repository's `go/`: the Go programs a learner reads beside ours.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace root")
        .join("go")
}

/// A directory with no programs in it: as `PATH`, it hides `go`.
fn empty_path() -> PathBuf {
    let empty = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    empty
}

/// Runs `command` to its end (killed, and the test failed, at `timeout`);
/// returns the status, stdout and stderr.
fn run(command: Command, timeout: Duration) -> (ExitStatus, String, String) {
    let Finished {
        status,
        stdout,
        stderr,
    } = Program::spawn(command).with_timeout(timeout).finish();
    (status, stdout, stderr)
}

fn go_is_installed() -> bool {
    Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Without `--go`, the repository's own `go/` is used: it has the layout,
/// so the run gets as far as looking for `go` (here, on an empty PATH).
#[test]
fn without_a_go_directory_it_uses_the_repositorys_go_programs() {
    let _ports = fixed_ports();
    let mut command = xtask();
    command.env("PATH", empty_path());
    let (status, _, stderr) = run(command, Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`go` is not on PATH"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
}

#[test]
fn a_go_directory_that_is_not_one_says_how_to_call_it_and_exits_2() {
    let mut command = xtask();
    command
        .arg("--go")
        .arg(fixtures().join("no-such-directory"));
    let (status, _, stderr) = run(command, Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a directory"), "{stderr}");
    assert!(stderr.contains("cargo xtask compare --go DIR"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
}

#[test]
fn a_directory_without_the_tutorial_layout_is_named_with_the_missing_files_and_exits_2() {
    let mut command = xtask();
    command.arg("--go").arg(fixtures().join("tcp"));
    let (status, _, stderr) = run(command, Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("missing: tcp/server/main.go"), "{stderr}");
    assert!(stderr.contains("socket_stick/proto/proto.go"), "{stderr}");
}

#[test]
fn without_go_on_path_it_says_how_to_install_it_and_exits_2() {
    let _ports = fixed_ports();
    let mut command = xtask();
    command
        .arg("--go")
        .arg(fixtures())
        .env("PATH", empty_path());
    let (status, _, stderr) = run(command, Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`go` is not on PATH"), "{stderr}");
    assert!(stderr.contains("apt-get install golang-go"), "{stderr}");
}

/// Linux only: the holder of a port is found through /proc.
#[cfg(target_os = "linux")]
#[test]
fn a_busy_go_port_is_named_with_its_holder_in_one_line_before_anything_runs() {
    let _ports = fixed_ports();
    // The one test bound to a fixed port: the Go tcp/server's, held here.
    let held = match std::net::TcpListener::bind("127.0.0.1:20000") {
        Ok(listener) => Some(listener),
        // Something else has it: the check must name that instead.
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => None,
        Err(e) => panic!("binding 127.0.0.1:20000: {e}"),
    };
    let mut command = xtask();
    command
        .arg("--go")
        .arg(fixtures())
        .env("RUST_BACKTRACE", "1");
    let (status, stdout, stderr) = run(command, Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("TCP port 20000 (needed by tcp/server) is in use by "),
        "{stderr}"
    );
    if held.is_some() {
        let holder = format!("by pid {} (", std::process::id());
        assert!(stderr.contains(&holder), "{stderr}");
    }
    assert!(!stderr.contains("backtrace"), "{stderr}");
    // Nothing was built or run.
    assert!(!stdout.contains("go build"), "{stdout}");
}

#[test]
fn go_fixtures_and_our_programs_work_together_in_every_pair() {
    if !go_is_installed() {
        eprintln!(
            "skipping go_fixtures_and_our_programs_work_together_in_every_pair: `go` is not \
             installed (Debian: apt-get install golang-go)"
        );
        return;
    }
    let _ports = fixed_ports();
    let mut command = xtask();
    command.arg("--go").arg(fixtures());
    // Builds our programs (a while when cold) and 8 Go programs.
    let (status, stdout, stderr) = run(command, Duration::from_secs(900));
    assert!(
        status.success(),
        "exit {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );

    // The matrix: every cell ran and worked.
    assert!(
        stdout.contains("16 of 16 pairs worked together"),
        "{stdout}"
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("program"))
        .skip(2)
        .take(8)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["tcp", "echo", "Go", "client", "✓", "✓"],
        "{stdout}"
    );
    assert_eq!(rows[7], ["Rust", "client", "✓", "✓"], "{stdout}");

    // What each side printed is shown: the Go programs' own lines, and ours.
    for line in [
        // Go tcp/client printed the echo from our tcp-server.
        "Go client │ hello from the Go client",
        // Go tcp/server received our tcp-client's line.
        "Go server │ received client Data sent from terminal: hello from the Rust client",
        // Go UDP/client got its reply from our udp-server.
        "Go client │ recv:Hello server addr:127.0.0.1:30000 count:12",
        // Our udp-client got its reply from the Go UDP/server.
        "Rust client │ recv:Hello server addr:127.0.0.1:30000 count:12",
        // Go server2 decoded our client2's frames.
        "Go server │ received client Data sent: Hello, Hello. How are you?",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    // How much the Go raw server printed is reported (whether its 128-byte
    // defect loses bytes depends on how the writes arrive).
    assert!(stdout.contains(" of 520 bytes printed in "), "{stdout}");
}
