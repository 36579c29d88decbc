//! Each scenario as data: how many rounds, how long one is expected to
//! take, its title, its rows ([`Metric`]s over the totals its load
//! generator counts) and the load generator itself. `table::measure` does
//! the rest, the same way for every scenario.

use std::time::Duration;

use anyhow::Result;

use crate::{
    bulk, chat,
    cli::{Args, PINGPONG_ROUNDS, Scenario},
    idle, pingpong, pool,
    report::format_value,
    servers::Server,
    table::{Better::*, Figure::*, Metric, Round, Unit::*},
    udp,
};

impl Scenario {
    /// Rounds per server: four for the timed scenarios, five bulk
    /// transfers (each about a second, so one disturbance on a shared
    /// machine moves one round, not the median), one set of idle
    /// connections.
    pub fn rounds(self) -> usize {
        match self {
            Scenario::Bulk => 5,
            Scenario::Idle => 1,
            _ => PINGPONG_ROUNDS,
        }
    }

    /// How long one round takes against a server as fast as ours: the
    /// timed ones their warm-up and measured time (the chat also joins 100
    /// clients and waits for the lines in flight), bulk about 1 GB/s each
    /// way on loopback, idle a few thousand connections opened a second.
    pub fn expected(self, args: &Args) -> Duration {
        let timed = args.warmup() + args.measure();
        match self {
            Scenario::Chat => timed + Duration::from_millis(300),
            Scenario::Bulk => Duration::from_secs_f64(args.bytes as f64 / 1e9),
            Scenario::Idle => Duration::from_secs_f64(f64::from(args.count) / 3000.0 + 0.5),
            _ => timed,
        }
    }

    /// The table's heading: what was measured, and how.
    pub fn title(self, args: &Args, conns: Option<u32>) -> String {
        let rounds = format!(
            "{} s measured per server in {PINGPONG_ROUNDS} alternating rounds, each after a {} s \
             warm-up",
            args.secs,
            args.warmup().as_secs_f64()
        );
        let timed =
            |rate: &str| format!("{rounds}; {rate} of the median round, the rest over all rounds");
        let n = conns.unwrap_or(0);
        let (clients, rate) = (chat::CLIENTS as f64, args.rate);
        match self {
            Scenario::Tcp => format!(
                "tcp ping-pong: {n} connection{} × {} B, {}",
                if n == 1 { "" } else { "s" },
                args.len,
                timed("requests/s")
            ),
            Scenario::Udp => format!(
                "udp ping-pong: one socket, one {} B datagram in flight, {}",
                args.len,
                timed("datagrams/s")
            ),
            Scenario::Chat => format!(
                "chat: {} clients each sending {rate} lines/s, every client reading everything \
                 (offered: {} deliveries/s); latency from a line's sending to its receipt; {}",
                chat::CLIENTS,
                format_value(clients * (clients - 1.0) * rate, Count),
                timed("deliveries/s")
            ),
            Scenario::Pool => format!(
                "pool: {} clients each asking for {ms} ms of blocking work (`sleep {ms}`) at a \
                 time, and one asking for none (an echo line), {} workers (ideal: {} jobs/s); {}",
                pool::JOB_CLIENTS,
                args.workers,
                f64::from(args.workers) * 1000.0 / pool::JOB_MS as f64,
                rounds,
                ms = pool::JOB_MS,
            ),
            Scenario::Bulk => format!(
                "bulk: one connection streams {} bytes and reads the echo concurrently, in {} \
                 alternating rounds: throughput of the median round, the rest over all rounds; \
                 every byte echoed is checked against what was sent; GB = 10^9 bytes each way",
                args.bytes,
                self.rounds()
            ),
            Scenario::Idle => format!("idle: {} idle connections", args.count),
            Scenario::All => unreachable!("expanded"),
        }
    }

    /// The table's rows, from the totals the load generator counts.
    pub fn metrics(self) -> Vec<Metric> {
        let cpu_busy = || Metric::new("server CPU busy", Cores, Neither, Ratio("cpu", "ns", 1.0));
        match self {
            Scenario::Tcp => exchanges("request", "requests", "requests verified", None),
            Scenario::Udp => exchanges(
                "datagram",
                "datagrams",
                "replies verified",
                // udp.rs's REPLY_TIMEOUT, as the table says it.
                Some("datagrams lost (no reply in 500 ms)"),
            ),
            Scenario::Chat => exchanges("delivery", "deliveries", "deliveries verified", None),
            Scenario::Pool => vec![
                Metric::new("jobs/s", PerSecond, Higher, Ratio("jobs", "ns", 1e9)).every_round(),
                Metric::new(
                    "jobs/s ÷ ideal (workers ÷ 2 ms)",
                    PerEvent,
                    Higher,
                    Ratio("jobs", "ideal jobs", 1.0),
                ),
                Metric::new("no-work latency p50", Nanos, Lower, Percentile(50.0)),
                Metric::new("no-work latency p99", Nanos, Lower, Percentile(99.0)),
                Metric::new(
                    "no-work requests/s",
                    PerSecond,
                    Higher,
                    Ratio("done", "ns", 1e9),
                )
                .every_round(),
                Metric::new("busy replies", Count, Neither, Ratio("busy", "", 1.0)),
                cpu_busy(),
            ],
            Scenario::Bulk => vec![
                Metric::new(
                    "throughput",
                    GigabytesPerSecond,
                    Higher,
                    Ratio("bytes", "ns", 1.0),
                )
                .median(),
                Metric::new("server CPU/GB", Nanos, Lower, Ratio("cpu", "bytes", 1e9)),
                Metric::new(
                    "… of which in user space",
                    Nanos,
                    Lower,
                    Ratio("user", "bytes", 1e9),
                ),
                Metric::new("elapsed", Nanos, Lower, Ratio("ns", "rounds", 1.0)),
            ],
            Scenario::Idle => vec![
                Metric::new(
                    "server RSS/connection",
                    Bytes,
                    Lower,
                    Ratio("rss growth", "conns", 1.0),
                ),
                Metric::new(
                    "server RSS before",
                    Bytes,
                    Neither,
                    Ratio("rss before", "rounds", 1.0),
                ),
                Metric::new(
                    "server RSS with all open",
                    Bytes,
                    Neither,
                    Ratio("rss after", "rounds", 1.0),
                ),
                Metric::new(
                    "sampled connections that echoed",
                    Count,
                    Neither,
                    Ratio("sampled", "", 1.0),
                ),
                // Above 1 when one address ran out of ephemeral ports.
                Metric::new(
                    "source addresses used",
                    Count,
                    Neither,
                    Ratio("sources", "rounds", 1.0),
                ),
            ],
            Scenario::All => unreachable!("expanded"),
        }
    }

    /// One round against `server` (`conns`: the tcp ping-pong's).
    pub fn run(self, server: &Server, args: &Args, conns: u32) -> Result<Round> {
        let (addr, pid) = (server.addr, server.pid);
        match self {
            Scenario::Tcp => pingpong::run(addr, pid, args, conns as usize),
            Scenario::Udp => udp::run(addr, pid, args),
            Scenario::Chat => chat::run(addr, pid, args),
            Scenario::Pool => pool::run(addr, pid, args),
            Scenario::Bulk => bulk::run(addr, pid, args.bytes),
            Scenario::Idle => idle::run(addr, pid, args.count as usize),
            Scenario::All => unreachable!("expanded"),
        }
    }
}

/// The rows of the scenarios that exchange (a request and its echo, a
/// datagram and its reply, a chat line and its delivery), named after what
/// they exchange: the rate, the round trip, the server's CPU per exchange,
/// and where a round trip goes: how often each side slept and had to be
/// woken (`procfs.rs`). Fewer server sleeps is what spinning buys;
/// preemptions and the load generator's sleeps describe the run.
fn exchanges(one: &str, many: &str, verified: &str, lost: Option<&str>) -> Vec<Metric> {
    let per = |name: &str| format!("{name}/{one}");
    let mut metrics = vec![
        Metric::new(
            format!("{many}/s"),
            PerSecond,
            Higher,
            Ratio("done", "ns", 1e9),
        )
        .median(),
        Metric::new("latency p50", Nanos, Lower, Percentile(50.0)),
        Metric::new("latency p99", Nanos, Lower, Percentile(99.0)),
        Metric::new("latency p99.9", Nanos, Lower, Percentile(99.9)),
        Metric::new(per("server CPU"), Nanos, Lower, Ratio("cpu", "done", 1.0)).every_round(),
        Metric::new(
            "… of which in user space",
            Nanos,
            Lower,
            Ratio("user", "done", 1.0),
        ),
        Metric::new("server CPU busy", Cores, Neither, Ratio("cpu", "ns", 1.0)),
        Metric::new(
            "load generator CPU busy",
            Cores,
            Neither,
            Ratio("client cpu", "ns", 1.0),
        ),
        Metric::new(
            per("server sleeps"),
            PerEvent,
            Lower,
            Ratio("sleeps", "done", 1.0),
        )
        .every_round(),
        Metric::new(
            per("server preemptions"),
            PerEvent,
            Neither,
            Ratio("preemptions", "done", 1.0),
        ),
        Metric::new(
            per("load generator sleeps"),
            PerEvent,
            Neither,
            Ratio("client sleeps", "done", 1.0),
        ),
        Metric::new(verified, Count, Neither, Ratio("done", "", 1.0)),
    ];
    metrics.extend(lost.map(|lost| Metric::new(lost, Count, Lower, Ratio("lost", "", 1.0))));
    metrics
}
