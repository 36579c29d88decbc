//! What every timed scenario counts, whatever it exchanges (a request and
//! its echo, a datagram and its reply, a chat line and its delivery): the
//! exchanges completed and lost, their latency, both processes' CPU time,
//! and how often each side slept and had to be woken, over the measured
//! interval only, as a [`Round`]'s totals. And the few socket moves the
//! non-blocking load generators share.

use std::{
    io,
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use mio::{Interest, Registry, Token, net::TcpStream};

use crate::{
    procfs::{self, Switches, Threads},
    table::{Round, latency_histogram},
};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Counts exchanges through a warm-up, which is discarded, and then the
/// measured interval, which becomes the [`Round`]. It lives on the load
/// generator's exchanging thread, whose context switches are the ones
/// counted.
pub struct Recorder {
    server_pid: u32,
    warmup_end: Instant,
    measure: Duration,
    /// The measured interval's start; `None` during the warm-up.
    measuring: Option<Start>,
    completed: u64,
    lost: u64,
    latency: Histogram<u64>,
}

/// The start of the measured interval, and what both sides had used by then.
struct Start {
    at: Instant,
    server_cpu: (f64, f64),
    client_cpu: (f64, f64),
    server_threads: Threads,
    client_switches: Switches,
}

impl Recorder {
    /// Starts the warm-up now, against the server whose process is `server_pid`.
    pub fn start(server_pid: u32, warmup: Duration, measure: Duration) -> Result<Recorder> {
        Ok(Recorder {
            server_pid,
            warmup_end: Instant::now() + warmup,
            measure,
            measuring: None,
            completed: 0,
            lost: 0,
            latency: latency_histogram()?,
        })
    }

    /// Called at every turn of a load generator's loop: when the warm-up
    /// ends, forgets what it counted and starts the measured interval; says
    /// whether that interval is over (then [`Recorder::finish`] is next).
    pub fn is_over(&mut self, now: Instant) -> Result<bool> {
        match &self.measuring {
            Some(start) => Ok(now >= start.at + self.measure),
            None if now >= self.warmup_end => {
                self.latency.reset();
                (self.completed, self.lost) = (0, 0);
                self.measuring = Some(Start {
                    at: now,
                    server_cpu: procfs::cpu_ns(self.server_pid)?,
                    client_cpu: procfs::cpu_ns(std::process::id())?,
                    server_threads: Threads::of(self.server_pid)?,
                    client_switches: procfs::this_thread()?,
                });
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// Whether the measured interval has begun (the warm-up is over).
    pub fn measuring(&self) -> bool {
        self.measuring.is_some()
    }

    /// An exchange completed, verified, after `rtt`.
    pub fn completed(&mut self, rtt: Duration) {
        let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
        self.latency.saturating_record(nanos);
        self.completed += 1;
    }

    /// An exchange got no answer in time.
    pub fn lost(&mut self) {
        self.lost += 1;
    }

    /// The measured interval, ended at `now`, with what it cost.
    pub fn finish(self, now: Instant) -> Result<Round> {
        let start = self
            .measuring
            .context("the measured interval never started")?;
        let server = procfs::cpu_ns(self.server_pid)?;
        let client = procfs::cpu_ns(std::process::id())?;
        let sleeps = Threads::of(self.server_pid)?.since(&start.server_threads);
        let client_sleeps = procfs::this_thread()?[0] - start.client_switches[0];
        let (user, system) = (server.0 - start.server_cpu.0, server.1 - start.server_cpu.1);
        let mut round = Round::new([
            ("ns", (now - start.at).as_nanos() as f64),
            ("done", self.completed as f64),
            ("lost", self.lost as f64),
            ("cpu", user + system),
            ("user", user),
            (
                "client cpu",
                client.0 + client.1 - start.client_cpu.0 - start.client_cpu.1,
            ),
            ("sleeps", sleeps[0] as f64),
            ("preemptions", sleeps[1] as f64),
            ("client sleeps", client_sleeps as f64),
        ]);
        round.latency = Some(self.latency);
        Ok(round)
    }
}

/// A non-blocking connection to `addr`, registered with `registry` under
/// `token` for reading and writing; Nagle off, so a request leaves at once.
pub fn connect(addr: SocketAddr, registry: &Registry, token: usize) -> Result<TcpStream> {
    let stream = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .with_context(|| format!("connection {token}: connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    let mut stream = TcpStream::from_std(stream);
    registry.register(
        &mut stream,
        Token(token),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    Ok(stream)
}

/// What a non-blocking read or write did: `Some(n)` (a read of 0: the
/// peer closed), or `None` when it would block: a full send buffer, or an
/// empty receive queue (readiness will say when that changes).
pub fn some(mut op: impl FnMut() -> io::Result<usize>) -> io::Result<Option<usize>> {
    loop {
        match op() {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `poll`'s result, an interrupted wait being no error.
pub fn polled(result: io::Result<()>) -> Result<()> {
    match result {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e).context("poll"),
        _ => Ok(()),
    }
}
