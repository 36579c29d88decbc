//! Output the socket did not take yet: a connection's [`PendingOutput`].
//!
//! A `write` to a non-blocking socket takes what fits in the kernel's send
//! buffer and no more. What it leaves is not an error and must not be lost:
//! it is kept, in order, and written when the socket says it has room
//! again (a writable edge). The Go program's `conn.Write` blocks instead,
//! parking its goroutine; a loop that blocked would stop every client.

use std::io::{self, Write};

use bytes::{Buf, BytesMut};
use mio::net::TcpStream;

use crate::os::{SHORT_WRITE_MEANS_FULL, interrupted, would_block};

/// Bytes accepted for the peer that the socket has not taken yet. Holds an
/// allocation only while there are some: 10 000 idle connections must cost
/// little.
#[derive(Debug, Default)]
pub(super) struct PendingOutput(BytesMut);

impl PendingOutput {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sends `data` after everything pending: written to `stream` at once
    /// when nothing is pending (the usual case: one `write`, no copy), the
    /// rest kept. An error (reset, broken pipe) is the connection's end.
    pub(super) fn send(
        &mut self,
        stream: &TcpStream,
        mut data: &[u8],
        bytes_written: &mut u64,
    ) -> io::Result<()> {
        if self.0.is_empty() {
            write_until_full(stream, &mut data, bytes_written)?;
        }
        if !data.is_empty() {
            self.keep(data);
        }
        Ok(())
    }

    /// Keeps `data`, after everything pending, without trying the socket.
    pub(super) fn keep(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
    }

    /// Writes pending output until it is all written (`Ok(true)`) or the
    /// socket is full (`Ok(false)`).
    pub(super) fn flush(
        &mut self,
        stream: &TcpStream,
        bytes_written: &mut u64,
    ) -> io::Result<bool> {
        let mut rest = &self.0[..];
        let result = write_until_full(stream, &mut rest, bytes_written);
        let written = self.0.len() - rest.len();
        self.0.advance(written);
        result?;
        if !self.0.is_empty() {
            return Ok(false);
        }
        // Give the memory back: an idle connection should hold no buffer.
        self.0 = BytesMut::new();
        Ok(true)
    }
}

/// Writes `data` until it is all written or the socket is full, advancing
/// it past what was written (also when an error ends the writing).
#[inline]
fn write_until_full(
    stream: &TcpStream,
    data: &mut &[u8],
    bytes_written: &mut u64,
) -> io::Result<()> {
    while !data.is_empty() {
        match (&*stream).write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                *bytes_written += n as u64;
                *data = &data[n..];
                // A short write means the send buffer is full; the kernel
                // raises a writable edge once it has room again (Windows:
                // write on to hear WouldBlock, see os.rs).
                if !data.is_empty() && SHORT_WRITE_MEANS_FULL {
                    return Ok(());
                }
            }
            // "Would block" is the OS saying the send buffer is full.
            Err(ref e) if would_block(e) => return Ok(()),
            Err(ref e) if interrupted(e) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
