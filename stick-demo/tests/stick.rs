//! The `stick-demo` binary, spawned on port 0: its clients against its
//! servers, and raw bytes against the servers.
//!
//! Each test is named for the behaviour it proves. None asserts how many
//! reads a stream took (that depends on timing, which is the lesson): they
//! assert bytes and messages. No test sleeps to synchronise: they wait for
//! the `listening on` line, for output lines or for process exit, each with
//! a deadline.

use std::fmt::Display;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;

use harness::{DEADLINE, Finished, Program, assert_lines_in_order, run_to_end};

const MESSAGE: &str = "Hello, Hello. How are you?";
/// server2's line per message, as Go's `socket_stick/server2` prints it.
const RECEIVED: &str = "received client Data sent: ";
/// The raw server's line per read, as the Go `tcp/server` it stands for.
const RECEIVED_RAW: &str = "received client Data sent from terminal: ";

fn stick_demo() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stick-demo"));
    command.env("RUST_LOG", "warn");
    command
}

/// A `stick-demo server` or `server2` on 127.0.0.1:0, once it is listening.
fn start_server(subcommand: &str, args: &[&str]) -> Program {
    let mut command = stick_demo();
    command
        .arg(subcommand)
        .args(["--addr", "127.0.0.1:0"])
        .args(args);
    let server = Program::spawn(command);
    server.listening_addr();
    server
}

/// Which server a test runs against: `stick-demo server` or `server2`, or
/// the same Go program in one file (`examples/one_file_stick_server.rs`,
/// `…_server2.rs`), which takes no flag but `--addr` and prints the Go
/// lines only, no summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerKind {
    Full,
    OneFile,
}

/// What every client-to-server test holds for both servers.
const BOTH_SERVERS: [ServerKind; 2] = [ServerKind::Full, ServerKind::OneFile];

impl ServerKind {
    /// `server` or `server2` of this kind on 127.0.0.1:0, once it is listening.
    fn start(self, subcommand: &str) -> Program {
        // Shown with the output of a failed test: which server failed.
        println!("against the {self:?} {subcommand}");
        match self {
            ServerKind::Full => start_server(subcommand, &[]),
            ServerKind::OneFile => {
                let example = format!("one_file_stick_{subcommand}");
                let mut command = Command::new(harness::example("stick-demo", &example));
                command.args(["--addr", "127.0.0.1:0"]);
                let server = Program::spawn(command);
                server.listening_addr();
                server
            }
        }
    }

    /// The raw server's lines for the next connection, up to the one that
    /// ends it: the full server's summary, or Go's `read from client failed`.
    fn raw_connection(self, server: &Program) -> Vec<String> {
        match self {
            ServerKind::Full => server.stdout_until(is_raw_summary),
            ServerKind::OneFile => {
                server.stdout_until(|line| line.starts_with("read from client failed, err: "))
            }
        }
    }

    /// server2's messages up to the full server's summary of a connection
    /// (returned too). Go's server2, and so the one in one file, says
    /// nothing when a connection ends: from it, the next `count` lines, and
    /// then a frame from a new peer must come next, or there were more.
    fn framed_connection(self, server: &Program, count: usize) -> (Vec<String>, Option<String>) {
        let mut lines = match self {
            ServerKind::Full => server.stdout_until(is_framed_summary),
            ServerKind::OneFile => (0..count).map(|_| server.next_stdout_line()).collect(),
        };
        if self == ServerKind::OneFile {
            let mut next = server.connect();
            next.write_all(&proto::encode(b"next peer").unwrap())
                .unwrap();
            let line = server.next_stdout_line();
            assert_eq!(line, format!("{RECEIVED}next peer"), "after {lines:#?}");
        }
        let summary = (self == ServerKind::Full).then(|| lines.pop().expect("a summary"));
        // A line that is not a message is kept whole, for a failure to show.
        let messages = lines
            .iter()
            .map(|line| received_text(line).unwrap_or(line).to_owned())
            .collect();
        (messages, summary)
    }
}

/// A running `stick-demo client` or `client2` dialling `addr`.
fn spawn_client(subcommand: &str, addr: impl Display, args: &[&str]) -> Program {
    let mut command = stick_demo();
    command
        .arg(subcommand)
        .args(["--addr", &addr.to_string()])
        .args(args);
    Program::spawn(command)
}

/// Runs a client to completion, insists on success, and returns its stdout.
fn run_client(subcommand: &str, addr: impl Display, args: &[&str]) -> String {
    let Finished {
        status,
        stdout,
        stderr,
    } = spawn_client(subcommand, addr, args).finish();
    assert!(status.success(), "{subcommand} failed: {stderr}");
    stdout
}

/// The text of a `received client Data sent: <text> (from <peer>)` line.
fn received_text(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix(RECEIVED_RAW)
        .or_else(|| line.strip_prefix(RECEIVED))?;
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
    let server = start_server("server", server_args);
    let client_out = run_client("client", server.listening_addr(), client_args);
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
    for kind in BOTH_SERVERS {
        let server = kind.start("server");
        let client_out = run_client("client", server.listening_addr(), &[]);
        assert!(client_out.starts_with("sent 20 messages"), "{client_out}");
        let lines = kind.raw_connection(&server);
        let reads: String = lines.iter().filter_map(|l| received_text(l)).collect();
        assert_eq!(reads, MESSAGE.repeat(20));
        if kind == ServerKind::OneFile {
            continue;
        }
        let summary = lines.last().unwrap();
        assert!(
            summary.contains(": 520 bytes = 20 messages of 26 bytes, in "),
            "{summary}"
        );
        // Whatever the reads were, the picture shows messages 1..20 in order.
        let picture = server.next_stdout_line();
        let shown = messages_in_picture(&picture);
        assert!(
            "12345678901234567890".starts_with(&shown) && !shown.is_empty(),
            "{picture}"
        );
        if !picture.contains("picture stops") {
            assert_eq!(shown, "12345678901234567890", "{picture}");
        }
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
    let server = start_server("server", &["--quiet"]);
    run_client("client", server.listening_addr(), &["--count", "2"]);
    let first = server.stdout_until(is_raw_summary);
    assert!(
        first[0].starts_with("legend: ")
            && first.len() == stick_demo::boundaries::legend(26).lines().count() + 1,
        "{first:#?}"
    );
    // The picture line follows its summary.
    server.stdout_until(|_| true);
    run_client("client", server.listening_addr(), &["--count", "1"]);
    let second = server.stdout_until(is_raw_summary);
    assert_eq!(second.len(), 1, "legend printed again: {second:#?}");
    assert!(second[0].contains(": 26 bytes = 1 message of 26 bytes"));
}

#[test]
fn server_summarises_a_connection_that_sent_nothing_without_a_picture() {
    let server = start_server("server", &["--quiet"]);
    let mut idle = server.connect();
    idle.shutdown(Shutdown::Write).unwrap();
    assert_closed_by_server(&mut idle);
    let lines = server.stdout_until(is_raw_summary);
    let summary = lines.last().unwrap();
    assert!(
        summary.ends_with(": 0 bytes = 0 messages of 26 bytes, in 0 reads"),
        "{summary}"
    );
    run_client("client", server.listening_addr(), &["--count", "1"]);
    let next = server.stdout_until(is_raw_summary);
    assert_eq!(next.len(), 1, "a picture of nothing was drawn: {next:#?}");
}

#[test]
fn server_escapes_control_characters_and_invalid_utf8() {
    for kind in BOTH_SERVERS {
        let server = kind.start("server");
        let mut raw = server.connect();
        raw.write_all(b"\x1b[2J\xff\n").unwrap();
        raw.shutdown(Shutdown::Write).unwrap();
        let lines = kind.raw_connection(&server);
        let shown: String = lines.iter().filter_map(|l| received_text(l)).collect();
        assert_eq!(shown, "⟦ESC⟧[2J⟦0xff⟧⟦LF⟧");
    }
}

#[test]
fn client2_to_server2_decodes_exactly_twenty_messages() {
    for kind in BOTH_SERVERS {
        let server = kind.start("server2");
        let out = run_client("client2", server.listening_addr(), &[]);
        assert!(out.starts_with("sent 20 frames"), "{out}");
        let (messages, summary) = kind.framed_connection(&server, 20);
        assert_eq!(messages, vec![MESSAGE; 20]);
        if let Some(summary) = summary {
            assert!(
                summary.contains(": decoded 20 messages from ") && summary.ends_with("(600 bytes)"),
                "{summary}"
            );
        }
    }
}

#[test]
fn client2_chunked_into_single_bytes_still_decodes_twenty_messages() {
    for kind in BOTH_SERVERS {
        let server = kind.start("server2");
        let out = run_client("client2", server.listening_addr(), &["--chunk", "1"]);
        assert!(
            out.contains("600 bytes) in 600 writes of up to 1 byte"),
            "{out}"
        );
        let (messages, summary) = kind.framed_connection(&server, 20);
        assert_eq!(messages, vec![MESSAGE; 20]);
        if let Some(summary) = summary {
            assert!(summary.contains(": decoded 20 messages from "), "{summary}");
        }
    }
}

#[test]
fn server2_with_read_size_1_decodes_every_message() {
    let server = start_server("server2", &["--read-size", "1", "--quiet"]);
    run_client("client2", server.listening_addr(), &[]);
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
    run_client("client2", &addr, args);
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
    run_client("client", &addr, &["--count", "3", "--message", "abc"]);
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut bytes = Vec::new();
    conn.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"abcabcabc");
}

#[test]
fn server2_closes_negative_and_huge_lengths_and_keeps_serving() {
    for kind in BOTH_SERVERS {
        let server = kind.start("server2");
        for (header, length) in [(-1i32, "-1"), (i32::MAX, "2147483647")] {
            let mut hostile = server.connect();
            let peer = hostile.local_addr().unwrap().to_string();
            hostile.write_all(&header.to_le_bytes()).unwrap();
            assert_closed_by_server(&mut hostile);
            if kind == ServerKind::OneFile {
                // Go's line, on stdout, with our decoder's words.
                let line = server.next_stdout_line();
                assert!(line.starts_with("decode msg failed, err: "), "{line}");
                assert!(line.contains(length), "{line}");
                continue;
            }
            let log = server.wait_for_stderr(&peer);
            assert!(
                log.contains(length),
                "log line does not name {length}: {log}"
            );
            // Named as the program's errors are, not after a Rust module.
            assert!(log.starts_with("stick-demo server2: warning: "), "{log}");
            let summary = server.stdout_until(is_framed_summary).pop().unwrap();
            assert!(
                summary.starts_with(&format!("{peer}: decoded 0 messages")),
                "{summary}"
            );
        }
        run_client("client2", server.listening_addr(), &[]);
        let (messages, summary) = kind.framed_connection(&server, 20);
        assert_eq!(messages, vec![MESSAGE; 20]);
        if let Some(summary) = summary {
            assert!(summary.contains(": decoded 20 messages"), "{summary}");
        }
    }
}

#[test]
fn server2_rejects_a_frame_over_max_frame_before_its_payload_arrives() {
    let server = start_server("server2", &["--max-frame", "10"]);
    let mut hostile = server.connect();
    // Only the header: the server must decide without waiting for 26 bytes.
    hostile.write_all(&26i32.to_le_bytes()).unwrap();
    assert_closed_by_server(&mut hostile);
    let log = server.wait_for_stderr("announces 26 bytes");
    assert!(log.contains("maximum frame length of 10 bytes"), "{log}");
}

#[test]
fn server2_reports_the_truncated_frame_at_end_of_stream() {
    let server = start_server("server2", &[]);
    let mut raw = server.connect();
    let peer = raw.local_addr().unwrap().to_string();
    let mut bytes = golden_frames(1);
    bytes.extend_from_slice(b"\x1a\x00\x00\x00Hello");
    raw.write_all(&bytes).unwrap();
    raw.shutdown(Shutdown::Write).unwrap();
    let log = server.wait_for_stderr(&peer);
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
    let server = start_server("server2", &[]);
    let mut raw = server.connect();
    raw.write_all(b"Hello, server\n").unwrap();
    assert_closed_by_server(&mut raw);
    let log = server.wait_for_stderr("1819043144");
    assert!(log.contains("look like ASCII text"), "{log}");
    assert!(log.contains("plain text"), "{log}");
}

#[test]
fn server2_partial_frame_from_one_peer_does_not_stall_another() {
    for kind in BOTH_SERVERS {
        let server = kind.start("server2");
        let mut slow = server.connect();
        slow.write_all(b"\x1a\x00\x00\x00Hel").unwrap();
        run_client("client2", server.listening_addr(), &[]);
        let (messages, summary) = kind.framed_connection(&server, 20);
        assert_eq!(messages, vec![MESSAGE; 20]);
        if let Some(summary) = summary {
            assert!(summary.contains(": decoded 20 messages"), "{summary}");
        }
        // The slow peer's frame is still completed later.
        slow.write_all(b"lo, Hello. How are you?").unwrap();
        slow.shutdown(Shutdown::Write).unwrap();
        let (messages, summary) = kind.framed_connection(&server, 1);
        assert_eq!(messages, [MESSAGE]);
        if let Some(summary) = summary {
            assert!(summary.contains(": decoded 1 message from "), "{summary}");
        }
    }
}

#[test]
fn server2_serves_several_clients_at_once() {
    for kind in BOTH_SERVERS {
        let server = kind.start("server2");
        let addr = server.listening_addr();
        let clients: Vec<_> = (0..4)
            .map(|_| spawn_client("client2", addr, &["--chunk", "5"]))
            .collect();
        for client in clients {
            let Finished { status, stderr, .. } = client.finish();
            assert!(status.success(), "{stderr}");
        }
        // The four connections' messages interleave; the full server ends
        // each with its summary, the one in one file (as Go's) none.
        let ends = if kind == ServerKind::Full { 4 } else { 1 };
        let mut received = 0;
        for _ in 0..ends {
            let (messages, summary) = kind.framed_connection(&server, 80 / ends);
            if let Some(summary) = summary {
                assert!(summary.contains(": decoded 20 messages"), "{summary}");
            }
            assert!(messages.iter().all(|m| m == MESSAGE), "{messages:#?}");
            received += messages.len();
        }
        assert_eq!(received, 80);
    }
}

#[test]
fn quiet_servers_print_only_summaries() {
    for (server_cmd, client_cmd, is_summary) in [
        ("server", "client", is_raw_summary as fn(&str) -> bool),
        ("server2", "client2", is_framed_summary),
    ] {
        let server = start_server(server_cmd, &["--quiet"]);
        run_client(client_cmd, server.listening_addr(), &[]);
        let lines = server.stdout_until(is_summary);
        assert!(
            lines.iter().all(|line| received_text(line).is_none()),
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
        let mut server = start_server(server_cmd, &["--quiet"]);
        run_client(client_cmd, server.listening_addr(), &[]);
        // The connection's summary first: the server has seen it all.
        server.stdout_until(|line| line.contains(" bytes = ") || line.contains(": decoded "));
        server.signal(signal);
        let (lines, _, status) = server.wait_exit();
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
    // Each suggests the server it talks to: client2's frames need server2.
    for (client, server) in [("client", "server"), ("client2", "server2")] {
        let Finished {
            status,
            stdout,
            stderr,
        } = spawn_client(client, &addr, &[]).finish();
        assert_eq!(status.code(), Some(1), "{client}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let expected = format!(
            "stick-demo {client}: cannot connect to {addr} (is stick-demo {server} running?): "
        );
        assert!(
            stderr.starts_with(&expected) && stderr.contains("refused"),
            "{stderr}"
        );
    }
}

#[test]
fn every_subcommand_prints_its_version() {
    for sub in ["server", "client", "server2", "client2"] {
        let out = run_to_end(
            {
                let mut command = stick_demo();
                command.args([sub, "--version"]);
                command
            },
            b"",
        );
        assert!(out.status.success(), "{sub}: {}", out.stderr);
        assert_eq!(
            out.stdout,
            format!("stick-demo-{sub} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn help_says_what_each_subcommand_does_in_plain_words() {
    for (sub, first_line) in [
        ("server", "Prints every read exactly as it arrived"),
        ("client", "Sends a message 20 times, bare, to `server`"),
        (
            "server2",
            "Cuts the stream into messages by their length prefix",
        ),
        (
            "client2",
            "Sends a message 20 times, each after its length, to `server2`",
        ),
    ] {
        let mut command = stick_demo();
        command.args([sub, "--help"]);
        let out = run_to_end(command, b"");
        assert!(out.status.success(), "{sub}: {}", out.stderr);
        assert!(out.stdout.starts_with(first_line), "{sub}: {}", out.stdout);
        assert!(
            out.stdout.contains("--addr <HOST:PORT>"),
            "{sub}: {}",
            out.stdout
        );
        assert!(!out.stdout.contains("::"), "{sub}: {}", out.stdout);
    }
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    for args in [
        &["server", "--read-size", "0"][..],
        &["server", "--message-len", "0"],
        &["client2", "--chunk", "0"],
        &["server2", "--addr", "not an address"],
        &["client", "--addr", "not an address"],
        &["client2", "--addr", "127.0.0.1"],
        &["client", "--timeout", "0"],
        &["client2", "--timeout", "soon"],
    ] {
        let mut command = stick_demo();
        command.args(args);
        let Finished { status, stderr, .. } = Program::spawn(command).finish();
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("invalid value"), "{args:?}: {stderr}");
    }
}

#[test]
fn clients_report_a_server_that_stops_reading_and_exit_1() {
    // A listener that never accepts: the kernel completes the handshake and
    // queues what arrives until the buffers are full, then takes nothing.
    // 26 MB is more than they hold; the Go client blocks in Write for ever.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    for client in ["client", "client2"] {
        let args = ["--count", "1000000", "--timeout", "0.5"];
        let Finished {
            status,
            stdout,
            stderr,
        } = spawn_client(client, &addr, &args).finish();
        assert_eq!(status.code(), Some(1), "{client}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "stick-demo {client}: {addr} took nothing for 0.5 s"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("stopped reading"), "{stderr}");
    }
    drop(listener);
}

#[test]
fn clients_accept_every_timeout_their_parser_accepts() {
    // 1e19 s must neither panic nor stop the client sending.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let out = run_client("client", &addr, &["--count", "2", "--timeout", "1e19"]);
    assert!(out.starts_with("sent 2 messages"), "{out}");
    let out = run_client("client2", &addr, &["--count", "2", "--timeout", "1e19"]);
    assert!(out.starts_with("sent 2 frames"), "{out}");
}

#[test]
fn server_prints_each_read_with_the_go_servers_words() {
    // The chapter's "unchanged" server is Go's tcp/server, whose line is
    // `received client Data sent from terminal:` (server2's is shorter).
    let server = start_server("server", &[]);
    let mut raw = server.connect();
    let local = raw.local_addr().unwrap();
    raw.write_all(b"hi").unwrap();
    raw.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        server.next_stdout_line(),
        format!("received client Data sent from terminal: hi (from {local})")
    );
}

#[test]
fn server2_rate_limits_its_log_of_rejected_peers() {
    // 60 peers each sending a bad header: each is closed, but stderr gets
    // at most a burst of lines per second, not one per peer.
    let mut server = start_server("server2", &[]);
    let started = std::time::Instant::now();
    for _ in 0..60 {
        let mut hostile = server.connect();
        hostile.write_all(&(-1i32).to_le_bytes()).unwrap();
        assert_closed_by_server(&mut hostile);
    }
    let seconds = started.elapsed().as_secs();
    server.signal(libc::SIGTERM);
    let (stdout, stderr, status) = server.wait_exit();
    assert!(status.success());
    let logged = stderr
        .iter()
        .filter(|l| l.contains("decode msg failed"))
        .count() as u64;
    assert!(
        logged <= 10 * (seconds + 1),
        "{logged} lines in {seconds} s: {stderr:#?}"
    );
    // Every peer still gets its own summary line on stdout.
    assert_eq!(stdout.iter().filter(|l| is_framed_summary(l)).count(), 60);
}

#[test]
fn server2_max_conns_refuses_a_second_peer_while_the_first_is_served() {
    // No idle timeout: a refused peer is closed by --max-conns alone, and
    // the admitted one stays served.
    let server = start_server("server2", &["--max-conns", "1"]);
    let mut admitted = server.connect();
    admitted.write_all(&golden_frames(1)).unwrap();
    server.stdout_until(|l| received_text(l) == Some(MESSAGE));
    let mut refused = server.connect();
    assert_closed_by_server(&mut refused);
    server.wait_for_stderr("--max-conns 1");
    admitted.write_all(&golden_frames(1)).unwrap();
    server.stdout_until(|l| received_text(l) == Some(MESSAGE));
}

#[test]
fn server2_idle_timeout_closes_a_half_sent_frame() {
    let server = start_server("server2", &["--idle-timeout", "1"]);
    // A peer that sends 5 bytes of a 26-byte frame and then nothing: it
    // holds a buffer until the idle timeout. Should the timeout come even
    // before the bytes (a machine so busy that a second passed between
    // the connect and the write), that peer proves nothing: another tries.
    for _ in 0..10 {
        let mut stalled = server.connect();
        let peer = stalled.local_addr().unwrap();
        stalled.write_all(b"\x1a\x00\x00\x00Hello").unwrap();
        assert_closed_by_server(&mut stalled);
        let line = server.stdout_until(is_framed_summary).pop().unwrap();
        if line.starts_with(&format!("{peer}: decoded 0 messages from 0 reads")) {
            continue;
        }
        assert_eq!(
            line,
            format!(
                "{peer}: decoded 0 messages from 1 read (9 bytes); frame 1 incomplete: 5 of 26 bytes arrived (idle timeout)"
            )
        );
        return;
    }
    panic!("the idle timeout came before every peer's first bytes");
}

#[cfg(unix)]
#[path = "../../edges/tests/support/full_pipe.rs"]
mod full_pipe;

/// Unix only: the full pipe is put in place between fork and exec.
#[cfg(unix)]
#[test]
fn full_stderr_does_not_stop_server2_rejecting_frames() {
    // stderr is a pipe that is full and that nobody reads; a hostile
    // header makes server2 log a warning there. Written on the loop
    // thread, it would block the loop before the peer is even closed.
    let mut command = stick_demo();
    command.args(["server2", "--addr", "127.0.0.1:0"]);
    let _unread = full_pipe::full_stderr(&mut command);
    let mut server = Program::spawn(command);
    for header in [-1i32, i32::MAX] {
        let mut hostile = server.connect();
        hostile.write_all(&header.to_le_bytes()).unwrap();
        assert_closed_by_server(&mut hostile);
    }
    run_client("client2", server.listening_addr(), &[]);
    server.wait_for_stdout(": decoded 20 messages");
    server.signal(libc::SIGTERM);
    let (_, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn server2_summary_at_shutdown_mentions_the_half_received_frame() {
    let mut server = start_server("server2", &[]);
    let mut peer = server.connect();
    let local = peer.local_addr().unwrap();
    let mut bytes = golden_frames(1);
    bytes.extend_from_slice(b"\x1a\x00\x00\x00Hello");
    peer.write_all(&bytes).unwrap();
    server.stdout_until(|l| received_text(l) == Some(MESSAGE));
    server.signal(libc::SIGTERM);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success());
    assert_eq!(
        lines,
        [
            format!(
                "{local}: decoded 1 message from 1 read (39 bytes); frame 2 incomplete: 5 of 26 bytes arrived (server shutdown)"
            ),
            "summary: served 1 connection, decoded 1 message from 1 read (39 bytes), 1 frame left incomplete at the stop".to_owned(),
        ]
    );
}

#[test]
fn stick_servers_work_with_every_value_their_flags_accept() {
    let max = u64::MAX.to_string();
    let mut server2 = start_server(
        "server2",
        &[
            "--max-frame",
            &max,
            "--max-conns",
            &max,
            // The longest wait: seconds as an f64 that a `Duration` holds.
            "--idle-timeout",
            "1.8e19",
            "--read-size",
            "67108864",
        ],
    );
    run_client("client2", server2.listening_addr(), &[]);
    let summary = server2.stdout_until(is_framed_summary).pop().unwrap();
    assert!(summary.contains(": decoded 20 messages"), "{summary}");
    server2.signal(libc::SIGTERM);
    assert!(server2.wait_exit().2.success());

    let mut raw = start_server("server", &["--message-len", &max]);
    run_client("client", raw.listening_addr(), &[]);
    raw.stdout_until(is_raw_summary);
    raw.signal(libc::SIGTERM);
    let (_, stderr, status) = raw.wait_exit();
    assert!(status.success(), "{stderr:?}");
}

/// `stick-demo server --trace`: the loop's lines for one raw exchange,
/// enough for a learner to follow the bytes through the loop.
#[test]
fn server_trace_shows_the_accept_the_read_and_the_close() {
    let mut server = start_server("server", &["--trace"]);
    let mut client = server.connect();
    let peer = client.local_addr().unwrap();
    client.write_all(b"hello").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let traced = server.stderr_until(|l| l.contains("close: peer closed the connection"));
    let conn = format!(" µs  conn 0 {peer}: ");
    assert_lines_in_order(
        &traced,
        &[
            format!(" µs  loop: accept {peer} → token 0"),
            format!("{conn}read 5 bytes"),
            format!("{conn}read 0 bytes: peer closed its write side"),
            format!("{conn}close: peer closed the connection"),
        ],
    );
    assert_lines_in_order(&server.stop_ok(), &["loop: trace ends"]);
}

/// `stick-demo server2 --trace`: a frame whose header arrives in two
/// parts shows the partial header waiting, then the frame decoded; the
/// handler's lines name the connection as the loop's do (`conn 0 …`).
#[test]
fn server2_trace_shows_a_partial_header_waiting_then_the_frame() {
    let mut server = start_server("server2", &["--trace", "--quiet"]);
    let mut client = server.connect();
    let peer = client.local_addr().unwrap();
    let frame = proto::encode(MESSAGE.as_bytes()).unwrap();
    client.write_all(&frame[..3]).unwrap();
    // The server has read those 3 bytes, and nothing else was sent: the
    // next read cannot hold them together with the rest.
    server.wait_for_stderr(&format!(
        " µs  conn 0 {peer}: have 3 of 4 header bytes: wait for more"
    ));
    client.write_all(&frame[3..]).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let traced = server.stderr_until(|l| l.contains("close: peer closed the connection"));
    assert_lines_in_order(
        &traced,
        &[
            format!(" µs  conn 0 {peer}: read {} bytes", frame.len() - 3),
            format!(" µs  conn 0 {peer}: frame 26 bytes: message 1 decoded"),
            format!(" µs  conn 0 {peer}: nothing left over: every frame decoded"),
            format!(" µs  conn 0 {peer}: close: peer closed the connection"),
        ],
    );
    server.stop_ok();
}

/// Without `--trace`, server2 traces nothing for the same frame.
#[test]
fn server2_without_trace_traces_nothing() {
    let mut server = start_server("server2", &["--quiet"]);
    let mut client = server.connect();
    client
        .write_all(&proto::encode(MESSAGE.as_bytes()).unwrap())
        .unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    server.stdout_until(is_framed_summary);
    let stderr = server.stop_ok();
    assert!(!stderr.iter().any(|l| l.contains(" µs  ")), "{stderr:#?}");
}
