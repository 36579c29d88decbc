//! The chapter's two Go servers in one file each
//! (`examples/one_file_stick_server.rs`, `examples/one_file_stick_server2.rs`),
//! spawned on port 0, against `stick-demo client` and `client2` and raw
//! bytes: they print the Go programs' lines, without the Go programs' loss
//! of data, empty-message loop or panic.

use std::fmt::Display;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::Command;

use harness::{Finished, Program, run_to_end};

const MESSAGE: &str = "Hello, Hello. How are you?";
const RECEIVED_RAW: &str = "received client Data sent from terminal: ";
const RECEIVED: &str = "received client Data sent: ";

fn one_file(name: &str) -> Command {
    Command::new(harness::example("stick-demo", name))
}

fn start(name: &str) -> Program {
    let mut command = one_file(name);
    command.args(["--addr", "127.0.0.1:0"]);
    let server = Program::spawn(command);
    server.listening_addr();
    server
}

/// Runs `stick-demo <client> --addr addr` to the end, insisting on success.
fn run_client(client: &str, addr: impl Display, args: &[&str]) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stick-demo"));
    command
        .args([client, "--addr", &addr.to_string()])
        .args(args);
    let Finished { status, stderr, .. } = Program::spawn(command).finish();
    assert!(status.success(), "{client}: {stderr}");
}

/// The next `count` messages server2 prints, each checked to be one.
fn messages(server: &Program, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let line = server.next_stdout_line();
            match line.strip_prefix(RECEIVED) {
                Some(message) => message.to_owned(),
                None => panic!("not a message: {line:?}"),
            }
        })
        .collect()
}

#[test]
fn one_file_stick_server_prints_every_byte_of_the_twenty_messages_read_by_read() {
    let server = start("one_file_stick_server");
    run_client("client", server.listening_addr(), &[]);
    let lines = server.stdout_until(|l| l.starts_with("read from client failed, err: "));
    let reads: String = lines
        .iter()
        .filter_map(|l| l.strip_prefix(RECEIVED_RAW))
        .collect();
    assert_eq!(reads, MESSAGE.repeat(20));
    // An echo would have made the client's close a reset (it never reads),
    // which throws away what it had not sent yet.
    assert_eq!(lines.last().unwrap(), "read from client failed, err: EOF");
}

#[test]
fn one_file_stick_server2_prints_twenty_messages_whole_or_split() {
    let server = start("one_file_stick_server2");
    for chunk in ["600", "1"] {
        run_client("client2", server.listening_addr(), &["--chunk", chunk]);
        assert_eq!(messages(&server, 20), vec![MESSAGE; 20], "--chunk {chunk}");
    }
}

#[test]
fn one_file_stick_server2_closes_a_bad_header_or_a_cut_frame_and_keeps_serving() {
    let server = start("one_file_stick_server2");
    for (bytes, error) in [
        (&(-1i32).to_le_bytes()[..], "a negative length (-1)"),
        (
            b"Hello, server\n",
            "frame header announces 1819043144 bytes",
        ),
        (
            b"\x1a\x00\x00\x00Hello",
            "stream ended inside a 26-byte frame",
        ),
    ] {
        let mut peer = server.connect();
        peer.write_all(bytes).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(peer.read(&mut [0; 1]).unwrap(), 0, "{error}: not closed");
        let line = server.next_stdout_line();
        assert!(line.starts_with("decode msg failed, err: "), "{line}");
        assert!(line.contains(error), "{line}");
    }
    run_client("client2", server.listening_addr(), &[]);
    assert_eq!(messages(&server, 20), vec![MESSAGE; 20]);
}

#[test]
fn one_file_stick_servers_refuse_a_bad_command_line_in_one_line_with_exit_2() {
    for name in ["one_file_stick_server", "one_file_stick_server2"] {
        let mut command = one_file(name);
        command.args(["--addr", "127.0.0.1"]);
        let run = run_to_end(command, b"");
        assert_eq!(run.status.code(), Some(2), "{name}: {}", run.stderr);
        assert_eq!(
            run.stderr,
            format!("usage: {name} [--addr HOST:PORT], e.g. --addr 127.0.0.1:0\n")
        );
    }
}
