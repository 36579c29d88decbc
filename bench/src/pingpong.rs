//! The `tcp` scenario's load generator: one thread, one mio `Poll`, N
//! connections, each sending an L-byte request and waiting for its whole
//! echo before sending the next.
//!
//! This is the request/response pattern of the Go tutorial's client,
//! multiplied: with one request in flight per connection, requests/s
//! measures the round trip through the server, not how much the kernel can
//! buffer. Every echoed byte is compared with what was sent (each request's
//! payload is distinct), so a wrong echo is an error, never a fast result.

use std::{
    io::{Read as _, Write as _},
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use mio::{Events, Poll, net::TcpStream};

use crate::{
    cli::Args,
    exchange::{self, Recorder, polled, some},
    payload,
    table::Round,
};

/// How long without a completed request before the server is taken to be stuck.
const STALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Large enough to take any echo of a default-sized request in one `read`.
const READ_BUF_LEN: usize = 64 * 1024;

/// One connection and the request it has in flight.
struct Conn {
    stream: TcpStream,
    id: u64,
    seq: u64,
    request: Vec<u8>,
    written: usize,
    echoed: usize,
    sent_at: Instant,
    /// Whether a request awaits its echo.
    in_flight: bool,
}

impl Conn {
    fn start_request(&mut self) -> Result<()> {
        self.seq += 1;
        payload::fill(&mut self.request, self.id, self.seq);
        (self.written, self.echoed) = (0, 0);
        self.sent_at = Instant::now();
        self.in_flight = true;
        self.write()
    }

    /// Writes what is left of the request until done or the socket is full.
    fn write(&mut self) -> Result<()> {
        while self.written < self.request.len() {
            let written = some(|| self.stream.write(&self.request[self.written..]));
            match written.with_context(|| format!("connection {}: write", self.id))? {
                Some(0) => bail!("connection {}: the server stopped accepting bytes", self.id),
                Some(n) => self.written += n,
                None => break,
            }
        }
        Ok(())
    }

    /// Reads what the server echoed and checks it; when a request completes
    /// while measuring (`recorder`), records its latency and sends the next.
    fn read(
        &mut self,
        scratch: &mut [u8],
        closed: bool,
        mut recorder: Option<&mut Recorder>,
    ) -> Result<()> {
        loop {
            let read = some(|| self.stream.read(scratch));
            let n = match read.with_context(|| format!("connection {}: read", self.id))? {
                Some(0) => bail!(
                    "connection {}: the server closed it with request {} {} of {} bytes echoed",
                    self.id,
                    self.seq,
                    self.echoed,
                    self.request.len()
                ),
                Some(n) => n,
                // Drained: edge-triggered readiness will report new data.
                None => return Ok(()),
            };
            let end = self.echoed + n;
            if end > self.written {
                bail!(
                    "connection {}: the server sent {end} bytes for request {} but only {} were sent",
                    self.id,
                    self.seq,
                    self.written
                );
            }
            if let Some(at) =
                payload::first_mismatch(&scratch[..n], &self.request[self.echoed..end])
            {
                bail!(
                    "connection {}: echo of request {} differs at byte {}",
                    self.id,
                    self.seq,
                    self.echoed + at
                );
            }
            self.echoed = end;
            if end == self.request.len() {
                self.in_flight = false;
                if let Some(recorder) = recorder.as_deref_mut() {
                    recorder.completed(self.sent_at.elapsed());
                    self.start_request()?;
                }
            }
            // A short read means the receive queue is empty: skip the `read`
            // that would only say WouldBlock (a system call per request).
            // Not when the peer closed: the next read must see the end.
            if n < scratch.len() && !closed {
                return Ok(());
            }
        }
    }
}

/// One round: `conns` connections against the server at `addr` whose
/// process is `server_pid`.
pub fn run(addr: SocketAddr, server_pid: u32, args: &Args, conns: usize) -> Result<Round> {
    let mut poll = Poll::new().context("creating the poll")?;
    let mut events = Events::with_capacity(conns.clamp(1, 1024));
    let mut conns: Vec<Conn> = (0..conns)
        .map(|id| {
            Ok(Conn {
                stream: exchange::connect(addr, poll.registry(), id)?,
                id: id as u64,
                seq: 0,
                request: vec![0; args.len as usize],
                written: 0,
                echoed: 0,
                sent_at: Instant::now(),
                in_flight: false,
            })
        })
        .collect::<Result<_>>()?;
    let mut scratch = vec![0; READ_BUF_LEN];
    let mut recorder = Some(Recorder::start(server_pid, args.warmup(), args.measure())?);
    for conn in &mut conns {
        conn.start_request()?;
    }
    // Once measured, the echoes of the requests in flight are still read
    // (and checked), with no new ones sent, so every connection closes with
    // nothing unread: closing over unread bytes makes the kernel reset it.
    let mut outcome = None;
    let mut last_progress = Instant::now();
    while outcome.is_none() || conns.iter().any(|c| c.in_flight) {
        let now = Instant::now();
        if let Some(measuring) = recorder.as_mut().filter(|_| outcome.is_none()) {
            if measuring.is_over(now)? {
                outcome = recorder.take().map(|r| r.finish(now)).transpose()?;
                last_progress = now;
            }
        }
        if now.duration_since(last_progress) > STALL_TIMEOUT {
            bail!("no request completed for {STALL_TIMEOUT:?}: the server at {addr} stalled");
        }
        polled(poll.poll(&mut events, Some(Duration::from_millis(100))))?;
        for event in &events {
            let conn = conns
                .get_mut(event.token().0)
                .context("an event for an unknown token")?;
            if event.is_writable() {
                conn.write()?;
            }
            let (readable, closed) = (event.is_readable(), event.is_read_closed());
            if conn.in_flight && (readable || closed) {
                conn.read(&mut scratch, closed, recorder.as_mut())?;
                last_progress = Instant::now();
            }
        }
    }
    outcome.context("measured")
}
