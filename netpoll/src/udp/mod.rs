//! The UDP readiness loop: the same ideas as [`tcp`](crate::tcp), without
//! connections. One socket, one [`Handler`] called for every datagram, and a
//! bounded [`SendQueue`] for replies the kernel cannot take yet; the server
//! is built, run and stopped with the same words as the TCP one
//! ([`Server`], [`ServerHandle`](crate::ServerHandle)`<`[`Stats`]`>`,
//! `handle_signals`).
//!
//! # What differs from the Go server, and why
//!
//! `udp-server` is this loop plus a handler that echoes and prints the Go
//! line. Beside the Go tutorial's `UDP/server/main.go`:
//!
//! | Go | here | why |
//! |---|---|---|
//! | binds `0.0.0.0:30000` | `udp-server` binds [`DEFAULT_ADDR`], loopback, unless told otherwise | an echo server reachable from the network is an open reflector (see [`DEFAULT_ADDR`]) |
//! | `var data [1024]byte` | [`RECV_BUFFER_LEN`]-byte receive buffers, allocated once | `ReadFromUDP` silently cuts a larger datagram to 1024 bytes; 65 535 holds any UDP payload |
//! | blocks in `ReadFromUDP`, then in `WriteToUDP` | mio readiness: receive until the socket is drained, [`Socket::send_to`], queue on `WouldBlock` | one thread, never blocked by one peer; a full send buffer queues (bounded) instead of stalling every other peer |
//! | one `ReadFromUDP` system call per datagram | on Linux, `recvmmsg` takes up to 32 per call (`batch.rs`); elsewhere `recv_from` until `WouldBlock` | a batch shorter than 32 proves the socket drained, saving the extra call that only says `WouldBlock` |
//! | blocks in `ReadFromUDP` again at once; Go's scheduler spins a little before parking | after traffic, polls without sleeping for [`Server::spin`] (default [`DEFAULT_SPIN_US`](crate::spin::DEFAULT_SPIN_US) µs) before sleeping in `epoll_wait` | a sleeping thread takes longer to wake than a ping-pong peer takes to answer: see [`spin`](crate::spin) |
//! | `fmt.Printf("data:%v …", string(data[:n]), …)` | the handler's business: `udp-server`'s prints the same line, bytes escaped | the loop stays silent for a benchmark; a datagram must not be able to drive the operator's terminal |
//! | `fmt.Printf` on the loop's own thread: a stdout nobody reads stops the server | the loop writes nothing itself: its warnings and `--trace` are `log` records, which the programs' logger queues for a writer thread, as `udp-server`'s handler queues its lines (see the crate doc); lines a peer can cause at will are rate limited | no write may block the loop |
//! | runs until killed | SIGINT/SIGTERM ([`Server::handle_signals`]) or [`ServerHandle::shutdown`](crate::ServerHandle::shutdown) end the loop with its [`Stats`] | scripts and tests get a clean exit 0 and the figures |
//!
//! # Example
//!
//! An echo server inside the process, as `udp-client`'s tests run one:
//!
//! ```
//! use std::net::{SocketAddr, UdpSocket};
//! use netpoll::udp::{Handler, Server, Socket, Stats};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn on_datagram(&mut self, socket: &mut Socket<'_>, payload: &[u8], peer: SocketAddr) {
//!         socket.send_to(payload, peer);
//!     }
//! }
//!
//! let server = Server::new(Echo).start("127.0.0.1:0".parse().unwrap())?;
//! let client = UdpSocket::bind("127.0.0.1:0")?;
//! client.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
//! client.send_to(b"Hello server", server.local_addr())?;
//! let mut reply = [0; 64];
//! let (n, from) = client.recv_from(&mut reply)?;
//! assert_eq!((&reply[..n], from), (&b"Hello server"[..], server.local_addr()));
//!
//! let stats = server.stop()?;
//! assert_eq!(
//!     stats,
//!     Stats { datagrams: 1, bytes_read: 12, bytes_written: 12, dropped: 0, queued: 0 }
//! );
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The files
//!
//! `event_loop.rs` (the loop: [`Server::start`](crate::Server::start),
//! then `run`: receiving, the handler's turn, flushing the queue,
//! stopping), `batch.rs` (many datagrams per system call, Linux only;
//! `batch_fallback.rs`, one per call, elsewhere), `queue.rs`
//! ([`SendQueue`]); the public side is `handler.rs` ([`Handler`],
//! [`Socket`]), `server.rs` (the settings of [`Server`], the default
//! address) and [`Stats`], here.

#[cfg(target_os = "linux")]
mod batch;
#[cfg(not(target_os = "linux"))]
#[path = "batch_fallback.rs"]
mod batch;
mod event_loop;
mod handler;
mod queue;
mod server;
#[cfg(test)]
mod tests;

pub use event_loop::RECV_BUFFER_LEN;
pub use handler::{Handler, Socket};
pub use queue::SendQueue;
pub use server::{DEFAULT_ADDR, Server, Udp};

crate::handle::counters! {
    /// Counters of one UDP server run.
    pub struct Stats {
        /// Datagrams received (zero-length ones included).
        pub datagrams: u64,
        /// Payload bytes received.
        pub bytes_read: u64,
        /// Payload bytes sent, at once or from the send queue.
        pub bytes_written: u64,
        /// Datagrams handed to [`Socket::send_to`] that never left: the
        /// send queue was full, the kernel refused the send, or they were
        /// still queued when the server stopped.
        pub dropped: u64,
        /// Datagrams that waited in the send queue, the kernel's send
        /// buffer being full when they were sent (see [`SendQueue`]).
        pub queued: u64,
    }
}

/// A running UDP server; see [`ServerHandle`](crate::ServerHandle).
pub type ServerHandle = crate::ServerHandle<Stats>;
