//! `cargo xtask demo`, run as a learner runs it: one part checked end to
//! end, and a Ctrl-C in the middle of a step that must leave no program
//! behind. (The full demo runs in `.ci/run`.) Both build the release
//! binaries first, which takes minutes when the target directory is cold.

use std::{
    fs,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

/// Generous: a cold release build of the workspace comes first.
const BUILD_AND_RUN: Duration = Duration::from_secs(900);

/// Kills the child if the test ends early.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo(part: &str, name: &str) -> (Guard, mpsc::Receiver<String>, PathBuf) {
    let stderr = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["demo", part])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("xtask starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Guard(child), rx, stderr)
}

/// Lines until one satisfies `wanted` (returned last), or the deadline.
fn read_until(
    rx: &mpsc::Receiver<String>,
    deadline: Instant,
    wanted: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = wanted(&line);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!(
                "wanted line never came; output so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

fn wait_exit(guard: &mut Guard, deadline: Instant) -> std::process::ExitStatus {
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "xtask demo did not exit in time");
        // std has no wait-with-timeout; a bounded poll of the exit.
        thread::sleep(Duration::from_millis(20));
    }
}

/// Whether any process's command line is exactly `args` (NUL-separated in /proc).
fn process_running(args: &[&str]) -> bool {
    let wanted: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| cmdline.ends_with(&wanted))
}

#[test]
fn demo_udp_checks_the_real_output_and_passes() {
    let (mut guard, rx, stderr) = demo("udp", "demo-udp");
    let deadline = Instant::now() + BUILD_AND_RUN;
    let lines = read_until(&rx, deadline, |l| {
        l.contains("checks passed") || l.contains("FAILED")
    });
    let status = wait_exit(&mut guard, deadline);
    let text = lines.join("\n");
    assert!(
        status.success(),
        "{status}\n{text}\n{}",
        fs::read_to_string(stderr).unwrap()
    );
    // The programs' own lines, shown with their names.
    assert!(
        text.contains("udp-client │ recv:Hello server addr:127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("udp-server │ summary: datagrams=1 bytes=12 dropped=0"),
        "{text}"
    );
    assert!(text.ends_with("all 5 checks passed"), "{text}");
    assert!(!text.contains('\x1b'), "NO_COLOR must mean no escape codes");
}

#[test]
fn ctrl_c_in_the_middle_of_a_step_stops_every_program_it_started() {
    let (mut guard, rx, stderr) = demo("stick", "demo-interrupt");
    let deadline = Instant::now() + BUILD_AND_RUN;
    // Step 3b: client2 writes 600 one-byte pieces with a pause after each,
    // so both programs are running for a while after this line.
    let lines = read_until(&rx, deadline, |l| {
        l.contains("$ stick-demo client2") && l.ends_with("--chunk 1")
    });
    let command = lines.last().unwrap().clone();
    // The command is shown before it starts; its first message means it runs.
    read_until(&rx, deadline, |l| {
        l.contains("server2 │ received client Data sent:")
    });
    let args: Vec<&str> = command.split_once("$ ").unwrap().1.split(' ').collect();
    let port = args[3].rsplit(':').next().unwrap().to_owned();
    let client_args: Vec<String> = std::iter::once("stick-demo".to_owned())
        .chain(args[1..].iter().map(|s| s.to_string()))
        .collect();

    // SAFETY: kill only sends a signal to our own unreaped child.
    unsafe { libc::kill(guard.0.id() as libc::pid_t, libc::SIGINT) };
    let status = wait_exit(&mut guard, Instant::now() + Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "128 + SIGINT");
    let said = fs::read_to_string(stderr).unwrap();
    // Both, unless the machine stalled this test until client2 finished.
    assert!(said.contains("interrupted: stopped "), "{said}");

    // The server's port is free and the client is gone: reaped, not orphaned.
    let listening = format!(
        "0100007F:{:04X} 00000000:0000 0A",
        port.parse::<u16>().unwrap()
    );
    let tcp = fs::read_to_string("/proc/net/tcp").unwrap();
    assert!(!tcp.contains(&listening), "server2 still listens on {port}");
    let client: Vec<&str> = client_args.iter().map(String::as_str).collect();
    assert!(
        !process_running(&client[1..]),
        "client2 still running: {client:?}"
    );
}
