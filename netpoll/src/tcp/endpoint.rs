//! [`Endpoint`]: our end of one TCP connection, the part of a connection a
//! handler's [`Conn`](super::Conn) reaches while the loop calls it: the
//! socket, the peer's address, the output the socket has not taken yet,
//! and what names the connection. The rest of a connection (its reading
//! state, its handler) is the loop's alone (`connection.rs`).
//!
//! Kept apart so that a `Conn`, made for every callback on the hot path,
//! is a handful of references: one to this, one to the loop's links.

use std::net::SocketAddr;

use mio::net::TcpStream;

use super::output::PendingOutput;

/// Our end of one connection.
#[derive(Debug)]
pub(super) struct Endpoint {
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    /// Output accepted from the handler that the socket did not take yet.
    pub(super) output: PendingOutput,
    /// Its serial, which with its key makes its [`ConnId`](super::ConnId).
    pub(super) serial: u64,
    /// Replies promised to other threads ([`Conn::reply_later`](super::Conn::reply_later))
    /// and not yet settled: until they are, the peer's end of stream does
    /// not close the connection.
    pub(super) replies_due: u32,
}
