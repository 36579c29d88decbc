//! The `udp-client` binary against an echo server running inside the test
//! process (netpoll's UDP loop, as `udp-server` runs it), or against a tiny
//! std peer.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use harness::{DEADLINE, Finished, Program};
use netpoll::udp::{self, Handler, Socket};

/// `udp-server`'s echo without its printing.
struct Echo;

impl Handler for Echo {
    fn on_datagram(&mut self, socket: &mut Socket<'_>, payload: &[u8], peer: SocketAddr) {
        socket.send_to(payload, peer);
    }
}

fn start_server() -> udp::ServerHandle {
    udp::Server::new(Echo)
        .start("127.0.0.1:0".parse().unwrap())
        .unwrap()
}

/// A running `udp-client` with `args`.
fn spawn_client(args: &[&str]) -> Program {
    let mut command = Command::new(env!("CARGO_BIN_EXE_udp-client"));
    command.args(args).env("RUST_LOG", "warn");
    Program::spawn(command)
}

fn run_client(args: &[&str]) -> Finished {
    spawn_client(args).finish()
}

#[test]
fn default_message_is_echoed_and_printed_with_the_go_clients_fields() {
    let server = start_server();
    let addr = server.local_addr().to_string();
    let out = run_client(&["--addr", &addr]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("recv:Hello server addr:{addr} count:12\n")
    );
    let stats = server.stop().unwrap();
    assert_eq!((stats.datagrams, stats.bytes_read), (1, 12));
}

#[test]
fn count_makes_that_many_round_trips() {
    let server = start_server();
    let addr = server.local_addr().to_string();
    let out = run_client(&["--addr", &addr, "--message", "ping", "--count", "3"]);
    assert!(out.status.success(), "{}", out.stderr);
    let line = format!("recv:ping addr:{addr} count:4\n");
    assert_eq!(out.stdout, line.repeat(3));
    assert_eq!(server.stop().unwrap().datagrams, 3);
}

#[test]
fn go_defect_4096_byte_client_buffer_truncates_replies_60000_bytes_arrive_whole() {
    let server = start_server();
    let addr = server.local_addr().to_string();
    let message = "0123456789".repeat(6_000);
    let out = run_client(&["--addr", &addr, "--message", &message]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("recv:{message} addr:{addr} count:60000\n")
    );
}

#[test]
fn empty_message_gets_an_empty_reply() {
    let server = start_server();
    let addr = server.local_addr().to_string();
    let out = run_client(&["--addr", &addr, "--message", ""]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, format!("recv: addr:{addr} count:0\n"));
}

#[test]
fn no_listener_exits_1_with_one_line_on_stderr_within_the_timeout_plus_one_second() {
    // A port that was free a moment ago and that nothing listens on now.
    let addr = {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let out = spawn_client(&["--addr", &addr, "--timeout", "0.5"])
        .with_timeout(Duration::from_millis(500) + Duration::from_secs(1))
        .finish();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{:?}", out.stderr);
    assert!(
        out.stderr
            .starts_with(&format!("udp-client: no reply from {addr} within 0.5s")),
        "{}",
        out.stderr
    );
}

#[test]
fn a_datagram_from_a_foreign_address_is_ignored_and_logged() {
    // A hand-made "server" so the test decides who answers first.
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(DEADLINE)).unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = server.local_addr().unwrap().to_string();
    let stranger_addr: SocketAddr = stranger.local_addr().unwrap();

    let client = spawn_client(&["--addr", &server_addr, "--message", "ping"]);
    let mut buf = [0; 64];
    // Retried when interrupted: the SIGCHLD handler of this process (the
    // harness waits for children with deadlines) interrupts a receive with
    // a timeout whenever another test's child exits (signal(7)).
    let (len, client_addr) = (0..1000)
        .find_map(|_| match server.recv_from(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => None,
            received => Some(received.expect("the client's datagram")),
        })
        .expect("recv_from interrupted 1000 times in a row");
    assert_eq!(&buf[..len], b"ping");
    // Loopback delivers in sending order: the stranger's datagram is
    // waiting in the client's socket before the real reply.
    stranger.send_to(b"impostor", client_addr).unwrap();
    server.send_to(b"ping", client_addr).unwrap();

    let out = client.finish();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("recv:ping addr:{server_addr} count:4\n")
    );
    assert!(out.stderr.contains("ignored"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&stranger_addr.to_string()),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_arguments_are_rejected_with_a_usage_error() {
    for args in [
        &["--count", "0"][..],
        &["--count", "many"],
        &["--timeout", "0"],
        &["--timeout", "-1"],
        &["--timeout", "soon"],
        &["--addr", "no-port"],
        &["--no-such-flag"],
    ] {
        let out = run_client(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stderr.starts_with("error:"), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}");
    }
}
