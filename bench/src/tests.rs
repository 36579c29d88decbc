//! The load generators against real servers in this process: the tokio
//! baselines (which must pass every check), and deliberately wrong echo
//! servers (which must be caught). Each run lasts a fraction of a second;
//! nothing here asserts a speed, only correctness and that work was done.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream, UdpSocket},
    thread,
    time::Duration,
};

use super::{
    baseline::{Baseline, on_a_thread},
    bulk, chat, exchange, idle, pingpong, pool, udp,
};

/// The "server" is this process: its CPU and RSS are what the scenarios read.
fn me() -> u32 {
    std::process::id()
}

fn short(conns: usize, len: usize) -> pingpong::Config {
    let (warmup, measure) = (Duration::from_millis(50), Duration::from_millis(300));
    pingpong::Config {
        conns,
        len,
        warmup,
        measure,
    }
}

/// A deliberately wrong echo server on a thread: one connection, each read
/// answered with what `wrong` makes of it (the bytes so far, the read).
fn wrong_tcp_server(wrong: fn(usize, &[u8]) -> Vec<u8>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut stream, _): (TcpStream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (mut buf, mut seen) = (vec![0; 64 * 1024], 0);
        while let Ok(n @ 1..) = stream.read(&mut buf) {
            if stream.write_all(&wrong(seen, &buf[..n])).is_err() {
                return;
            }
            seen += n;
        }
    });
    addr
}

#[test]
fn tcp_pingpong_against_tokio_verifies_every_echo_and_rounds_merge() {
    let addr = on_a_thread(Baseline::Tcp);
    // 100 000 bytes do not fit one 64 KiB read: checked across reads.
    for config in [short(8, 64), short(2, 100_000)] {
        let rounds = [
            pingpong::run(addr, me(), &config).unwrap(),
            pingpong::run(addr, me(), &config).unwrap(),
        ];
        let merged = exchange::Outcome::merge(&rounds).unwrap();
        assert!(rounds[0].completed > 0, "no request completed");
        assert_eq!(merged.completed, rounds[0].completed + rounds[1].completed);
        // Every completed request was verified and timed exactly once.
        assert_eq!(merged.latency.len(), merged.completed);
        assert_eq!(merged.elapsed, rounds[0].elapsed + rounds[1].elapsed);
    }
}

#[test]
fn tcp_pingpong_catches_a_corrupted_echo() {
    // Flips a bit of the 3rd byte of the 10th 16-byte request.
    let addr = wrong_tcp_server(|seen, read| {
        let mut echo = read.to_vec();
        if (seen..seen + read.len()).contains(&(9 * 16 + 2)) {
            echo[9 * 16 + 2 - seen] ^= 1;
        }
        echo
    });
    let err = pingpong::run(addr, me(), &short(1, 16))
        .err()
        .expect("must fail");
    assert!(
        format!("{err:#}").contains("request 10 differs at byte 2"),
        "{err:#}"
    );
}

#[test]
fn bulk_checks_every_byte_and_catches_one_dropped() {
    let bytes = 8 * 1024 * 1024 + 3;
    assert_eq!(
        bulk::run(on_a_thread(Baseline::Tcp), me(), bytes)
            .unwrap()
            .bytes,
        bytes
    );
    // Echoes everything except byte 1000 of the stream.
    let addr = wrong_tcp_server(|seen, read| {
        let mut echo = read.to_vec();
        if (seen..seen + read.len()).contains(&1000) {
            echo.remove(1000 - seen);
        }
        echo
    });
    let err = bulk::run(addr, me(), 100_000).err().expect("must fail");
    assert!(
        format!("{err:#}").contains("differs from what was sent at byte 1000"),
        "{err:#}"
    );
}

#[test]
fn idle_connections_to_tokio_still_echo() {
    let outcome = idle::run(on_a_thread(Baseline::Tcp), me(), 200).unwrap();
    // Every 2nd of 200 (100) plus the last one.
    assert_eq!((outcome.count, outcome.sampled), (200, 101));
    assert!(outcome.rss_before > 0 && outcome.rss_after > 0);
}

#[test]
fn udp_pingpong_verifies_every_reply_and_catches_a_wrong_one() {
    let config = |measure| udp::Config {
        len: 32,
        warmup: Duration::ZERO,
        measure,
    };
    let outcome = udp::run(
        on_a_thread(Baseline::Udp),
        me(),
        &config(Duration::from_millis(300)),
    )
    .unwrap();
    assert!(outcome.completed > 0, "no reply arrived");
    assert_eq!(outcome.latency.len(), outcome.completed);
    // Answers the first datagram correctly, then with a truncated copy.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    thread::spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0; 2048];
        for datagram in 1..=2 {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                return;
            };
            let _ = socket.send_to(&buf[..n - (datagram - 1)], peer);
        }
    });
    let err = udp::run(addr, me(), &config(Duration::from_secs(5)))
        .err()
        .expect("must fail");
    assert!(
        format!("{err:#}").contains("reply to datagram 2 is wrong: 31 bytes"),
        "{err:#}"
    );
}

#[test]
fn pool_counts_the_jobs_and_times_the_echoes_of_tokios_pool() {
    let (warmup, measure) = (Duration::from_millis(50), Duration::from_millis(300));
    let addr = on_a_thread(Baseline::Pool);
    let outcome = pool::run(addr, me(), 4, warmup, measure).unwrap();
    // 4 workers, 2 ms jobs: at most 600 in 300 ms; each echo checked.
    assert!((1..=600).contains(&outcome.jobs), "{} jobs", outcome.jobs);
    assert_eq!(outcome.busy, 0, "50 clients fit 4 workers and 64 waiting");
    assert!(outcome.echoes.completed > 0);
    assert_eq!(outcome.echoes.latency.len(), outcome.echoes.completed);
    assert_eq!(outcome.ideal_per_second(), 2000.0);
    // An echo server answers `sleep 2` with itself: caught, not counted.
    let err = pool::run(on_a_thread(Baseline::Tcp), me(), 4, warmup, measure).err();
    let err = format!("{:#}", err.expect("must fail"));
    assert!(
        err.contains(r#"answered "sleep 2\n" with "sleep 2""#),
        "{err}"
    );
}

#[test]
fn chat_checks_every_delivery_of_tokios_chat() {
    let config = chat::Config {
        rate: 20.0,
        warmup: Duration::from_millis(50),
        measure: Duration::from_millis(300),
    };
    let outcome = chat::run(on_a_thread(Baseline::Chat), me(), &config).unwrap();
    // About 100 × 20 × 0.3 lines, each delivered to 99 clients.
    assert!(
        outcome.completed > 99 * 100,
        "{} deliveries",
        outcome.completed
    );
    assert_eq!(outcome.latency.len(), outcome.completed);
    // An echo server sends each line back to its sender: no joins, ever.
    let err = chat::run(on_a_thread(Baseline::Tcp), me(), &config).err();
    let err = format!("{:#}", err.expect("must fail"));
    assert!(err.contains("0 of 4950 joins seen"), "{err}");
}
