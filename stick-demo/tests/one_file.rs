//! What only the chapter's Go servers in one file
//! (`examples/one_file_stick_server.rs`, `examples/one_file_stick_server2.rs`)
//! have to prove. Their reads and messages, with our clients and against
//! hostile lengths, are proved by the tests of `tests/stick.rs`, which run
//! against them too.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::Command;

use harness::{Program, run_to_end};

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

#[test]
fn one_file_stick_server_does_not_echo_and_ends_with_the_go_eof_line() {
    // An echo to the chapter's client, which never reads, would make its
    // close a reset, and a reset throws away what it had not sent yet.
    let server = start("one_file_stick_server");
    let mut client = server.connect();
    client.write_all(b"hi").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    client.read_to_end(&mut echoed).unwrap();
    assert_eq!(echoed, b"");
    assert_eq!(
        server.stdout_until(|l| l.starts_with("read from client failed")),
        [
            "received client Data sent from terminal: hi",
            "read from client failed, err: EOF"
        ]
    );
}

#[test]
fn one_file_stick_server2_says_why_it_closes_plain_text_or_a_cut_frame() {
    let server = start("one_file_stick_server2");
    for (bytes, error) in [
        (
            &b"Hello, server\n"[..],
            "the header bytes \"Hell\" look like ASCII text",
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
        // Go's line, with our decoder's words.
        let line = server.next_stdout_line();
        assert!(line.starts_with("decode msg failed, err: "), "{line}");
        assert!(line.contains(error), "{line}");
    }
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
