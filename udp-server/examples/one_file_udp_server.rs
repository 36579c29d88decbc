//! `go/UDP/server/main.go` in one file of Rust, on mio directly: the same
//! steps in the same order, each marked with its Go line (`// Go:`). Run:
//! `cargo run -p udp-server --example one_file_udp_server`, then
//! `cargo run -p udp-client` in another terminal.
//!
//! Go's `ReadFromUDP` blocks its goroutine until a datagram comes; here one
//! thread asks the OS (`Poll`) when the socket is ready, and receives until
//! it would block, as a loop serving many sockets must. Fixed, and nothing
//! else changed: Go's 1024-byte buffer cuts every longer datagram to its
//! first 1024 bytes, and echoes only those; this buffer holds any datagram.
//!
//! One difference from Go, as in `udp-server`: the default address is
//! loopback, 127.0.0.1:30000, not Go's 0.0.0.0:30000, which would echo to
//! any address a stranger forges, for anyone on the network (`--addr
//! 0.0.0.0:30000` serves other machines on purpose).

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, ToSocketAddrs};

// A peer's bytes, printed safe for a terminal by the rule every program here
// follows (which characters, and why these brackets: `edges/src/text.rs`).
// `edges` is the programs' shared edge, not the loop: the loop is mio's alone.
use edges::Escaped;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

/// Go's `fmt.Println`: blocks while stdout is a full pipe, and every client
/// with it (the full servers' never do); a closed stdout stops nothing.
macro_rules! say {
    ($($line:tt)*) => {{ let _ = writeln!(io::stdout(), $($line)*); }};
}

/// The one socket's token: every event is for it.
const SOCKET: Token = Token(0);

fn main() {
    let addr = addr_from_args("127.0.0.1:30000");
    // Go: listen, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(0, 0, 0, 0), Port: 30000})
    // Go: if err != nil { fmt.Println("listen failed, err:", err); return }
    let mut socket = UdpSocket::bind(addr).unwrap_or_else(|e| fail("listen", e));
    let mut poll = Poll::new().unwrap_or_else(|e| fail("poll", e));
    // Readable: datagrams wait. Writable: room again for echoes that did
    // not fit. mio reports each *change* of readiness once: ask for both.
    let both = Interest::READABLE | Interest::WRITABLE;
    if let Err(e) = poll.registry().register(&mut socket, SOCKET, both) {
        fail("poll", e);
    }
    // Every program here says first where it listens (port 0 picks one).
    let local = socket.local_addr().unwrap_or(addr);
    say!("listening on {local}");
    // Go: defer listen.Close(): the socket closes when the process ends.

    // Echoes the socket did not take yet (its send buffer was full), oldest
    // first, each with its sender. Go's `WriteToUDP` would block instead.
    let mut unsent: VecDeque<(Vec<u8>, SocketAddr)> = VecDeque::new();
    // Go: var data [1024]byte; here the largest datagram there is, 64 KiB.
    let mut data = vec![0; 1 << 16];
    let mut events = Events::with_capacity(16);
    loop {
        // Sleep until the socket is ready: where Go's goroutine waits.
        // (A signal can interrupt only a call that sleeps: this one.)
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() != ErrorKind::Interrupted => fail("poll", e),
            _ => {}
        }
        // Whatever the event says, receive until no datagram is left (the
        // next event comes only when more arrive), then send what waits.
        // Go: for { … }
        loop {
            // Go: n, addr, err := listen.ReadFromUDP(data[:])
            let (n, peer) = match socket.recv_from(&mut data) {
                Ok(received) => received,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    // Go: if err != nil { fmt.Println("read udp failed, err:", err); continue }
                    // (Windows reports here that an earlier echo's
                    // receiver had no socket; the next datagram is fine.)
                    say!("read udp failed, err: {e}");
                    continue;
                }
            };
            // Go: fmt.Printf("data:%v addr:%v count:%v\n", string(data[:n]), addr, n)
            say!("data:{} addr:{peer} count:{n}", Escaped(&data[..n]));
            // Go: _, err = listen.WriteToUDP(data[:n], addr), behind any
            // echo still waiting: echoes leave in the order datagrams came.
            unsent.push_back((data[..n].to_vec(), peer));
            send_unsent(&socket, &mut unsent);
        }
        send_unsent(&socket, &mut unsent);
    }
}

/// Sends the waiting echoes, oldest first, until the socket takes no more;
/// the rest waits for a writable event.
fn send_unsent(socket: &UdpSocket, unsent: &mut VecDeque<(Vec<u8>, SocketAddr)>) {
    while let Some((datagram, peer)) = unsent.front() {
        match socket.send_to(datagram, *peer) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            // Go: if err != nil { fmt.Println("write to udp failed, err:", err); continue }
            Err(e) => say!("write to udp failed, err: {e}"),
        }
        unsent.pop_front();
    }
}

/// `--addr HOST:PORT` (a host name is resolved to its first address), the
/// default otherwise. Anything else: one line naming the form, exit 2.
fn addr_from_args(default: &str) -> SocketAddr {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = match args.as_slice() {
        [] => default,
        [flag, addr] if flag == "--addr" => addr,
        _ => "",
    };
    let mut addrs = text.to_socket_addrs().into_iter().flatten();
    addrs.next().unwrap_or_else(|| {
        eprintln!("usage: one_file_udp_server [--addr HOST:PORT], e.g. --addr 127.0.0.1:0");
        std::process::exit(2)
    })
}

/// Go: `fmt.Println(…, err); return`; here on stderr, with exit status 1.
fn fail(what: &str, err: io::Error) -> ! {
    eprintln!("{what} failed, err: {err}");
    std::process::exit(1)
}
