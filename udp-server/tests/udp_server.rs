//! The `udp-server` binary, spawned on port 0 and spoken to over loopback.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use harness::{DEADLINE, Program, assert_lines_in_order};

fn udp_server(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_udp-server"));
    command.args(args);
    command
}

/// A `udp-server` on 127.0.0.1:0, once it is listening.
fn start(extra_args: &[&str]) -> Program {
    let mut command = udp_server(&["--addr", "127.0.0.1:0"]);
    command.args(extra_args);
    let server = Program::spawn(command);
    server.listening_addr();
    server
}

/// Which server a test runs against: `udp-server`, or the same Go program
/// in one file (`examples/one_file_udp_server.rs`), which takes no flag but
/// `--addr` and prints every datagram.
#[derive(Debug, Clone, Copy)]
enum ServerKind {
    Full,
    OneFile,
}

/// What every echo test holds for both servers.
const BOTH_SERVERS: [ServerKind; 2] = [ServerKind::Full, ServerKind::OneFile];

/// A server of `kind` on 127.0.0.1:0, once it is listening; `full_args`
/// are the full server's flags (the one in one file has none).
fn start_kind(kind: ServerKind, full_args: &[&str]) -> Program {
    // Shown with the output of a failed test: which server failed.
    println!("against the {kind:?} server");
    match kind {
        ServerKind::Full => start(full_args),
        ServerKind::OneFile => {
            let mut command = Command::new(harness::example("udp-server", "one_file_udp_server"));
            command.args(["--addr", "127.0.0.1:0"]);
            let server = Program::spawn(command);
            server.listening_addr();
            server
        }
    }
}

/// A client socket on loopback whose reads give up at the deadline.
fn client_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    socket
}

/// Sends `payload` and returns the reply and where it came from.
fn round_trip(socket: &UdpSocket, server: SocketAddr, payload: &[u8]) -> (Vec<u8>, SocketAddr) {
    socket.send_to(payload, server).unwrap();
    let mut buf = vec![0; 65_535];
    let (len, from) = socket.recv_from(&mut buf).expect("an echo");
    buf.truncate(len);
    (buf, from)
}

#[test]
fn default_message_round_trips_and_the_go_line_is_printed() {
    for kind in BOTH_SERVERS {
        let server = start_kind(kind, &[]);
        let socket = client_socket();
        let (reply, from) = round_trip(&socket, server.listening_addr(), b"Hello server");
        assert_eq!(reply, b"Hello server");
        assert_eq!(from, server.listening_addr());
        assert_eq!(
            server.next_stdout_line(),
            format!(
                "data:Hello server addr:{} count:12",
                socket.local_addr().unwrap()
            )
        );
    }
}

#[test]
fn go_defect_1024_byte_buffer_truncates_datagrams_60000_bytes_come_back_whole() {
    for kind in BOTH_SERVERS {
        let server = start_kind(kind, &["--quiet"]);
        let socket = client_socket();
        let payload: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
        let (reply, from) = round_trip(&socket, server.listening_addr(), &payload);
        assert_eq!(from, server.listening_addr());
        assert_eq!(reply.len(), 60_000);
        assert!(reply == payload, "the 60 000-byte echo differs");
    }
}

#[test]
fn zero_length_datagram_is_echoed() {
    for kind in BOTH_SERVERS {
        let server = start_kind(kind, &[]);
        let socket = client_socket();
        let (reply, from) = round_trip(&socket, server.listening_addr(), b"");
        assert!(reply.is_empty());
        assert_eq!(from, server.listening_addr());
        assert_eq!(
            server.next_stdout_line(),
            format!("data: addr:{} count:0", socket.local_addr().unwrap())
        );
    }
}

#[test]
fn control_bytes_and_invalid_utf8_are_escaped_in_the_per_datagram_line() {
    for kind in BOTH_SERVERS {
        let server = start_kind(kind, &[]);
        let socket = client_socket();
        let payload = b"hi\ndata:forged\x1b[2J\xff";
        let (reply, _) = round_trip(&socket, server.listening_addr(), payload);
        assert_eq!(reply, payload, "the echo itself is the raw bytes");
        assert_eq!(
            server.next_stdout_line(),
            format!(
                "data:hi⟦LF⟧data:forged⟦ESC⟧[2J⟦0xff⟧ addr:{} count:{}",
                socket.local_addr().unwrap(),
                payload.len()
            )
        );
    }
}

#[test]
fn ten_sockets_in_parallel_each_get_their_own_payloads_back() {
    for kind in BOTH_SERVERS {
        let server = start_kind(kind, &["--quiet"]);
        let addr = server.listening_addr();
        thread::scope(|scope| {
            for socket_no in 0..10 {
                scope.spawn(move || {
                    let socket = client_socket();
                    for round in 0..100 {
                        let payload = format!("socket {socket_no} round {round}");
                        let (reply, from) = round_trip(&socket, addr, payload.as_bytes());
                        assert_eq!(from, addr);
                        assert_eq!(String::from_utf8_lossy(&reply), payload);
                    }
                });
            }
        });
    }
}

#[test]
fn a_peer_that_vanished_before_its_echo_does_not_stop_the_server() {
    for kind in BOTH_SERVERS {
        let server = start_kind(kind, &["--quiet"]);
        // Each echo goes to a closed port: the kernel answers it with ICMP
        // "port unreachable", which some systems turn into an error on the
        // server's socket.
        for _ in 0..20 {
            let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
            gone.send_to(b"nobody will read this echo", server.listening_addr())
                .unwrap();
        }
        let socket = client_socket();
        let (reply, from) = round_trip(&socket, server.listening_addr(), b"still there?");
        assert_eq!(
            (reply.as_slice(), from),
            (&b"still there?"[..], server.listening_addr())
        );
    }
}

#[test]
fn sigterm_and_sigint_print_the_summary_and_exit_zero() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut server = start(&["--quiet"]);
        let socket = client_socket();
        round_trip(&socket, server.listening_addr(), b"one");
        round_trip(&socket, server.listening_addr(), b"");
        round_trip(&socket, server.listening_addr(), b"three");
        server.signal(signal);
        let (remaining_lines, _, status) = server.wait_exit();
        assert!(status.success(), "signal {signal}: {status}");
        // --quiet: the summary is the only line after `listening on`.
        assert_eq!(
            remaining_lines,
            ["summary: served 3 datagrams (0 dropped), read 8 bytes, echoed 8 bytes"],
            "signal {signal}"
        );
    }
}

#[test]
fn an_address_in_use_is_a_clear_error_and_a_failure_status() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Program::spawn(udp_server(&["--addr", &addr])).finish();
    assert!(!output.status.success());
    let stderr = &output.stderr;
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no `listening on` line");
}

#[test]
fn bad_arguments_are_rejected_with_a_usage_error() {
    for args in [
        &["--addr", "not-an-address"][..],
        &["--addr", "127.0.0.1:99999"],
        &["--no-such-flag"],
        &["--spin-us", "1000001"],
        &["--spin-us", "-1"],
        &["--spin-us", "20us"],
    ] {
        let output = Program::spawn(udp_server(args)).finish();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = &output.stderr;
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        // Each names the form expected; an address's example is UDP's own
        // port, not the TCP server's.
        if args[0] == "--addr" {
            let example = "expected HOST:PORT, e.g. 127.0.0.1:30000 or localhost:30000";
            assert!(stderr.contains(example), "{args:?}: {stderr}");
        } else if args[0] == "--spin-us" {
            assert!(
                stderr.contains("microseconds, e.g. 50"),
                "{args:?}: {stderr}"
            );
        }
    }
}

#[test]
fn help_explains_the_loopback_default_and_how_to_bind_all_interfaces() {
    let output = Program::spawn(udp_server(&["--help"])).finish();
    assert!(output.status.success());
    let help = &output.stdout;
    assert!(help.contains("[default: 127.0.0.1:30000]"), "{help}");
    assert!(help.contains("reflector"), "{help}");
    assert!(help.contains("--addr 0.0.0.0:30000"), "{help}");
    // Plain words: no Rust item for a user to look up.
    assert!(
        help.starts_with("UDP echo server: every datagram goes back"),
        "{help}"
    );
    assert!(!help.contains("::"), "{help}");
}

#[test]
fn help_explains_the_spin_before_sleeping_and_its_default() {
    let output = Program::spawn(udp_server(&["--help"])).finish();
    assert!(output.status.success());
    let help = &output.stdout;
    assert!(help.contains("--spin-us <MICROSECONDS>"), "{help}");
    assert!(help.contains("waking a sleeping thread"), "{help}");
    assert!(help.contains("an idle server still sleeps"), "{help}");
    assert!(
        help.contains(&format!("[default: {}]", netpoll::spin::DEFAULT_SPIN_US)),
        "{help}"
    );
}

/// `count` round trips, each datagram sent as soon as the previous echo is
/// in, every echo checked; returns the payload bytes sent.
fn back_to_back_round_trips(socket: &UdpSocket, server: SocketAddr, count: usize) -> u64 {
    let mut bytes = 0;
    for round in 0..count {
        let payload = format!("round {round}");
        bytes += payload.len() as u64;
        let (reply, from) = round_trip(socket, server, payload.as_bytes());
        assert_eq!(from, server);
        assert_eq!(String::from_utf8_lossy(&reply), payload);
    }
    bytes
}

#[test]
fn back_to_back_datagrams_arriving_during_the_spin_window_are_all_echoed() {
    // The longest spin allowed: after the first echo every datagram of the
    // run arrives while the server is still spinning.
    let mut server = start(&["--quiet", "--spin-us", "1000000"]);
    let socket = client_socket();
    let bytes = back_to_back_round_trips(&socket, server.listening_addr(), 2000);
    // SIGTERM right after the last echo lands inside the window too.
    server.signal(libc::SIGTERM);
    let (remaining_lines, _, status) = server.wait_exit();
    assert!(status.success(), "{status}");
    assert_eq!(
        remaining_lines,
        [format!(
            "summary: served 2000 datagrams (0 dropped), read {bytes} bytes, echoed {bytes} bytes"
        )]
    );
}

#[test]
fn spin_us_0_still_echoes_and_stops_on_sigterm() {
    let mut server = start(&["--quiet", "--spin-us", "0"]);
    let socket = client_socket();
    let bytes = back_to_back_round_trips(&socket, server.listening_addr(), 100);
    server.signal(libc::SIGTERM);
    let (remaining_lines, _, status) = server.wait_exit();
    assert!(status.success(), "{status}");
    assert_eq!(
        remaining_lines,
        [format!(
            "summary: served 100 datagrams (0 dropped), read {bytes} bytes, echoed {bytes} bytes"
        )]
    );
}

/// Unbroken back-to-back traffic keeps restarting the spin window, so the
/// server never goes back to a sleeping `poll`: it must still see SIGTERM.
#[test]
fn sigterm_stops_a_server_kept_spinning_by_unbroken_traffic() {
    let mut server = start(&["--quiet", "--spin-us", "1000000"]);
    let addr = server.listening_addr();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Connected, so the "port unreachable" that answers a datagram sent
    // after the server exits comes back as an error at once.
    socket.connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();

    let echoed = thread::scope(|scope| {
        let traffic = scope.spawn(|| {
            let deadline = Instant::now() + DEADLINE;
            let mut buf = [0; 64];
            let mut echoed = 0u64;
            // Until the server is gone (refused or silent), within the deadline.
            while Instant::now() < deadline {
                let payload = echoed.to_string();
                if socket.send(payload.as_bytes()).is_err() {
                    break;
                }
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        assert_eq!(&buf[..n], payload.as_bytes());
                        echoed += 1;
                    }
                    Err(_) => break,
                }
            }
            echoed
        });
        // A hundred echoes of our own, interleaved with the traffic's: the
        // traffic is flowing and the server spinning by the last of them.
        let probe = client_socket();
        for _ in 0..100 {
            let (reply, _) = round_trip(&probe, addr, b"probe");
            assert_eq!(reply, b"probe");
        }
        server.signal(libc::SIGTERM);
        let (remaining_lines, _, status) = server.wait_exit();
        assert!(status.success(), "{status}");
        let echoed = traffic.join().unwrap();
        (remaining_lines, echoed)
    });
    let (remaining_lines, echoed) = echoed;
    assert_eq!(remaining_lines.len(), 1, "{remaining_lines:?}");
    let summary = &remaining_lines[0];
    let datagrams: u64 = summary
        .strip_prefix("summary: served ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a summary: {summary}"));
    // The 100 probes, every echo the traffic thread got, and perhaps the
    // one datagram it sent that the server received but whose echo
    // arrived after the thread stopped listening.
    let counted = 100 + echoed;
    assert!(
        datagrams == counted || datagrams == counted + 1,
        "{summary} vs {counted} echoes seen"
    );
    assert!(summary.contains(" datagrams (0 dropped), "), "{summary}");
}

/// Unix only: the full stdout is made with an `sh` pipeline.
#[cfg(unix)]
#[test]
fn full_stdout_does_not_stop_the_udp_server() {
    // stdout is a pipe whose reader took the first line and then sleeps:
    // it fills up, and a blocking print would stop the loop.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#""$0" --addr 127.0.0.1:0 | { IFS= read -r line; printf '%s\n' "$line"; exec sleep 3600; }"#)
        .arg(env!("CARGO_BIN_EXE_udp-server"))
        .env("RUST_LOG", "warn");
    let server = Program::spawn(command);
    let addr = server.listening_addr();
    let socket = client_socket();
    // About 2 MB of teaching output: more than the pipe and the queue hold.
    let payload = vec![b'x'; 2000];
    for _ in 0..1000 {
        assert_eq!(round_trip(&socket, addr, &payload).0, payload);
    }
    let warning = server.wait_for_stderr("stdout is not keeping up");
    assert!(warning.contains("still serving"), "{warning}");
    assert_eq!(
        round_trip(&socket, addr, b"still served?").0,
        b"still served?"
    );
}

#[cfg(unix)]
#[path = "../../edges/tests/support/full_pipe.rs"]
mod full_pipe;

/// Unix only: the full pipes are put in place between fork and exec.
#[cfg(unix)]
#[test]
fn full_stdout_and_stderr_stop_neither_serving_nor_stopping() {
    // Both streams are pipes nobody reads, as with `udp-server 2>&1 | less`
    // left on its first page: when the teaching output fills stdout, the
    // loop says so on stderr, which is full too. Written on the loop
    // thread, that one line would stop the server for good.
    let mut command = udp_server(&["--addr", "127.0.0.1:0"]);
    command.env("RUST_LOG", "warn");
    let _stderr = full_pipe::full_stderr(&mut command);
    let (_stdout, first_line) = full_pipe::stdout_read_once(&mut command);
    let mut server = Program::spawn(command);
    let first = first_line();
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("first line {first:?} is not `listening on <addr>`"));
    let socket = client_socket();
    // About 2 MB of teaching output: more than the pipe and the queue hold.
    let payload = vec![b'x'; 2000];
    for _ in 0..1000 {
        assert_eq!(round_trip(&socket, addr, &payload).0, payload);
    }
    assert_eq!(
        round_trip(&socket, addr, b"still served?").0,
        b"still served?"
    );
    server.signal(libc::SIGTERM);
    let (_, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn the_largest_spin_the_parser_accepts_works() {
    // --spin-us is udp-server's one duration flag; its parser stops at one
    // second, and that value must serve and stop like any other.
    let mut server = start(&["--spin-us", "1000000", "--quiet"]);
    let socket = client_socket();
    assert_eq!(
        round_trip(&socket, server.listening_addr(), b"spin").0,
        b"spin"
    );
    server.signal(libc::SIGTERM);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        lines,
        ["summary: served 1 datagram (0 dropped), read 4 bytes, echoed 4 bytes"]
    );
}

/// `--trace` shows the loop waking, the datagram and its echo: a learner
/// follows one datagram through the loop.
#[test]
fn trace_shows_the_wake_up_the_datagram_and_the_send() {
    let mut server = start(&["--quiet", "--trace"]);
    let socket = client_socket();
    let client = socket.local_addr().unwrap();
    let (reply, _) = round_trip(&socket, server.listening_addr(), b"Hello server");
    assert_eq!(reply, b"Hello server");
    let traced = server.stderr_until(|l| l.contains(&format!("{client}: sent 12 bytes")));
    let mut expected = vec![" µs  loop: poll: 1 events after sleeping".to_owned()];
    // One recvmmsg call per batch on Linux, one recv_from each elsewhere.
    if cfg!(target_os = "linux") {
        expected.push(" µs  loop: received a batch of 1 datagrams".to_owned());
    }
    expected.push(format!(" µs  {client}: datagram of 12 bytes"));
    assert_lines_in_order(&traced, &expected);
    let rest = server.stop_ok();
    assert_lines_in_order(&rest, &["loop: trace ends"]);
}

/// Without `--trace` the same exchange writes no trace line.
#[test]
fn without_trace_the_udp_server_traces_nothing() {
    let mut server = start(&["--quiet"]);
    let socket = client_socket();
    let (reply, _) = round_trip(&socket, server.listening_addr(), b"Hello server");
    assert_eq!(reply, b"Hello server");
    let stderr = server.stop_ok();
    assert!(!stderr.iter().any(|l| l.contains(" µs  ")), "{stderr:#?}");
}
