//! The Go server in one file (`examples/one_file_tcp_server.rs`), spawned on
//! port 0 and spoken to with raw bytes: it prints the Go program's lines, and
//! keeps to the contract of every server here. (The echo tests of
//! `tests/echo.rs` run against it too.)

use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::Command;

use harness::{Program, run_to_end};

fn one_file_server() -> Command {
    Command::new(harness::example("tcp-server", "one_file_tcp_server"))
}

fn start(addr: &str) -> Program {
    let mut command = one_file_server();
    command.args(["--addr", addr]);
    let server = Program::spawn(command);
    server.listening_addr();
    server
}

#[test]
fn one_file_server_prints_the_go_lines_word_for_word_and_echoes_past_128_bytes() {
    let server = start("127.0.0.1:0");
    let mut client = server.connect();
    // Untrusted bytes are escaped, as every program here shows them.
    client.write_all(b"hi\x1b[2J\xff\n").unwrap();
    let mut echoed = [0; 8];
    client.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"hi\x1b[2J\xff\n");
    assert_eq!(
        server.next_stdout_line(),
        "received client Data sent from terminal: hi⟦ESC⟧[2J⟦0xff⟧⟦LF⟧"
    );
    // Go's server keeps 128 bytes of a read and drops the rest.
    let long = "0123456789".repeat(30);
    client.write_all(long.as_bytes()).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut rest = String::new();
    client.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, long);
    let lines = server.stdout_until(|l| l.starts_with("read from client failed"));
    let prefix = "received client Data sent from terminal: ";
    let printed: String = lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix))
        .collect();
    assert_eq!(printed, long);
    assert_eq!(lines.last().unwrap(), "read from client failed, err: EOF");
}

#[test]
fn one_file_server_resolves_a_host_name() {
    let server = start("localhost:0");
    assert!(server.listening_addr().ip().is_loopback());
    let mut client = server.connect();
    client.write_all(b"hi").unwrap();
    let mut echoed = [0; 2];
    client.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"hi");
}

#[test]
fn one_file_server_refuses_a_bad_command_line_in_one_line_with_exit_2() {
    for args in [&["--addr"][..], &["--addr", "no-port"], &["--port", "1"]] {
        let mut command = one_file_server();
        command.args(args);
        let run = run_to_end(command, b"");
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
        assert_eq!(
            run.stderr,
            "usage: one_file_tcp_server [--addr HOST:PORT], e.g. --addr 127.0.0.1:0\n"
        );
    }
}
