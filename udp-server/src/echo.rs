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

use std::io::{self, Write};
use std::net::SocketAddr;

use log::warn;
use netpoll::Escaped;
use netpoll::udp::{Handler, Socket};

/// Sends every datagram back to its sender unchanged, printing the Go
/// server's line for each unless told to be quiet.
#[derive(Debug)]
pub struct Echo {
    /// Whether to print the per-datagram line. Off with `--quiet` (a
    /// benchmark wants no formatted write per datagram), and turned off for
    /// good once stdout cannot be written.
    narrate: bool,
}

impl Echo {
    /// `quiet` suppresses the per-datagram teaching output.
    pub fn new(quiet: bool) -> Self {
        Echo { narrate: !quiet }
    }

    /// The Go `fmt.Printf("data:%v addr:%v count:%v\n", …)`, the payload
    /// [`Escaped`] so that a datagram cannot drive the operator's terminal.
    fn print(&mut self, payload: &[u8], peer: SocketAddr) {
        let line = writeln!(
            io::stdout(),
            "data:{} addr:{peer} count:{}",
            Escaped(payload),
            payload.len()
        );
        if let Err(err) = line {
            // Nobody reads our stdout any more (a closed pipe): keep
            // echoing, which is the server's job, without the narration.
            warn!("cannot print to stdout ({err}); per-datagram output turned off");
            self.narrate = false;
        }
    }
}

impl Handler for Echo {
    fn on_datagram(&mut self, socket: &mut Socket<'_>, payload: &[u8], peer: SocketAddr) {
        if self.narrate {
            self.print(payload, peer);
        }
        // listen.WriteToUDP(data[:n], addr)
        socket.send_to(payload, peer);
    }
}
