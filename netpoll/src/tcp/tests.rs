//! The loop's behaviour, proved in-process with handlers made for each test:
//! counters, backpressure, turns, splice, a handler's close, read sizes.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use super::*;
use std::net::{Shutdown, TcpStream as StdStream};
use std::sync::Mutex;
use std::sync::mpsc;

const TEST_TIMEOUT: Duration = Duration::from_secs(20);

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn connect(server: &ServerHandle) -> StdStream {
    let stream = StdStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TEST_TIMEOUT)).unwrap();
    stream
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

struct PlainEcho;
impl Handler for PlainEcho {
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        conn.send(data);
    }
}

#[test]
fn echoes_and_counts_bytes_then_stops_on_request() {
    let server = Server::new(|_| PlainEcho).start(localhost()).unwrap();
    let mut client = connect(&server);
    client.write_all(b"hello").unwrap();
    let mut reply = [0; 5];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"hello");
    client.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let stats = stop_within_deadline(server);
    assert_eq!(
        stats,
        Stats {
            connections: 1,
            refused: 0,
            bytes_read: 5,
            bytes_written: 5,
            bytes_unacknowledged: 0,
            undelivered: 0,
        }
    );
}

/// Echoes, and records the largest pending output it ever saw; tells
/// the test once pending output passed the high-water mark.
struct RecordingEcho {
    peak: Arc<AtomicUsize>,
    over_mark: Mutex<Option<mpsc::Sender<()>>>,
    mark: usize,
}
impl Handler for Arc<RecordingEcho> {
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        conn.send(data);
        let pending = conn.pending_len();
        self.peak.fetch_max(pending, Ordering::SeqCst);
        if pending > self.mark {
            if let Some(tx) = self.over_mark.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
    }
}

#[test]
fn pending_output_never_exceeds_high_water_mark_plus_one_read() {
    let default_spin = Duration::from_micros(crate::spin::DEFAULT_SPIN_US);
    let (peak, limit) = echo_through_backpressure(default_spin);
    assert!(
        peak <= limit,
        "pending output reached {peak} bytes, more than the mark + one read ({limit})"
    );
}

/// Echoes 8 MiB through a server whose pending output passes its
/// high-water mark because the client reads only once the server has
/// stopped reading; checks every byte. Output left pending waits for a
/// WRITABLE event: without it the echo never finishes. Returns the peak of
/// pending output and the most it may be (the mark plus one read).
fn echo_through_backpressure(spin: Duration) -> (usize, usize) {
    const MARK: usize = 64 * 1024;
    const READ: usize = 16 * 1024;
    const TOTAL: usize = 8 * 1024 * 1024;
    let (tx, over_mark) = mpsc::channel();
    let recorder = Arc::new(RecordingEcho {
        peak: Arc::new(AtomicUsize::new(0)),
        over_mark: Mutex::new(Some(tx)),
        mark: MARK,
    });
    let factory_recorder = Arc::clone(&recorder);
    let server = Server::new(move |_| Arc::clone(&factory_recorder))
        .spin(spin)
        .max_pending(MARK)
        .read_buffer_size(READ)
        .start(localhost())
        .unwrap();

    // A client that writes 8 MiB and does not read (yet).
    let client = connect(&server);
    let mut writer = client.try_clone().unwrap();
    let sent = pattern(TOTAL, 7);
    let to_send = sent.clone();
    let writer = thread::spawn(move || writer.write_all(&to_send));

    // The kernel buffers fill up, the server's pending output passes the
    // mark, and the server stops reading: the mark is reached...
    over_mark
        .recv_timeout(TEST_TIMEOUT)
        .expect("pending output never passed the high-water mark");

    // ...and once the client reads, every byte still comes back in order.
    let mut echoed = vec![0; TOTAL];
    (&client).read_exact(&mut echoed).unwrap();
    writer.join().unwrap().unwrap();
    assert!(echoed == sent, "echo differs from what was sent");
    drop(client);
    stop_within_deadline(server);
    (recorder.peak.load(Ordering::SeqCst), MARK + READ)
}

#[test]
fn connection_that_used_up_its_turn_is_resumed_without_a_new_edge() {
    // One byte per read: 1000 bytes sent at once need 1000 reads, far
    // more than one turn. Nothing more is sent, so no new readiness
    // edge comes: only the loop's own resume list can finish the echo.
    let server = Server::new(|_| PlainEcho)
        .read_buffer_size(1)
        .start(localhost())
        .unwrap();
    let mut client = connect(&server);
    let sent = pattern(1000, 1);
    client.write_all(&sent).unwrap();
    let mut echoed = vec![0; sent.len()];
    client.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, sent);
    drop(client);
    stop_within_deadline(server);
}

#[test]
fn echo_in_kernel_streams_past_on_data_and_loses_nothing() {
    // Counts the bytes that went through user space.
    struct KernelEcho(Arc<AtomicUsize>);
    impl Handler for KernelEcho {
        fn echo_in_kernel(&self) -> bool {
            true
        }
        fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
            self.0.fetch_add(data.len(), Ordering::SeqCst);
            conn.send(data);
        }
    }
    const TOTAL: usize = 16 * 1024 * 1024;
    let seen = Arc::new(AtomicUsize::new(0));
    let factory_seen = Arc::clone(&seen);
    // A small mark, so the splice path also meets full send buffers,
    // leftovers in pending output and paused reads.
    let server = Server::new(move |_| KernelEcho(Arc::clone(&factory_seen)))
        .max_pending(64 * 1024)
        .start(localhost())
        .unwrap();
    let client = connect(&server);
    let sent = pattern(TOTAL, 3);
    let mut writer = client.try_clone().unwrap();
    let to_send = sent.clone();
    let writer = thread::spawn(move || {
        writer.write_all(&to_send)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut echoed = Vec::new();
    (&client).read_to_end(&mut echoed).unwrap();
    writer.join().unwrap().unwrap();
    assert!(echoed == sent, "echo differs from what was sent");
    let seen = seen.load(Ordering::SeqCst);
    // Only Linux has splice(2); elsewhere every byte takes the user-space
    // path (see splice.rs), and must arrive all the same.
    if cfg!(target_os = "linux") {
        assert!(
            seen < TOTAL,
            "all {TOTAL} bytes went through on_data: no splice"
        );
    } else {
        assert_eq!(seen, TOTAL, "bytes echoed without on_data off Linux");
    }
    let stats = stop_within_deadline(server);
    assert_eq!(
        (stats.bytes_read, stats.bytes_written),
        (TOTAL as u64, TOTAL as u64)
    );
}

#[test]
fn handler_close_drops_only_that_connection() {
    struct CloseOnX;
    impl Handler for CloseOnX {
        fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
            if data.contains(&b'x') {
                conn.close();
            } else {
                conn.send(data);
            }
        }
    }
    let server = Server::new(|_| CloseOnX).start(localhost()).unwrap();
    let mut bad = connect(&server);
    let mut good = connect(&server);
    bad.write_all(b"x").unwrap();
    let mut buf = [0; 2];
    assert!(matches!(bad.read(&mut buf), Ok(0) | Err(_)));
    good.write_all(b"ok").unwrap();
    good.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
    drop(good);
    stop_within_deadline(server);
}

#[test]
fn read_buffer_size_bounds_what_the_handler_sees_at_once() {
    struct Sizes(Arc<Mutex<Vec<usize>>>);
    impl Handler for Sizes {
        fn on_data(&mut self, _conn: &mut Conn<'_>, data: &[u8]) {
            self.0.lock().unwrap().push(data.len());
        }
    }
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let factory_sizes = Arc::clone(&sizes);
    let server = Server::new(move |_| Sizes(Arc::clone(&factory_sizes)))
        .read_buffer_size(4)
        .start(localhost())
        .unwrap();
    let mut client = connect(&server);
    client.write_all(b"0123456789").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    let stats = stop_within_deadline(server);
    assert_eq!(stats.bytes_read, 10);
    let sizes = sizes.lock().unwrap();
    assert_eq!(sizes.iter().sum::<usize>(), 10);
    assert!(
        sizes.iter().all(|&n| n <= 4),
        "reads larger than the read buffer: {sizes:?}"
    );
}

/// Longer than any test: once it has handled traffic, a server with this
/// spin never sleeps in `poll` again (each request restarts the window), so
/// whatever it does next it does while spinning.
const AN_HOUR: Duration = Duration::from_secs(3600);

/// Stops `server`, failing the test if that has not finished by the
/// deadline: a loop that ignored the stop (a spin that never looks at the
/// waker, say) fails it instead of hanging it.
fn stop_within_deadline(server: ServerHandle) -> Stats {
    server
        .stop_within(TEST_TIMEOUT)
        .expect("the server stops, spinning or not")
}

/// `rounds` requests, each sent once the previous echo is in; returns the
/// bytes sent.
fn ping_pong(client: &mut StdStream, rounds: usize) -> u64 {
    let mut bytes = 0;
    for round in 0..rounds {
        let request = format!("round {round}");
        client.write_all(request.as_bytes()).unwrap();
        let mut echoed = vec![0; request.len()];
        client.read_exact(&mut echoed).unwrap();
        assert_eq!(echoed, request.as_bytes());
        bytes += request.len() as u64;
    }
    bytes
}

#[test]
fn requests_sent_back_to_back_while_the_loop_spins_are_all_echoed() {
    let server = Server::new(|_| PlainEcho)
        .spin(AN_HOUR)
        .start(localhost())
        .unwrap();
    let mut client = connect(&server);
    // After the accept, every request arrives while the server spins.
    let bytes = ping_pong(&mut client, 2000);
    drop(client);
    let stats = stop_within_deadline(server);
    assert_eq!((stats.connections, stats.bytes_read), (1, bytes));
    assert_eq!(stats.bytes_written, bytes);
}

/// The stop is the handle's waker: seen by a spinning loop on its next
/// try, with a client still connected and idle.
#[test]
fn a_stop_ends_a_server_in_the_middle_of_its_spin() {
    let server = Server::new(|_| PlainEcho)
        .spin(AN_HOUR)
        .start(localhost())
        .unwrap();
    let mut client = connect(&server);
    let bytes = ping_pong(&mut client, 1);
    let stats = stop_within_deadline(server);
    assert_eq!(stats.bytes_written, bytes);
    // The server closed the connection as it stopped.
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

/// Pending output is flushed on WRITABLE: a spinning loop must see that
/// event on a try, as a sleeping one would on waking.
#[test]
fn pending_output_is_flushed_by_writable_events_seen_while_spinning() {
    let (peak, limit) = echo_through_backpressure(AN_HOUR);
    assert!(peak <= limit, "pending output reached {peak} bytes");
}

#[test]
fn spin_zero_is_the_plain_readiness_loop_and_still_echoes() {
    let server = Server::new(|_| PlainEcho)
        .spin(Duration::ZERO)
        .start(localhost())
        .unwrap();
    let mut client = connect(&server);
    let bytes = ping_pong(&mut client, 3);
    drop(client);
    assert_eq!(stop_within_deadline(server).bytes_read, bytes);
}

/// Echoes, and tells the test which thread runs the loop (a handler runs
/// on it), so the test can watch that thread's scheduler state.
#[cfg(target_os = "linux")]
struct EchoOnLoopThread(mpsc::Sender<libc::pid_t>);

#[cfg(target_os = "linux")]
impl Handler for EchoOnLoopThread {
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        // SAFETY: gettid(2) has no preconditions.
        let _ = self.0.send(unsafe { libc::gettid() });
        conn.send(data);
    }
}

/// With more connections than it spins for, the loop sleeps as soon as it
/// has nothing to do, even with an hour-long window: a loop still spinning
/// is never in state `S`, so reaching it proves the spin was cut short.
#[cfg(target_os = "linux")]
#[test]
fn with_more_connections_than_it_spins_for_the_loop_sleeps_at_once() {
    let (tids, loop_thread) = mpsc::channel();
    let tids = Mutex::new(tids);
    let server = Server::new(move |_| EchoOnLoopThread(tids.lock().unwrap().clone()))
        .spin(AN_HOUR)
        .start(localhost())
        .unwrap();
    let mut clients: Vec<StdStream> = (0..=crate::spin::SPIN_AT_MOST_CONNECTIONS)
        .map(|_| connect(&server))
        .collect();
    for client in &mut clients {
        ping_pong(client, 1);
    }
    let tid = loop_thread.recv_timeout(TEST_TIMEOUT).unwrap();
    let deadline = std::time::Instant::now() + TEST_TIMEOUT;
    while crate::os::thread_state(tid) != 'S' {
        assert!(
            std::time::Instant::now() < deadline,
            "the loop kept spinning with {} connections",
            clients.len()
        );
        // Retry pacing, not synchronisation: the state is re-read.
        thread::sleep(Duration::from_millis(1));
    }
    drop(clients);
    stop_within_deadline(server);
}
