//! What both ping-pong scenarios measure, `pingpong` over TCP and `udp`
//! over UDP: exchanges (a request and its echo, a datagram and its reply)
//! completed, their latency, both processes' CPU time, and how often each
//! side slept and had to be woken, over the measured interval only. The
//! two load generators differ in how they exchange, not in what they count:
//! the counting is here once, and only the name of the thing exchanged
//! differs in the report ([`Exchange`]).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use super::procfs::{self, ContextSwitches, CpuTime, Threads};

/// How a scenario names what it exchanges, in the report's rows.
pub struct Exchange {
    /// The rate row: `requests/s`.
    pub per_second: &'static str,
    /// The server's CPU time per exchange: `server CPU/request`.
    pub cpu_per: &'static str,
    /// The server's sleeps (voluntary context switches, all its threads).
    pub server_sleeps_per: &'static str,
    /// The server's preemptions (nonvoluntary context switches).
    pub server_preemptions_per: &'static str,
    /// The load generator's measuring thread's sleeps.
    pub client_sleeps_per: &'static str,
    /// The count of exchanges completed and checked: `requests verified`.
    pub verified: &'static str,
    /// The count of exchanges given up as lost, for a transport that loses.
    pub lost: Option<&'static str>,
}

/// A fresh latency histogram: 1 ns to a minute at three significant digits.
pub fn latency_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).context("creating the latency histogram")
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
    /// All the server's threads' context switches.
    pub server_switches: ContextSwitches,
    /// The load generator's own measuring thread's context switches.
    pub client_switches: ContextSwitches,
}

impl Outcome {
    /// Several measured intervals as one: counts, times and CPU add up,
    /// and the latency histograms merge.
    pub fn merge<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Result<Outcome> {
        let mut merged = Outcome {
            completed: 0,
            lost: 0,
            elapsed: Duration::ZERO,
            latency: latency_histogram()?,
            server_cpu: CpuTime::default(),
            client_cpu: CpuTime::default(),
            server_switches: ContextSwitches::default(),
            client_switches: ContextSwitches::default(),
        };
        for o in outcomes {
            merged
                .latency
                .add(&o.latency)
                .context("merging latency histograms")?;
            merged.completed += o.completed;
            merged.lost += o.lost;
            merged.elapsed += o.elapsed;
            merged.server_cpu = merged.server_cpu.plus(o.server_cpu);
            merged.client_cpu = merged.client_cpu.plus(o.client_cpu);
            merged.server_switches = merged.server_switches.plus(o.server_switches);
            merged.client_switches = merged.client_switches.plus(o.client_switches);
        }
        Ok(merged)
    }

    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }

    /// `count` per completed exchange.
    fn per_exchange(&self, count: f64) -> f64 {
        count / self.completed.max(1) as f64
    }

    pub fn server_cpu_per_exchange_ns(&self) -> f64 {
        self.per_exchange(self.server_cpu.total().as_nanos() as f64)
    }

    pub fn server_user_cpu_per_exchange_ns(&self) -> f64 {
        self.per_exchange(self.server_cpu.user.as_nanos() as f64)
    }

    /// About 0 for a server that spins before sleeping, 1 for one that
    /// waits in `epoll_wait` for every request.
    pub fn server_sleeps_per_exchange(&self) -> f64 {
        self.per_exchange(self.server_switches.voluntary as f64)
    }

    pub fn server_preemptions_per_exchange(&self) -> f64 {
        self.per_exchange(self.server_switches.nonvoluntary as f64)
    }

    pub fn client_sleeps_per_exchange(&self) -> f64 {
        self.per_exchange(self.client_switches.voluntary as f64)
    }

    /// Load generator CPU as a fraction of one core: near 1.0 means the
    /// client, not the server, set the pace.
    pub fn client_cores(&self) -> f64 {
        self.client_cpu.total().as_secs_f64() / self.elapsed.as_secs_f64()
    }

    pub fn server_cores(&self) -> f64 {
        self.server_cpu.total().as_secs_f64() / self.elapsed.as_secs_f64()
    }
}

/// Counts exchanges through a warm-up, which is discarded, and then the
/// measured interval, which becomes the [`Outcome`]. It lives on the load
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
    server_cpu: CpuTime,
    client_cpu: CpuTime,
    server_threads: Threads,
    client_switches: ContextSwitches,
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
                    server_cpu: procfs::cpu_time(self.server_pid)?,
                    client_cpu: procfs::cpu_time(std::process::id())?,
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
            client_cpu: procfs::cpu_time(std::process::id())?.since(start.client_cpu),
            server_switches: Threads::of(self.server_pid)?.since(&start.server_threads),
            client_switches: procfs::this_thread()?.since(start.client_switches),
        })
    }
}
