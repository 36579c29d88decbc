//! `go/socket_stick/server2/main.go` in one file of Rust, on mio directly,
//! decoding with `proto`. Run: `cargo run -p stick-demo --example
//! one_file_stick_server2`, then `cargo run -p stick-demo -- client2`.
//! It reads like the one-file TCP server (`tcp-server/examples/`): one
//! thread, a readiness loop (`Poll`), the Go line beside each step.
//!
//! Fixed, and nothing else changed: Go's `Decode` returns an empty message
//! when a frame has come only in part and never reads the rest, so the
//! server prints empty lines for ever; a negative length panics, and the
//! panic ends the whole server. `proto::frames` waits for the rest of a
//! frame, and refuses a bad length before buffering anything for it.

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

/// One client: what its goroutine would keep in local variables.
struct Connection {
    socket: TcpStream,
    /// Go: `reader := bufio.NewReader(conn)`: bytes read and not decoded
    /// yet, the start of a frame whose rest has not come.
    received: Vec<u8>,
}

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
    // Go: defer listen.Close(): the listener closes when the process ends.

    let mut connections: HashMap<Token, Connection> = HashMap::new();
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
                // Go: go process(conn). This server never writes, so it asks
                // only for readable events (each change reported once).
                let (token, readable) = (Token(next_token), Interest::READABLE);
                next_token += 1;
                if let Err(e) = poll.registry().register(&mut socket, token, readable) {
                    // This client only: dropping its socket closes it.
                    say!("accept failed, err: {e}");
                    continue;
                }
                let received = Vec::new();
                connections.insert(token, Connection { socket, received });
            }
        }
    }
}

/// Go's `process(conn)`, as long as it would not block: read until the
/// socket has no more (the next event comes only when more arrives), and
/// decode after each read. Returns false to close.
fn serve(conn: &mut Connection, buf: &mut [u8]) -> bool {
    // Go: for { … }
    loop {
        // Go: the reads `proto.Decode` makes through the `bufio.Reader`
        match conn.socket.read(buf) {
            Ok(0) => {
                // Go: if err == io.EOF { return }, silently; a frame cut
                // short is said (Go prints empty messages for ever instead).
                if let Err(e) = proto::frames(&conn.received).finish() {
                    say!("decode msg failed, err: {e}");
                }
                return false;
            }
            Ok(n) => conn.received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) => {
                // A reset, typically: this connection ends, the server goes on.
                say!("decode msg failed, err: {e}");
                return false;
            }
        }
        // One read may hold many frames (stuck), or part of one (split).
        let mut frames = proto::frames(&conn.received);
        // Go: msg, err := proto.Decode(reader), for each whole frame
        for frame in frames.by_ref() {
            match frame {
                // Go: fmt.Println("received client Data sent:", msg)
                Ok(msg) => say!("received client Data sent: {}", Escaped(msg)),
                Err(e) => {
                    // Go: if err != nil { fmt.Println("decode msg failed, err:", err); return }
                    // A negative length, or one over 8 MiB: no frame can be
                    // found after it. This client only is closed.
                    say!("decode msg failed, err: {e}");
                    return false;
                }
            }
        }
        // What is left is the start of a frame: keep it for the next read.
        let decoded = conn.received.len() - frames.remainder().len();
        conn.received.drain(..decoded);
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
        eprintln!("usage: one_file_stick_server2 [--addr HOST:PORT], e.g. --addr 127.0.0.1:0");
        std::process::exit(2)
    })
}

/// Go: `fmt.Println(…, err); return`; here on stderr, with exit status 1.
fn fail(what: &str, err: io::Error) -> ! {
    eprintln!("{what} failed, err: {err}");
    std::process::exit(1)
}
