//! What a UDP server program writes: a [`Handler`], which decides what to do
//! with each datagram, and [`Socket`], its view of the server's socket while
//! the loop calls it. Everything else (receiving, readiness, the send queue,
//! stopping) is the loop's.
//!
//! This is TCP's [`Handler`](crate::tcp::Handler) and
//! [`Conn`](crate::tcp::Conn) without connections: one handler for the whole
//! socket instead of one per peer, and the peer named with every datagram
//! instead of once per connection.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use log::warn;
use mio::net::UdpSocket;

use super::{SendQueue, Stats};
use crate::RateLimitedLog;
use crate::os::{interrupted, would_block};

/// What a server does with each datagram it receives. One value for the
/// whole socket, given to [`Server::new`](super::Server::new) and moved to
/// the loop's thread (hence `Send`, where a TCP handler, made on the loop
/// thread, need not be).
///
/// The loop owns the socket: a handler never receives or sends on it
/// directly, it only calls [`Socket::send_to`]. Callbacks run on the loop
/// thread and must not block.
pub trait Handler {
    /// One datagram from `peer`, whole (UDP keeps message boundaries, and
    /// the receive buffer holds any UDP payload). Zero-length datagrams are
    /// datagrams too.
    fn on_datagram(&mut self, socket: &mut Socket<'_>, payload: &[u8], peer: SocketAddr);
}

/// A handler's view of the server's socket during a callback: a way to
/// send, and nothing that could block or end the loop.
pub struct Socket<'a> {
    pub(super) socket: &'a UdpSocket,
    pub(super) queue: &'a mut SendQueue,
    pub(super) stats: &'a mut Stats,
    /// Lines about datagrams not sent: a peer (or a forged sender) can
    /// cause one per datagram, so they are rate limited.
    pub(super) send_log: &'a mut RateLimitedLog,
}

impl Socket<'_> {
    /// Sends `payload` to `peer` now, or, when the kernel's send buffer is
    /// full, keeps it in the bounded [`SendQueue`] until the socket is
    /// writable again. The Go `WriteToUDP` blocks instead, and stops serving
    /// every other peer meanwhile.
    ///
    /// While older datagrams are queued a new one goes behind them, so one
    /// peer's replies keep their order. A datagram that cannot be sent (the
    /// queue is full, or the kernel refuses this peer) is logged and counted
    /// in [`Stats::dropped`]: UDP promises no delivery, so the loop goes on.
    pub fn send_to(&mut self, payload: &[u8], peer: SocketAddr) {
        if !self.queue.is_empty() {
            self.enqueue(payload, peer);
            return;
        }
        match send_datagram(self.socket, payload, peer) {
            Sent::Whole => self.stats.bytes_written += payload.len() as u64,
            Sent::NotNow => self.enqueue(payload, peer),
            Sent::Failed(err) => {
                self.stats.dropped += 1;
                // Rate limited: never a line per datagram of a flood.
                if let Some(suppressed) = self.send_log.ready(Instant::now()) {
                    warn!(
                        "send to {peer} failed, datagram dropped: {err}{}",
                        more_dropped(suppressed)
                    );
                }
            }
        }
    }

    fn enqueue(&mut self, payload: &[u8], peer: SocketAddr) {
        // A refused datagram is counted by the queue itself (see
        // `SendQueue::dropped`); the loop adds it up when it stops.
        if self.queue.push(peer, payload) {
            self.stats.queued += 1;
        } else if let Some(suppressed) = self.send_log.ready(Instant::now()) {
            // Rate limited, as in `send_to`.
            warn!(
                "send queue full ({} datagrams, {} bytes): {} bytes to {peer} dropped{}",
                self.queue.len(),
                self.queue.queued_bytes(),
                payload.len(),
                more_dropped(suppressed)
            );
        }
    }
}

/// What a rate-limited line about a dropped datagram adds: how many such
/// lines were held back since the last.
pub(super) fn more_dropped(suppressed: u64) -> String {
    match suppressed {
        0 => String::new(),
        n => format!(" ({n} more datagrams dropped since the last such line)"),
    }
}

/// What became of one `send_to`.
pub(super) enum Sent {
    /// A UDP send takes the whole datagram or fails: there is no short
    /// write to finish later.
    Whole,
    /// The socket's send buffer is full: keep the datagram until the socket
    /// says it is writable again.
    NotNow,
    /// This peer cannot be sent to (ICMP port unreachable surfacing as
    /// `ECONNREFUSED`, `EACCES` for a broadcast address, `EMSGSIZE`…). That
    /// concerns this one datagram: the Go server also just logs and carries on.
    Failed(io::Error),
}

/// One `send_to`, retried when a signal interrupts it; used for fresh
/// datagrams ([`Socket::send_to`]) and queued ones (the loop's `on_writable`).
pub(super) fn send_datagram(socket: &UdpSocket, payload: &[u8], peer: SocketAddr) -> Sent {
    loop {
        return match socket.send_to(payload, peer) {
            Ok(_) => Sent::Whole,
            Err(err) if would_block(&err) => Sent::NotNow,
            // A signal arrived before anything was sent: try again.
            Err(err) if interrupted(&err) => continue,
            Err(err) => Sent::Failed(err),
        };
    }
}
