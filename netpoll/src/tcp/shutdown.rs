//! Stopping gracefully: stop accepting and reading, let pending output
//! drain within a deadline, and close each connection with a FIN, never a
//! reset that would destroy echo already on its way.

use std::io::Read;
use std::net::SocketAddr;
use std::time::Instant;

use super::event_loop::EventLoop;
use super::{CloseReason, Handler};
use crate::os::{interrupted, would_block};

impl<H, F> EventLoop<H, F>
where
    F: Fn(SocketAddr) -> H,
    H: Handler,
{
    /// SIGINT/SIGTERM: the first begins the shutdown, a second one during
    /// it stops waiting for pending output.
    pub(super) fn on_signal(&mut self) {
        let Some(signals) = &mut self.signals else {
            return;
        };
        for signal in signals.received() {
            if self.draining() {
                log::warn!("signal {signal} during shutdown: dropping pending output now");
                self.drain_deadline = Some(Instant::now());
            } else {
                log::info!("signal {signal}: shutting down");
                self.begin_shutdown();
            }
        }
    }

    /// Stops accepting and reading; connections with nothing pending close
    /// now, the others when flushed or at the deadline.
    pub(super) fn begin_shutdown(&mut self) {
        if self.draining() {
            return;
        }
        self.drain_deadline = Some(Instant::now() + self.opts.shutdown_timeout);
        self.listener = None;
        self.accept_pending = false;
        self.accept_paused_until = None;
        self.for_each_client_where(
            |client| client.socket.pending.is_empty(),
            |event_loop, key| event_loop.finish_for_shutdown(key, true),
        );
    }

    /// The shutdown deadline passed: close whatever is left, saying whether
    /// its output was all written.
    pub(super) fn close_at_deadline(&mut self) {
        self.for_each_client_where(
            |_| true,
            |event_loop, key| {
                let flushed = event_loop
                    .clients
                    .get(key)
                    .is_some_and(|client| client.socket.pending.is_empty());
                event_loop.close(key, CloseReason::Shutdown { flushed });
            },
        );
    }

    /// Closes a connection whose output is flushed, during shutdown,
    /// without destroying that output.
    ///
    /// Closing a socket that still has unread input makes the kernel send a
    /// reset instead of a FIN, and a reset throws away whatever echo is
    /// still in flight; since the loop stopped reading at shutdown, a peer
    /// that kept sending has unread input. So: send our FIN after the
    /// output (`shutdown(Write)`), discard what the peer sends, and close
    /// at its end-of-file (or at the shutdown deadline).
    ///
    /// `idle` is true for a connection that had no pending output when the
    /// shutdown began: if it has nothing unread either, its peer is not in
    /// the middle of a transfer and it closes at once, so idle clients do
    /// not delay the exit. A connection whose output had to be flushed
    /// first always waits for the peer's end-of-file: its peer may still
    /// have data in flight that would arrive after a close and draw a reset.
    pub(super) fn finish_for_shutdown(&mut self, key: usize, idle: bool) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        let socket = &mut client.socket;
        if !socket.pending.is_empty() {
            return; // on_writable comes back here once flushed
        }
        let first_visit = !socket.write_shut;
        if first_visit {
            socket.write_shut = true;
            if let Err(e) = socket.stream.shutdown(std::net::Shutdown::Write) {
                // Typically ENOTCONN: the peer already reset the connection.
                self.close(key, CloseReason::Error(e));
                return;
            }
        }
        let mut discarded = 0;
        let result = loop {
            match (&socket.stream).read(&mut self.scratch) {
                Ok(0) => break Ok(true),
                Ok(n) => discarded += n,
                Err(ref e) if would_block(e) => break Ok(false),
                Err(ref e) if interrupted(e) => continue,
                Err(e) => break Err(e),
            }
        };
        if discarded > 0 {
            log::debug!(
                "{}: shutting down, discarded {discarded} unread bytes",
                socket.peer
            );
        }
        match result {
            Err(e) => self.close(key, CloseReason::Error(e)),
            Ok(eof) if eof || (idle && first_visit && discarded == 0) => {
                self.close(key, CloseReason::Shutdown { flushed: true })
            }
            // The peer is still sending: wait for its end-of-file.
            Ok(_) => {}
        }
    }
}
