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
    table::{Metric, Round, Unit::Count},
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

    /// The table's rows, from the totals the load generator counts (see
    /// `ROWS` in this file).
    pub fn metrics(self) -> Vec<Metric> {
        // What each exchanges: (one, many, what counts as verified).
        let (one, many, verified) = match self {
            Scenario::Udp => ("datagram", "datagrams", "replies"),
            Scenario::Chat => ("delivery", "deliveries", "deliveries"),
            _ => ("request", "requests", "requests"),
        };
        let rows = match self {
            Scenario::Tcp | Scenario::Chat => &ROWS[..1],
            Scenario::Udp => &ROWS[..2],
            Scenario::Pool => &ROWS[2..3],
            Scenario::Bulk => &ROWS[3..4],
            _ => &ROWS[4..],
        };
        let name = |n: &str| {
            n.replace("{one}", one)
                .replace("{many}", many)
                .replace("{verified}", verified)
        };
        let rows = rows
            .iter()
            .flat_map(|rows| rows.lines())
            .filter(|l| !l.is_empty());
        let metric = |row| Metric {
            name: name(&Metric::parse(row).name),
            ..Metric::parse(row)
        };
        rows.map(metric).collect()
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

/// Each scenario's rows, one a line: its name; its unit (`/s` per second,
/// `ns`, `GB/s`, `B`, a `count`, `cores` busy, a count `per` event); which
/// way is better (`+` higher, `-` lower, nothing: not a performance figure);
/// what it is figured from, of a round's totals (`cpu/done`: the server's
/// CPU nanoseconds per exchange done; `*1e9` scales, a lone total is a
/// count) or a latency percentile (`p99`); and whether the table shows the
/// `median` round's figure (a rate, which the machine's background load
/// moves) or lists `every` round's under it.
///
/// The scenarios that exchange (a request and its echo, a datagram and its
/// reply, a chat line and its delivery) name their rows after what they
/// exchange: the rate, the round trip, the server's CPU per exchange, and
/// where a round trip goes: how often each side slept and had to be woken
/// (`procfs.rs`). Fewer server sleeps is what spinning buys; preemptions
/// and the load generator's sleeps describe the run. UDP adds its losses;
/// the pool, bulk and idle have rows of their own.
pub const ROWS: [&str; 5] = [
    "\
{many}/s | /s | + | done/ns*1e9 | median
latency p50 | ns | - | p50
latency p99 | ns | - | p99
latency p99.9 | ns | - | p99.9
server CPU/{one} | ns | - | cpu/done | every
… of which in user space | ns | - | user/done
server CPU busy | cores | | cpu/ns
load generator CPU busy | cores | | client cpu/ns
server sleeps/{one} | per | - | sleeps/done | every
server preemptions/{one} | per | | preemptions/done
load generator sleeps/{one} | per | | client sleeps/done
{verified} verified | count | | done
",
    // udp.rs's REPLY_TIMEOUT, as the table says it.
    "datagrams lost (no reply in 500 ms) | count | - | lost",
    "\
jobs/s | /s | + | jobs/ns*1e9 | every
jobs/s ÷ ideal (workers ÷ 2 ms) | per | + | jobs/ideal jobs
no-work latency p50 | ns | - | p50
no-work latency p99 | ns | - | p99
no-work requests/s | /s | + | done/ns*1e9 | every
busy replies | count | | busy
server CPU busy | cores | | cpu/ns",
    "\
throughput | GB/s | + | bytes/ns | median
server CPU/GB | ns | - | cpu/bytes*1e9
… of which in user space | ns | - | user/bytes*1e9
elapsed | ns | - | ns/rounds",
    // Source addresses: above 1 when one address ran out of ephemeral ports.
    "\
server RSS/connection | B | - | rss growth/conns
server RSS before | B | | rss before/rounds
server RSS with all open | B | | rss after/rounds
sampled connections that echoed | count | | sampled
source addresses used | count | | sources/rounds",
];
