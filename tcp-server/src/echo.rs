//! The echo server's per-connection logic: the Go `process` function.
//!
//! ```go
//! for {
//!     reader := bufio.NewReader(conn)
//!     var buf [128]byte
//!     n, err := reader.Read(buf[:])
//!     if err != nil {
//!         fmt.Println("read from client failed, err:", err)
//!         break
//!     }
//!     recvStr := string(buf[:n])
//!     fmt.Println("received client Data sent from terminal:", recvStr)
//!     conn.Write([]byte(recvStr))
//! }
//! ```
//!
//! The Go loop builds a new `bufio.Reader` on every iteration: the reader
//! fills its 4096-byte buffer from the socket, hands out 128 bytes, and is
//! then thrown away with the rest, so any message longer than 128 bytes
//! loses data. Here the event loop reads straight into its scratch buffer
//! and hands every byte read to [`Echo::on_data`], which sends all of it.
//! The loop's "read until the socket is drained" replaces the Go `for`.
//!
//! The lines go out through [`Console`], never a blocking `write` on the
//! loop thread: a full stdout (a pipe nobody reads) must not stop serving
//! (`edges/src/console.rs` says how; proved by
//! `full_stdout_does_not_stop_the_server_from_serving`).

use std::net::SocketAddr;

use edges::Escaped;
use edges::console::Console;
use netpoll::tcp::{CloseReason, Conn, Handler};

/// Echoes every byte back, printing each read unless quiet.
///
/// One byte per connection: the state of an echo is the socket itself.
#[derive(Debug, Clone, Copy)]
pub struct Echo {
    quiet: bool,
}

impl Echo {
    /// `quiet` suppresses the per-read teaching output (benchmarks).
    pub fn new(quiet: bool) -> Self {
        Echo { quiet }
    }
}

impl Handler for Echo {
    /// Quiet, an echo needs nothing from the bytes: let the kernel carry a
    /// streaming peer's data straight back (`splice`), as Go's `io.Copy`
    /// does. The teaching output needs to see them, so not when printing.
    fn echo_in_kernel(&self) -> bool {
        self.quiet
    }

    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        if !self.quiet {
            // The Go server's line, plus the peer, since one process serves
            // many clients.
            Console::stdout().line(format_args!(
                "received client Data sent from terminal: {} (from {})",
                Escaped(data),
                conn.peer_addr()
            ));
        }
        conn.send(data);
    }

    /// The Go read loop ends on `io.EOF` with its line; so does ours (the
    /// loop still flushes the echo and closes the connection after this).
    fn on_peer_closed_write(&mut self, conn: &mut Conn<'_>) {
        if !self.quiet {
            Console::stdout().line(format_args!(
                "read from client failed, err: EOF (from {})",
                conn.peer_addr()
            ));
        }
    }

    /// A failed read or write (a reset, typically): the Go line, with our
    /// error's words.
    fn on_close(&mut self, peer: SocketAddr, reason: &CloseReason) {
        if let (false, CloseReason::Error(e)) = (self.quiet, reason) {
            Console::stdout().line(format_args!(
                "read from client failed, err: {e} (from {peer})"
            ));
        }
    }
}
