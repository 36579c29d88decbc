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
fn no_listener_exits_1_with_one_line_on_stderr_after_the_timeout() {
    // A port that was free a moment ago and that nothing listens on now.
    let addr = {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    // A client that ignored --timeout would wait for ever: the harness'
    // deadline fails it, with no threshold of the test's own.
    let out = spawn_client(&["--addr", &addr, "--timeout", "0.5"]).finish();
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

/// Runs the client against a hand-made "server", so the test decides who
/// answers first: `strangers` datagrams from another address, then the
/// real reply. Insists the client printed the real reply and nothing else,
/// and returns its stderr and the stranger's address.
fn reply_after_strangers(strangers: usize) -> (String, String) {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(DEADLINE)).unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = server.local_addr().unwrap().to_string();
    let args = [
        "--addr",
        &server_addr,
        "--message",
        "ping",
        "--timeout",
        "30",
    ];
    let client = spawn_client(&args);
    let mut buf = [0; 64];
    let (len, client_addr) = receive_from_client(&server, &mut buf);
    assert_eq!(&buf[..len], b"ping");
    // Loopback delivers in sending order: the stranger's datagrams are
    // waiting in the client's socket before the real reply (100 small ones
    // fit in its receive buffer).
    for _ in 0..strangers {
        stranger.send_to(b"impostor", client_addr).unwrap();
    }
    server.send_to(b"ping", client_addr).unwrap();

    let out = client.finish();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("recv:ping addr:{server_addr} count:4\n")
    );
    (out.stderr, stranger.local_addr().unwrap().to_string())
}

#[test]
fn a_hostile_reply_is_printed_escaped() {
    // Terminal controls, bidi controls and a byte that is not UTF-8, from
    // the server the client asked: the client's one line shows them
    // escaped, and nothing else.
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(DEADLINE)).unwrap();
    let server_addr = server.local_addr().unwrap().to_string();
    let args = ["--addr", &server_addr, "--timeout", "30"];
    let client = spawn_client(&args);
    let mut buf = [0; 64];
    let (_, client_addr) = receive_from_client(&server, &mut buf);
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
fn a_datagram_from_a_foreign_address_is_ignored_and_logged() {
    let (stderr, stranger) = reply_after_strangers(1);
    assert!(stderr.contains("ignored"), "{stderr}");
    assert!(stderr.contains(&stranger), "{stderr}");
}

#[test]
fn a_flood_from_a_stranger_is_logged_in_a_few_lines_not_one_per_datagram() {
    // One warning per datagram was 100 lines.
    let (stderr, stranger) = reply_after_strangers(100);
    let warnings = stderr.lines().count();
    assert!((1..10).contains(&warnings), "{warnings} lines: {stderr}");
    assert!(stderr.contains(&stranger), "{stderr}");
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
