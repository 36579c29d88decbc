//! The load generators against real servers in this process: the tokio
//! baselines (which must pass every check), and deliberately wrong echo servers
//! (which must be caught). Each run lasts a fraction of a second; nothing here
//! asserts a speed, only correctness and that work was done.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    thread,
    time::Duration,
};

use super::{baseline::InProcess, bulk, exchange, idle, pingpong, udp};

/// The "server" is this process: its CPU and RSS are what the scenarios read.
fn me() -> u32 {
    std::process::id()
}

/// A deliberately wrong echo server on a thread: accepts one connection and
/// hands it to `serve`, with a read timeout so that a test that goes wrong
/// ends instead of hanging. Join the handle to see the peer's own panics.
fn one_tcp_peer(
    serve: impl FnOnce(TcpStream) + Send + 'static,
) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        serve(stream);
    });
    (addr, server)
}

fn short_pingpong(conns: usize, len: usize) -> pingpong::Config {
    pingpong::Config {
        conns,
        len,
        warmup: Duration::from_millis(50),
        measure: Duration::from_millis(300),
    }
}

#[test]
fn tcp_pingpong_against_tokio_baseline_verifies_every_echo() {
    let server = InProcess::tcp();
    let outcome = pingpong::run(server.addr, me(), &short_pingpong(8, 64)).unwrap();
    assert!(outcome.completed > 0, "no request completed");
    // Every completed request was verified and timed exactly once.
    assert_eq!(outcome.latency.len(), outcome.completed);
}

#[test]
fn rounds_merge_into_one_outcome() {
    let server = InProcess::tcp();
    let config = short_pingpong(2, 8);
    let rounds = [
        pingpong::run(server.addr, me(), &config).unwrap(),
        pingpong::run(server.addr, me(), &config).unwrap(),
    ];
    let merged = exchange::Outcome::merge(&rounds).unwrap();
    assert_eq!(merged.completed, rounds[0].completed + rounds[1].completed);
    assert_eq!(merged.latency.len(), merged.completed);
    assert_eq!(merged.elapsed, rounds[0].elapsed + rounds[1].elapsed);
}

#[test]
fn tcp_pingpong_with_requests_larger_than_one_read() {
    // 100 000 bytes do not fit one 64 KiB read: the echo is checked across reads.
    let server = InProcess::tcp();
    let outcome = pingpong::run(server.addr, me(), &short_pingpong(2, 100_000)).unwrap();
    assert!(outcome.completed > 0);
}

#[test]
fn tcp_pingpong_catches_a_corrupted_echo() {
    // Echoes everything but flips one bit of the 10th request's 3rd byte.
    let (addr, server) = one_tcp_peer(|mut stream| {
        let mut buf = [0; 16];
        for request in 1..=10 {
            if stream.read_exact(&mut buf).is_err() {
                return;
            }
            if request == 10 {
                buf[2] ^= 1;
            }
            if stream.write_all(&buf).is_err() {
                return;
            }
        }
    });
    let err = pingpong::run(addr, me(), &short_pingpong(1, 16))
        .err()
        .expect("must fail");
    assert!(
        format!("{err:#}").contains("request 10 differs at byte 2"),
        "{err:#}"
    );
    server.join().unwrap();
}

#[test]
fn bulk_against_tokio_baseline_checks_every_byte() {
    let server = InProcess::tcp();
    let bytes = 8 * 1024 * 1024 + 3;
    let outcome = bulk::run(server.addr, me(), bytes).unwrap();
    assert_eq!(outcome.bytes, bytes);
}

#[test]
fn bulk_catches_an_echo_that_drops_bytes() {
    // Echoes everything except byte 1000 of the stream, then closes.
    let (addr, server) = one_tcp_peer(|mut stream| {
        let mut buf = vec![0; 64 * 1024];
        let mut seen = 0usize;
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let mut out = buf[..n].to_vec();
            if (seen..seen + n).contains(&1000) {
                out.remove(1000 - seen);
            }
            seen += n;
            if stream.write_all(&out).is_err() {
                return;
            }
        }
    });
    let err = bulk::run(addr, me(), 100_000).err().expect("must fail");
    assert!(
        format!("{err:#}").contains("differs from what was sent at byte 1000"),
        "{err:#}"
    );
    server.join().unwrap();
}

#[test]
fn idle_connections_to_tokio_baseline_still_echo() {
    let server = InProcess::tcp();
    let outcome = idle::run(server.addr, me(), 200).unwrap();
    assert_eq!(outcome.count, 200);
    // Every 2nd of 200 (100) plus the last one.
    assert_eq!(outcome.sampled, 101);
    assert!(outcome.rss_before > 0 && outcome.rss_after > 0);
}

#[test]
fn udp_pingpong_against_tokio_baseline_verifies_every_reply() {
    let server = InProcess::udp();
    let config = udp::Config {
        len: 64,
        warmup: Duration::from_millis(50),
        measure: Duration::from_millis(300),
    };
    let outcome = udp::run(server.addr, me(), &config).unwrap();
    assert!(outcome.completed > 0, "no reply arrived");
    assert_eq!(outcome.latency.len(), outcome.completed);
}

#[test]
fn udp_pingpong_catches_a_wrong_reply() {
    // Answers the first datagram correctly, then with a truncated copy.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = socket.local_addr().unwrap();
    let server = thread::spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0; 2048];
        for datagram in 1..=2 {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                return;
            };
            let len = if datagram == 2 { n - 1 } else { n };
            let _ = socket.send_to(&buf[..len], peer);
        }
    });
    let config = udp::Config {
        len: 32,
        warmup: Duration::ZERO,
        measure: Duration::from_secs(5),
    };
    let err = udp::run(addr, me(), &config).err().expect("must fail");
    assert!(
        format!("{err:#}").contains("reply to datagram 2 is wrong: 31 bytes"),
        "{err:#}"
    );
    server.join().unwrap();
}
