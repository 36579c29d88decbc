//! The `tcp-client` binary with piped standard input, against an echo
//! server started in-process on `netpoll`'s TCP loop, the one `tcp-server`
//! runs on (or a tiny std peer where a misbehaving server is needed).

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::thread;
use std::time::Duration;

use harness::{Finished, run_to_end};
use netpoll::tcp::{Conn, Handler, Server, ServerHandle};

/// Sends back every byte, as `tcp-server` does.
struct Echo;

impl Handler for Echo {
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        conn.send(data);
    }
}

fn echo_server() -> ServerHandle {
    Server::new(|_peer| Echo)
        .start("127.0.0.1:0".parse().unwrap())
        .expect("start the in-process echo server")
}

/// Runs `tcp-client --addr addr` with `input` piped to its stdin, and waits
/// (bounded) for it to exit: a client that hangs fails the test.
fn run_client(addr: SocketAddr, input: &[u8]) -> Finished {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tcp-client"));
    command.args(["--addr", &addr.to_string()]);
    run_to_end(command, input)
}

#[test]
fn piped_lines_are_echoed_and_q_exits_zero() {
    let server = echo_server();
    let run = run_client(server.local_addr(), b"hello\nworld\r\nQ\nnever sent\n");
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, "hello\nworld\n");
    assert_eq!(run.stderr, "");
    // Nothing after Q reached the server, and \r\n was not sent.
    let stats = server.stop().unwrap();
    assert_eq!(stats.bytes_read, "helloworld".len() as u64);
}

#[test]
fn lowercase_q_quits_too() {
    let server = echo_server();
    let run = run_client(server.local_addr(), b"a\nq\nb\n");
    assert!(run.status.success());
    assert_eq!(run.stdout, "a\n");
}

#[test]
fn go_defect_2000_character_line_is_printed_whole_before_the_next() {
    // The Go client reads once into 512 bytes: the rest of the echo would
    // be printed after the next line.
    // Echo in 100-byte reads, each written at once (TCP_NODELAY), so the
    // echo really does arrive in pieces, as it may over a real network.
    let server = Server::new(|_peer| Echo)
        .read_buffer_size(100)
        .start("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let long = "0123456789".repeat(200);
    let input = format!("{long}\nnext\nQ\n");
    let run = run_client(server.local_addr(), input.as_bytes());
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, format!("{long}\nnext\n"));
}

#[test]
fn go_defect_empty_line_prints_an_empty_echo_and_does_not_hang() {
    // The Go client writes nothing for an empty line, then blocks in Read.
    let server = echo_server();
    let run = run_client(server.local_addr(), b"\n\r\nafter\nQ\n");
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, "\n\nafter\n");
}

#[test]
fn end_of_input_without_q_exits_zero() {
    let server = echo_server();
    let run = run_client(server.local_addr(), b"last line without newline");
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, "last line without newline\n");
}

#[test]
fn echoed_control_bytes_are_escaped() {
    let server = echo_server();
    let run = run_client(server.local_addr(), b"a\x1b[2Jb\tc\xff\nQ\n");
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, "a⟦ESC⟧[2Jb\tc⟦0xff⟧\n");
}

#[test]
fn closed_port_exits_1_with_a_one_line_error() {
    // Bind then drop: the port is known and nothing listens on it.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let run = run_client(addr, b"hello\n");
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{:?}", run.stderr);
    assert!(run.stderr.contains(&addr.to_string()), "{}", run.stderr);
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn reset_by_the_server_exits_1_with_a_one_line_error() {
    // A peer that accepts, then resets the connection without echoing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut first = [0; 1];
        // Wait for the client's line, so the reset hits a read in progress.
        let _ = (&stream).read(&mut first);
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    });
    let run = run_client(addr, b"hello\nQ\n");
    peer.join().unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{:?}", run.stderr);
    assert!(run.stderr.contains(&addr.to_string()), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"));
}
