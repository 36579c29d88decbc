//! The `tcp` scenario's load generator: one thread, one mio `Poll`, N
//! connections, each sending an L-byte request and waiting for its whole echo
//! before sending the next.
//!
//! This is the request/response pattern of the Go tutorial's client, multiplied:
//! with one request in flight per connection, requests/s measures the round
//! trip through the server, not how much the kernel can buffer. Every echoed
//! byte is compared with what was sent (each request's payload is distinct), so
//! a wrong echo is an error, never a fast result.

use std::{
    io::{self, Read, Write},
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use mio::{Events, Interest, Poll, Token, net::TcpStream};

use super::{
    exchange::{Exchange, Outcome, Recorder},
    payload,
};

/// Limits that make every loop end even when the server misbehaves.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const STALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Large enough to take any echo of a default-sized request in one `read`.
const READ_BUF_LEN: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct Config {
    pub conns: usize,
    pub len: usize,
    /// Run, but do not count: lets caches, allocators and the CPU clock settle.
    pub warmup: Duration,
    pub measure: Duration,
}

/// How the report names what this scenario exchanges.
pub const EXCHANGE: Exchange = Exchange {
    per_second: "requests/s",
    cpu_per: "server CPU/request",
    server_sleeps_per: "server sleeps/request",
    server_preemptions_per: "server preemptions/request",
    client_sleeps_per: "load generator sleeps/request",
    verified: "requests verified",
    lost: None,
};

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
        self.written = 0;
        self.echoed = 0;
        self.sent_at = Instant::now();
        self.in_flight = true;
        self.write()
    }

    /// Writes what is left of the request until done or the socket is full.
    fn write(&mut self) -> Result<()> {
        while self.written < self.request.len() {
            match self.stream.write(&self.request[self.written..]) {
                Ok(0) => bail!("connection {}: the server stopped accepting bytes", self.id),
                Ok(n) => self.written += n,
                // Full send buffer: WRITABLE will be reported when it drains.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("connection {}: write", self.id));
                }
            }
        }
        Ok(())
    }

    /// Reads what the server echoed, checks it, and (if `next`) starts the
    /// next request whenever one completes. Pushes the latencies of completed
    /// requests onto `done`.
    fn read(
        &mut self,
        scratch: &mut [u8],
        closed: bool,
        next: bool,
        done: &mut Vec<Duration>,
    ) -> Result<()> {
        loop {
            let n = match self.stream.read(scratch) {
                Ok(0) => bail!(
                    "connection {}: the server closed it with request {} {} of {} bytes echoed",
                    self.id,
                    self.seq,
                    self.echoed,
                    self.request.len()
                ),
                Ok(n) => n,
                // Drained: edge-triggered readiness will report new data.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("connection {}: read", self.id));
                }
            };
            let expected_end = self.echoed + n;
            if expected_end > self.written {
                bail!(
                    "connection {}: the server sent {} bytes for request {} but only {} were sent",
                    self.id,
                    expected_end,
                    self.seq,
                    self.written
                );
            }
            let expected = &self.request[self.echoed..expected_end];
            if let Some(at) = payload::first_mismatch(&scratch[..n], expected) {
                bail!(
                    "connection {}: echo of request {} differs at byte {}",
                    self.id,
                    self.seq,
                    self.echoed + at
                );
            }
            self.echoed = expected_end;
            if self.echoed == self.request.len() {
                done.push(self.sent_at.elapsed());
                self.in_flight = false;
                if next {
                    self.start_request()?;
                }
            }
            // A short read means the socket's receive queue is empty: skip the
            // `read` that would only say WouldBlock (a syscall per request).
            // Not when the peer closed: then the next read must see the end.
            if n < scratch.len() && !closed {
                return Ok(());
            }
        }
    }
}

/// Runs the scenario against the server at `addr` whose process is `server_pid`.
pub fn run(addr: SocketAddr, server_pid: u32, config: &Config) -> Result<Outcome> {
    if config.conns == 0 || config.len == 0 {
        bail!("ping-pong needs at least one connection and one byte per request");
    }
    let mut poll = Poll::new().context("creating the poll")?;
    let mut events = Events::with_capacity(config.conns.min(1024));
    let mut conns = Vec::with_capacity(config.conns);
    for id in 0..config.conns {
        let stream = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .with_context(|| format!("connection {id}: connecting to {addr}"))?;
        // Like the server: a request must leave at once, not wait for Nagle.
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(stream);
        poll.registry()
            .register(
                &mut stream,
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            )
            .context("registering a connection")?;
        conns.push(Conn {
            stream,
            id: id as u64,
            seq: 0,
            request: vec![0; config.len],
            written: 0,
            echoed: 0,
            sent_at: Instant::now(),
            in_flight: false,
        });
    }

    let mut scratch = vec![0; READ_BUF_LEN];
    let mut completed: Vec<Duration> = Vec::with_capacity(config.conns);
    let mut recorder = Recorder::start(server_pid, config.warmup, config.measure)?;
    let start = Instant::now();
    for conn in &mut conns {
        conn.start_request()?;
    }
    let mut last_progress = start;

    loop {
        let now = Instant::now();
        if recorder.is_over(now)? {
            let outcome = recorder.finish(now)?;
            drain(&mut poll, &mut events, &mut conns, &mut scratch)?;
            return Ok(outcome);
        }
        if now.duration_since(last_progress) > STALL_TIMEOUT {
            bail!("no request completed for {STALL_TIMEOUT:?}: the server at {addr} stalled");
        }

        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err).context("poll"),
        }
        for event in &events {
            let conn = conns
                .get_mut(event.token().0)
                .context("an event for a token we never registered")?;
            if event.is_writable() {
                conn.write()?;
            }
            if event.is_readable() || event.is_read_closed() {
                conn.read(&mut scratch, event.is_read_closed(), true, &mut completed)?;
            }
        }
        if !completed.is_empty() {
            last_progress = Instant::now();
            for rtt in completed.drain(..) {
                recorder.completed(rtt);
            }
        }
    }
}

/// Collects (and still verifies) the echoes of the requests in flight when the
/// measurement ended, sending no new ones, so every connection closes with
/// nothing unread: closing over unread bytes would make the kernel reset it,
/// and the server would log each reset as an error.
fn drain(
    poll: &mut Poll,
    events: &mut Events,
    conns: &mut [Conn],
    scratch: &mut [u8],
) -> Result<()> {
    let deadline = Instant::now() + STALL_TIMEOUT;
    let mut ignored = Vec::new();
    while conns.iter().any(|conn| conn.in_flight) {
        if Instant::now() >= deadline {
            bail!("echoes still missing {STALL_TIMEOUT:?} after the run ended");
        }
        match poll.poll(events, Some(Duration::from_millis(100))) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err).context("poll"),
        }
        for event in events.iter() {
            let conn = conns
                .get_mut(event.token().0)
                .context("an event for a token we never registered")?;
            if event.is_writable() {
                conn.write()?;
            }
            if conn.in_flight && (event.is_readable() || event.is_read_closed()) {
                conn.read(scratch, event.is_read_closed(), false, &mut ignored)?;
            }
        }
    }
    Ok(())
}
