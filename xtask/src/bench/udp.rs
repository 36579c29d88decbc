//! The `udp` scenario's load generator: one socket, one datagram in flight,
//! each reply checked against what was sent before the next datagram goes out.
//!
//! With a single datagram in flight a blocking socket is the cheapest client:
//! `send` then `recv`, no readiness machinery. The socket is connected to the
//! server, so the kernel drops datagrams from anyone else.

use std::{
    collections::VecDeque,
    io,
    net::{SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;

use super::{
    payload,
    procfs::{self, CpuTime},
};

/// A reply slower than this counts as lost; loopback does not lose datagrams
/// unless the server drops them.
const REPLY_TIMEOUT: Duration = Duration::from_millis(500);
/// Consecutive losses after which the server is taken to be gone.
const MAX_LOST_IN_A_ROW: u32 = 10;
/// Lost requests remembered, so their late replies are recognised, not errors.
const REMEMBERED_LOST: usize = 64;

#[derive(Clone, Debug)]
pub struct Config {
    pub len: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

pub struct Outcome {
    /// Replies received and verified during the measured interval.
    pub datagrams: u64,
    /// Requests whose reply did not come within the timeout.
    pub lost: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
    pub server_cpu: CpuTime,
    pub client_cpu: CpuTime,
}

impl Outcome {
    /// Several measured intervals as one: counts, times and CPU add up, and
    /// the latency histograms merge.
    pub fn merge(outcomes: &[Outcome]) -> Result<Outcome> {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
            .context("creating the latency histogram")?;
        for outcome in outcomes {
            latency
                .add(&outcome.latency)
                .context("merging latency histograms")?;
        }
        Ok(Outcome {
            datagrams: outcomes.iter().map(|o| o.datagrams).sum(),
            lost: outcomes.iter().map(|o| o.lost).sum(),
            elapsed: outcomes.iter().map(|o| o.elapsed).sum(),
            latency,
            server_cpu: outcomes
                .iter()
                .fold(CpuTime::default(), |sum, o| sum.plus(o.server_cpu)),
            client_cpu: outcomes
                .iter()
                .fold(CpuTime::default(), |sum, o| sum.plus(o.client_cpu)),
        })
    }

    pub fn per_second(&self) -> f64 {
        self.datagrams as f64 / self.elapsed.as_secs_f64()
    }

    pub fn server_cpu_per_datagram_ns(&self) -> f64 {
        self.server_cpu.total().as_nanos() as f64 / self.datagrams.max(1) as f64
    }

    pub fn server_user_cpu_per_datagram_ns(&self) -> f64 {
        self.server_cpu.user.as_nanos() as f64 / self.datagrams.max(1) as f64
    }

    pub fn server_cores(&self) -> f64 {
        self.server_cpu.total().as_secs_f64() / self.elapsed.as_secs_f64()
    }

    pub fn client_cores(&self) -> f64 {
        self.client_cpu.total().as_secs_f64() / self.elapsed.as_secs_f64()
    }
}

pub fn run(addr: SocketAddr, server_pid: u32, config: &Config) -> Result<Outcome> {
    if config.len == 0 || config.len > 65_507 {
        bail!(
            "a UDP ping-pong payload is 1 to 65 507 bytes, not {}",
            config.len
        );
    }
    let local: SocketAddr = if addr.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    let socket = UdpSocket::bind(local).context("binding the client socket")?;
    socket
        .connect(addr)
        .with_context(|| format!("connecting to {addr}"))?;
    socket.set_read_timeout(Some(REPLY_TIMEOUT))?;

    let mut request = vec![0; config.len];
    let mut reply = vec![0; 65_536];
    let mut late = vec![0; config.len];
    let mut lost_seqs: VecDeque<u64> = VecDeque::new();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .context("creating the latency histogram")?;
    let (mut datagrams, mut lost, mut lost_in_a_row) = (0u64, 0u64, 0u32);
    let client_pid = std::process::id();

    let start = Instant::now();
    let warmup_end = start + config.warmup;
    let mut measuring: Option<(Instant, CpuTime, CpuTime)> = None;
    let mut seq = 0u64;

    loop {
        let now = Instant::now();
        match measuring {
            None if now >= warmup_end => {
                latency.reset();
                (datagrams, lost) = (0, 0);
                measuring = Some((
                    now,
                    procfs::cpu_time(server_pid)?,
                    procfs::cpu_time(client_pid)?,
                ));
            }
            Some((t0, server0, client0)) if now >= t0 + config.measure => {
                return Ok(Outcome {
                    datagrams,
                    lost,
                    elapsed: now - t0,
                    latency,
                    server_cpu: procfs::cpu_time(server_pid)?.since(server0),
                    client_cpu: procfs::cpu_time(client_pid)?.since(client0),
                });
            }
            _ => {}
        }

        seq += 1;
        payload::fill(&mut request, 0, seq);
        let sent_at = Instant::now();
        send(&socket, &request).with_context(|| format!("sending datagram {seq} to {addr}"))?;
        // Wait for this request's reply; a bounded number of stale replies
        // (to requests given up as lost) may arrive first.
        let mut answered = false;
        for _ in 0..=REMEMBERED_LOST {
            let n = match socket.recv(&mut reply) {
                Ok(n) => n,
                Err(err) if is_timeout(&err) => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("waiting for the reply from {addr}"));
                }
            };
            if reply[..n] == request[..] {
                answered = true;
                break;
            }
            let stale = lost_seqs.iter().any(|&old| {
                payload::fill(&mut late, 0, old);
                reply[..n] == late[..]
            });
            if !stale {
                bail!(
                    "reply to datagram {seq} is wrong: {n} bytes, {} expected, first difference at {}",
                    request.len(),
                    payload::first_mismatch(&reply[..n], &request).unwrap_or(0)
                );
            }
        }
        if answered {
            latency
                .saturating_record(u64::try_from(sent_at.elapsed().as_nanos()).unwrap_or(u64::MAX));
            datagrams += 1;
            lost_in_a_row = 0;
        } else {
            lost += 1;
            lost_in_a_row += 1;
            if lost_seqs.len() == REMEMBERED_LOST {
                lost_seqs.pop_front();
            }
            lost_seqs.push_back(seq);
            if lost_in_a_row >= MAX_LOST_IN_A_ROW {
                bail!("{MAX_LOST_IN_A_ROW} datagrams in a row got no reply from {addr}");
            }
        }
    }
}

fn send(socket: &UdpSocket, datagram: &[u8]) -> io::Result<()> {
    loop {
        match socket.send(datagram) {
            Ok(n) if n == datagram.len() => return Ok(()),
            Ok(n) => {
                return Err(io::Error::other(format!(
                    "sent {n} of {} bytes",
                    datagram.len()
                )));
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
}

/// A read timeout shows as WouldBlock on Unix (EAGAIN), TimedOut elsewhere.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
