//! What a handler reaches beyond its own connection, proved in-process:
//! `on_open`, ids that never reach a later connection, letters between
//! connections (across loops too) and from threads, replies owed, timers,
//! closing after a last reply, and the bound on what a peer that does not
//! read may cost. Every wait is for an event (a line, a close, a message
//! from a handler), each with a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream as StdStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::*;

const TEST_TIMEOUT: Duration = Duration::from_secs(20);

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A client that speaks in lines.
struct Client {
    reader: BufReader<StdStream>,
    writer: StdStream,
}

impl Client {
    fn connect(server: &ServerHandle) -> Client {
        let stream = StdStream::connect(server.local_addr()).unwrap();
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TEST_TIMEOUT)).unwrap();
        Client {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    /// The next line, without its newline; fails the test on a timeout.
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("a line in time");
        assert!(n > 0, "the server closed the connection instead of a line");
        line.trim_end_matches('\n').to_owned()
    }

    /// Reads until the server closes the connection: what came before.
    fn rest(&mut self) -> std::io::Result<String> {
        let mut rest = String::new();
        self.reader.read_to_string(&mut rest).map(|_| rest)
    }
}

/// What the test handlers tell the test: each connection's id and the
/// server's remote as it opens, and why each closed.
#[derive(Clone)]
struct Tell {
    opened: Sender<(ConnId, Remote)>,
    closed: Sender<(ConnId, String)>,
}

/// The test's ends of a [`Tell`].
struct Heard {
    opened: Receiver<(ConnId, Remote)>,
    closed: Receiver<(ConnId, String)>,
}

fn tell() -> (Arc<Mutex<Tell>>, Heard) {
    let (opened, opened_rx) = mpsc::channel();
    let (closed, closed_rx) = mpsc::channel();
    let heard = Heard {
        opened: opened_rx,
        closed: closed_rx,
    };
    (Arc::new(Mutex::new(Tell { opened, closed })), heard)
}

impl Heard {
    fn opened(&self) -> (ConnId, Remote) {
        self.opened
            .recv_timeout(TEST_TIMEOUT)
            .expect("a connection opened")
    }

    fn closed(&self) -> (ConnId, String) {
        self.closed
            .recv_timeout(TEST_TIMEOUT)
            .expect("a connection closed")
    }
}

/// Tells the test when it opens and closes; on each line: `to SERIAL
/// TEXT` sends TEXT to that connection, `close SERIAL` closes it, `reply`
/// hands a [`Reply`] to the test (through `replies`), anything else is
/// echoed. Ids are looked up by serial in `ids`, filled as connections open.
struct Switchboard {
    tell: Tell,
    ids: Arc<Mutex<Vec<ConnId>>>,
    id: Option<ConnId>,
    lines: FrameReader<proto::LineCodec>,
    replies: Option<Sender<Reply>>,
}

impl Switchboard {
    fn factory(
        tell: Arc<Mutex<Tell>>,
        replies: Option<Sender<Reply>>,
    ) -> impl Fn(SocketAddr) -> Switchboard + Send + Sync + 'static {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let replies = Mutex::new(replies);
        move |_| Switchboard {
            tell: tell.lock().unwrap().clone(),
            ids: Arc::clone(&ids),
            id: None,
            lines: FrameReader::new(proto::LineCodec::new()),
            replies: replies.lock().unwrap().clone(),
        }
    }

    fn find(&self, serial: &str) -> ConnId {
        let serial: u64 = serial.parse().unwrap();
        let ids = self.ids.lock().unwrap();
        *ids.iter().find(|id| id.serial == serial).unwrap()
    }

    fn on_line(&mut self, conn: &mut Conn<'_>, line: &str) {
        let words: Vec<&str> = line.splitn(3, ' ').collect();
        match words[..] {
            ["to", serial, text] => conn.send_to(format!("{text}\n").as_bytes(), self.find(serial)),
            ["close", serial] => conn.close_other(self.find(serial)),
            ["reply"] => {
                let reply = conn.reply_later();
                self.replies.as_ref().unwrap().send(reply).unwrap();
            }
            _ => conn.send(format!("{line}\n").as_bytes()),
        }
    }
}

impl Handler for Switchboard {
    fn on_open(&mut self, conn: &mut Conn<'_>) {
        let id = conn.id();
        self.id = Some(id);
        self.ids.lock().unwrap().push(id);
        conn.send(format!("id {}\n", id.serial).as_bytes());
        let _ = self.tell.opened.send((id, conn.remote()));
    }

    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        let mut lines = Vec::new();
        self.lines
            .feed(data, |line| {
                lines.push(String::from_utf8_lossy(&line).into_owned())
            })
            .unwrap();
        for line in lines {
            self.on_line(conn, &line);
        }
    }

    fn on_close(&mut self, _peer: SocketAddr, reason: &CloseReason) {
        if let Some(id) = self.id {
            let _ = self.tell.closed.send((id, reason.to_string()));
        }
    }
}

/// A client of a switchboard, with the serial its first line says.
fn switchboard_client(server: &ServerHandle) -> (Client, String) {
    let mut client = Client::connect(server);
    let first = client.line();
    let serial = first.strip_prefix("id ").expect("the id line").to_owned();
    (client, serial)
}

fn stop(server: ServerHandle) -> Stats {
    server
        .stop_within(TEST_TIMEOUT)
        .expect("the server stops in time")
}

#[test]
fn on_open_lets_a_handler_send_before_the_peer_does() {
    struct Greeter;
    impl Handler for Greeter {
        fn on_open(&mut self, conn: &mut Conn<'_>) {
            conn.send(b"welcome\n");
        }
        fn on_data(&mut self, _conn: &mut Conn<'_>, _data: &[u8]) {}
    }
    let server = Server::new(|_| Greeter).start(localhost()).unwrap();
    // The client sends nothing: the greeting comes on its own.
    let mut client = Client::connect(&server);
    assert_eq!(client.line(), "welcome");
    drop(client);
    stop(server);
}

#[test]
fn a_letter_to_an_id_whose_slot_was_reused_never_reaches_the_new_connection() {
    let (tell, heard) = tell();
    let server = Server::new(Switchboard::factory(tell, None))
        .start(localhost())
        .unwrap();
    let (first, _) = switchboard_client(&server);
    let (old, remote) = heard.opened();
    drop(first);
    assert_eq!(heard.closed().0, old);
    let (mut second, _) = switchboard_client(&server);
    let (new, _) = heard.opened();
    assert_eq!(
        new.key, old.key,
        "the slab gave the freed slot to the next connection"
    );
    assert_ne!(new, old);
    // Letters from one thread to one loop arrive in order: had the first
    // reached the new connection, it would be read first.
    remote.send_to(b"for the old one\n", old);
    remote.send_to(b"for the new one\n", new);
    assert_eq!(second.line(), "for the new one");
    drop(second);
    assert_eq!(stop(server).undelivered, 1);
}

/// Connects switchboard clients until two are served by different loops
/// (the kernel spreads them) and one more shares a loop; returns them as
/// (a, b on another loop, c on a's loop), each with its serial.
#[cfg(not(windows))]
fn clients_on_two_loops(server: &ServerHandle, heard: &Heard) -> [(Client, String, ConnId); 3] {
    let mut on_loop: [Vec<(Client, String, ConnId)>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..256 {
        let (client, serial) = switchboard_client(server);
        let (id, _) = heard.opened();
        on_loop[id.loop_index].push((client, serial, id));
        let [zero, one] = &on_loop;
        if zero.len() >= 2 && !one.is_empty() {
            let [mut zero, mut one] = on_loop;
            let (c, a) = (zero.pop().unwrap(), zero.pop().unwrap());
            return [a, one.pop().unwrap(), c];
        }
    }
    panic!("256 connections and never two on loop 0 and one on loop 1");
}

// Windows serves one loop only (see `Spread`).
#[cfg(not(windows))]
#[test]
fn a_handler_sends_to_and_closes_connections_of_other_loops() {
    let (tell, heard) = tell();
    let server = Server::new(Switchboard::factory(tell, None))
        .threads(2)
        .start(localhost())
        .unwrap();
    let [
        (mut a, a_serial, _),
        (mut b, b_serial, b_id),
        (mut c, c_serial, _),
    ] = clients_on_two_loops(&server, &heard);
    // Across loops, both ways, and within one.
    a.send(&format!("to {b_serial} from a"));
    assert_eq!(b.line(), "from a");
    b.send(&format!("to {a_serial} from b"));
    assert_eq!(a.line(), "from b");
    a.send(&format!("to {c_serial} from a, on your loop"));
    assert_eq!(c.line(), "from a, on your loop");
    // A close across loops: b's peer sees its end, its handler the reason.
    c.send(&format!("close {b_serial}"));
    assert_eq!(b.rest().unwrap(), "");
    let closed = std::iter::repeat_with(|| heard.closed())
        .find(|(id, _)| *id == b_id)
        .unwrap();
    assert_eq!(closed.1, CloseReason::Elsewhere.to_string());
    drop((a, c));
    assert_eq!(stop(server).undelivered, 0);
}

#[test]
fn a_thread_wakes_a_sleeping_loop_to_send_to_a_connection() {
    let (tell, heard) = tell();
    // No spin, no timer: nothing but the waker can wake the loop.
    let server = Server::new(Switchboard::factory(tell, None))
        .spin(Duration::ZERO)
        .start(localhost())
        .unwrap();
    let (mut client, _) = switchboard_client(&server);
    let (id, remote) = heard.opened();
    thread::spawn(move || remote.send_to(b"from a thread\n", id))
        .join()
        .unwrap();
    assert_eq!(client.line(), "from a thread");
    drop(client);
    stop(server);
}

#[test]
fn what_is_sent_to_a_closed_connection_is_dropped_and_counted() {
    let (tell, heard) = tell();
    let server = Server::new(Switchboard::factory(tell, None))
        .start(localhost())
        .unwrap();
    let (gone, _) = switchboard_client(&server);
    let (gone_id, remote) = heard.opened();
    let (mut staying, _) = switchboard_client(&server);
    let (staying_id, _) = heard.opened();
    drop(gone);
    assert_eq!(heard.closed().0, gone_id);
    remote.send_to(b"too late\n", gone_id);
    remote.close(gone_id);
    // Behind them in the same mailbox: once this arrives, they were seen.
    remote.send_to(b"still here\n", staying_id);
    assert_eq!(staying.line(), "still here");
    drop(staying);
    assert_eq!(stop(server).undelivered, 2);
}

#[test]
fn a_reply_keeps_the_connection_open_past_the_peers_end_of_stream() {
    let (tell, heard) = tell();
    let (replies, reply_rx) = mpsc::channel();
    let server = Server::new(Switchboard::factory(tell, Some(replies)))
        .start(localhost())
        .unwrap();
    let (mut client, _) = switchboard_client(&server);
    client.send("reply");
    client.send("echoed at once");
    client.writer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(client.line(), "echoed at once");
    let reply = reply_rx.recv_timeout(TEST_TIMEOUT).unwrap();
    // The peer has ended its stream and its echo is written; the reply
    // still comes, and only then the end.
    reply.send(b"the reply\n");
    drop(reply);
    assert_eq!(client.rest().unwrap(), "the reply\n");
    assert_eq!(heard.closed().1, CloseReason::PeerClosed.to_string());
    stop(server);
}

/// Sets and moves timers as its test says, and names each that comes due.
struct Timed(fn(&mut Conn<'_>));

impl Handler for Timed {
    fn on_open(&mut self, conn: &mut Conn<'_>) {
        (self.0)(conn);
    }
    fn on_data(&mut self, _conn: &mut Conn<'_>, _data: &[u8]) {}
    fn on_timer(&mut self, conn: &mut Conn<'_>, timer: Timer) {
        conn.send(format!("timer {}\n", timer.0).as_bytes());
    }
}

#[test]
fn a_timer_comes_due_moved_and_cancelled_as_its_handler_says() {
    const MS: fn(u64) -> Duration = Duration::from_millis;
    let server = Server::new(|_| {
        Timed(|conn| {
            conn.set_timer(Timer(1), MS(10));
            conn.set_timer(Timer(1), MS(3_600_000)); // moved later
            conn.set_timer(Timer(2), MS(20));
            conn.cancel_timer(Timer(2));
            conn.set_timer(Timer(3), MS(3_600_000));
            conn.set_timer(Timer(3), MS(5)); // moved earlier
            conn.set_timer(Timer(4), MS(30));
        })
    })
    .start(localhost())
    .unwrap();
    // Timers come due in deadline order: 1 and 2 would come between 3
    // and 4, had the move and the cancel not held.
    let mut client = Client::connect(&server);
    assert_eq!(client.line(), "timer 3");
    assert_eq!(client.line(), "timer 4");
    drop(client);
    stop(server);
}

#[test]
fn a_timer_of_a_closed_connection_never_comes_due() {
    // The first connection sets timer 1 and closes at once; the next one
    // takes its slot and sets timer 2 as long after its own opening. Were
    // the first one's timer kept, it would come due first, on the newcomer.
    let opened = AtomicUsize::new(0);
    let server = Server::new(move |_| {
        if opened.fetch_add(1, Ordering::SeqCst) == 0 {
            Timed(|conn| {
                conn.set_timer(Timer(1), Duration::from_secs(1));
                conn.close();
            })
        } else {
            Timed(|conn| conn.set_timer(Timer(2), Duration::from_secs(1)))
        }
    })
    .start(localhost())
    .unwrap();
    let mut first = Client::connect(&server);
    assert_eq!(first.rest().unwrap(), "", "closed by its handler at once");
    let mut second = Client::connect(&server);
    assert_eq!(second.line(), "timer 2");
    drop(second);
    stop(server);
}

#[test]
fn close_after_sending_delivers_the_last_reply_to_a_peer_still_sending() {
    /// Says its last word at the first bytes, and means it.
    struct LastWord;
    impl Handler for LastWord {
        fn on_data(&mut self, conn: &mut Conn<'_>, _data: &[u8]) {
            conn.send(b"error: that is enough\n");
            conn.close_after_sending();
        }
    }
    // Reads of one byte: when the handler speaks, the rest of the peer's
    // first write is still unread, and a plain close would be a reset,
    // which destroys the reply before the peer reads it.
    let server = Server::new(|_| LastWord)
        .read_buffer_size(1)
        .start(localhost())
        .unwrap();
    let mut client = Client::connect(&server);
    // The peer goes on sending, too.
    let mut writer = client.writer.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..2 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    assert_eq!(client.rest().unwrap(), "error: that is enough\n");
    // The flood ends with the connection.
    let _ = client.writer.shutdown(Shutdown::Both);
    flood.join().unwrap();
    stop(server);
}

/// The slow-reader test's handler: the first connection is the one that
/// does not read, the third sends it every byte it reads, the others echo.
struct Forward {
    role: usize,
    slow: Arc<Mutex<Option<ConnId>>>,
    /// Tells the test the pending bytes of a connection closed as too slow.
    too_slow: Sender<usize>,
}

impl Handler for Forward {
    fn on_open(&mut self, conn: &mut Conn<'_>) {
        if self.role == 0 {
            *self.slow.lock().unwrap() = Some(conn.id());
        }
    }
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        match self.role {
            2 => conn.send_to(data, self.slow.lock().unwrap().unwrap()),
            _ => conn.send(data),
        }
    }
    fn on_close(&mut self, _peer: SocketAddr, reason: &CloseReason) {
        if let CloseReason::TooSlow { pending } = reason {
            let _ = self.too_slow.send(*pending);
        }
    }
}

#[test]
fn a_peer_that_does_not_read_what_others_send_is_disconnected_and_slows_no_one() {
    const MARK: usize = 64 * 1024;
    let (too_slow, too_slow_rx) = mpsc::channel();
    let (roles, slow) = (AtomicUsize::new(0), Arc::new(Mutex::new(None)));
    let too_slow = Mutex::new(too_slow);
    let server = Server::new(move |_| Forward {
        role: roles.fetch_add(1, Ordering::SeqCst),
        slow: Arc::clone(&slow),
        too_slow: too_slow.lock().unwrap().clone(),
    })
    .max_pending(MARK)
    .start(localhost())
    .unwrap();
    // The slow one never reads; once it is served, the sender floods it.
    let slow_peer = Client::connect(&server);
    let mut echo = Client::connect(&server);
    echo.send("first");
    assert_eq!(echo.line(), "first");
    let mut sender = Client::connect(&server).writer;
    let flood = thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        while sender.write_all(&chunk).is_ok() {}
    });
    // The kernel's buffers fill, then the bound: the slow one is dropped,
    // having cost at most the bound in pending output...
    let pending = too_slow_rx
        .recv_timeout(TEST_TIMEOUT)
        .expect("disconnected as too slow");
    assert!(
        pending <= MARK,
        "{pending} bytes pending, over the bound of {MARK}"
    );
    // ...and the others are served all along.
    echo.send("still answered");
    assert_eq!(echo.line(), "still answered");
    drop((slow_peer, echo));
    let stats = stop(server);
    flood.join().unwrap();
    assert!(
        stats.undelivered > 0,
        "the flood went on after the slow one left"
    );
}

#[test]
fn letters_posted_before_a_stop_go_out_with_it() {
    /// Holds the loop in its first callback until the test lets it go, so
    /// that the letter and the stop are both waiting when it looks.
    struct Held(Arc<Mutex<Option<Receiver<()>>>>, Sender<(ConnId, Remote)>);
    impl Handler for Held {
        fn on_data(&mut self, conn: &mut Conn<'_>, _data: &[u8]) {
            let _ = self.1.send((conn.id(), conn.remote()));
            if let Some(go) = self.0.lock().unwrap().take() {
                go.recv_timeout(TEST_TIMEOUT).unwrap();
            }
        }
    }
    let (go, held) = mpsc::channel();
    let (introduce, introduced) = mpsc::channel();
    let (held, introduce) = (Arc::new(Mutex::new(Some(held))), Mutex::new(introduce));
    let server = Server::new(move |_| Held(Arc::clone(&held), introduce.lock().unwrap().clone()))
        .start(localhost())
        .unwrap();
    let mut client = Client::connect(&server);
    client.send("hold the loop");
    let (id, remote) = introduced.recv_timeout(TEST_TIMEOUT).unwrap();
    remote.send_to(b"the last word\n", id);
    server.shutdown();
    go.send(()).unwrap();
    assert_eq!(client.rest().unwrap(), "the last word\n");
    stop(server);
}
