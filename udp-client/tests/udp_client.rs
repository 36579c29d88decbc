//! The `udp-client` binary against an echo server running inside the test
//! process (netpoll's UDP loop, as `udp-server` runs it), or against a tiny
//! std peer.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;

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

/// The client's datagram, as a hand-made server receives it.
fn receive_from_client(server: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
    server.recv_from(buf).expect("the client's datagram")
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
    let stats = server.stop_within(DEADLINE).unwrap();
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
    assert_eq!(server.stop_within(DEADLINE).unwrap().datagrams, 3);
}

/// Not on Windows: its arguments exceed the 32 767 characters a Windows
/// command line may hold.
#[cfg(not(windows))]
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
fn no_listener_is_reported_at_once_as_a_refusal() {
    // A port that was free a moment ago and that nothing listens on now.
    let addr = {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    // Ten minutes of patience: a client that waited for its timeout
    // instead of hearing the refusal would outlast the harness' deadline
    // and fail the test, with no threshold of the test's own.
    let out = spawn_client(&["--addr", &addr, "--timeout", "600"]).finish();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, "");
    // One line, the refusal named; the OS's words end it (`Connection
    // refused (os error 111)` on Linux).
    assert_eq!(out.stderr.lines().count(), 1, "{:?}", out.stderr);
    let refusal = format!(
        "udp-client: cannot reach {addr}: nothing listens there (is udp-server running?): "
    );
    assert!(out.stderr.starts_with(&refusal), "{}", out.stderr);
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
}

#[test]
fn a_silent_server_is_reported_after_the_timeout_in_one_line() {
    // Bound, so no refusal comes back, and never answering: the silence
    // that only the timeout can tell.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let out = spawn_client(&["--addr", &addr, "--timeout", "0.5"]).finish();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{:?}", out.stderr);
    assert!(
        out.stderr
            .starts_with(&format!("udp-client: no reply from {addr} within 0.5 s")),
        "{}",
        out.stderr
    );
}

/// A hand-made "server" and a running client that sent it `message`:
/// the test decides what comes back, and when.
fn client_of_hand_made_server(message: &str) -> (UdpSocket, SocketAddr, Program) {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(DEADLINE)).unwrap();
    let server_addr = server.local_addr().unwrap().to_string();
    let client = spawn_client(&[
        "--addr",
        &server_addr,
        "--message",
        message,
        "--timeout",
        "30",
    ]);
    let mut buf = vec![0; 65_536];
    let (len, client_addr) = receive_from_client(&server, &mut buf);
    assert_eq!(&buf[..len], message.as_bytes());
    (server, client_addr, client)
}

#[test]
fn a_hostile_reply_is_printed_escaped() {
    // Terminal controls, bidi controls and a byte that is not UTF-8, from
    // the server the client asked: the client's one line shows them
    // escaped, and nothing else.
    let (server, client_addr, client) = client_of_hand_made_server("Hello server");
    let server_addr = server.local_addr().unwrap();
    let mut reply = "ok\r\n\x1b[2J\u{202e}\u{61c}".as_bytes().to_vec();
    reply.push(0xfe);
    server.send_to(&reply, client_addr).unwrap();
    let out = client.finish();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "recv:ok⟦CR⟧⟦LF⟧⟦ESC⟧[2J⟦U+202E⟧⟦U+061C⟧⟦0xfe⟧ addr:{server_addr} count:{}\n",
            reply.len()
        )
    );
}

#[test]
fn a_datagram_from_another_address_is_never_taken_for_the_reply() {
    let (server, client_addr, client) = client_of_hand_made_server("ping");
    // Loopback delivers in sending order: the stranger's datagram reaches
    // the client's port before the real reply, and the kernel drops it
    // (the socket is connected to the server).
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger.send_to(b"impostor", client_addr).unwrap();
    server.send_to(b"pong", client_addr).unwrap();
    let out = client.finish();
    assert!(out.status.success(), "{}", out.stderr);
    let server_addr = server.local_addr().unwrap();
    assert_eq!(
        out.stdout,
        format!("recv:pong addr:{server_addr} count:4\n")
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn a_reply_shorter_than_the_message_is_printed_then_named_with_its_likely_cause() {
    // What the Go tutorial's server does to a datagram over 1 024 bytes:
    // the kernel cuts it to the buffer, and the first 1 024 go back.
    let message = "x".repeat(2_000);
    let (server, client_addr, client) = client_of_hand_made_server(&message);
    server
        .send_to(&message.as_bytes()[..1024], client_addr)
        .unwrap();
    let out = client.finish();
    assert!(out.status.success(), "{}", out.stderr);
    let server_addr = server.local_addr().unwrap();
    assert_eq!(
        out.stdout,
        format!("recv:{} addr:{server_addr} count:1024\n", &message[..1024])
    );
    assert_eq!(
        out.stderr,
        "udp-client: echo incomplete: 1024 of 2000 bytes came back — the server may have cut \
         the datagram (the Go tutorial's server reads into 1024 bytes and the kernel drops the \
         rest)\n"
    );
}

/// Not on Windows: its arguments exceed the 32 767 characters a Windows
/// command line may hold.
#[cfg(not(windows))]
#[test]
fn bad_arguments_are_rejected_with_a_usage_error() {
    for args in [
        &["--count", "0"][..],
        &["--count", "many"],
        &["--timeout", "0"],
        &["--timeout", "-1"],
        &["--timeout", "soon"],
        &["--timeout", "1e30"],
        &["--addr", "no-port"],
        &["--addr", "garbage"],
        &["--message", &"x".repeat(65_508)],
        &["--no-such-flag"],
    ] {
        let out = run_client(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stderr.starts_with("error:"), "{args:?}: {}", out.stderr);
        // Our parsers name the expected form, with an example or a bound
        // (clap's own errors do not; a 65 KB message's line is too long
        // for the harness to keep whole).
        if !matches!(args[0], "--no-such-flag" | "--count" | "--message") {
            assert!(out.stderr.contains("expected"), "{args:?}: {}", out.stderr);
        }
        assert_eq!(out.stdout, "", "{args:?}");
    }
}

/// Not on Windows: its arguments exceed the 32 767 characters a Windows
/// command line may hold.
#[cfg(not(windows))]
#[test]
fn a_huge_message_is_quoted_cut_and_the_reason_given() {
    let out = run_client(&["--message", &"x".repeat(70_000)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        out.stderr.lines().next().unwrap_or(""),
        format!(
            "error: invalid value '{}… (69940 characters more)' for '--message <TEXT>': \
             70000 bytes do not fit in one UDP datagram; expected at most 65507 bytes",
            "x".repeat(60)
        )
    );
}

/// Runs the client with `args` against a fresh echo server, insists that
/// it succeeds, and returns the server's address, the client's stdout and
/// what the server counted.
fn round_trip(args: &[&str]) -> (String, String, udp::Stats) {
    let server = start_server();
    let addr = server.local_addr().to_string();
    let out = run_client(&[&["--addr", &addr][..], args].concat());
    assert!(out.status.success(), "{args:?}: {}", out.stderr);
    (addr, out.stdout, server.stop_within(DEADLINE).unwrap())
}

#[test]
fn every_timeout_the_parser_accepts_works() {
    // 1e19 s overflows `Instant + Duration` (a panic, exit 101) unless the
    // deadline saturates.
    let (addr, stdout, _) = round_trip(&["--timeout", "1e19"]);
    assert_eq!(stdout, format!("recv:Hello server addr:{addr} count:12\n"));
}

/// Not on Windows: its arguments exceed the 32 767 characters a Windows
/// command line may hold.
#[cfg(not(windows))]
#[test]
fn the_longest_message_the_parser_accepts_is_sent_and_echoed() {
    let (_, _, stats) = round_trip(&["--message", &"x".repeat(65_507)]);
    assert_eq!((stats.datagrams, stats.bytes_read), (1, 65_507));
}
