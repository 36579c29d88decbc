//! The `bulk` scenario's load generator: one connection streams N bytes
//! while reading the echo at the same time, both directions non-blocking
//! on one mio `Poll`.
//!
//! Reading while writing matters: an echo server stops reading a client
//! that does not read (backpressure), so a client that wrote everything
//! first would deadlock against a correct server. The stream is a pattern
//! whose length divides none of the usual buffer sizes, and every byte
//! echoed is compared with the pattern at its place in the stream: a lost,
//! repeated, reordered or altered byte is caught where it happens.

use std::{
    io::{Read as _, Write as _},
    net::{Shutdown, SocketAddr},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use mio::{Events, Poll};

use crate::{
    exchange::{self, polled, some},
    payload, procfs,
    table::Round,
};

const STALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole transfer's limit: generous (20 MB/s) but finite.
const MIN_RATE_BYTES_PER_SEC: u64 = 20_000_000;
/// What the client writes, over and over: large enough that a `write`
/// fills the socket's send buffer in one call, and a prime number of bytes.
const PATTERN_LEN: usize = 262_147;

/// One transfer of `bytes` through the server at `addr` whose process is
/// `server_pid`.
pub fn run(addr: SocketAddr, server_pid: u32, bytes: u64) -> Result<Round> {
    let mut poll = Poll::new().context("creating the poll")?;
    let mut stream = exchange::connect(addr, poll.registry(), 0)?;
    let mut events = Events::with_capacity(8);
    // Twice the pattern, so any stretch of it is one slice.
    let mut pattern = vec![0; 2 * PATTERN_LEN];
    payload::fill(&mut pattern[..PATTERN_LEN], u64::MAX, 0);
    pattern.copy_within(..PATTERN_LEN, PATTERN_LEN);
    let mut scratch = vec![0; PATTERN_LEN];
    let (mut sent, mut received) = (0u64, 0u64);

    let cpu_before = procfs::cpu_ns(server_pid)?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10 + bytes / MIN_RATE_BYTES_PER_SEC);
    let mut last_progress = start;
    while received < bytes {
        let before = (sent, received);
        // Write until the send buffer is full or everything is sent.
        while sent < bytes {
            let at = (sent % PATTERN_LEN as u64) as usize;
            let left = usize::try_from(bytes - sent).unwrap_or(usize::MAX);
            match some(|| stream.write(&pattern[at..at + PATTERN_LEN.min(left)]))
                .context("write")?
            {
                Some(0) => bail!("the server stopped accepting bytes after {sent}"),
                Some(n) => sent += n as u64,
                None => break,
            }
        }
        if sent == bytes && before.0 < bytes {
            // Half-close: the server must still echo everything it has read.
            stream
                .shutdown(Shutdown::Write)
                .context("shutting down the write side")?;
        }
        // Read until the receive queue is empty, checking every byte.
        while received < bytes {
            let n = match some(|| stream.read(&mut scratch)).context("read")? {
                Some(0) => bail!(
                    "the server closed the connection after echoing {received} of {bytes} bytes"
                ),
                Some(n) => n,
                None => break,
            };
            let at = (received % PATTERN_LEN as u64) as usize;
            if received + n as u64 > sent {
                bail!(
                    "the server echoed {} bytes but only {sent} were sent",
                    received + n as u64
                );
            }
            if let Some(bad) = payload::first_mismatch(&scratch[..n], &pattern[at..at + n]) {
                bail!(
                    "the echo differs from what was sent at byte {}",
                    received + bad as u64
                );
            }
            received += n as u64;
        }
        let now = Instant::now();
        if (sent, received) != before {
            last_progress = now;
        } else if now - last_progress > STALL_TIMEOUT {
            bail!("no progress for {STALL_TIMEOUT:?} ({sent} sent, {received} echoed)");
        }
        if now >= deadline {
            bail!("the transfer did not finish by its deadline");
        }
        polled(poll.poll(&mut events, Some(Duration::from_millis(100))))?;
    }
    let ns = start.elapsed().as_nanos() as f64;
    let cpu = procfs::cpu_ns(server_pid)?;
    let (user, system) = (cpu.0 - cpu_before.0, cpu.1 - cpu_before.1);
    Ok(Round::new([
        ("bytes", bytes as f64),
        ("ns", ns),
        ("cpu", user + system),
        ("user", user),
    ]))
}
