//! The `chat` binary, spawned on port 0 and spoken to with raw lines, as
//! the chat section of the protocols says (its table is in the README).
//!
//! Each test is named for what it proves, and each is an attack or a rule
//! of the protocol. No test sleeps to synchronise: they wait for lines,
//! each read bounded by the harness's deadline, and every loop is bounded
//! in count.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use harness::{DEADLINE, Program, connect};
use socket2::{Domain, Socket, Type};

const HELP: &str = "/nick NAME renames you, /quit leaves";

/// A `chat` on 127.0.0.1:0, once it is listening.
fn start(args: &[&str]) -> Program {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat"));
    command.args(["--addr", "127.0.0.1:0"]).args(args);
    let server = Program::spawn(command);
    server.listening_addr();
    server
}

/// One peer of the chat: a connection, read a line at a time.
struct Peer {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Peer {
    /// Connects to `server`, without reading anything yet.
    fn connect(server: &Program) -> Peer {
        Peer::over(connect(server.listening_addr()))
    }

    fn over(stream: TcpStream) -> Peer {
        let reader = BufReader::new(stream.try_clone().unwrap());
        Peer {
            writer: stream,
            reader,
        }
    }

    /// Connects and reads the welcome, which must name it `name` and count
    /// `others`.
    fn join(server: &Program, name: &str, others: usize) -> Peer {
        let mut peer = Peer::connect(server);
        let welcome = format!("* welcome, you are {name}; {others} others here; {HELP}");
        assert_eq!(peer.line(), welcome);
        peer
    }

    fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\n").as_bytes());
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send to the chat");
    }

    /// The next line, without its newline; a panic at the end of the stream.
    fn bytes_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        let n = self.reader.read_until(b'\n', &mut line).expect("a line");
        assert!(n > 0, "the chat closed the connection");
        assert_eq!(
            line.pop(),
            Some(b'\n'),
            "a line cut by the end of the stream"
        );
        line
    }

    fn line(&mut self) -> String {
        String::from_utf8(self.bytes_line()).expect("UTF-8")
    }

    /// The next line that is not a newcomer's arrival.
    fn line_after_joins(&mut self) -> String {
        for _ in 0..1000 {
            let line = self.line();
            if !(line.starts_with("* guest") && line.ends_with(" joined")) {
                return line;
            }
        }
        panic!("a thousand joins and no other line");
    }

    /// Reads until the end of the stream (or a reset): the chat closed
    /// this connection.
    fn assert_closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the chat to close the connection, got {e}"),
        }
    }
}

#[test]
fn joins_lines_names_commands_and_leaves_go_as_the_protocol_says() {
    let mut server = start(&["--quiet"]);
    // A newcomer is welcomed with its name and the count of the others;
    // the others are told.
    let mut a = Peer::join(&server, "guest1", 0);
    let mut b = Peer::join(&server, "guest2", 1);
    assert_eq!(a.line(), "* guest2 joined");
    let mut c = Peer::join(&server, "guest3", 2);
    assert_eq!(a.line(), "* guest3 joined");
    assert_eq!(b.line(), "* guest3 joined");

    // A line goes to every other peer under its sender's name.
    a.send("hello, chat");
    assert_eq!(b.line(), "guest1: hello, chat");
    assert_eq!(c.line(), "guest1: hello, chat");
    // A \r before the newline is dropped; an empty line is a line; bytes
    // that are not UTF-8 go on as they came.
    b.send_bytes(b"caf\xc3\xa9 \xff\r\n\n");
    for peer in [&mut a, &mut c] {
        assert_eq!(peer.bytes_line(), b"guest2: caf\xc3\xa9 \xff");
        assert_eq!(peer.bytes_line(), b"guest2: ");
    }

    // A new name is told to everyone, the renamed peer included.
    a.send("/nick alice");
    for peer in [&mut a, &mut b, &mut c] {
        assert_eq!(peer.line(), "* guest1 is now alice");
    }
    // A refused name and an unknown command: the sender alone is answered.
    let refusals = [
        ("/nick alice", "alice is in use"),
        (
            "/nick two words",
            "a name has no spaces or control characters",
        ),
        ("/nick", "a name has 1 to 32 characters"),
        ("/nick guest9", "guest names are given to newcomers"),
    ];
    for (command, why) in refusals {
        b.send(command);
        assert_eq!(b.line(), format!("* cannot take that name: {why}"));
    }
    for unknown in ["/help", "/quit now", "/nickname"] {
        b.send(unknown);
        assert_eq!(b.line(), format!("* unknown command; {HELP}"));
    }
    // The next line each gets is the next one said: a got nothing of its
    // own line, a and c nothing of b's refusals, and b kept its name.
    c.send("hi all");
    assert_eq!(a.line(), "guest3: hi all");
    assert_eq!(b.line(), "guest3: hi all");
    b.send("still guest2");
    assert_eq!(a.line(), "guest2: still guest2");
    assert_eq!(c.line(), "guest2: still guest2");

    // /quit: what came before it is said, its connection closes, the
    // others are told, and what came after it is never heard.
    b.send_bytes(b"bye\n/quit\nnot heard\n");
    b.assert_closed();
    for peer in [&mut a, &mut c] {
        assert_eq!(peer.line(), "guest2: bye");
        assert_eq!(peer.line(), "* guest2 left");
    }
    // Hanging up is leaving too, and frees the name.
    c.send("/nick carol");
    assert_eq!(a.line(), "* guest3 is now carol");
    assert_eq!(c.line(), "* guest3 is now carol");
    drop(c);
    assert_eq!(a.line(), "* carol left");
    // A newcomer gets the next number, and may take the freed name.
    let mut d = Peer::join(&server, "guest4", 1);
    assert_eq!(a.line(), "* guest4 joined");
    d.send("/nick carol");
    assert_eq!(d.line(), "* guest4 is now carol");
    assert_eq!(a.line(), "* guest4 is now carol");
    server.stop_ok();
}

#[test]
fn names_with_control_characters_are_refused() {
    let mut server = start(&["--quiet"]);
    let mut a = Peer::join(&server, "guest1", 0);
    let mut b = Peer::join(&server, "guest2", 1);
    assert_eq!(a.line(), "* guest2 joined");
    // Each would drive or forge a line on a peer's terminal: ESC (a
    // terminal's commands), BEL, DEL, a CR inside the name (it overwrites
    // the line), a C1 control (U+0085), a tab.
    let names: [&[u8]; 6] = [
        b"evil\x1b[2J",
        b"bell\x07",
        b"del\x7f",
        b"over\rwrite",
        "next\u{85}line".as_bytes(),
        b"tab\tname",
    ];
    for name in names {
        b.send_bytes(&[b"/nick ", name, b"\n"].concat());
        assert_eq!(
            b.line(),
            "* cannot take that name: a name has no spaces or control characters",
            "{name:?}"
        );
    }
    // The others heard of none of them, and the name is unchanged.
    b.send("after the attempts");
    assert_eq!(a.line(), "guest2: after the attempts");
    server.stop_ok();
}

#[test]
fn a_line_over_64_kib_is_refused_and_its_sender_leaves() {
    let mut server = start(&["--quiet"]);
    let mut a = Peer::join(&server, "guest1", 0);
    let mut b = Peer::join(&server, "guest2", 1);
    assert_eq!(a.line(), "* guest2 joined");
    // 65 536 bytes is the longest line: said like any other.
    let longest = "x".repeat(64 * 1024);
    a.send(&longest);
    assert_eq!(b.line(), format!("guest1: {longest}"));
    // One byte more, and no newline needed to know: refused at once, the
    // peer is told why, its connection closed, the others told it left.
    a.send_bytes(&[b'y'; 64 * 1024 + 1]);
    assert_eq!(a.line(), "error: line longer than 65536 bytes");
    a.assert_closed();
    assert_eq!(b.line(), "* guest1 left");
    server.stop_ok();
}

#[test]
fn a_flood_from_one_peer_does_not_starve_the_others() {
    // The bound is not what this test is about: a reader that falls a
    // little behind the flood must not be dropped as too slow.
    let mut server = start(&["--quiet", "--max-pending", "67108864"]);
    let flooder = Peer::join(&server, "guest1", 0);
    let mut speaker = Peer::join(&server, "guest2", 1);
    let mut listener = Peer::join(&server, "guest3", 2);
    // The speaker hears the flood too, and must read it or be too slow.
    let mut speaker_reads = speaker.reader.get_mut().try_clone().unwrap();
    let drain = thread::spawn(move || {
        let _ = std::io::copy(&mut speaker_reads, &mut std::io::sink());
    });
    // The flood: short lines (the most work for the server per byte),
    // written as fast as the socket takes them, faster than the server
    // can send them on, until told to stop or 64 MiB.
    let flooding = Arc::new(AtomicBool::new(true));
    let mut flood_writer = flooder.writer.try_clone().unwrap();
    let flood = thread::spawn({
        let flooding = Arc::clone(&flooding);
        move || {
            let chunk = b"flood\n".repeat(64 * 1024 / 6);
            let mut written = 0;
            while flooding.load(Ordering::Relaxed) && written < 64 << 20 {
                if flood_writer.write_all(&chunk).is_err() {
                    break;
                }
                written += chunk.len();
            }
        }
    });
    // The flood is on: the listener hears it...
    let is_flood = |line: &[u8]| line == b"guest1: flood";
    assert!(is_flood(&listener.bytes_line()));
    // ...and the speaker is heard in the middle of it: its line comes, and
    // the flood goes on after it.
    speaker.send("still heard");
    let mut flood_lines_before = 0;
    loop {
        let line = listener.bytes_line();
        if line == b"guest2: still heard" {
            break;
        }
        assert!(is_flood(&line), "{:?}", String::from_utf8_lossy(&line));
        flood_lines_before += 1;
        assert!(flood_lines_before < 30_000_000, "never heard the speaker");
    }
    assert!(
        is_flood(&listener.bytes_line()),
        "the speaker was heard only once the flood was over"
    );
    flooding.store(false, Ordering::Relaxed);
    flood.join().unwrap();
    // Hanging up with lines unread resets the connections: the server
    // need not wait for the listener to take the rest of the flood.
    drop((flooder, listener));
    server.stop_ok();
    drain.join().unwrap();
}

#[test]
fn a_flood_of_empty_lines_under_a_long_name_gets_no_reader_dropped() {
    let mut server = start(&["--quiet"]);
    let mut flooder = Peer::join(&server, "guest1", 0);
    let mut listener = Peer::join(&server, "guest2", 1);
    assert_eq!(flooder.line(), "* guest2 joined");
    let long_name = "🦀".repeat(32);
    flooder.send(&format!("/nick {long_name}"));
    assert_eq!(flooder.line(), format!("* guest1 is now {long_name}"));
    assert_eq!(listener.line(), format!("* guest1 is now {long_name}"));
    // Each byte the flooder sends, an empty line, is 131 bytes for the
    // listener: the name's 32 four-byte characters, ": ", the newline. So
    // 64 KiB of them, sent in one write, are 8.6 MB, more than the default
    // bound of 1 MiB and the kernel's buffers together. The listener
    // reads as fast as it can, and must get every line.
    flooder.send_bytes(&[b'\n'; 64 * 1024]);
    let said = format!("{long_name}: \n").into_bytes();
    let stream = said.repeat(1024);
    let mut received = vec![0; stream.len() / 2];
    let (mut left, mut at) = (64 * 1024 * said.len(), 0);
    while left > 0 {
        let want = left.min(received.len());
        let got = listener.reader.read(&mut received[..want]).unwrap();
        assert!(got > 0, "dropped with {left} bytes to come");
        assert!(
            received[..got] == stream[at..at + got],
            "not the lines said"
        );
        (left, at) = (left - got, (at + got) % said.len());
    }
    let stdout = stop_with_summary(&mut server);
    assert!(stdout.ends_with(", 0 dropped as too slow"), "{stdout}");
}

#[test]
fn a_peer_that_never_reads_is_dropped_at_its_bound_and_slows_no_one() {
    const BOUND: usize = 64 * 1024;
    let mut server = start(&["--quiet", "--max-pending", &BOUND.to_string()]);
    // It never reads, with a small receive buffer so that the kernel holds
    // little for it.
    let slow = Peer::over(small_receive_buffer(server.listening_addr()));
    let mut speaker = Peer::join(&server, "guest2", 1);
    let mut listener = Peer::join(&server, "guest3", 2);
    assert_eq!(speaker.line(), "* guest3 joined");
    // The speaker says line after line; each reaches the listener before
    // the next is said, while what waits for the slow peer grows, until
    // it passes the bound: then the others are told why it went.
    let padding = "x".repeat(8 * 1024);
    let dropped = "* guest1 left (too slow: it did not read its messages)";
    let mut said = 0;
    loop {
        speaker.send(&format!("line {said} {padding}"));
        let heard = listener.line();
        if heard == dropped {
            assert_eq!(listener.line(), format!("guest2: line {said} {padding}"));
            break;
        }
        assert_eq!(heard, format!("guest2: line {said} {padding}"));
        said += 1;
        assert!(said < 10_000, "80 MB said and the slow peer still here");
    }
    assert_eq!(speaker.line(), dropped);
    // The others go on as before.
    speaker.send("and on");
    assert_eq!(listener.line(), "guest2: and on");
    drop(slow);
    let stdout = stop_with_summary(&mut server);
    assert!(
        stdout.ends_with(", 1 dropped as too slow"),
        "summary: {stdout}"
    );
}

/// A connection to `addr` whose receive buffer is as small as the OS allows.
fn small_receive_buffer(addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(1).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// SIGTERM: the server must exit 0 with a summary last; that line.
fn stop_with_summary(server: &mut Program) -> String {
    server.signal(libc::SIGTERM);
    let (stdout, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    let last = stdout.last().cloned().unwrap_or_default();
    assert!(last.starts_with("summary: "), "no summary last: {stdout:?}");
    last
}

#[test]
fn sigterm_stops_the_chat_with_its_summary_and_transcript() {
    let mut server = start(&[]);
    let mut a = Peer::join(&server, "guest1", 0);
    let mut b = Peer::join(&server, "guest2", 1);
    let mut c = Peer::join(&server, "guest3", 2);
    a.send("one");
    assert_eq!(b.line_after_joins(), "guest1: one");
    assert_eq!(c.line(), "guest1: one");
    b.send_bytes(b"two \x1b[2J\n");
    assert_eq!(c.line(), "guest2: two \x1b[2J");
    assert_eq!(a.line_after_joins(), "guest2: two \x1b[2J");
    // The transcript names who said what, escaped as every program here
    // prints what a peer sent.
    let from = |peer: &Peer| peer.writer.local_addr().unwrap();
    server.wait_for_stdout(&format!("guest1: one (from {})", from(&a)));
    server.wait_for_stdout(&format!("guest2: two ⟦ESC⟧[2J (from {})", from(&b)));
    assert_eq!(
        stop_with_summary(&mut server),
        "summary: served 3 connections, 2 lines delivered 4 times, 0 dropped as too slow"
    );
    // Each peer was let go with the end of its stream.
    for mut peer in [a, b, c] {
        peer.assert_closed();
    }
}

#[test]
fn peers_on_two_loops_share_one_room() {
    let mut server = start(&["--quiet", "--threads", "2", "--trace"]);
    // The kernel spreads connections over the loops' listeners: connect
    // until each loop serves one (each has the same chance each time).
    let mut peers: Vec<(Peer, usize)> = Vec::new();
    for n in 1..=64 {
        let peer = Peer::join(&server, &format!("guest{n}"), n - 1);
        let port = peer.writer.local_addr().unwrap().port();
        let accepted = server.wait_for_stderr(&format!("accept 127.0.0.1:{port} "));
        let on_loop = usize::from(accepted.contains("loop 1: "));
        peers.push((peer, on_loop));
        if peers.iter().any(|(_, l)| *l != on_loop) {
            break;
        }
    }
    // The last peer is on one loop, and an earlier one on the other.
    let (y, y_loop) = (peers.len() - 1, peers[peers.len() - 1].1);
    let x = peers.iter().position(|(_, l)| *l != y_loop);
    let x = x.expect("64 connections, all on one loop");
    // A line crosses from one loop to the other, both ways.
    peers[x].0.send("from one loop");
    let x_name = format!("guest{}", x + 1);
    let y_name = format!("guest{}", y + 1);
    assert_eq!(
        peers[y].0.line_after_joins(),
        format!("{x_name}: from one loop")
    );
    peers[y].0.send("/nick yan");
    assert_eq!(peers[y].0.line(), format!("* {y_name} is now yan"));
    assert_eq!(
        peers[x].0.line_after_joins(),
        format!("* {y_name} is now yan")
    );
    // A name is the whole room's, whatever loop serves its holder.
    peers[x].0.send("/nick yan");
    assert_eq!(peers[x].0.line(), "* cannot take that name: yan is in use");
    peers[y].0.send("from the other");
    assert_eq!(peers[x].0.line(), "yan: from the other");
    server.stop_ok();
}

#[test]
fn help_names_the_flags_and_misuse_exits_2() {
    let help = harness::run_to_end(
        {
            let mut command = Command::new(env!("CARGO_BIN_EXE_chat"));
            command.arg("--help");
            command
        },
        b"",
    );
    assert!(help.status.success());
    for flag in ["--addr", "--max-pending", "--threads", "--quiet"] {
        assert!(help.stdout.contains(flag), "{flag} in {}", help.stdout);
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat"));
    command.args(["--max-pending", "lots"]);
    let misuse = harness::run_to_end(command, b"");
    assert_eq!(misuse.status.code(), Some(2));
    assert!(
        misuse
            .stderr
            .contains("expected a whole number of bytes, e.g. 1048576"),
        "{}",
        misuse.stderr
    );
}
