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

use clap::Parser as _;

use super::{
    Args,
    baseline::{Baseline, on_a_thread},
    bulk, chat, idle, pingpong, pool,
    table::Round,
    udp,
};

/// The "server" is this process: its CPU and RSS are what the scenarios read.
fn me() -> u32 {
    std::process::id()
}

/// Rounds of 0.3 s after a warm-up of 0.06 s, with `args` given.
fn short(args: &[&str]) -> Args {
    Args::parse_from([&["bench", "--secs", "1.2"], args].concat())
}

/// A round's total `name`, as a count.
fn total(round: &Round, name: &str) -> u64 {
    round.total(name) as u64
}

/// Every completed exchange was verified and timed exactly once.
fn timed_each(round: &Round) -> bool {
    round.latency.as_ref().map(|h| h.len()) == Some(total(round, "done"))
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
    for (conns, len) in [(8, 64), (2, 100_000)] {
        let args = Args { len, ..short(&[]) };
        let rounds = [
            pingpong::run(addr, me(), &args, conns).unwrap(),
            pingpong::run(addr, me(), &args, conns).unwrap(),
        ];
        let merged = Round::merge(&rounds).unwrap();
        assert!(total(&rounds[0], "done") > 0, "no request completed");
        let sum = |name| total(&rounds[0], name) + total(&rounds[1], name);
        assert_eq!(
            (total(&merged, "done"), total(&merged, "ns")),
            (sum("done"), sum("ns"))
        );
        assert!(timed_each(&merged) && total(&merged, "rounds") == 2);
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
    let err = pingpong::run(addr, me(), &short(&["--len", "16"]), 1).expect_err("must fail");
    assert!(
        format!("{err:#}").contains("request 10 differs at byte 2"),
        "{err:#}"
    );
}

#[test]
fn bulk_checks_every_byte_and_catches_one_dropped() {
    let bytes = 8 * 1024 * 1024 + 3;
    let round = bulk::run(on_a_thread(Baseline::Tcp), me(), bytes).unwrap();
    assert_eq!(total(&round, "bytes"), bytes);
    // Echoes everything except byte 1000 of the stream.
    let addr = wrong_tcp_server(|seen, read| {
        let mut echo = read.to_vec();
        if (seen..seen + read.len()).contains(&1000) {
            echo.remove(1000 - seen);
        }
        echo
    });
    let err = bulk::run(addr, me(), 100_000).expect_err("must fail");
    assert!(
        format!("{err:#}").contains("differs from what was sent at byte 1000"),
        "{err:#}"
    );
}

#[test]
fn idle_connections_to_tokio_still_echo() {
    let round = idle::run(on_a_thread(Baseline::Tcp), me(), 200).unwrap();
    // Every 2nd of 200 (100) plus the last one.
    assert_eq!(
        (total(&round, "conns"), total(&round, "sampled")),
        (200, 101)
    );
    assert!(total(&round, "rss before") > 0 && total(&round, "rss after") > 0);
}

#[test]
fn udp_pingpong_verifies_every_reply_and_catches_a_wrong_one() {
    let round = udp::run(on_a_thread(Baseline::Udp), me(), &short(&["--len", "32"])).unwrap();
    assert!(total(&round, "done") > 0, "no reply arrived");
    assert!(timed_each(&round));
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
    let err = udp::run(
        addr,
        me(),
        &Args {
            secs: 20.0,
            ..short(&["--len", "32"])
        },
    )
    .expect_err("must fail");
    assert!(
        format!("{err:#}").contains("reply to datagram 2 is wrong: 31 bytes"),
        "{err:#}"
    );
}

#[test]
fn pool_counts_the_jobs_and_times_the_echoes_of_tokios_pool() {
    let args = short(&["--workers", "4"]);
    let round = pool::run(on_a_thread(Baseline::Pool), me(), &args).unwrap();
    // 4 workers, 2 ms jobs: at most 600 in 300 ms, as `ideal jobs` says.
    let jobs = total(&round, "jobs");
    assert!((1..=600).contains(&jobs), "{jobs} jobs");
    let ideal = 4.0 * round.total("ns") / 2e6;
    assert!(
        (round.total("ideal jobs") - ideal).abs() < 1e-6,
        "{round:?}"
    );
    assert_eq!(
        total(&round, "busy"),
        0,
        "50 clients fit 4 workers and 64 waiting"
    );
    // Each echo checked and timed.
    assert!(total(&round, "done") > 0 && timed_each(&round));
    // An echo server answers `sleep 2` with itself: caught, not counted.
    let err = pool::run(on_a_thread(Baseline::Tcp), me(), &args).err();
    let err = format!("{:#}", err.expect("must fail"));
    assert!(
        err.contains(r#"answered "sleep 2\n" with "sleep 2""#),
        "{err}"
    );
}

#[test]
fn chat_checks_every_delivery_of_tokios_chat() {
    let args = short(&["--rate", "20"]);
    let round = chat::run(on_a_thread(Baseline::Chat), me(), &args).unwrap();
    // About 100 × 20 × 0.3 lines, each delivered to 99 clients.
    let deliveries = total(&round, "done");
    assert!(deliveries > 99 * 100, "{deliveries} deliveries");
    assert!(timed_each(&round));
    // An echo server sends each line back to its sender: no joins, ever.
    let err = chat::run(on_a_thread(Baseline::Tcp), me(), &args).err();
    let err = format!("{:#}", err.expect("must fail"));
    assert!(err.contains("0 of 4950 joins seen"), "{err}");
}
