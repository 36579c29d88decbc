//! `go/socket_stick/server/main.go` in one file of Rust, on mio directly.
//! Run: `cargo run -p stick-demo --example one_file_stick_server`, then
//! `cargo run -p stick-demo -- client`. The chapter's server is `tcp/server`
//! on another port, and this file reads like the one-file TCP server
//! (`tcp-server/examples/`): one thread, a readiness loop (`Poll`), the Go
//! line beside each step. Each line printed is one read: where the reads
//! fall among the client's messages is the sticking the chapter is about.
//!
//! Fixed, and nothing else changed: Go reads 128 bytes through a new
//! `bufio.Reader` each time and drops what it held beyond; and Go echoes to
//! a client that never reads, whose close then resets the connection and
//! throws away what it had not sent yet, the end of its messages.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};

// A peer's bytes, printed safe for a terminal by the rule every program here
// follows (which characters, and why these brackets: `edges/src/text.rs`).
// `edges` is the programs' shared edge, not the loop: the loop is mio's alone.
use edges::Escaped;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// Go's `fmt.Println`: blocks while stdout is a full pipe, and every client
/// with it (the full servers' never do); a closed stdout stops nothing.
macro_rules! say {
    ($($line:tt)*) => {{ let _ = writeln!(io::stdout(), $($line)*); }};
}

/// The listener's token; each connection gets the next number.
const LISTENER: Token = Token(0);

fn main() {
    let addr = addr_from_args("127.0.0.1:30000");
    // Go: listen, err := net.Listen("tcp", "127.0.0.1:30000")
    // Go: if err != nil { fmt.Println("listen failed, err:", err); return }
    let mut listener = TcpListener::bind(addr).unwrap_or_else(|e| fail("listen", e));
    let mut poll = Poll::new().unwrap_or_else(|e| fail("poll", e));
    // Wake up when clients wait to be accepted.
    let registry = poll.registry();
    if let Err(e) = registry.register(&mut listener, LISTENER, Interest::READABLE) {
        fail("poll", e);
    }
    // Every program here says first where it listens (port 0 picks one).
    let local = listener.local_addr().unwrap_or(addr);
    say!("listening on {local}");

    let mut connections: HashMap<Token, TcpStream> = HashMap::new();
    let mut next_token = LISTENER.0 + 1;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0; 64 * 1024];
    loop {
        // Sleep until some socket is ready: where Go's goroutines all wait.
        // (A signal can interrupt only a call that sleeps: this one.)
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() != ErrorKind::Interrupted => fail("poll", e),
            _ => {}
        }
        for event in events.iter() {
            let token = event.token();
            if token != LISTENER {
                // (None: the connection was closed earlier in this batch.)
                let open = connections.get_mut(&token).map(|c| serve(c, &mut buf));
                if open == Some(false) {
                    // Go: defer conn.Close(). Dropping the socket closes it
                    // and takes it out of the poll.
                    connections.remove(&token);
                }
                continue;
            }
            // Go: for { conn, err := listen.Accept() … }. One event may stand
            // for many clients: accept until none is left (WouldBlock).
            loop {
                let mut socket = match listener.accept() {
                    Ok((socket, _peer)) => socket,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        // Go: fmt.Println("accept failed, err:", err); continue
                        // Not at once: an error that lasts (out of descriptors)
                        // would spin. The full server retries on a timer.
                        say!("accept failed, err: {e}");
                        break;
                    }
                };
                // Go: go process(conn). This server does not write (see the
                // top), so it asks for readable events only (each change of
                // readiness is reported once: mio is edge-triggered).
                let (token, readable) = (Token(next_token), Interest::READABLE);
                next_token += 1;
                if let Err(e) = poll.registry().register(&mut socket, token, readable) {
                    // This client only: dropping its socket closes it.
                    say!("accept failed, err: {e}");
                    continue;
                }
                connections.insert(token, socket);
            }
        }
    }
}

/// Go's `process(conn)`, as long as it would not block: read until the
/// socket has no more (the next event comes only when more arrives).
/// Returns false to close.
fn serve(socket: &mut TcpStream, buf: &mut [u8]) -> bool {
    // Go: for { … }
    loop {
        // Go: n, err := reader.Read(buf[:]), 64 KiB at a time, none dropped
        match socket.read(buf) {
            Ok(0) => {
                // Go: fmt.Println("read from client failed, err:", err); break
                say!("read from client failed, err: EOF");
                return false;
            }
            Ok(n) => {
                // Go: fmt.Println("received client Data sent from terminal:", recvStr)
                let text = Escaped(&buf[..n]);
                say!("received client Data sent from terminal: {text}");
                // Go: conn.Write([]byte(recvStr)): not here (see the top).
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) => {
                // A reset, typically: this connection ends, the server goes on.
                say!("read from client failed, err: {e}");
                return false;
            }
        }
    }
}

/// `--addr HOST:PORT` (a host name is resolved to its first address), the
/// Go address by default. Anything else: one line naming the form, exit 2.
fn addr_from_args(go_addr: &str) -> SocketAddr {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = match args.as_slice() {
        [] => go_addr,
        [flag, addr] if flag == "--addr" => addr,
        _ => "",
    };
    let mut addrs = text.to_socket_addrs().into_iter().flatten();
    addrs.next().unwrap_or_else(|| {
        eprintln!("usage: one_file_stick_server [--addr HOST:PORT], e.g. --addr 127.0.0.1:0");
        std::process::exit(2)
    })
}

/// Go: `fmt.Println(…, err); return`; here on stderr, with exit status 1.
fn fail(what: &str, err: io::Error) -> ! {
    eprintln!("{what} failed, err: {err}");
    std::process::exit(1)
}
