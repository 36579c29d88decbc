//! What both ping-pong scenarios measure, [`super::pingpong`] over TCP and
//! [`super::udp`] over UDP: exchanges (a request and its echo, a datagram and
//! its reply) completed, their latency, both processes' CPU time, and how
//! often each side slept and had to be woken ([`super::sleeps`]), over the
//! measured interval only.
//!
//! The two load generators differ in how they exchange, not in what they
//! count, so the counting lives here once; what differs in the report is only
//! the name of the thing exchanged, which each scenario gives as an
//! [`Exchange`].

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use super::{
    procfs::{self, CpuTime},
    sleeps::{self, ContextSwitches, Threads},
};

/// How a scenario names what it exchanges, in the report's rows.
pub struct Exchange {
    /// The rate row, also the name its target refers to: `requests/s`.
    pub per_second: &'static str,
    /// The server's CPU time per exchange: `server CPU/request`.
    pub cpu_per: &'static str,
    /// The server's sleeps (voluntary context switches, all its threads)
    /// per exchange: `server sleeps/request`.
    pub server_sleeps_per: &'static str,
    /// The server's preemptions (nonvoluntary context switches) per
    /// exchange: `server preemptions/request`.
    pub server_preemptions_per: &'static str,
    /// The load generator's measuring thread's sleeps per exchange:
    /// `load generator sleeps/request`.
    pub client_sleeps_per: &'static str,
    /// The count of exchanges completed and checked: `requests verified`.
    pub verified: &'static str,
    /// The count of exchanges given up as lost, for a transport that loses.
    pub lost: Option<&'static str>,
}

/// A fresh latency histogram: 1 ns to a minute at three significant digits.
pub fn latency_histogram() -> Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .context("creating the latency histogram")
}

/// What one run measured, over the measured interval only.
pub struct Outcome {
    /// Exchanges whose whole answer arrived, each verified byte for byte.
    pub completed: u64,
    /// Exchanges whose answer did not come in time (never over TCP).
    pub lost: u64,
    pub elapsed: Duration,
    /// Round-trip time of each completed exchange, in nanoseconds.
    pub latency: Histogram<u64>,
    pub server_cpu: CpuTime,
    pub client_cpu: CpuTime,
    /// All the server's threads' context switches ([`Threads::since`]).
    pub server_switches: ContextSwitches,
    /// The load generator's own measuring thread's context switches.
    pub client_switches: ContextSwitches,
}

impl Outcome {
    /// Several measured intervals as one: counts, times and CPU add up, and
    /// the latency histograms merge.
    pub fn merge(outcomes: &[Outcome]) -> Result<Outcome> {
        let mut latency = latency_histogram()?;
        for outcome in outcomes {
            latency
                .add(&outcome.latency)
                .context("merging latency histograms")?;
        }
        Ok(Outcome {
            completed: outcomes.iter().map(|o| o.completed).sum(),
            lost: outcomes.iter().map(|o| o.lost).sum(),
            elapsed: outcomes.iter().map(|o| o.elapsed).sum(),
            latency,
            server_cpu: outcomes
                .iter()
                .fold(CpuTime::default(), |sum, o| sum.plus(o.server_cpu)),
            client_cpu: outcomes
                .iter()
                .fold(CpuTime::default(), |sum, o| sum.plus(o.client_cpu)),
            server_switches: outcomes.iter().fold(ContextSwitches::default(), |sum, o| {
                sum.plus(o.server_switches)
            }),
            client_switches: outcomes.iter().fold(ContextSwitches::default(), |sum, o| {
                sum.plus(o.client_switches)
            }),
        })
    }

    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }

    pub fn server_cpu_per_exchange_ns(&self) -> f64 {
        self.server_cpu.total().as_nanos() as f64 / self.completed.max(1) as f64
    }

    pub fn server_user_cpu_per_exchange_ns(&self) -> f64 {
        self.server_cpu.user.as_nanos() as f64 / self.completed.max(1) as f64
    }

    /// How often the server went to sleep per exchange: about 0 for a
    /// server that spins before sleeping, 1 for one that waits in
    /// `epoll_wait` for every request (see [`super::sleeps`]).
    pub fn server_sleeps_per_exchange(&self) -> f64 {
        self.server_switches.voluntary as f64 / self.completed.max(1) as f64
    }

    pub fn server_preemptions_per_exchange(&self) -> f64 {
        self.server_switches.nonvoluntary as f64 / self.completed.max(1) as f64
    }

    pub fn client_sleeps_per_exchange(&self) -> f64 {
        self.client_switches.voluntary as f64 / self.completed.max(1) as f64
    }

    /// Load generator CPU as a fraction of one core: near 1.0 means the client,
    /// not the server, set the pace.
    pub fn client_cores(&self) -> f64 {
        self.client_cpu.total().as_secs_f64() / self.elapsed.as_secs_f64()
    }

    pub fn server_cores(&self) -> f64 {
        self.server_cpu.total().as_secs_f64() / self.elapsed.as_secs_f64()
    }
}

/// Counts exchanges through a warm-up, which is discarded, and then the
/// measured interval, which becomes the [`Outcome`].
///
/// It lives on the load generator's exchanging thread: the load generator's
/// context switches counted are those of the thread that calls
/// [`Recorder::is_over`] and [`Recorder::finish`].
pub struct Recorder {
    server_pid: u32,
    client_pid: u32,
    warmup_end: Instant,
    measure: Duration,
    /// The measured interval's start; `None` during the warm-up.
    measuring: Option<Start>,
    completed: u64,
    lost: u64,
    latency: Histogram<u64>,
}

/// The start of the measured interval, and what the two sides had used by then.
struct Start {
    at: Instant,
    server_cpu: CpuTime,
    client_cpu: CpuTime,
    server_threads: Threads,
    client_switches: ContextSwitches,
}

impl Start {
    fn now(at: Instant, server_pid: u32, client_pid: u32) -> Result<Start> {
        Ok(Start {
            at,
            server_cpu: procfs::cpu_time(server_pid)?,
            client_cpu: procfs::cpu_time(client_pid)?,
            server_threads: Threads::of(server_pid)?,
            client_switches: sleeps::this_thread()?,
        })
    }
}

impl Recorder {
    /// Starts the warm-up now, against the server whose process is `server_pid`.
    pub fn start(server_pid: u32, warmup: Duration, measure: Duration) -> Result<Recorder> {
        let latency = latency_histogram()?;
        Ok(Recorder {
            server_pid,
            client_pid: std::process::id(),
            warmup_end: Instant::now() + warmup,
            measure,
            measuring: None,
            completed: 0,
            lost: 0,
            latency,
        })
    }

    /// Called at every turn of a load generator's loop: when the warm-up ends,
    /// forgets what it counted and starts the measured interval; says whether
    /// that interval is over (then [`Recorder::finish`] is next).
    pub fn is_over(&mut self, now: Instant) -> Result<bool> {
        match self.measuring {
            None if now >= self.warmup_end => {
                self.latency.reset();
                (self.completed, self.lost) = (0, 0);
                self.measuring = Some(Start::now(now, self.server_pid, self.client_pid)?);
                Ok(false)
            }
            Some(Start { at, .. }) => Ok(now >= at + self.measure),
            None => Ok(false),
        }
    }

    /// An exchange completed, verified, after `rtt`.
    pub fn completed(&mut self, rtt: Duration) {
        self.latency
            .saturating_record(u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX));
        self.completed += 1;
    }

    /// An exchange got no answer in time.
    pub fn lost(&mut self) {
        self.lost += 1;
    }

    /// The measured interval, ended at `now`, with the CPU time and context
    /// switches it cost.
    pub fn finish(self, now: Instant) -> Result<Outcome> {
        let start = self
            .measuring
            .context("the measured interval never started")?;
        Ok(Outcome {
            completed: self.completed,
            lost: self.lost,
            elapsed: now - start.at,
            latency: self.latency,
            server_cpu: procfs::cpu_time(self.server_pid)?.since(start.server_cpu),
            client_cpu: procfs::cpu_time(self.client_pid)?.since(start.client_cpu),
            server_switches: Threads::of(self.server_pid)?.since(&start.server_threads),
            client_switches: sleeps::this_thread()?.since(start.client_switches),
        })
    }
}
