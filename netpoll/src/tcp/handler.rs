//! What a TCP server program writes: a [`Handler`] per connection, which
//! decides what to do with bytes, and [`Conn`], its view of the connection
//! while the loop calls it. Everything else (the socket, readiness, pending
//! output, limits) is the loop's.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use mio::net::TcpStream;

use super::output::PendingOutput;
use crate::trace::Trace;

/// What a server does with one connection's bytes. One value per accepted
/// connection, made by the factory given to [`Server::new`](super::Server).
///
/// The loop owns the socket: a handler never reads, writes or closes it
/// directly, it only calls [`Conn::send`] and [`Conn::close`]. Callbacks
/// run on the loop thread and must not block.
pub trait Handler {
    /// True if this handler sends back every byte it receives, unchanged,
    /// and need not see them. The loop may then echo a streaming peer
    /// inside the kernel (`splice(2)`, Linux), without calling
    /// [`on_data`](Handler::on_data) for those bytes. Default: false.
    fn echo_in_kernel(&self) -> bool {
        false
    }

    /// Bytes just read from the peer, exactly as one `read` returned them
    /// (at most [`Server::read_buffer_size`](crate::Server::read_buffer_size)).
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]);

    /// The peer shut down its write side (read returned end-of-file). The
    /// handler may still send; afterwards the loop flushes all pending
    /// output and then closes the connection.
    fn on_peer_closed_write(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// The connection is gone (the socket is closed right after this).
    fn on_close(&mut self, peer: SocketAddr, reason: &CloseReason) {
        let _ = (peer, reason);
    }
}

/// Why a connection was closed, as given to [`Handler::on_close`].
#[derive(Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer shut down its write side and every byte of output was written.
    PeerClosed,
    /// The handler called [`Conn::close`].
    Handler,
    /// The socket failed: reset by the peer, broken pipe, ...
    Error(io::Error),
    /// Nothing was read or written for the configured idle timeout.
    IdleTimeout,
    /// The server stopped. `flushed` is false when the shutdown deadline
    /// passed before the peer took all its output (pending, or still in
    /// the kernel's send queue).
    Shutdown {
        /// Whether all output was written, and taken by the peer, before closing.
        flushed: bool,
    },
    /// The server stopped at once, without waiting for the peer to take its
    /// output: a second stop signal came during a graceful shutdown.
    StoppedNow,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("peer closed the connection"),
            CloseReason::Handler => f.write_str("closed by the server's handler"),
            CloseReason::Error(e) => write!(f, "connection failed: {e}"),
            CloseReason::IdleTimeout => f.write_str("idle timeout"),
            CloseReason::Shutdown { flushed: true } => f.write_str("server shutdown"),
            CloseReason::Shutdown { flushed: false } => {
                f.write_str("server shutdown deadline passed before the peer took its echo")
            }
            CloseReason::StoppedNow => {
                f.write_str("second stop signal: stopped without waiting for the peer")
            }
        }
    }
}

/// A handler's view of its connection during a callback.
pub struct Conn<'a> {
    stream: &'a TcpStream,
    output: &'a mut PendingOutput,
    peer: SocketAddr,
    bytes_written: &'a mut u64,
    /// The connection's token, and the loop's tracer, for [`Conn::trace`].
    token: usize,
    tracer: Option<Trace>,
    pub(super) close: Option<CloseReason>,
}

impl<'a> Conn<'a> {
    pub(super) fn new(
        stream: &'a TcpStream,
        output: &'a mut PendingOutput,
        peer: SocketAddr,
        bytes_written: &'a mut u64,
        token: usize,
        tracer: Option<Trace>,
    ) -> Self {
        Conn {
            stream,
            output,
            peer,
            bytes_written,
            token,
            tracer,
            close: None,
        }
    }

    /// The peer's address, for log lines.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// With `--trace` (the server's [`trace`](crate::Server::trace)), a line
    /// about this connection among the loop's own, named as the loop names
    /// it (token, peer, and loop with several); without, nothing. For a
    /// handler's own steps: a frame decoded, a partial one kept.
    pub fn trace(&self, what: fmt::Arguments<'_>) {
        if let Some(tracer) = &self.tracer {
            tracer.conn(self.token, self.peer, what);
        }
    }

    /// Queues `data` for the peer, in order after everything sent before.
    ///
    /// When nothing is pending it is written to the socket at once, so the
    /// usual case costs one `write` and no copy; what the socket does not
    /// take is kept and written when it becomes writable. A write error
    /// (reset, broken pipe) closes this connection after the callback.
    pub fn send(&mut self, data: &[u8]) {
        if self.close.is_some() || data.is_empty() {
            return;
        }
        if let Err(e) = self.output.send(self.stream, data, self.bytes_written) {
            self.close = Some(CloseReason::Error(e));
        }
    }

    /// Bytes accepted by [`send`](Conn::send) and not yet written.
    pub fn pending_len(&self) -> usize {
        self.output.len()
    }

    /// Closes this connection as soon as the callback returns; pending
    /// output is dropped. Other connections are not affected.
    pub fn close(&mut self) {
        if self.close.is_none() {
            self.close = Some(CloseReason::Handler);
        }
    }
}
