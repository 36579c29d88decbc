//! The `stick-demo` binary, spawned on port 0: its clients against its
//! servers, and raw bytes against the servers.
//!
//! Each test is named for the behaviour it proves. None asserts how many
//! reads a stream took (that depends on timing, which is the lesson): they
//! assert bytes and messages. No test sleeps to synchronise: they wait for
//! the `listening on` line, for output lines or for process exit, each with
//! a deadline.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// Generous: a loaded CI machine must not fail a correct program.
const DEADLINE: Duration = Duration::from_secs(30);
const MESSAGE: &str = "Hello, Hello. How are you?";
const RECEIVED: &str = "received client Data sent: ";

fn stick_demo() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stick-demo"));
    command.env("RUST_LOG", "warn").stdin(Stdio::null());
    command
}

/// A running `stick-demo server` or `server2`; killed and reaped when dropped.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl ServerProcess {
    fn start(subcommand: &str, args: &[&str]) -> Self {
        let mut child = stick_demo()
            .arg(subcommand)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn stick-demo");
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        let mut server = ServerProcess {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            stdout,
            stderr,
        };
        let first = server
            .stdout
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|e| panic!("no `listening on` line from {subcommand}: {e}"));
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line is not `listening on <addr>`: {first:?}"));
        server.addr = addr.parse().expect("listening address");
        server
    }

    fn addr(&self) -> String {
        self.addr.to_string()
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to the server");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        stream
    }

    /// Stdout lines up to and including the first one matching `done`.
    fn stdout_until(&self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    let finished = done(&line);
                    lines.push(line);
                    if finished {
                        return lines;
                    }
                }
                Err(e) => panic!("expected line not printed ({e}); got {lines:#?}"),
            }
        }
    }

    /// Waits for a stderr line containing `needle`.
    fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(e) => panic!("no log line containing {needle:?} ({e}); got {seen:#?}"),
            }
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child, which is reaped only in wait_exit/Drop.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the process to exit (its stdout closes), returning the
    /// stdout lines not read yet, and the exit status.
    fn wait_exit(&mut self) -> (Vec<String>, ExitStatus) {
        let deadline = Instant::now() + DEADLINE;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("server did not exit; printed {lines:?}"),
            }
        }
        // Stdout closed: the process is exiting, so this wait is short.
        let status = self
            .child
            .wait_timeout(DEADLINE)
            .expect("wait for the server")
            .expect("server closed stdout but did not exit");
        (lines, status)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards each line of a child's output to a channel, so the pipe never
/// fills up and blocks the child, and tests can wait with a deadline.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A client process; killed and reaped if the test fails before it ends.
struct ClientProcess(Child);

impl ClientProcess {
    fn spawn(subcommand: &str, addr: &str, args: &[&str]) -> Self {
        let child = stick_demo()
            .arg(subcommand)
            .args(["--addr", addr])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn stick-demo client");
        ClientProcess(child)
    }

    /// Waits for the client to finish: (status, stdout, stderr). Its output
    /// is one line, far less than a pipe holds, so waiting first is safe.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let status = self
            .0
            .wait_timeout(DEADLINE)
            .expect("wait for the client")
            .expect("client did not finish in time");
        let mut stdout = String::new();
        let mut stderr = String::new();
        self.0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        self.0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, stdout, stderr)
    }

    /// Runs to completion and insists on success.
    fn run(subcommand: &str, addr: &str, args: &[&str]) -> String {
        let (status, stdout, stderr) = Self::spawn(subcommand, addr, args).finish();
        assert!(status.success(), "{subcommand} failed: {stderr}");
        stdout
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The text of a `received client Data sent: <text> (from <peer>)` line.
fn received_text(line: &str) -> Option<&str> {
    let rest = line.strip_prefix(RECEIVED)?;
    Some(rest.rsplit_once(" (from ").map_or(rest, |(text, _)| text))
}

fn is_raw_summary(line: &str) -> bool {
    line.contains(" bytes = ")
}

fn is_framed_summary(line: &str) -> bool {
    line.contains(": decoded ")
}

/// Waits until the peer closes the connection (end of stream or reset).
fn assert_closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0; 16];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("connection still open: {other:?}"),
    }
}

/// What a raw `client` run looks like on the raw server: the reads'
/// concatenation, the summary and the picture line.
fn raw_run(server_args: &[&str], client_args: &[&str]) -> (Vec<String>, String, String) {
    let server = ServerProcess::start("server", server_args);
    let client_out = ClientProcess::run("client", &server.addr(), client_args);
    assert!(
        client_out.starts_with("sent 20 messages of 26 bytes (520 bytes)"),
        "{client_out}"
    );
    let mut lines = server.stdout_until(is_raw_summary);
    let summary = lines.pop().unwrap();
    let picture = server.stdout_until(|_| true).remove(0);
    let reads = lines
        .iter()
        .filter_map(|line| received_text(line).map(str::to_owned))
        .collect();
    (reads, summary, picture)
}

/// The digits of a picture with bars removed and repeats collapsed: the
/// message numbers it shows, each once.
fn messages_in_picture(picture: &str) -> String {
    let drawing = picture.split_once(" reads ").expect("a reads line").1;
    let drawing = drawing.split(" … ").next().unwrap();
    let mut digits: Vec<char> = drawing.chars().filter(|c| *c != '|').collect();
    digits.dedup();
    digits.into_iter().collect()
}

#[test]
fn client_to_server_delivers_exactly_twenty_messages_of_bytes() {
    let (reads, summary, picture) = raw_run(&[], &[]);
    assert_eq!(reads.concat(), MESSAGE.repeat(20));
    assert!(
        summary.contains(": 520 bytes = 20 messages of 26 bytes, in "),
        "{summary}"
    );
    // Whatever the reads were, the picture shows messages 1..20 in order.
    let shown = messages_in_picture(&picture);
    assert!(
        "12345678901234567890".starts_with(&shown) && !shown.is_empty(),
        "{picture}"
    );
    if !picture.contains("picture stops") {
        assert_eq!(shown, "12345678901234567890", "{picture}");
    }
}

#[test]
fn server_with_read_size_16_still_receives_exactly_the_bytes_sent() {
    let (reads, summary, picture) = raw_run(&["--read-size", "16"], &["--nodelay"]);
    assert_eq!(reads.concat(), MESSAGE.repeat(20));
    assert!(
        reads.iter().all(|read| read.len() <= 16),
        "a read larger than --read-size: {reads:?}"
    );
    assert!(summary.contains(": 520 bytes = 20 messages"), "{summary}");
    assert!(
        "12345678901234567890".starts_with(&messages_in_picture(&picture)),
        "{picture}"
    );
}

#[test]
fn server_prints_the_legend_once_before_the_first_summary() {
    let server = ServerProcess::start("server", &["--quiet"]);
    ClientProcess::run("client", &server.addr(), &["--count", "2"]);
    let first = server.stdout_until(is_raw_summary);
    assert!(
        first[0].starts_with("legend: ") && first.len() == 2,
        "{first:#?}"
    );
    // The picture line follows its summary.
    server.stdout_until(|_| true);
    ClientProcess::run("client", &server.addr(), &["--count", "1"]);
    let second = server.stdout_until(is_raw_summary);
    assert_eq!(second.len(), 1, "legend printed again: {second:#?}");
    assert!(second[0].contains(": 26 bytes = 1 message of 26 bytes"));
}

#[test]
fn server_summarises_a_connection_that_sent_nothing_without_a_picture() {
    let server = ServerProcess::start("server", &["--quiet"]);
    let mut idle = server.connect();
    idle.shutdown(Shutdown::Write).unwrap();
    assert_closed_by_server(&mut idle);
    let lines = server.stdout_until(is_raw_summary);
    let summary = lines.last().unwrap();
    assert!(
        summary.ends_with(": 0 bytes = 0 messages of 26 bytes, in 0 reads"),
        "{summary}"
    );
    ClientProcess::run("client", &server.addr(), &["--count", "1"]);
    let next = server.stdout_until(is_raw_summary);
    assert_eq!(next.len(), 1, "a picture of nothing was drawn: {next:#?}");
}

#[test]
fn server_escapes_control_characters_and_invalid_utf8() {
    let server = ServerProcess::start("server", &[]);
    let mut raw = server.connect();
    raw.write_all(b"\x1b[2J\xff\n").unwrap();
    raw.shutdown(Shutdown::Write).unwrap();
    let lines = server.stdout_until(is_raw_summary);
    let shown: String = lines.iter().filter_map(|l| received_text(l)).collect();
    assert_eq!(shown, r"\u{1b}[2J\xff\n");
}

#[test]
fn client2_to_server2_decodes_exactly_twenty_messages() {
    let server = ServerProcess::start("server2", &[]);
    let out = ClientProcess::run("client2", &server.addr(), &[]);
    assert!(out.starts_with("sent 20 frames"), "{out}");
    let mut lines = server.stdout_until(is_framed_summary);
    let summary = lines.pop().unwrap();
    let messages: Vec<_> = lines.iter().filter_map(|l| received_text(l)).collect();
    assert_eq!(messages, vec![MESSAGE; 20]);
    assert!(
        summary.contains(": decoded 20 messages from ") && summary.ends_with("(600 bytes)"),
        "{summary}"
    );
}

#[test]
fn client2_chunked_into_single_bytes_still_decodes_twenty_messages() {
    let server = ServerProcess::start("server2", &[]);
    let out = ClientProcess::run("client2", &server.addr(), &["--chunk", "1"]);
    assert!(
        out.contains("600 bytes) in 600 writes of up to 1 byte"),
        "{out}"
    );
    let mut lines = server.stdout_until(is_framed_summary);
    let summary = lines.pop().unwrap();
    let messages: Vec<_> = lines.iter().filter_map(|l| received_text(l)).collect();
    assert_eq!(messages, vec![MESSAGE; 20]);
    assert!(summary.contains(": decoded 20 messages from "), "{summary}");
}

#[test]
fn server2_with_read_size_1_decodes_every_message() {
    let server = ServerProcess::start("server2", &["--read-size", "1", "--quiet"]);
    ClientProcess::run("client2", &server.addr(), &[]);
    let lines = server.stdout_until(is_framed_summary);
    assert_eq!(lines.len(), 1, "--quiet printed messages: {lines:#?}");
    // One byte per read: exactly as many reads as bytes, whatever the timing.
    assert!(
        lines[0].ends_with(": decoded 20 messages from 600 reads (600 bytes)"),
        "{lines:?}"
    );
}

/// Runs `client2` against a plain std listener and returns every byte it wrote.
fn bytes_written_by_client2(args: &[&str]) -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // The kernel completes the handshake and queues the bytes before we
    // accept, so the client can run to the end first.
    ClientProcess::run("client2", &addr, args);
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut bytes = Vec::new();
    conn.read_to_end(&mut bytes).unwrap();
    bytes
}

fn golden_frames(count: usize) -> Vec<u8> {
    // The Go encoding of the message: int32 length, little-endian, then the text.
    let mut frame = vec![0x1a, 0x00, 0x00, 0x00];
    frame.extend_from_slice(MESSAGE.as_bytes());
    assert_eq!(&proto::encode(MESSAGE.as_bytes()).unwrap()[..], &frame[..]);
    frame.repeat(count)
}

#[test]
fn client2_writes_the_go_wire_format_byte_for_byte() {
    assert_eq!(bytes_written_by_client2(&[]), golden_frames(20));
}

#[test]
fn client2_chunks_change_the_timing_not_the_bytes() {
    assert_eq!(
        bytes_written_by_client2(&["--chunk", "7", "--count", "5"]),
        golden_frames(5)
    );
}

#[test]
fn client_writes_bare_messages_without_framing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    ClientProcess::run("client", &addr, &["--count", "3", "--message", "abc"]);
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut bytes = Vec::new();
    conn.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"abcabcabc");
}

#[test]
fn server2_closes_negative_and_huge_lengths_and_keeps_serving() {
    let server = ServerProcess::start("server2", &[]);
    for (header, length) in [(-1i32, "-1"), (i32::MAX, "2147483647")] {
        let mut hostile = server.connect();
        let peer = hostile.local_addr().unwrap().to_string();
        hostile.write_all(&header.to_le_bytes()).unwrap();
        assert_closed_by_server(&mut hostile);
        let log = server.wait_for_log(&peer);
        assert!(
            log.contains(length),
            "log line does not name {length}: {log}"
        );
        let summary = server.stdout_until(is_framed_summary).pop().unwrap();
        assert!(
            summary.starts_with(&format!("{peer}: decoded 0 messages")),
            "{summary}"
        );
    }
    ClientProcess::run("client2", &server.addr(), &[]);
    let mut lines = server.stdout_until(is_framed_summary);
    assert!(lines.pop().unwrap().contains(": decoded 20 messages"));
    assert_eq!(lines.iter().filter_map(|l| received_text(l)).count(), 20);
}

#[test]
fn server2_rejects_a_frame_over_max_frame_before_its_payload_arrives() {
    let server = ServerProcess::start("server2", &["--max-frame", "10"]);
    let mut hostile = server.connect();
    // Only the header: the server must decide without waiting for 26 bytes.
    hostile.write_all(&26i32.to_le_bytes()).unwrap();
    assert_closed_by_server(&mut hostile);
    let log = server.wait_for_log("announces 26 bytes");
    assert!(log.contains("maximum frame length of 10 bytes"), "{log}");
}

#[test]
fn server2_reports_the_truncated_frame_at_end_of_stream() {
    let server = ServerProcess::start("server2", &[]);
    let mut raw = server.connect();
    let peer = raw.local_addr().unwrap().to_string();
    let mut bytes = golden_frames(1);
    bytes.extend_from_slice(b"\x1a\x00\x00\x00Hello");
    raw.write_all(&bytes).unwrap();
    raw.shutdown(Shutdown::Write).unwrap();
    let log = server.wait_for_log(&peer);
    assert!(
        log.contains("frame 2: stream ended inside a 26-byte frame: 5 bytes arrived, 21 missing"),
        "{log}"
    );
    let mut lines = server.stdout_until(is_framed_summary);
    let summary = lines.pop().unwrap();
    assert!(summary.contains("decoded 1 message from "), "{summary}");
    assert!(
        summary.contains("frame 2 was bad or incomplete"),
        "{summary}"
    );
    assert_eq!(lines.iter().filter_map(|l| received_text(l)).count(), 1);
}

#[test]
fn server2_explains_plain_text_instead_of_reading_a_huge_length() {
    let server = ServerProcess::start("server2", &[]);
    let mut raw = server.connect();
    raw.write_all(b"Hello, server\n").unwrap();
    assert_closed_by_server(&mut raw);
    let log = server.wait_for_log("1819043144");
    assert!(log.contains("look like ASCII text"), "{log}");
    assert!(log.contains("plain text"), "{log}");
}

#[test]
fn server2_partial_frame_from_one_peer_does_not_stall_another() {
    let server = ServerProcess::start("server2", &["--quiet"]);
    let mut slow = server.connect();
    slow.write_all(b"\x1a\x00\x00\x00Hel").unwrap();
    ClientProcess::run("client2", &server.addr(), &[]);
    let summary = server.stdout_until(is_framed_summary).pop().unwrap();
    assert!(summary.contains(": decoded 20 messages"), "{summary}");
    // The slow peer's frame is still completed later.
    slow.write_all(b"lo, Hello. How are you?").unwrap();
    slow.shutdown(Shutdown::Write).unwrap();
    let summary = server.stdout_until(is_framed_summary).pop().unwrap();
    assert!(summary.contains(": decoded 1 message from "), "{summary}");
}

#[test]
fn server2_serves_several_clients_at_once() {
    let server = ServerProcess::start("server2", &[]);
    let addr = server.addr();
    let clients: Vec<_> = (0..4)
        .map(|_| ClientProcess::spawn("client2", &addr, &["--chunk", "5"]))
        .collect();
    for client in clients {
        let (status, _, stderr) = client.finish();
        assert!(status.success(), "{stderr}");
    }
    let mut received = 0;
    for _ in 0..4 {
        let mut lines = server.stdout_until(is_framed_summary);
        let summary = lines.pop().unwrap();
        assert!(summary.contains(": decoded 20 messages"), "{summary}");
        for line in &lines {
            assert_eq!(received_text(line), Some(MESSAGE), "{line}");
        }
        received += lines.len();
    }
    assert_eq!(received, 80);
}

#[test]
fn quiet_servers_print_only_summaries() {
    for (server_cmd, client_cmd, is_summary) in [
        ("server", "client", is_raw_summary as fn(&str) -> bool),
        ("server2", "client2", is_framed_summary),
    ] {
        let server = ServerProcess::start(server_cmd, &["--quiet"]);
        ClientProcess::run(client_cmd, &server.addr(), &[]);
        let lines = server.stdout_until(is_summary);
        assert!(
            lines.iter().all(|line| !line.starts_with(RECEIVED)),
            "{server_cmd} --quiet printed reads: {lines:#?}"
        );
    }
}

#[test]
fn servers_exit_0_with_their_totals_on_sigint_and_sigterm() {
    for (server_cmd, client_cmd, signal, totals) in [
        (
            "server",
            "client",
            libc::SIGINT,
            "summary: served 1 connection, read 520 bytes in ",
        ),
        (
            "server2",
            "client2",
            libc::SIGTERM,
            "summary: served 1 connection, decoded 20 messages from ",
        ),
    ] {
        let mut server = ServerProcess::start(server_cmd, &["--quiet"]);
        ClientProcess::run(client_cmd, &server.addr(), &[]);
        // The connection's summary first: the server has seen it all.
        server.stdout_until(|line| line.contains(" bytes = ") || line.contains(": decoded "));
        server.signal(signal);
        let (lines, status) = server.wait_exit();
        assert!(status.success(), "{server_cmd} exited with {status}");
        let last = lines.last().expect("a totals line");
        assert!(last.starts_with(totals), "{server_cmd}: {lines:#?}");
    }
}

#[test]
fn clients_report_a_refused_connection_in_one_line_and_exit_1() {
    // A port that was free a moment ago, with nobody listening now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    for client in ["client", "client2"] {
        let (status, stdout, stderr) = ClientProcess::spawn(client, &addr, &[]).finish();
        assert_eq!(status.code(), Some(1), "{client}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("stick-demo {client}: dial {addr} failed:"))
                && stderr.contains("refused"),
            "{stderr}"
        );
    }
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    for args in [
        &["server", "--read-size", "0"][..],
        &["server", "--message-len", "0"],
        &["client2", "--chunk", "0"],
        &["server2", "--addr", "not an address"],
    ] {
        let child = stick_demo()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, _, stderr) = ClientProcess(child).finish();
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("invalid value"), "{args:?}: {stderr}");
    }
}
