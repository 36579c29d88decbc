//! Reading and writing one connection: read until the socket is drained,
//! keep what the socket did not take as pending output, and stop reading a
//! peer that does not read its replies (backpressure).

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use mio::net::TcpStream;

use super::event_loop::EventLoop;
use super::splice::SplicePipe;
use super::{CloseReason, Conn, Handler};
use crate::os::{SHORT_WRITE_MEANS_FULL, interrupted, would_block};

/// Most reads from one connection per readiness turn. A peer that sends
/// as fast as the loop reads would otherwise keep `read_until_drained`
/// busy for ever; after this many full reads the connection goes to the
/// back of the line (the `resume` list) and the others get their turn.
const READS_PER_TURN: usize = 16;

/// One accepted connection: the loop's side of its socket, and the handler
/// the program gave it.
pub(super) struct Client<H> {
    pub(super) socket: ClientSocket,
    pub(super) handler: H,
}

/// The loop's side of one connection, kept small because 10 000 idle
/// connections must cost little: no read buffer, and `pending` holds an
/// allocation only while output is waiting for the socket.
pub(super) struct ClientSocket {
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    /// Output accepted from the handler that the socket did not take yet.
    pub(super) pending: BytesMut,
    /// Loop clock (milliseconds, wrapping) of the last read or write progress.
    pub(super) last_active_ms: u32,
    pub(super) read: ReadState,
    /// An event said the peer's FIN (or a hang-up) has arrived, so a short
    /// read no longer proves a new edge will come: read until end-of-file.
    pub(super) fin_seen: bool,
    /// Shutting down: our FIN is sent, waiting for the peer's (see
    /// `EventLoop::finish_for_shutdown`).
    pub(super) write_shut: bool,
    /// The peer streams and the handler echoes: move bytes with `splice`.
    pub(super) splicing: bool,
    /// The peer may have sent urgent data (`MSG_OOB`). A read stops short
    /// at the urgent mark however much follows it, and no new edge comes
    /// for what is already queued, so for this connection a short read no
    /// longer proves the receive queue empty: it is read until `WouldBlock`.
    /// Set by a priority event (Linux); where there is none, from the start.
    /// (`splice` stops at the mark too, for good: never spliced again.)
    pub(super) urgent: bool,
}

/// Whether the loop reads this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadState {
    /// Reading as data arrives.
    Open,
    /// Pending output passed the high-water mark: reading waits for it to
    /// drain (backpressure).
    Paused,
    /// The read side reached end-of-file; close once output is flushed.
    Eof,
}

impl ClientSocket {
    pub(super) fn new(stream: TcpStream, peer: SocketAddr, now_ms: u32) -> Self {
        ClientSocket {
            stream,
            peer,
            pending: BytesMut::new(),
            last_active_ms: now_ms,
            read: ReadState::Open,
            fin_seen: false,
            write_shut: false,
            splicing: false,
            urgent: cfg!(not(any(target_os = "linux", target_os = "android"))),
        }
    }

    /// Writes pending output until it is all written (`Ok(true)`) or the
    /// socket is full (`Ok(false)`).
    pub(super) fn flush(&mut self, bytes_written: &mut u64) -> io::Result<bool> {
        while !self.pending.is_empty() {
            match (&self.stream).write(&self.pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    *bytes_written += n as u64;
                    self.pending.advance(n);
                    // Short write: the send buffer is full, wait for the next
                    // edge (Windows: write on to hear WouldBlock, see os.rs).
                    if !self.pending.is_empty() && SHORT_WRITE_MEANS_FULL {
                        return Ok(false);
                    }
                }
                Err(ref e) if would_block(e) => return Ok(false),
                Err(ref e) if interrupted(e) => continue,
                Err(e) => return Err(e),
            }
        }
        // Give the memory back: an idle connection should hold no buffer.
        self.pending = BytesMut::new();
        Ok(true)
    }
}

impl<H, F> EventLoop<H, F>
where
    F: Fn(SocketAddr) -> H,
    H: Handler,
{
    /// Flushes pending output, then finishes whatever waited for it.
    /// Returns whether it went on to read (so the caller does not read again).
    pub(super) fn on_writable(&mut self, key: usize) -> bool {
        let draining = self.draining();
        let Some(client) = self.clients.get_mut(key) else {
            return false;
        };
        let socket = &mut client.socket;
        let written_before = self.stats.bytes_written;
        let flushed = socket.flush(&mut self.stats.bytes_written);
        socket.last_active_ms = self.now_ms;
        if let Some(trace) = &self.trace {
            let wrote = self.stats.bytes_written - written_before;
            let pending = socket.pending.len();
            trace.conn(
                key,
                socket.peer,
                format_args!("wrote {wrote} bytes of pending output, {pending} bytes pending"),
            );
            if flushed.as_ref().is_ok_and(|&all| all) && socket.read == ReadState::Paused {
                trace.conn(key, socket.peer, format_args!("resume reading"));
            }
        }
        let eof = socket.read == ReadState::Eof;
        match flushed {
            Err(e) => self.close(key, CloseReason::Error(e)),
            Ok(false) => {}
            Ok(true) if draining => self.finish_for_shutdown(key),
            Ok(true) if eof => self.close(key, CloseReason::PeerClosed),
            Ok(true) => {
                // Resume a read paused by backpressure (no edge will announce
                // the data that waited meanwhile), or read what arrived with
                // this event.
                socket.read = ReadState::Open;
                self.read_until_drained(key);
                return true;
            }
        }
        false
    }

    /// Reads until the socket is drained, handing each read to the handler,
    /// unless the connection is paused, finished, or the server is stopping.
    pub(super) fn read_until_drained(&mut self, key: usize) {
        let draining = self.draining();
        let Some(Client { socket, handler }) = self.clients.get_mut(key) else {
            return;
        };
        if socket.read != ReadState::Open || draining {
            return;
        }
        let mut reads = 0;
        let close = loop {
            let want = self.scratch.len();
            // Splice only while nothing is pending: pending output must go
            // out before anything read after it.
            let spliced = socket.splicing
                && socket.pending.is_empty()
                && !socket.urgent
                && self.pipe.is_some();
            let result = match &mut self.pipe {
                Some(pipe) if spliced => {
                    pipe.echo(socket, &mut self.scratch, &mut self.stats.bytes_written)
                }
                _ => (&socket.stream).read(&mut self.scratch),
            };
            match result {
                // End-of-file: the peer shut down its write side. Everything
                // it sent has been handed to the handler; finish after the
                // pending output is flushed.
                Ok(0) => {
                    if let Some(trace) = &self.trace {
                        trace.conn(
                            key,
                            socket.peer,
                            format_args!("read 0 bytes: peer closed its write side"),
                        );
                    }
                    socket.read = ReadState::Eof;
                    let mut conn =
                        Conn::new(socket, &mut self.stats.bytes_written, key, self.trace);
                    handler.on_peer_closed_write(&mut conn);
                    if let Some(reason) = conn.close {
                        break Some(reason);
                    }
                    break socket.pending.is_empty().then_some(CloseReason::PeerClosed);
                }
                // Echoed inside the kernel. A splice moves at most what the
                // pipe holds, so a short one does not prove the socket
                // drained: go on until WouldBlock. A small one means the
                // stream has slowed down: back to plain reads.
                Ok(n) if spliced => {
                    if let Some(trace) = &self.trace {
                        trace.conn(
                            key,
                            socket.peer,
                            format_args!("spliced {n} bytes: echoed inside the kernel"),
                        );
                    }
                    self.stats.bytes_read += n as u64;
                    socket.last_active_ms = self.now_ms;
                    if n < want / 2 {
                        socket.splicing = false;
                    }
                }
                Ok(n) => {
                    self.stats.bytes_read += n as u64;
                    socket.last_active_ms = self.now_ms;
                    let written_before = self.stats.bytes_written;
                    if let Some(trace) = &self.trace {
                        trace.conn(key, socket.peer, format_args!("read {n} bytes"));
                    }
                    let mut conn =
                        Conn::new(socket, &mut self.stats.bytes_written, key, self.trace);
                    handler.on_data(&mut conn, &self.scratch[..n]);
                    let close = conn.close;
                    if let Some(trace) = &self.trace {
                        let wrote = self.stats.bytes_written - written_before;
                        let pending = socket.pending.len();
                        if wrote > 0 || pending > 0 {
                            trace.conn(
                                key,
                                socket.peer,
                                format_args!("wrote {wrote} bytes, {pending} bytes pending"),
                            );
                        }
                    }
                    if let Some(reason) = close {
                        break Some(reason);
                    }
                    // Backpressure: the peer is not reading its replies fast
                    // enough; stop taking its requests until they drain.
                    if socket.pending.len() > self.opts.max_pending {
                        if let Some(trace) = &self.trace {
                            trace.conn(
                                key,
                                socket.peer,
                                format_args!(
                                    "paused: backpressure ({} bytes pending, above --max-pending {}): pause reading",
                                    socket.pending.len(),
                                    self.opts.max_pending
                                ),
                            );
                        }
                        socket.read = ReadState::Paused;
                        break None;
                    }
                    // A short read emptied the receive queue; the next read
                    // would only say WouldBlock. Unless the FIN is already
                    // in (no edge would follow it), or urgent data may have
                    // cut the read short, wait for the next edge.
                    if n < want && !socket.fin_seen && !socket.urgent {
                        if let Some(trace) = &self.trace {
                            trace.conn(
                                key,
                                socket.peer,
                                format_args!(
                                    "short read ({n} < {want}): queue drained, wait for the next edge"
                                ),
                            );
                        }
                        break None;
                    }
                    // A full buffer: the peer is streaming. An echo handler
                    // lets the kernel carry the stream back from now on.
                    if n == want && handler.echo_in_kernel() && !self.pipe_failed && !socket.urgent
                    {
                        if self.pipe.is_none() {
                            match SplicePipe::new() {
                                Ok(pipe) => self.pipe = Some(pipe),
                                // No splice(2) on this OS (see splice.rs):
                                // user space from now on, never asked again.
                                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                                    self.pipe_failed = true;
                                }
                                // Out of descriptors, typically: echo via user
                                // space for now, try again on a later stream.
                                Err(e) => log::debug!("no pipe for splice yet: {e}"),
                            }
                        }
                        socket.splicing = self.pipe.is_some();
                    }
                }
                // Drained: edge-triggered readiness will report new data.
                Err(ref e) if would_block(e) => {
                    if let Some(trace) = &self.trace {
                        trace.conn(
                            key,
                            socket.peer,
                            format_args!("would block: queue drained, wait for the next edge"),
                        );
                    }
                    break None;
                }
                Err(ref e) if interrupted(e) => continue,
                // The kernel cannot splice here; nothing was taken, so
                // read instead, and never try again.
                Err(e) if spliced && e.kind() == io::ErrorKind::Unsupported => {
                    // Once per loop (splicing is off from then on); queued.
                    log::warn!("cannot splice, echoing via user space: {e}");
                    self.pipe = None;
                    self.pipe_failed = true;
                    socket.splicing = false;
                }
                // Reset or similar: only this connection is affected.
                Err(e) => {
                    if self.pipe.as_ref().is_some_and(|pipe| pipe.broken) {
                        // Once per loop, as above; queued.
                        log::error!("splice pipe unusable, echoing via user space: {e}");
                        self.pipe = None;
                        self.pipe_failed = true;
                    }
                    break Some(CloseReason::Error(e));
                }
            }
            reads += 1;
            if reads == READS_PER_TURN {
                if let Some(trace) = &self.trace {
                    trace.conn(
                        key,
                        socket.peer,
                        format_args!(
                            "turn used up ({READS_PER_TURN} reads): back of the line, more after the others"
                        ),
                    );
                }
                self.resume.push(key);
                break None;
            }
        };
        if let Some(reason) = close {
            self.close(key, reason);
        }
    }
}
