//! The `worker-pool` binary, spawned on port 0 and spoken to in lines, as
//! an adversary would: every worker held, a full queue, panics, a client
//! that vanishes while its job runs, a line too long, SIGTERM mid-job.
//!
//! No test sleeps to synchronise: each waits for a line, a log line or the
//! end of a connection, with a deadline. Jobs that must still be running
//! when the test looks are `sleep 10000`, the longest there is, and the
//! server is stopped with them running.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::time::Duration;

use harness::{DEADLINE, Program};

/// A `worker-pool` on 127.0.0.1:0 with info logs, once it is listening.
fn start(args: &[&str]) -> Program {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker-pool"));
    command
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "info");
    let server = Program::spawn(command);
    server.listening_addr();
    server
}

/// A client that speaks in lines.
struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(server: &Program) -> Client {
        let stream = server.connect();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        Client {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    /// The next line, without its newline.
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("a line in time");
        assert!(n > 0, "the server closed the connection instead of a line");
        line.trim_end_matches('\n').to_owned()
    }

    /// Asserts the server ends the connection now: a clean end of stream,
    /// not a reset.
    fn assert_ended(&mut self) {
        let mut rest = Vec::new();
        self.reader
            .read_to_end(&mut rest)
            .expect("an end of stream, not a reset");
        assert!(
            rest.is_empty(),
            "{:?} before the end",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Asserts nothing has arrived yet (without waiting for anything).
    fn assert_nothing_yet(&mut self) {
        assert!(self.reader.buffer().is_empty());
        self.reader.get_ref().set_nonblocking(true).unwrap();
        let mut byte = [0; 1];
        let read = self.reader.get_ref().read(&mut byte);
        assert!(
            matches!(&read, Err(e) if e.kind() == ErrorKind::WouldBlock),
            "expected nothing yet, got {read:?}"
        );
        self.reader.get_ref().set_nonblocking(false).unwrap();
    }
}

/// Stops the server with SIGTERM; its summary line.
fn summary(mut server: Program) -> String {
    server.signal(libc::SIGTERM);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    let summary = lines.last().expect("a summary line");
    assert!(summary.starts_with("summary: "), "{lines:?}");
    summary.clone()
}

#[test]
fn the_loop_answers_echoes_while_every_worker_sleeps() {
    let server = start(&["--quiet", "--workers", "2"]);
    let mut jobs = [Client::connect(&server), Client::connect(&server)];
    for job in &mut jobs {
        job.send("sleep 10000");
    }
    // Both workers are held for ten seconds (or their jobs wait); an echo,
    // of another client and of a job's own, comes at once all the same.
    let mut other = Client::connect(&server);
    other.send("hello while the workers sleep");
    assert_eq!(other.line(), "hello while the workers sleep");
    jobs[0].send("and me");
    assert_eq!(jobs[0].line(), "and me");
    for job in &mut jobs {
        job.assert_nothing_yet();
    }
    assert_eq!(
        summary(server),
        "summary: served 3 connections, 2 jobs (0 busy, 0 failed), 2 echoed lines"
    );
}

#[test]
fn a_full_queue_answers_busy_at_once_and_echoes_still_come() {
    // One worker, one place in the queue: of three long jobs, one runs,
    // one waits, and the third is refused at once.
    let server = start(&["--quiet", "--workers", "1", "--queue", "1"]);
    let mut client = Client::connect(&server);
    for _ in 0..3 {
        client.send("sleep 10000");
    }
    assert_eq!(client.line(), "busy: 1 jobs waiting, try again later");
    client.send("still served");
    assert_eq!(client.line(), "still served");
    assert_eq!(
        summary(server),
        "summary: served 1 connection, 3 jobs (1 busy, 0 failed), 1 echoed line"
    );
}

#[test]
fn a_job_that_panics_fails_only_its_request() {
    let server = start(&["--quiet", "--workers", "2"]);
    let mut client = Client::connect(&server);
    // More panics than workers: each fails its own request only...
    for _ in 0..3 {
        client.send("panic");
        assert_eq!(client.line(), "error: the job failed (panicked)");
    }
    // ...and two workers are still there: two jobs run at once, the second
    // one's reply coming first.
    client.send("sleep 10000");
    client.send("sleep 0");
    assert_eq!(client.line(), "slept 0 ms");
    let warning = server.wait_for_stderr("a job panicked");
    assert!(
        warning.contains("the client asked this job to panic"),
        "{warning}"
    );
    assert_eq!(
        summary(server),
        "summary: served 1 connection, 5 jobs (0 busy, 3 failed), 0 echoed lines"
    );
}

#[test]
fn a_reply_for_a_connection_that_closed_is_dropped_and_counted_never_given_to_the_next() {
    let server = start(&["--quiet", "--workers", "1"]);
    // A client asks for a job (its echo says the server has read it),
    // then resets its connection: the server closes it at once, with the
    // job still running.
    let mut gone = Client::connect(&server);
    gone.send("sleep 300");
    gone.send("read");
    assert_eq!(gone.line(), "read");
    socket2::SockRef::from(&gone.writer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(gone);
    server.wait_for_stderr("closing: Connection reset by peer");
    // The next client takes its slot. Its job waits behind the first on
    // the one worker, whose reply is posted first: had that reply reached
    // this client, it would be its first line.
    let mut next = Client::connect(&server);
    next.send("sleep 0");
    assert_eq!(next.line(), "slept 0 ms");
    assert_eq!(
        summary(server),
        "summary: served 2 connections, 2 jobs (0 busy, 0 failed), 1 echoed line; \
         1 job result dropped: the connection had closed before the job was done"
    );
}

#[test]
fn replies_owed_come_after_the_client_ends_its_stream() {
    let server = start(&["--quiet"]);
    let mut client = Client::connect(&server);
    client.send("sleep 50");
    client.send("echoed first");
    client.writer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(client.line(), "echoed first");
    assert_eq!(client.line(), "slept 50 ms");
    client.assert_ended();
    summary(server);
}

#[test]
fn sigterm_stops_it_while_jobs_run() {
    // A job of ten seconds is running: the server does not wait for it.
    let mut server = start(&["--quiet", "--workers", "1"]).with_timeout(Duration::from_secs(5));
    let mut client = Client::connect(&server);
    client.send("sleep 10000");
    client.send("the job is handed over");
    assert_eq!(client.line(), "the job is handed over");
    server.signal(libc::SIGTERM);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        lines,
        ["summary: served 1 connection, 1 job (0 busy, 0 failed), 1 echoed line"]
    );
    client.assert_ended();
}

#[test]
fn a_line_longer_than_64_kib_is_refused_then_the_connection_closed() {
    let server = start(&["--quiet"]);
    let mut client = Client::connect(&server);
    client.writer.write_all(&[b'x'; 70_000]).unwrap();
    assert_eq!(client.line(), "error: line longer than 65536 bytes");
    client.assert_ended();
    // The server goes on serving.
    let mut next = Client::connect(&server);
    next.send("next");
    assert_eq!(next.line(), "next");
    summary(server);
}

#[test]
fn bad_job_requests_are_refused_at_once_and_other_lines_echoed_as_they_came() {
    let server = start(&["--quiet"]);
    let mut client = Client::connect(&server);
    let bad = r#"error: expected "sleep MS" or "spin MS" with MS from 0 to 10000"#;
    for line in ["sleep 10001", "spin ten", "sleep", "sleep -1"] {
        client.send(line);
        assert_eq!(client.line(), bad, "{line}");
    }
    // Bytes that are not UTF-8, a carriage return before the newline.
    client.writer.write_all(b"caf\xe9 panic\r\n").unwrap();
    let mut echoed = Vec::new();
    client.reader.read_until(b'\n', &mut echoed).unwrap();
    assert_eq!(echoed, b"caf\xe9 panic\n");
    summary(server);
}

#[test]
fn it_prints_a_line_per_job_done_unless_quiet() {
    let server = start(&["--workers", "1"]);
    let mut client = Client::connect(&server);
    client.send("spin 1");
    assert_eq!(client.line(), "spun 1 ms");
    let line = server.wait_for_stdout("spin 1");
    let port = client.writer.local_addr().unwrap().port();
    assert_eq!(
        line,
        format!("worker-1: spin 1 for 127.0.0.1:{port}: spun 1 ms")
    );
    summary(server);
}

#[test]
fn help_names_every_flag_and_a_bad_one_is_one_line_and_exit_2() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker-pool"));
    command.arg("--help");
    let help = Program::spawn(command).finish().stdout;
    for flag in [
        "--addr <HOST:PORT>",
        "--workers <N>",
        "--queue <N>",
        "[default: 127.0.0.1:21000]",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker-pool"));
    command.args(["--workers", "0"]);
    let refused = Program::spawn(command).finish();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        refused.stderr.starts_with(
            "error: invalid value '0' for '--workers <N>': expected 1 to 4096 workers"
        ),
        "{}",
        refused.stderr
    );
}
