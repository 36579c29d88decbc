//! [`RecvBatch`] where there is no `recvmmsg(2)` (everything but Linux): a
//! batch of one datagram per `recv_from`, behind the same interface as the
//! Linux batch in `batch.rs`, so the loop has one receive path.
//!
//! With [`BATCH`] at 1 a full batch never proves the socket drained, so the
//! loop receives until `WouldBlock`, as edge-triggered readiness requires.

use std::io;
use std::net::SocketAddr;

use mio::net::UdpSocket;

use super::RECV_BUFFER_LEN;

/// Datagrams received per call: one, by `recv_from`.
pub(crate) const BATCH: usize = 1;

/// The system call one batch costs, for the trace.
pub(crate) const CALL: &str = "recv_from";

/// One receive buffer, allocated once per server, and what the last call put in it.
pub(crate) struct RecvBatch {
    buffer: Vec<u8>,
    /// Length and sender of the datagram the last call received.
    last: Option<(usize, SocketAddr)>,
}

impl RecvBatch {
    pub(crate) fn new() -> RecvBatch {
        RecvBatch {
            buffer: vec![0; RECV_BUFFER_LEN],
            last: None,
        }
    }

    /// Receives one datagram without blocking; returns 1.
    pub(crate) fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.last = None;
        let (len, peer) = socket.recv_from(&mut self.buffer)?;
        self.last = Some((len, peer));
        Ok(1)
    }

    /// The datagram of the last [`RecvBatch::recv`] (`i` is 0): its payload
    /// and sender.
    pub(crate) fn datagram(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let (len, peer) = self.last.filter(|_| i == 0)?;
        Some((&self.buffer[..len], peer))
    }
}
