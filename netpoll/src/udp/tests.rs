//! The UDP loop's behaviour, seen from a client socket on loopback: what is
//! counted, how the send queue drains and drops, that stopping works while
//! the loop spins, and that an idle loop sleeps again.
//!
//! On loopback a UDP send never reports `WouldBlock`: the kernel hands the
//! datagram straight to the receiver, and the send buffer is free again
//! before `send_to` returns, however small it is. So most queue tests fill
//! the queue before the loop runs, as `Socket::send_to` does when a send
//! would block; and one (Linux, as root) slows loopback down in a network
//! namespace of its own until sends really do block.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::thread;
use std::time::Duration;

use super::event_loop::EventLoop;
use super::{Handler, Server, ServerHandle, Socket, Stats};

/// Sends every datagram back to where it came from.
struct Echo;

impl Handler for Echo {
    fn on_datagram(&mut self, socket: &mut Socket<'_>, payload: &[u8], peer: SocketAddr) {
        socket.send_to(payload, peer);
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A client socket on loopback whose reads give up after a bound.
fn client() -> StdUdpSocket {
    let socket = StdUdpSocket::bind(loopback()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
}

/// Sends `payload` and checks that it comes back whole, from `server`.
fn assert_echoed(socket: &StdUdpSocket, server: SocketAddr, payload: &[u8]) {
    socket.send_to(payload, server).unwrap();
    let mut buf = [0; 64];
    let (n, from) = socket.recv_from(&mut buf).expect("an echo");
    assert_eq!((&buf[..n], from), (payload, server));
}

fn start() -> ServerHandle {
    Server::new(Echo).start(loopback()).unwrap()
}

/// Starts `server` as [`Server::start`] does, after `prepare` has done to
/// the loop what a handler's sends would have done during earlier turns.
fn start_prepared(
    server: Server<Echo>,
    prepare: impl FnOnce(&mut EventLoop<Echo>),
) -> ServerHandle {
    let (mut event_loop, waker, mut handle) = server.bind(loopback()).unwrap();
    prepare(&mut event_loop);
    handle.add_loop(waker, thread::spawn(move || event_loop.run()));
    handle
}

/// What [`Socket::send_to`] does when a handler calls it.
fn send_as_handler(event_loop: &mut EventLoop<Echo>, payload: &[u8], peer: SocketAddr) {
    event_loop.handler_and_socket().1.send_to(payload, peer);
}

#[test]
fn stop_ends_an_idle_server_with_empty_stats() {
    let server = start();
    assert_ne!(server.local_addr().port(), 0);
    assert_eq!(stop_within_deadline(server), Stats::default());
}

#[test]
fn stats_count_datagrams_and_bytes_including_empty_ones() {
    let server = start();
    let socket = client();
    for payload in [&b"abc"[..], b"", b"defgh"] {
        assert_echoed(&socket, server.local_addr(), payload);
    }
    assert_eq!(
        stop_within_deadline(server),
        Stats {
            datagrams: 3,
            bytes_read: 8,
            bytes_written: 8,
            dropped: 0,
            queued: 0,
        }
    );
}

/// Answers a datagram twice when it says so, and never when it is empty.
struct Answers;

impl Handler for Answers {
    fn on_datagram(&mut self, socket: &mut Socket<'_>, payload: &[u8], peer: SocketAddr) {
        match payload {
            b"" => {}
            b"twice" => {
                socket.send_to(b"one", peer);
                socket.send_to(b"two", peer);
            }
            other => socket.send_to(&other.to_ascii_uppercase(), peer),
        }
    }
}

#[test]
fn a_handler_may_answer_otherwise_twice_or_not_at_all_and_bytes_written_counts_what_left() {
    let server = Server::new(Answers).start(loopback()).unwrap();
    let addr = server.local_addr();
    let socket = client();
    let mut buf = [0; 64];
    for (sent, replies) in [
        (&b"hi"[..], &[&b"HI"[..]][..]),
        (b"", &[]),
        (b"twice", &[b"one", b"two"]),
    ] {
        socket.send_to(sent, addr).unwrap();
        for reply in replies {
            let (n, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (*reply, addr));
        }
    }
    // The empty datagram got no answer: the next datagram's is the next one in.
    socket.send_to(b"x", addr).unwrap();
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"X");
    let stats = stop_within_deadline(server);
    assert_eq!(
        (stats.datagrams, stats.bytes_read, stats.bytes_written),
        (4, 8, 9)
    );
}

#[test]
fn queued_datagrams_are_sent_in_order_when_the_socket_reports_writable_and_reading_goes_on() {
    let socket = client();
    let peer = socket.local_addr().unwrap();
    let server = start_prepared(Server::new(Echo), |event_loop| {
        // As if the kernel had refused the first send…
        assert!(event_loop.queue.push(peer, b"queued one"));
        // …so that the next one goes behind it instead of overtaking it.
        send_as_handler(event_loop, b"", peer);
        event_loop.want_writable(true).unwrap();
    });

    let mut buf = [0; 64];
    for expected in [&b"queued one"[..], b""] {
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (expected, server.local_addr()));
    }
    // With the queue drained the socket is back on READABLE only, and
    // still echoing.
    assert_echoed(&socket, server.local_addr(), b"after");
    let stats = stop_within_deadline(server);
    assert_eq!((stats.bytes_written, stats.dropped), (15, 0));
}

#[test]
fn a_datagram_refused_by_a_full_queue_is_counted_as_dropped() {
    let socket = client();
    let peer = socket.local_addr().unwrap();
    let server = start_prepared(Server::new(Echo).queue_datagrams(1), |event_loop| {
        assert!(event_loop.queue.push(peer, b"kept"));
        send_as_handler(event_loop, b"refused", peer);
        event_loop.want_writable(true).unwrap();
    });

    let mut buf = [0; 64];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"kept");
    // The loop is still serving after the drop.
    assert_echoed(&socket, server.local_addr(), b"next");
    assert_eq!(stop_within_deadline(server).dropped, 1);
}

/// A send the kernel rejects for one peer (here an IPv6 destination on an
/// IPv4 socket, the in-process stand-in for e.g. ECONNREFUSED from an ICMP
/// error) is logged and counted, and the next peer is served.
#[test]
fn a_failed_send_to_one_peer_is_counted_and_the_server_keeps_serving() {
    let unreachable: SocketAddr = "[::1]:9".parse().unwrap();
    let server = start_prepared(Server::new(Echo), |event_loop| {
        // Directly, as a handler sends…
        send_as_handler(event_loop, b"lost", unreachable);
        // …and from the queue, as `on_writable` sends a delayed one.
        assert!(event_loop.queue.push(unreachable, b"lost too"));
        event_loop.want_writable(true).unwrap();
    });

    assert_echoed(&client(), server.local_addr(), b"served");
    assert_eq!(stop_within_deadline(server).dropped, 2);
}

#[test]
fn dropping_the_handle_stops_the_loop_and_frees_the_port() {
    let server = start();
    let addr = server.local_addr();
    drop(server);
    // The socket is closed once the thread has ended, so the port can be
    // bound again.
    StdUdpSocket::bind(addr).unwrap();
}

/// Longer than any test: once it has echoed a datagram, a server with this
/// spin never sleeps in `poll` again unless the spin is bounded by its
/// window, so whatever it does next it does while spinning.
const AN_HOUR: Duration = Duration::from_secs(3600);

fn start_spinning(spin: Duration) -> ServerHandle {
    Server::new(Echo).spin(spin).start(loopback()).unwrap()
}

/// Stops `server`, failing the test if that has not finished by the
/// deadline: a loop that ignored the stop (a spin that never looks at the
/// waker, say) fails it instead of hanging it.
fn stop_within_deadline(server: ServerHandle) -> Stats {
    server
        .stop_within(Duration::from_secs(30))
        .expect("the server stops, spinning or not")
}

#[test]
fn datagrams_sent_back_to_back_during_the_spin_window_are_all_echoed() {
    let server = start_spinning(AN_HOUR);
    let socket = client();
    let mut bytes = 0;
    // Each datagram goes out as soon as the previous echo is in: after the
    // first, every one arrives while the server spins.
    for round in 0..2000 {
        let payload = format!("round {round}");
        bytes += payload.len() as u64;
        assert_echoed(&socket, server.local_addr(), payload.as_bytes());
    }
    assert_eq!(
        stop_within_deadline(server),
        Stats {
            datagrams: 2000,
            bytes_read: bytes,
            bytes_written: bytes,
            dropped: 0,
            queued: 0,
        }
    );
}

#[test]
fn stop_ends_a_server_in_the_middle_of_its_spin() {
    let server = start_spinning(AN_HOUR);
    assert_echoed(&client(), server.local_addr(), b"start spinning");
    assert_eq!(stop_within_deadline(server).datagrams, 1);
}

#[test]
fn spin_zero_is_the_plain_readiness_loop_and_still_echoes() {
    let server = start_spinning(Duration::ZERO);
    let socket = client();
    for payload in [&b"one"[..], b"", b"three"] {
        assert_echoed(&socket, server.local_addr(), payload);
    }
    assert_eq!(stop_within_deadline(server).datagrams, 3);
}

/// A spinning thread is never in `S`: reaching it proves the loop left the
/// spin and went back to sleeping in `poll`.
#[cfg(target_os = "linux")]
#[test]
fn the_server_sleeps_again_once_a_spin_window_passes_without_datagrams() {
    let server = Server::new(Echo).spin(Duration::from_millis(20));
    let (event_loop, waker, mut handle) = server.bind(loopback()).unwrap();
    // The loop runs on a thread of ours, so we know its id.
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let thread = thread::spawn(move || {
        // SAFETY: gettid(2) has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        event_loop.run()
    });
    handle.add_loop(waker, thread);
    let tid = tid_rx.recv_timeout(Duration::from_secs(30)).unwrap();

    let socket = client();
    for _ in 0..3 {
        assert_echoed(&socket, handle.local_addr(), b"traffic");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while crate::os::thread_state(tid) != 'S' {
            assert!(
                std::time::Instant::now() < deadline,
                "the server never slept again"
            );
            // Retry pacing, not synchronisation: the state is re-read.
            thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(stop_within_deadline(handle).datagrams, 3);
}

/// The real path: a send that would block, its datagram queued, and sent
/// when the socket reports writable. Loopback never blocks a UDP send (see
/// the module doc), so the test gives itself a loopback that does: in a
/// network namespace of its own thread, a token bucket (`tc qdisc … tbf`)
/// holds datagrams on their way out, charged to their sender's send
/// buffer, which for the server is the smallest the kernel allows. Needs
/// root and iproute2 (`ip`, `tc`); without them it says so and skips.
#[cfg(target_os = "linux")]
#[test]
fn a_send_that_would_block_is_queued_and_sent_when_the_socket_is_writable() {
    // Its own thread: the namespace changes only the thread that enters it.
    let outcome = thread::spawn(|| {
        if let Err(why) = slow_loopback_of_our_own() {
            eprintln!("skipped: cannot slow loopback down here ({why})");
            return None;
        }
        Some(flood_through_a_tiny_send_buffer())
    })
    .join()
    .expect("the flood thread");
    let Some((mut echoed, stats)) = outcome else {
        return;
    };
    // Every echo. (Not necessarily in order: leaving the token bucket, two
    // datagrams may be handed to loopback on different CPUs, and UDP does
    // not promise order. The queue keeps it: see
    // `queued_datagrams_are_sent_in_order_when_the_socket_reports_writable_and_reading_goes_on`.)
    echoed.sort_unstable();
    assert_eq!(echoed, (0..FLOOD).collect::<Vec<_>>(), "every echo");
    assert!(stats.queued > 0, "no send would block: {stats:?}");
    assert_eq!((stats.datagrams, stats.dropped), (FLOOD as u64, 0));
}

/// Datagrams the flood sends.
#[cfg(target_os = "linux")]
const FLOOD: u32 = 300;

/// Moves this thread into a new network namespace whose loopback is up and
/// sends at 10 Mbit/s, queueing up to 4 MB rather than dropping.
#[cfg(target_os = "linux")]
fn slow_loopback_of_our_own() -> Result<(), String> {
    // SAFETY: unshare only changes this thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!("unshare: {}", std::io::Error::last_os_error()));
    }
    for command in [
        &["ip", "link", "set", "lo", "up"][..],
        &[
            "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "10mbit", "burst", "10kb",
            "limit", "4mb",
        ],
    ] {
        let status = std::process::Command::new(command[0])
            .args(&command[1..])
            .status()
            .map_err(|e| format!("{}: {e}", command[0]))?;
        if !status.success() {
            return Err(format!("{} exited with {status}", command.join(" ")));
        }
    }
    Ok(())
}

/// Sends [`FLOOD`] numbered datagrams of 1000 bytes to an echo server whose
/// send buffer is tiny, reading the echoes meanwhile; returns the numbers
/// echoed, as they arrived, and the server's counters.
#[cfg(target_os = "linux")]
fn flood_through_a_tiny_send_buffer() -> (Vec<u32>, Stats) {
    let socket = client();
    let server = start_prepared(Server::new(Echo), |event_loop| {
        socket2::SockRef::from(&event_loop.socket)
            .set_send_buffer_size(1)
            .unwrap();
    });
    let addr = server.local_addr();
    let sender = socket.try_clone().unwrap();
    let sending = thread::spawn(move || {
        for n in 0..FLOOD {
            let mut datagram = vec![0; 1000];
            datagram[..4].copy_from_slice(&n.to_le_bytes());
            sender.send_to(&datagram, addr).unwrap();
        }
    });
    let mut echoed = Vec::new();
    let mut buf = [0; 2000];
    while echoed.len() < FLOOD as usize {
        let (len, _) = socket.recv_from(&mut buf).expect("an echo");
        assert_eq!(len, 1000);
        echoed.push(u32::from_le_bytes(buf[..4].try_into().unwrap()));
    }
    sending.join().unwrap();
    (echoed, stop_within_deadline(server))
}
