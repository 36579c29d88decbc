//! The harness itself, against small shell commands: what the other crates'
//! tests rely on (a line is captured, a deadline is honoured, nothing is
//! left running) must hold here first.
//!
//! Unix only: the children are `sh` scripts. On Windows the harness is
//! exercised by every other crate's integration tests, which start our own
//! programs through it.
#![cfg(unix)]

use std::{
    net::TcpListener,
    os::unix::process::ExitStatusExt,
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use harness::{DEADLINE, Finished, MAX_LINES, Program, Stream, connect, run_to_end};

/// A program that must not finish on its own within any test's lifetime.
const FOREVER: &str = "exec sleep 600";

fn sh(script: &str) -> Program {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    Program::spawn(command)
}

#[test]
fn listening_addr_is_read_from_the_first_stdout_line_and_remembered() {
    let program = sh("echo 'listening on 127.0.0.1:4242'; echo next; exec sleep 600");
    let addr = program.listening_addr();
    assert_eq!(addr, "127.0.0.1:4242".parse().unwrap());
    assert_eq!(program.next_stdout_line(), "next");
    assert_eq!(program.listening_addr(), addr);
}

#[test]
#[should_panic(expected = "first stdout line is not `listening on <addr>`")]
fn a_first_line_other_than_listening_on_fails_the_test() {
    sh("echo hello; exec sleep 600").listening_addr();
}

#[test]
#[should_panic(expected = "ask for listening_addr() before reading stdout")]
fn listening_addr_after_stdout_was_read_fails_the_test() {
    let program = sh("echo 'listening on 127.0.0.1:4242'; echo next");
    program.wait_for_stdout("next");
    program.listening_addr();
}

#[test]
fn lines_are_read_in_order_each_once_as_printed() {
    let program =
        sh(r"printf 'a\r\nb\377\nc\nd\n'; echo noise >&2; echo 'the log' >&2; exec sleep 600");
    // A `\r` stays visible; invalid UTF-8 shows as U+FFFD.
    assert_eq!(
        program.stdout_until(|line| line == "b\u{fffd}"),
        ["a\r", "b\u{fffd}"]
    );
    assert_eq!(program.wait_for_stderr("log"), "the log");
    assert_eq!(program.next_stdout_line(), "c");
    assert_eq!(program.wait_for_stdout("d"), "d");
}

#[test]
fn a_program_flooding_stderr_does_not_block_a_wait_on_stdout() {
    // Far more than a pipe holds (64 KiB on Linux): unread, it would block
    // the program before it prints `done`.
    let program = sh("yes 'log line' | head -n 100000 >&2; echo done; exec sleep 600");
    assert_eq!(program.wait_for_stdout("done"), "done");
}

#[test]
#[should_panic(expected = "not on stdout within 200ms")]
fn a_line_that_never_comes_fails_the_test_at_the_timeout() {
    sh(FOREVER)
        .with_timeout(Duration::from_millis(200))
        .wait_for_stdout("never");
}

#[test]
#[should_panic(expected = "closed before a line containing \"never\"")]
fn a_line_waited_for_after_the_program_exited_fails_at_once() {
    sh("echo something else").wait_for_stdout("never");
}

#[test]
#[should_panic(expected = "still running after 200ms")]
fn finish_fails_the_test_at_the_timeout_if_the_program_runs_on() {
    sh(FOREVER)
        .with_timeout(Duration::from_millis(200))
        .finish();
}

#[test]
fn dropping_a_program_kills_and_reaps_it() {
    let program = sh(FOREVER);
    let pid = libc::pid_t::try_from(program.id()).unwrap();
    drop(program);
    // SAFETY: signal 0 only asks whether the pid exists.
    let rc = unsafe { libc::kill(pid, 0) };
    let error = std::io::Error::last_os_error();
    assert_eq!(
        (rc, error.raw_os_error()),
        (-1, Some(libc::ESRCH)),
        "the child is still there"
    );
}

#[test]
fn wait_exit_returns_the_lines_not_read_yet_and_the_status() {
    let mut program = sh("echo 'listening on [::1]:80'; echo one; echo two >&2; exit 3");
    assert_eq!(program.listening_addr().port(), 80);
    let (stdout, stderr, status) = program.wait_exit();
    assert_eq!(
        (stdout, stderr),
        (vec!["one".to_owned()], vec!["two".to_owned()])
    );
    assert_eq!(status.code(), Some(3));
}

#[test]
fn finish_and_run_to_end_return_the_exact_text_printed() {
    let Finished {
        status,
        stdout,
        stderr,
    } = sh(r"printf 'a\r\nlast without newline'; printf 'e\n' >&2").finish();
    assert!(status.success());
    assert_eq!(
        (stdout.as_str(), stderr.as_str()),
        ("a\r\nlast without newline", "e\n")
    );
    let finished = run_to_end(Command::new("cat"), b"one\r\ntwo");
    assert_eq!(
        (finished.stdout.as_str(), finished.stderr.as_str()),
        ("one\r\ntwo", "")
    );
    // More than a pipe holds, never read: the feeder meets a broken pipe,
    // not a hang.
    assert!(
        run_to_end(Command::new("true"), &vec![b'x'; 1 << 20])
            .status
            .success()
    );
}

#[test]
fn connect_bounds_reads_and_writes_by_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = connect(listener.local_addr().unwrap());
    assert_eq!(stream.read_timeout().unwrap(), Some(DEADLINE));
    assert_eq!(stream.write_timeout().unwrap(), Some(DEADLINE));
}

#[test]
fn waiting_for_programs_installs_no_sigchld_handler() {
    // A SIGCHLD handler would interrupt a receive with a timeout on every
    // other thread of the test whenever any child exits (signal(7)).
    run_to_end(Command::new("true"), b"");
    let finished = sh("exit 0").with_timeout(Duration::from_secs(10)).finish();
    assert!(finished.status.success());
    // SAFETY: sigaction with no new action only reads the current one.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above: no new action, the current one written to `current`.
    let rc = unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut current) };
    assert_eq!(rc, 0);
    assert_eq!(current.sa_sigaction, libc::SIG_DFL, "SIGCHLD is handled");
}

#[test]
fn a_program_that_outlives_its_deadline_is_killed_with_its_group() {
    // The background `sleep` is the child's own child: killing the group
    // must take it too, or its open stdout would keep the pipe open.
    let mut program = sh("sleep 600 & exec sleep 600");
    let err = program.wait(Duration::from_millis(200)).unwrap_err();
    assert!(err.to_string().contains("killed it"), "{err}");
    let (_, _, status) = program.wait_exit();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

#[test]
fn terminate_lets_a_server_print_its_summary() {
    let mut program = sh(
        "trap 'echo summary: done; exit 0' TERM; echo 'listening on 127.0.0.1:9'; \
            while :; do sleep 0.01; done",
    );
    assert_eq!(program.announced_addr(DEADLINE).unwrap().port(), 9);
    assert!(program.terminate(DEADLINE).unwrap().success());
    assert_eq!(
        program.lines(Stream::Stdout).last().unwrap(),
        "summary: done"
    );
}

#[test]
fn lines_beyond_the_bound_are_counted_not_kept() {
    let extra = 7;
    let mut program = sh(&format!("seq {}", MAX_LINES + extra));
    program.wait(DEADLINE).unwrap();
    let kept = program.lines(Stream::Stdout);
    assert_eq!(kept.len(), MAX_LINES);
    assert_eq!(kept.last().unwrap(), &MAX_LINES.to_string());
    assert_eq!(program.dropped_lines(Stream::Stdout), extra);
}

#[test]
fn each_line_is_shown_with_the_label_as_it_arrives() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let show = Arc::clone(&seen);
    let echo = Arc::new(move |label: &str, stream: Stream, line: &str| {
        show.lock()
            .unwrap()
            .push(format!("{label} {stream} {line}"));
    });
    let mut command = Command::new("sh");
    command.args(["-c", "echo out; echo err >&2"]);
    let mut program = Program::start("shell", command, None, Some(echo)).unwrap();
    program.wait(DEADLINE).unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["shell stderr err", "shell stdout out"]);
}
