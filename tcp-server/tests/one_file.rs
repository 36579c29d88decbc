//! What only the Go server in one file (`examples/one_file_tcp_server.rs`)
//! has to prove: the Go program's lines, word for word, and its command
//! line. Its echo is proved by the tests of `tests/echo.rs`, which run
//! against it too.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::Command;
use std::time::Duration;

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
fn one_file_server_prints_the_go_lines_word_for_word() {
    let server = start("127.0.0.1:0");
    let mut client = server.connect();
    // Untrusted bytes are escaped, as every program here shows them.
    client.write_all(b"hi\x1b[2J\xff\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    client.read_to_end(&mut echoed).unwrap();
    assert_eq!(echoed, b"hi\x1b[2J\xff\n");
    assert_eq!(
        server.stdout_until(|l| l.starts_with("read from client failed")),
        [
            "received client Data sent from terminal: hi⟦ESC⟧[2J⟦0xff⟧⟦LF⟧",
            "read from client failed, err: EOF"
        ]
    );
}

#[test]
fn one_file_server_a_reset_ends_only_that_connection() {
    let server = start("127.0.0.1:0");
    let victim = server.connect();
    (&victim).write_all(b"about to reset").unwrap();
    server.wait_for_stdout("about to reset");
    // SO_LINGER 0: the close sends a reset, not an end of stream.
    socket2::SockRef::from(&victim)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(victim);
    let line = server.wait_for_stdout("read from client failed");
    assert_ne!(line, "read from client failed, err: EOF");
    let mut other = server.connect();
    other.write_all(b"still there?").unwrap();
    let mut echoed = [0; 12];
    other.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"still there?");
}

#[test]
fn one_file_server_resolves_a_host_name() {
    let server = start("localhost:0");
    assert!(server.listening_addr().ip().is_loopback());
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
