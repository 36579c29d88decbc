//! `go/tcp/server/main.go` in one file of Rust, on mio directly: the same
//! steps in the same order, each marked with its Go line (`// Go:`). Run:
//! `cargo run -p tcp-server --example one_file_tcp_server`.
//!
//! Go gives each connection a goroutine that blocks in `Read`, and hides the
//! readiness loop that makes this cheap. Here it is in plain sight: one
//! thread asks the OS (`Poll`) which sockets are ready, and serves each until
//! it would block. Fixed, and nothing else changed: Go reads 128 bytes
//! through a new `bufio.Reader` each time and drops what it held beyond.
//! What the full server adds, one rung at a time, each shown missing here
//! and measured there: `docs/ladder.md`.

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
    /// Echo the socket did not take yet, kept until it is writable again.
    unsent: Vec<u8>,
    /// The client sent its last byte: close once `unsent` is sent.
    read_eof: bool,
}

fn main() {
    let addr = addr_from_args("127.0.0.1:20000");
    // Go: listen, err := net.Listen("tcp", "127.0.0.1:20000")
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
                // Go: go process(conn). mio reports each *change* of
                // readiness once (edge-triggered): ask for both, once.
                let token = Token(next_token);
                next_token += 1;
                let both = Interest::READABLE | Interest::WRITABLE;
                if let Err(e) = poll.registry().register(&mut socket, token, both) {
                    // This client only: dropping its socket closes it.
                    say!("accept failed, err: {e}");
                    continue;
                }
                let conn = Connection {
                    socket,
                    unsent: Vec::new(),
                    read_eof: false,
                };
                connections.insert(token, conn);
            }
        }
    }
}

/// Go's `process(conn)`, as long as it would not block: read until the
/// socket has no more (the next event comes only when more arrives), then
/// write what waits. Any event is answered so. Returns false to close.
fn serve(conn: &mut Connection, buf: &mut [u8]) -> bool {
    // Go: for { … }
    while !conn.read_eof {
        // Go: n, err := reader.Read(buf[:]), 64 KiB at a time, none dropped
        match conn.socket.read(buf) {
            Ok(0) => {
                // Go: fmt.Println("read from client failed, err:", err); break
                say!("read from client failed, err: EOF");
                conn.read_eof = true;
            }
            Ok(n) => {
                // Go: fmt.Println("received client Data sent from terminal:", recvStr)
                let text = Escaped(&buf[..n]);
                say!("received client Data sent from terminal: {text}");
                // Go: conn.Write([]byte(recvStr)): queued, written below
                conn.unsent.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => {
                // A reset, typically: this connection ends, the server goes on.
                say!("read from client failed, err: {e}");
                return false;
            }
        }
    }
    // Go's `conn.Write` blocks until the kernel took all; this thread serves
    // everyone, so it keeps what the socket does not take for a next event.
    while !conn.unsent.is_empty() {
        match conn.socket.write(&conn.unsent) {
            // A short write is no error: the kernel took what it had room for.
            Ok(n) if n > 0 => drop(conn.unsent.drain(..n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            // Failed, ignored as Go ignores it: the client is gone, and the
            // read above takes what it sent before going, then says why.
            _ => conn.unsent.clear(),
        }
    }
    // Go's goroutine returns after EOF once its writes are done; so do we.
    !(conn.read_eof && conn.unsent.is_empty())
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
        eprintln!("usage: one_file_tcp_server [--addr HOST:PORT], e.g. --addr 127.0.0.1:0");
        std::process::exit(2)
    })
}

/// Go: `fmt.Println(…, err); return`; here on stderr, with exit status 1.
fn fail(what: &str, err: io::Error) -> ! {
    eprintln!("{what} failed, err: {err}");
    std::process::exit(1)
}
