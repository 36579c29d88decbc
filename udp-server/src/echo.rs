//! The echo server's per-datagram logic: the body of the Go server's `for`.
//!
//! ```go
//! n, addr, err := listen.ReadFromUDP(data[:])
//! fmt.Printf("data:%v addr:%v count:%v\n", string(data[:n]), addr, n)
//! _, err = listen.WriteToUDP(data[:n], addr)
//! ```
//!
//! The loop (`netpoll::udp`) receives the datagram and hands it to
//! [`Echo::on_datagram`], which prints the Go line and sends the datagram
//! back; a send the kernel cannot take yet is queued by the loop, not
//! blocked on.

use std::net::SocketAddr;

use edges::Escaped;
use edges::console::Console;
use netpoll::udp::{Handler, Socket};

/// Sends every datagram back to its sender unchanged, printing the Go
/// server's line for each unless told to be quiet.
#[derive(Debug)]
pub struct Echo {
    /// Whether to print the per-datagram line. Off with `--quiet`: a
    /// benchmark wants no formatted line per datagram.
    narrate: bool,
}

impl Echo {
    /// `quiet` suppresses the per-datagram teaching output.
    pub fn new(quiet: bool) -> Self {
        Echo { narrate: !quiet }
    }
}

impl Handler for Echo {
    fn on_datagram(&mut self, socket: &mut Socket<'_>, payload: &[u8], peer: SocketAddr) {
        if self.narrate {
            // The Go `fmt.Printf("data:%v addr:%v count:%v\n", …)`, the
            // payload [`Escaped`] so that a datagram cannot drive the
            // operator's terminal. Through the [`Console`]: a full or closed
            // stdout drops lines, it never stops the echo.
            Console::stdout().line(format_args!(
                "data:{} addr:{peer} count:{}",
                Escaped(payload),
                payload.len()
            ));
        }
        // listen.WriteToUDP(data[:n], addr)
        socket.send_to(payload, peer);
    }
}
