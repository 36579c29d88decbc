//! One table per scenario, from measurements taken side by side:
//! [`measure`] starts every server of the table, runs the scenario against
//! each in turn, round after round, alternating the order, stops them, and
//! turns the rounds into a [`Measured`] through the scenario's rows.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use harness::ports::Transport;

use crate::{
    bulk,
    cli::{Args, BULK_ROUNDS, PINGPONG_ROUNDS, Scenario},
    exchange::{Exchange, Outcome},
    idle, pingpong,
    procfs::CpuTime,
    progress::Progress,
    report::format_value,
    results::{Better, Measured, Metric, ServerFigures, Unit, median},
    servers::{PRESETS, Server, ServerSpec},
    udp,
};

/// What every table needs: the settings, the servers, where the presets'
/// programs are, the CPU the servers run on, and the run's progress.
pub struct Setup {
    pub args: Args,
    /// The servers `--server` gave, if any.
    pub servers: Vec<ServerSpec>,
    pub bin_dir: PathBuf,
    pub server_cpu: Option<usize>,
    pub progress: Progress,
}

/// A server of a table; `optional`: one of the default list, skipped with
/// a note when it cannot run (Go not installed, a fixed port taken).
struct Column {
    spec: ServerSpec,
    optional: bool,
}

/// The servers a `scenario` table measures, in column order (the first is
/// the one every ratio is about), and why any default one is left out.
fn columns(args: &Args, given: &[ServerSpec], scenario: Scenario) -> (Vec<Column>, Vec<String>) {
    let pingpong = scenario == Scenario::Tcp;
    let mut notes = Vec::new();
    let defaults = PRESETS
        .iter()
        .map(|preset| ServerSpec::preset(preset.name, &[]));
    let mut columns: Vec<Column> = match given {
        [] => defaults
            .filter(
                |spec| match spec.left_out_by_default(pingpong, args.len as usize) {
                    Some(why) => {
                        notes.extend((!why.is_empty()).then_some(why));
                        false
                    }
                    None => true,
                },
            )
            .map(|spec| Column {
                spec,
                optional: true,
            })
            .collect(),
        given => given
            .iter()
            .map(|spec| Column {
                spec: spec.clone(),
                optional: false,
            })
            .collect(),
    };
    if pingpong {
        let spins = args.spin_us.iter().map(|us| Column {
            spec: ServerSpec::preset("ours", &["--spin-us".to_owned(), us.to_string()]),
            optional: false,
        });
        let at = columns.len().min(2);
        columns.splice(at..at, spins);
    }
    (columns, notes)
}

/// Every measurement of the run, each with how long it is expected to
/// take: the plan [`Progress`] counts against.
pub fn plan(args: &Args, given: &[ServerSpec]) -> Vec<Duration> {
    let pingpong = args.warmup() + args.measure();
    let mut planned = Vec::new();
    for scenario in args.scenario.expand() {
        let servers = columns(args, given, scenario).0.len();
        let (tables, rounds, each) = match scenario {
            Scenario::Tcp => (args.conns.len(), PINGPONG_ROUNDS, pingpong),
            Scenario::Udp => (1, PINGPONG_ROUNDS, pingpong),
            // About 1 GB/s each way on loopback; a few thousand
            // connections opened a second.
            Scenario::Bulk => (
                1,
                BULK_ROUNDS,
                Duration::from_secs_f64(args.bytes as f64 / 1e9),
            ),
            Scenario::Idle => (
                1,
                1,
                Duration::from_secs_f64(f64::from(args.count) / 3000.0 + 0.5),
            ),
            Scenario::All => unreachable!("expanded"),
        };
        planned.extend(std::iter::repeat_n(each, tables * rounds * servers));
    }
    planned
}

/// A row of a table, and its figure from one round's outcome.
type Row<T> = (Metric, fn(&T) -> f64);

/// A server's figures as the table shows them, and its latency at each
/// percentile (empty where nothing round-trips).
type Reported = (Vec<f64>, Vec<(f64, f64)>);

fn row<T>(name: &str, unit: Unit, better: Better, figure: fn(&T) -> f64) -> Row<T> {
    (Metric::new(name, unit, better), figure)
}

/// What a table is, besides its rows: the scenario and title, the
/// transport, the rounds, and which rows list every round in a note.
struct Table<T> {
    scenario: String,
    title: String,
    transport: Transport,
    rounds: usize,
    rows: Vec<Row<T>>,
    every_round: &'static [usize],
    /// The figures the table shows, from a server's rounds: by default the
    /// median round of the first row.
    reported: fn(&[Row<T>], &[T]) -> Result<Reported>,
}

/// Starts the servers of `columns`, runs `run` against each in turn,
/// `rounds` times, reversing the order every other round so that a
/// disturbance from elsewhere on the machine does not always land on the
/// same server, stops them (each is stopped or killed, error or not), and
/// makes the table.
fn measure<T>(
    setup: &mut Setup,
    (columns, mut notes): (Vec<Column>, Vec<String>),
    table: Table<T>,
    run: impl Fn(&Server) -> Result<T>,
) -> Result<Measured> {
    let mut servers = Vec::new();
    for Column { spec, optional } in columns {
        match Server::start(&spec, table.transport, &setup.bin_dir, setup.server_cpu) {
            Ok(server) => servers.push((server, spec.about(), Vec::new())),
            Err(err) if optional => notes.push(format!("{} skipped: {err:#}", spec.text)),
            Err(err) => return Err(err),
        }
    }
    for round in 0..table.rounds {
        let mut order: Vec<usize> = (0..servers.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            let (server, _, outcomes) = &mut servers[index];
            let started = Instant::now();
            outcomes.push(run(server).with_context(|| format!("against `{}`", server.name))?);
            let what = format!("{}, round {}, {}", table.scenario, round + 1, server.name);
            setup.progress.finished(&what, started.elapsed());
        }
    }
    let (mut figures, mut said) = (Vec::new(), Vec::new());
    for (server, about, outcomes) in servers {
        let rounds = outcomes
            .iter()
            .map(|o| table.rows.iter().map(|(_, f)| f(o)).collect())
            .collect();
        let (reported, latency) = (table.reported)(&table.rows, &outcomes)?;
        figures.push(ServerFigures {
            name: server.name.clone(),
            rounds,
            reported,
            latency,
        });
        said.extend(server.stop()?);
        if !notes.contains(&about) {
            notes.push(about);
        }
    }
    notes.extend(said);
    let metrics: Vec<Metric> = table.rows.into_iter().map(|(m, _)| m).collect();
    let every = table
        .every_round
        .iter()
        .map(|&i| every_round(&metrics[i], &figures, i));
    notes.splice(0..0, every);
    Ok(Measured {
        scenario: table.scenario,
        title: table.title,
        conns: None,
        metrics,
        servers: figures,
        notes,
    })
}

/// The figures of the median round by the first row.
fn median_round<T>(rows: &[Row<T>], outcomes: &[T]) -> Result<Reported> {
    let mut by_first: Vec<&T> = outcomes.iter().collect();
    by_first.sort_by(|a, b| rows[0].1(a).total_cmp(&rows[0].1(b)));
    let median = by_first
        .get((outcomes.len().max(1) - 1) / 2)
        .context("no round ran")?;
    Ok((rows.iter().map(|(_, f)| f(median)).collect(), Vec::new()))
}

/// `every round, requests/s — ours: 1 000/s, 1 020/s; tokio: …`.
fn every_round(metric: &Metric, servers: &[ServerFigures], index: usize) -> String {
    let lists: Vec<String> = servers
        .iter()
        .map(|s| {
            let figures: Vec<String> = s
                .rounds
                .iter()
                .map(|r| format_value(r[index], metric.unit))
                .collect();
            format!("{}: {}", s.name, figures.join(", "))
        })
        .collect();
    format!("every round, {} — {}", metric.name, lists.join("; "))
}

/// The tcp ping-pong at `conns` connections.
pub fn tcp_table(setup: &mut Setup, conns: u32) -> Result<Measured> {
    let args = &setup.args;
    let config = pingpong::Config {
        conns: conns as usize,
        len: args.len as usize,
        warmup: args.warmup(),
        measure: args.measure(),
    };
    let title = format!(
        "tcp ping-pong: {} × {} B, {}",
        count(conns.into(), "connection"),
        config.len,
        pingpong_rounds(args, "requests/s")
    );
    let columns = columns(args, &setup.servers, Scenario::Tcp);
    let table = exchange_table(
        format!("tcp --conns={conns}"),
        title,
        Transport::Tcp,
        &pingpong::EXCHANGE,
    );
    let mut measured = measure(setup, columns, table, |s| {
        pingpong::run(s.addr, s.pid, &config)
    })?;
    measured.conns = Some(conns);
    Ok(measured)
}

/// The udp ping-pong.
pub fn udp_table(setup: &mut Setup) -> Result<Measured> {
    let args = &setup.args;
    let config = udp::Config {
        len: args.len as usize,
        warmup: args.warmup(),
        measure: args.measure(),
    };
    let title = format!(
        "udp ping-pong: one socket, one {} B datagram in flight, {}",
        config.len,
        pingpong_rounds(args, "datagrams/s")
    );
    let columns = columns(args, &setup.servers, Scenario::Udp);
    let table = exchange_table("udp".to_owned(), title, Transport::Udp, &udp::EXCHANGE);
    measure(setup, columns, table, |s| udp::run(s.addr, s.pid, &config))
}

/// How a ping-pong's rounds went, for its title.
fn pingpong_rounds(args: &Args, rate: &str) -> String {
    format!(
        "{} s measured per server in {PINGPONG_ROUNDS} alternating rounds, each after a {} s \
         warm-up; {rate} of the median round, latency and CPU over all rounds",
        args.secs,
        args.warmup().as_secs_f64()
    )
}

/// The percentiles the latency chart draws.
const PERCENTILES: [f64; 7] = [50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99];

/// Either ping-pong's table: rows named after what it exchanges; the
/// median round's rate, and every other figure over all rounds merged.
fn exchange_table(
    scenario: String,
    title: String,
    transport: Transport,
    names: &Exchange,
) -> Table<Outcome> {
    let mut rows: Vec<Row<Outcome>> = vec![
        row(
            names.per_second,
            Unit::PerSecond,
            Better::Higher,
            Outcome::per_second,
        ),
        row("latency p50", Unit::Nanos, Better::Lower, |o| {
            percentile(o, 50.0)
        }),
        row("latency p99", Unit::Nanos, Better::Lower, |o| {
            percentile(o, 99.0)
        }),
        row("latency p99.9", Unit::Nanos, Better::Lower, |o| {
            percentile(o, 99.9)
        }),
        row(
            names.cpu_per,
            Unit::Nanos,
            Better::Lower,
            Outcome::server_cpu_per_exchange_ns,
        ),
        row(
            "… of which in user space",
            Unit::Nanos,
            Better::Lower,
            Outcome::server_user_cpu_per_exchange_ns,
        ),
        row(
            "server CPU busy",
            Unit::Cores,
            Better::Neither,
            Outcome::server_cores,
        ),
        row(
            "load generator CPU busy",
            Unit::Cores,
            Better::Neither,
            Outcome::client_cores,
        ),
        // Where a round trip goes: how often each side slept and had to be
        // woken (`procfs.rs`). Fewer server sleeps is what spinning buys;
        // preemptions and the load generator's sleeps describe the run.
        row(
            names.server_sleeps_per,
            Unit::PerEvent,
            Better::Lower,
            Outcome::server_sleeps_per_exchange,
        ),
        row(
            names.server_preemptions_per,
            Unit::PerEvent,
            Better::Neither,
            Outcome::server_preemptions_per_exchange,
        ),
        row(
            names.client_sleeps_per,
            Unit::PerEvent,
            Better::Neither,
            Outcome::client_sleeps_per_exchange,
        ),
        row(names.verified, Unit::Count, Better::Neither, |o| {
            o.completed as f64
        }),
    ];
    if let Some(lost) = names.lost {
        rows.push(row(lost, Unit::Count, Better::Lower, |o| o.lost as f64));
    }
    Table {
        scenario,
        title,
        transport,
        rounds: PINGPONG_ROUNDS,
        rows,
        // The machine's speed can change between rounds for every server
        // alike, so each round's rate, CPU and sleeps show beside the
        // merged figures.
        every_round: &[0, 4, 8],
        reported: |rows, outcomes| {
            let merged = Outcome::merge(outcomes)?;
            let mut reported: Vec<f64> = rows.iter().map(|(_, f)| f(&merged)).collect();
            reported[0] = median(outcomes.iter().map(Outcome::per_second));
            let latency = PERCENTILES
                .iter()
                .map(|&q| (q, percentile(&merged, q)))
                .collect();
            Ok((reported, latency))
        },
    }
}

fn percentile(outcome: &Outcome, q: f64) -> f64 {
    outcome.latency.value_at_percentile(q) as f64
}

/// The bulk transfer: the median round of each server by throughput.
pub fn bulk_table(setup: &mut Setup) -> Result<Measured> {
    let bytes = setup.args.bytes;
    let columns = columns(&setup.args, &setup.servers, Scenario::Bulk);
    let table = Table {
        scenario: "bulk".to_owned(),
        title: format!(
            "bulk: one connection streams {bytes} bytes and reads the echo concurrently \
             (median of {BULK_ROUNDS} alternating rounds); every byte echoed is checked \
             against what was sent; GB = 10^9 bytes each way"
        ),
        transport: Transport::Tcp,
        rounds: BULK_ROUNDS,
        rows: vec![
            row(
                "throughput",
                Unit::GigabytesPerSecond,
                Better::Higher,
                bulk::Outcome::gigabytes_per_second,
            ),
            row("server CPU/GB", Unit::Nanos, Better::Lower, |o| {
                o.server_cpu_per_gigabyte_ns(CpuTime::total)
            }),
            row(
                "… of which in user space",
                Unit::Nanos,
                Better::Lower,
                |o| o.server_cpu_per_gigabyte_ns(|cpu| cpu.user),
            ),
            row("elapsed", Unit::Nanos, Better::Lower, |o| {
                o.elapsed.as_nanos() as f64
            }),
        ],
        every_round: &[0],
        reported: median_round,
    };
    measure(setup, columns, table, |s| bulk::run(s.addr, s.pid, bytes))
}

/// Idle connections: the server's memory per connection.
pub fn idle_table(setup: &mut Setup) -> Result<Measured> {
    let idle = setup.args.count as usize;
    let (mut columns, notes) = columns(&setup.args, &setup.servers, Scenario::Idle);
    // Room for the warm-up and sample connections on top of the idle ones.
    for column in columns.iter_mut().filter(|c| c.spec.text == "ours") {
        column.spec = ServerSpec::preset("ours", &["--max-conns".into(), (idle + 64).to_string()]);
    }
    let table = Table {
        scenario: "idle".to_owned(),
        title: format!("idle: {}", count(idle as u64, "idle connection")),
        transport: Transport::Tcp,
        rounds: 1,
        rows: vec![
            row(
                "server RSS/connection",
                Unit::Bytes,
                Better::Lower,
                idle::Outcome::bytes_per_connection,
            ),
            row("server RSS before", Unit::Bytes, Better::Neither, |o| {
                o.rss_before as f64
            }),
            row(
                "server RSS with all open",
                Unit::Bytes,
                Better::Neither,
                |o| o.rss_after as f64,
            ),
            row(
                "sampled connections that echoed",
                Unit::Count,
                Better::Neither,
                |o| o.sampled as f64,
            ),
            // Above 1 when one address ran out of ephemeral ports.
            row("source addresses used", Unit::Count, Better::Neither, |o| {
                o.source_addrs as f64
            }),
        ],
        every_round: &[],
        reported: median_round,
    };
    measure(setup, (columns, notes), table, |s| {
        idle::run(s.addr, s.pid, idle)
    })
}

/// `1 connection`, `50 connections`.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn names(args: &[&str], scenario: Scenario) -> Vec<String> {
        let args = Args::parse_from(std::iter::once("bench").chain(args.iter().copied()));
        let given = args.check().unwrap();
        let columns = columns(&args, &given, scenario).0;
        columns.into_iter().map(|c| c.spec.text).collect()
    }

    #[test]
    fn the_default_servers_are_the_presets_with_go_in_the_tcp_pingpong_only() {
        assert_eq!(
            names(&[], Scenario::Tcp),
            ["ours", "tokio", "go-tutorial", "go-io-copy"]
        );
        assert_eq!(names(&[], Scenario::Udp), ["ours", "tokio"]);
        assert_eq!(names(&[], Scenario::Bulk), ["ours", "tokio"]);
        // The tutorial echoes 128 bytes whole at most.
        assert_eq!(
            names(&["--len", "129"], Scenario::Tcp),
            ["ours", "tokio", "go-io-copy"]
        );
    }

    #[test]
    fn spin_windows_follow_the_first_two_servers_and_given_servers_replace_the_presets() {
        assert_eq!(
            names(&["--spin-us", "0,50"], Scenario::Tcp),
            [
                "ours",
                "tokio",
                "ours --spin-us 0",
                "ours --spin-us 50",
                "go-tutorial",
                "go-io-copy"
            ]
        );
        let given = names(
            &["--server", "127.0.0.1:9", "--server", "tokio"],
            Scenario::Udp,
        );
        assert_eq!(given, ["127.0.0.1:9", "tokio"]);
    }

    #[test]
    fn the_plan_counts_every_measurement_of_the_run() {
        let args = Args::parse_from(["bench", "tcp", "--conns", "1,50", "--secs", "4"]);
        let plan = plan(&args, &[]);
        // 2 tables × 4 rounds × 4 servers, each 0.2 s warm-up + 1 s.
        assert_eq!((plan.len(), plan[0]), (32, Duration::from_millis(1200)));
        assert_eq!(count(1, "connection"), "1 connection");
        assert_eq!(count(50, "connection"), "50 connections");
    }
}
