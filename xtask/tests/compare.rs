//! `cargo xtask compare`: refuses clearly when it cannot run, and, when `go`
//! is installed, runs our programs against the Go tutorial's programs in the
//! repository's `go/` directory in every pair (which builds both and uses
//! the Go programs' fixed ports 20000 and 30000; skipped, with a message,
//! where `go` is missing).

use std::{
    fs,
    path::PathBuf,
    process::{Command, ExitStatus},
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use harness::{Finished, Program};

/// The tests that reach the port check take this first: one holds port
/// 20000 on purpose, the full run needs it free.
fn fixed_ports() -> MutexGuard<'static, ()> {
    static FIXED_PORTS: Mutex<()> = Mutex::new(());
    FIXED_PORTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The repository's `go/`: the Go programs a learner reads beside ours.
fn go_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../go")
}

/// `cargo xtask compare ARGS`, with `PATH` replaced if `path` is given;
/// the status, stdout and stderr (killed, and the test failed, at `timeout`).
fn compare(
    args: &[&str],
    path: Option<PathBuf>,
    timeout: Duration,
) -> (ExitStatus, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.arg("compare").args(args).env("RUST_BACKTRACE", "1");
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let Finished {
        status,
        stdout,
        stderr,
    } = Program::spawn(command).with_timeout(timeout).finish();
    (status, stdout, stderr)
}

#[test]
fn what_stops_the_comparison_is_said_in_one_line_with_exit_2() {
    let _ports = fixed_ports();
    // A directory with no programs in it: as `PATH`, it hides `go`.
    let empty = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    let go = go_dir().display().to_string();
    let missing = go_dir().join("no-such-directory").display().to_string();
    let tcp_only = go_dir().join("tcp").display().to_string();
    for (args, path, said) in [
        // Without --go, the repository's go/ is used: it has the layout, so
        // the run gets as far as looking for `go`.
        (vec![], Some(empty.clone()), vec!["`go` is not on PATH"]),
        (
            vec!["--go", &go],
            Some(empty.clone()),
            vec!["`go` is not on PATH", "apt-get install golang-go"],
        ),
        (
            vec!["--go", &missing],
            None,
            vec!["is not a directory", "cargo xtask compare --go DIR"],
        ),
        (
            vec!["--go", &tcp_only],
            None,
            vec!["missing: tcp/server/main.go", "socket_stick/proto/proto.go"],
        ),
    ] {
        let (status, _, stderr) = compare(&args, path, Duration::from_secs(60));
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: one clear line: {stderr}"
        );
        for words in said {
            assert!(stderr.contains(words), "{args:?}: {stderr}");
        }
    }
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
    let (status, stdout, stderr) = compare(
        &["--go", &go_dir().display().to_string()],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("TCP port 20000 (needed by tcp/server) is in use by "),
        "{stderr}"
    );
    if held.is_some() {
        assert!(
            stderr.contains(&format!("by pid {} (", std::process::id())),
            "{stderr}"
        );
    }
    assert!(
        !stderr.contains("backtrace") && !stdout.contains("go build"),
        "{stdout}{stderr}"
    );
}

#[test]
fn go_fixtures_and_our_programs_work_together_in_every_pair() {
    if Command::new("go").arg("version").output().is_err() {
        eprintln!("skipping: `go` is not installed (Debian: apt-get install golang-go)");
        return;
    }
    let _ports = fixed_ports();
    // Builds our programs (a while when cold) and 8 Go programs.
    let (status, stdout, stderr) = compare(
        &["--go", &go_dir().display().to_string()],
        None,
        Duration::from_secs(900),
    );
    assert!(
        status.success(),
        "exit {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // The matrix: every cell ran and worked.
    assert!(
        stdout.contains("24 of 24 pairs worked together"),
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
        ["tcp", "echo", "Go", "client", "✓", "✓", "✓"],
        "{stdout}"
    );
    assert_eq!(rows[7], ["Rust", "client", "✓", "✓", "✓"], "{stdout}");
    // What each side printed is shown: the Go programs' own lines, ours in
    // one file, and ours.
    for line in [
        "Go client │ hello from the Go client",
        "Go server │ received client Data sent from terminal: hello from the Rust client",
        "Go client │ recv:Hello server addr:127.0.0.1:30000 count:12",
        "Rust client │ recv:Hello server addr:127.0.0.1:30000 count:12",
        "Go server │ received client Data sent: Hello, Hello. How are you?",
        "one-file server │ received client Data sent: Hello, Hello. How are you?",
        "one-file server $ one_file_udp_server --addr 127.0.0.1:30000",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    // Beyond the tutorial: each Go twin plays its session (ours, when built).
    for program in ["worker-pool", "chat"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{program} ")));
        let marks: Vec<&str> = row.map_or(vec![], |l| l.split_whitespace().collect());
        assert_eq!(marks.get(1), Some(&"✓"), "{program}: {stdout}");
    }
    assert!(
        stdout.contains("peer 0 │ * guest1 is now alice"),
        "{stdout}"
    );
    // How much the Go raw server printed is reported (whether its 128-byte
    // defect loses bytes depends on how the writes arrive).
    assert!(stdout.contains(" of 520 bytes printed in "), "{stdout}");
}
