//! The `bulk` scenario's load generator: one connection streams N bytes while
//! reading the echo at the same time, both directions non-blocking on one mio
//! `Poll`.
//!
//! Reading while writing matters: an echo server stops reading a client that
//! does not read (backpressure), so a client that wrote everything first would
//! deadlock against a correct server. The sender and the receiver each keep a
//! [`StreamChecksum`]; they must agree at the end, with the same byte count.

use std::{
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use mio::{Events, Interest, Poll, Token, net::TcpStream};

use super::{
    payload::{self, StreamChecksum},
    procfs::{self, CpuTime},
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const STALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole transfer's limit: generous (20 MB/s) but finite.
const MIN_RATE_BYTES_PER_SEC: u64 = 20_000_000;

/// What the client writes, over and over; large enough that a `write` fills the
/// socket's send buffer in one call.
const PATTERN_LEN: usize = 256 * 1024;
const READ_BUF_LEN: usize = 256 * 1024;

pub struct Outcome {
    pub bytes: u64,
    pub elapsed: Duration,
    pub server_cpu: CpuTime,
}

impl Outcome {
    /// Echoed bytes per second, in GB (10^9): each byte crossed the server twice.
    pub fn gigabytes_per_second(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64() / 1e9
    }

    pub fn server_cpu_per_gigabyte_ns(&self) -> f64 {
        self.server_cpu.total().as_nanos() as f64 / (self.bytes as f64 / 1e9)
    }

    pub fn server_user_cpu_per_gigabyte_ns(&self) -> f64 {
        self.server_cpu.user.as_nanos() as f64 / (self.bytes as f64 / 1e9)
    }
}

pub fn run(addr: SocketAddr, server_pid: u32, bytes: u64) -> Result<Outcome> {
    if bytes == 0 {
        bail!("bulk needs at least one byte to send");
    }
    let stream = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nonblocking(true)?;
    let mut stream = TcpStream::from_std(stream);
    let mut poll = Poll::new().context("creating the poll")?;
    poll.registry()
        .register(
            &mut stream,
            Token(0),
            Interest::READABLE | Interest::WRITABLE,
        )
        .context("registering the connection")?;
    let mut events = Events::with_capacity(8);

    let mut pattern = vec![0; PATTERN_LEN];
    payload::fill(&mut pattern, u64::MAX, 0);
    let mut scratch = vec![0; READ_BUF_LEN];
    let mut sent = StreamChecksum::default();
    let mut received = StreamChecksum::default();
    let mut write_shut = false;

    let server_cpu_before = procfs::cpu_time(server_pid)?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10 + bytes / MIN_RATE_BYTES_PER_SEC);
    let mut last_progress = start;

    while received.len() < bytes {
        let mut progressed = false;

        // Write until the send buffer is full or everything is sent.
        while sent.len() < bytes {
            let offset = (sent.len() % PATTERN_LEN as u64) as usize;
            let left = usize::try_from(bytes - sent.len()).unwrap_or(usize::MAX);
            let chunk = &pattern[offset..PATTERN_LEN.min(offset.saturating_add(left))];
            match stream.write(chunk) {
                Ok(0) => bail!("the server stopped accepting bytes after {}", sent.len()),
                Ok(n) => {
                    sent.update(&chunk[..n]);
                    progressed = true;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err).context("write"),
            }
        }
        if sent.len() == bytes && !write_shut {
            // Half-close: the server must still echo everything it has read.
            stream
                .shutdown(Shutdown::Write)
                .context("shutting down the write side")?;
            write_shut = true;
        }

        // Read until the receive queue is empty.
        loop {
            match stream.read(&mut scratch) {
                Ok(0) => bail!(
                    "the server closed the connection after echoing {} of {bytes} bytes",
                    received.len()
                ),
                Ok(n) => {
                    received.update(&scratch[..n]);
                    progressed = true;
                    if received.len() > sent.len() {
                        bail!(
                            "the server echoed {} bytes but only {} were sent",
                            received.len(),
                            sent.len()
                        );
                    }
                    if received.len() == bytes {
                        break;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err).context("read"),
            }
        }
        if received.len() == bytes {
            break;
        }

        let now = Instant::now();
        if progressed {
            last_progress = now;
        } else if now.duration_since(last_progress) > STALL_TIMEOUT {
            bail!(
                "no progress for {STALL_TIMEOUT:?} ({} sent, {} echoed)",
                sent.len(),
                received.len()
            );
        }
        if now >= deadline {
            bail!("the transfer did not finish by its deadline");
        }
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err).context("poll"),
        }
    }
    let elapsed = start.elapsed();
    let server_cpu = procfs::cpu_time(server_pid)?.since(server_cpu_before);

    if received.value() != sent.value() {
        bail!(
            "checksum mismatch: sent {:#018x}, echoed {:#018x}",
            sent.value(),
            received.value()
        );
    }
    Ok(Outcome {
        bytes,
        elapsed,
        server_cpu,
    })
}
