//! The `udp-server` binary, spawned on port 0 and spoken to over loopback.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// Every wait in these tests is bounded by this; it is a deadline for a
/// hang, not a performance expectation.
const DEADLINE: Duration = Duration::from_secs(10);

/// A running `udp-server` child; killed and reaped on drop, whatever the
/// test did.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    stdout: Receiver<String>,
}

impl ServerProcess {
    /// Starts the server on 127.0.0.1:0 and waits for its `listening on`
    /// line.
    fn start(extra_args: &[&str]) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_udp-server"))
            .args(["--addr", "127.0.0.1:0"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn udp-server");
        let stdout = child.stdout.take().unwrap();
        let (lines, stdout_lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = ServerProcess {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            stdout: stdout_lines,
        };
        let first = server.next_line();
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line was {first:?}"));
        server.addr = addr.parse().expect("an address after `listening on`");
        assert_ne!(server.addr.port(), 0);
        server
    }

    fn next_line(&self) -> String {
        self.stdout
            .recv_timeout(DEADLINE)
            .expect("udp-server printed nothing more before the deadline")
    }

    /// Every remaining stdout line, up to the server closing stdout.
    fn remaining_lines(&self) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => return lines,
                Err(RecvTimeoutError::Timeout) => panic!("stdout still open; got {lines:?}"),
            }
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) has no memory-safety preconditions; the child is
        // not reaped yet, so the pid is still ours.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn wait(&mut self) -> ExitStatus {
        self.child
            .wait_timeout(DEADLINE)
            .unwrap()
            .expect("udp-server did not exit before the deadline")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let server = ServerProcess::start(&[]);
    let socket = client_socket();
    let (reply, from) = round_trip(&socket, server.addr, b"Hello server");
    assert_eq!(reply, b"Hello server");
    assert_eq!(from, server.addr);
    assert_eq!(
        server.next_line(),
        format!(
            "data:Hello server addr:{} count:12",
            socket.local_addr().unwrap()
        )
    );
}

#[test]
fn go_defect_1024_byte_buffer_truncates_datagrams_60000_bytes_come_back_whole() {
    let server = ServerProcess::start(&["--quiet"]);
    let socket = client_socket();
    let payload: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    let (reply, from) = round_trip(&socket, server.addr, &payload);
    assert_eq!(from, server.addr);
    assert_eq!(reply.len(), 60_000);
    assert!(reply == payload, "the 60 000-byte echo differs");
}

#[test]
fn zero_length_datagram_is_echoed() {
    let server = ServerProcess::start(&[]);
    let socket = client_socket();
    let (reply, from) = round_trip(&socket, server.addr, b"");
    assert!(reply.is_empty());
    assert_eq!(from, server.addr);
    assert_eq!(
        server.next_line(),
        format!("data: addr:{} count:0", socket.local_addr().unwrap())
    );
}

#[test]
fn control_bytes_and_invalid_utf8_are_escaped_in_the_per_datagram_line() {
    let server = ServerProcess::start(&[]);
    let socket = client_socket();
    let payload = b"hi\ndata:forged\x1b[2J\xff";
    let (reply, _) = round_trip(&socket, server.addr, payload);
    assert_eq!(reply, payload, "the echo itself is the raw bytes");
    assert_eq!(
        server.next_line(),
        format!(
            r"data:hi\ndata:forged\u{{1b}}[2J\xff addr:{} count:{}",
            socket.local_addr().unwrap(),
            payload.len()
        )
    );
}

#[test]
fn ten_sockets_in_parallel_each_get_their_own_payloads_back() {
    let server = ServerProcess::start(&["--quiet"]);
    let addr = server.addr;
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

#[test]
fn a_peer_that_vanished_before_its_echo_does_not_stop_the_server() {
    let server = ServerProcess::start(&["--quiet"]);
    // Each echo goes to a closed port: the kernel answers it with ICMP
    // "port unreachable", which some systems turn into an error on the
    // server's socket.
    for _ in 0..20 {
        let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
        gone.send_to(b"nobody will read this echo", server.addr)
            .unwrap();
    }
    let socket = client_socket();
    let (reply, from) = round_trip(&socket, server.addr, b"still there?");
    assert_eq!(
        (reply.as_slice(), from),
        (&b"still there?"[..], server.addr)
    );
}

#[test]
fn sigterm_and_sigint_print_the_summary_and_exit_zero() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut server = ServerProcess::start(&["--quiet"]);
        let socket = client_socket();
        round_trip(&socket, server.addr, b"one");
        round_trip(&socket, server.addr, b"");
        round_trip(&socket, server.addr, b"three");
        server.signal(signal);
        let status = server.wait();
        assert!(status.success(), "signal {signal}: {status}");
        // --quiet: the summary is the only line after `listening on`.
        assert_eq!(
            server.remaining_lines(),
            ["summary: datagrams=3 bytes=8 dropped=0"],
            "signal {signal}"
        );
    }
}

#[test]
fn an_address_in_use_is_a_clear_error_and_a_failure_status() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_udp-server"))
        .args(["--addr", &addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait_timeout(DEADLINE).unwrap();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(!status.expect("exited").success());
    let stderr = String::from_utf8_lossy(&output.stderr);
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
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_udp-server"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_explains_the_loopback_default_and_how_to_bind_all_interfaces() {
    let output = Command::new(env!("CARGO_BIN_EXE_udp-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("[default: 127.0.0.1:30000]"), "{help}");
    assert!(help.contains("reflector"), "{help}");
    assert!(help.contains("--addr 0.0.0.0:30000"), "{help}");
}
