//! One table per scenario, from measurements taken side by side:
//! [`side_by_side`] starts every server of the table, runs the scenario
//! against each in turn, round after round, alternating the order, and
//! stops them; each `*_table` turns the rounds into a [`Measured`].

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
    results::{Better, Measured, Metric, ServerFigures, Unit, median},
    servers::{PRESETS, Server, ServerSpec},
    udp,
};

/// What every table needs: the settings, where the presets' programs are,
/// the CPU the servers run on, and the run's progress.
pub struct Setup {
    /// The command line.
    pub args: Args,
    /// The presets' programs.
    pub bin_dir: PathBuf,
    /// The CPU the servers are pinned to, if any.
    pub server_cpu: Option<usize>,
    /// Counts the measurements as they finish.
    pub progress: Progress,
    /// `--json`'s file, if any.
    pub json: Option<PathBuf>,
    /// The servers `--server` gave, if any.
    pub servers: Vec<ServerSpec>,
}

/// A server of a table; `optional`: one of the default list, skipped with a
/// note when it cannot run (Go not installed, a fixed port taken).
struct Column {
    spec: ServerSpec,
    optional: bool,
}

/// The servers a `scenario` table measures, in column order (the first is
/// the one every ratio is about), and why any default one is left out.
fn columns(args: &Args, given: &[ServerSpec], scenario: Scenario) -> (Vec<Column>, Vec<String>) {
    let pingpong = scenario == Scenario::Tcp;
    let mut notes = Vec::new();
    let mut columns: Vec<Column> = if given.is_empty() {
        PRESETS
            .iter()
            .map(|preset| ServerSpec::preset(preset.name, &[]))
            .filter(
                |spec| match spec.skipped_by_default(pingpong, args.len as usize) {
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
            .collect()
    } else {
        given
            .iter()
            .cloned()
            .map(|spec| Column {
                spec,
                optional: false,
            })
            .collect()
    };
    if pingpong {
        let spins = args.spin_windows().iter().map(|us| Column {
            spec: ServerSpec::preset("ours", &["--spin-us".to_owned(), us.to_string()]),
            optional: false,
        });
        let at = columns.len().min(2);
        columns.splice(at..at, spins);
    }
    (columns, notes)
}

/// How many measurements a table makes, each expected to take how long:
/// the plan [`Progress`] counts against.
pub fn plan(args: &Args, given: &[ServerSpec]) -> Vec<Duration> {
    let mut planned = Vec::new();
    for scenario in args.scenario.expand() {
        let servers = columns(args, given, scenario).0.len();
        let (tables, rounds, each) = match scenario {
            Scenario::Tcp => (
                args.conns.len(),
                PINGPONG_ROUNDS,
                args.warmup() + args.measure(),
            ),
            Scenario::Udp => (1, PINGPONG_ROUNDS, args.warmup() + args.measure()),
            // About 1 GB/s each way on loopback, and a few seconds for
            // 10 000 connections to open.
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

/// One server's rounds.
struct Rounds<T> {
    name: String,
    outcomes: Vec<T>,
}

/// Starts the servers of `columns`, runs `measure` against each in turn,
/// `rounds` times, reversing the order every other round so that a
/// disturbance from elsewhere on the machine does not always land on the
/// same server, and stops them (every one is stopped or killed, error or
/// not). Notes say which optional server was skipped and how each ended.
fn side_by_side<T>(
    setup: &mut Setup,
    label: &str,
    transport: Transport,
    columns: Vec<Column>,
    rounds: usize,
    measure: impl Fn(&Server) -> Result<T>,
) -> Result<(Vec<Rounds<T>>, Vec<String>)> {
    let mut notes = Vec::new();
    let mut servers = Vec::new();
    for column in columns {
        match Server::start(&column.spec, transport, &setup.bin_dir, setup.server_cpu) {
            Ok(server) => servers.push((server, column.spec.about())),
            Err(err) if column.optional => {
                notes.push(format!("{} skipped: {err:#}", column.spec.text));
            }
            Err(err) => return Err(err),
        }
    }
    let mut measured: Vec<Vec<T>> = servers.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..servers.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            let server = &servers[index].0;
            let started = Instant::now();
            let outcome = measure(server).with_context(|| format!("against `{}`", server.name))?;
            let what = format!("{label}, round {}, {}", round + 1, server.name);
            setup.progress.finished(&what, started.elapsed());
            measured[index].push(outcome);
        }
    }
    let mut said = Vec::new();
    let mut all = Vec::new();
    for ((server, about), outcomes) in servers.into_iter().zip(measured) {
        let name = server.name.clone();
        said.extend(server.stop()?);
        if !notes.contains(&about) {
            notes.push(about);
        }
        all.push(Rounds { name, outcomes });
    }
    notes.extend(said);
    Ok((all, notes))
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
        "tcp ping-pong: {} × {} B, {} s measured per server in {PINGPONG_ROUNDS} \
         alternating rounds, each after a {} s warm-up; requests/s of the median round, \
         latency and CPU over all rounds",
        count(conns, "connection"),
        config.len,
        args.secs,
        config.warmup.as_secs_f64()
    );
    let (columns, mut notes) = columns(args, &setup.servers, Scenario::Tcp);
    let label = format!("tcp --conns={conns}");
    let (rounds, said) = side_by_side(
        setup,
        &label,
        Transport::Tcp,
        columns,
        PINGPONG_ROUNDS,
        |server| pingpong::run(server.addr, server.pid, &config),
    )?;
    notes.extend(said);
    let mut measured = exchange_table(label, title, &pingpong::EXCHANGE, rounds, notes)?;
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
        "udp ping-pong: one socket, one {} B datagram in flight, {} s measured per server in \
         {PINGPONG_ROUNDS} alternating rounds, each after a {} s warm-up; datagrams/s of the \
         median round, latency and CPU over all rounds",
        config.len,
        args.secs,
        config.warmup.as_secs_f64()
    );
    let (columns, mut notes) = columns(args, &setup.servers, Scenario::Udp);
    let (rounds, said) = side_by_side(
        setup,
        "udp",
        Transport::Udp,
        columns,
        PINGPONG_ROUNDS,
        |server| udp::run(server.addr, server.pid, &config),
    )?;
    notes.extend(said);
    exchange_table("udp".to_owned(), title, &udp::EXCHANGE, rounds, notes)
}

/// A figure of an exchange [`Outcome`].
type Figure = fn(&Outcome) -> f64;

/// The rows of either ping-pong, named after what it exchanges.
fn exchange_rows(names: &Exchange) -> Vec<(Metric, Figure)> {
    let row = |name: &str, unit, better, figure: Figure| (Metric::new(name, unit, better), figure);
    let mut rows = vec![
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
        // woken (see `sleeps.rs`). Fewer server sleeps is what spinning
        // buys; preemptions and the load generator's sleeps describe the
        // run, not the server.
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
    rows
}

fn percentile(outcome: &Outcome, q: f64) -> f64 {
    outcome.latency.value_at_percentile(q) as f64
}

/// The percentiles the latency chart draws.
const PERCENTILES: [f64; 7] = [50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99];

/// Either ping-pong's table: each round's figures, then the median round's
/// rate and every other figure over all rounds merged.
fn exchange_table(
    scenario: String,
    title: String,
    names: &Exchange,
    rounds: Vec<Rounds<Outcome>>,
    mut notes: Vec<String>,
) -> Result<Measured> {
    let rows = exchange_rows(names);
    let mut servers = Vec::new();
    for server in &rounds {
        let merged = Outcome::merge(&server.outcomes)?;
        let figures = |o: &Outcome| rows.iter().map(|(_, f)| f(o)).collect::<Vec<f64>>();
        let per_round: Vec<Vec<f64>> = server.outcomes.iter().map(figures).collect();
        let mut reported = figures(&merged);
        reported[0] = median(per_round.iter().map(|r| r[0]));
        servers.push(ServerFigures {
            name: server.name.clone(),
            rounds: per_round,
            reported,
            latency: PERCENTILES
                .iter()
                .map(|&q| (q, percentile(&merged, q)))
                .collect(),
        });
    }
    let metrics: Vec<Metric> = rows.into_iter().map(|(m, _)| m).collect();
    // The machine's speed can change between rounds for every server
    // alike, so each round's figure shows beside the merged ones.
    let every: Vec<String> = [0, 4, 8]
        .iter()
        .map(|&index| every_round(&metrics[index], &servers, index))
        .collect();
    notes.splice(0..0, every);
    Ok(Measured {
        scenario,
        title,
        conns: None,
        metrics,
        servers,
        notes,
    })
}

/// `every round, requests/s — ours: 1 000, 1 020; tokio: …`.
fn every_round(metric: &Metric, servers: &[ServerFigures], index: usize) -> String {
    let lists: Vec<String> = servers
        .iter()
        .map(|s| {
            let figures: Vec<String> = s
                .rounds
                .iter()
                .map(|r| crate::report::format_value(r[index], metric.unit))
                .collect();
            format!("{}: {}", s.name, figures.join(", "))
        })
        .collect();
    format!("every round, {} — {}", metric.name, lists.join("; "))
}

/// The bulk transfer: the median round of each server by throughput.
pub fn bulk_table(setup: &mut Setup) -> Result<Measured> {
    let bytes = setup.args.bytes;
    let (columns, mut notes) = columns(&setup.args, &setup.servers, Scenario::Bulk);
    let (rounds, said) = side_by_side(
        setup,
        "bulk",
        Transport::Tcp,
        columns,
        BULK_ROUNDS,
        |server| bulk::run(server.addr, server.pid, bytes),
    )?;
    let metrics = vec![
        Metric::new("throughput", Unit::GigabytesPerSecond, Better::Higher),
        Metric::new("server CPU/GB", Unit::Nanos, Better::Lower),
        Metric::new("… of which in user space", Unit::Nanos, Better::Lower),
        Metric::new("elapsed", Unit::Nanos, Better::Lower),
    ];
    let servers: Vec<ServerFigures> = rounds
        .iter()
        .map(|server| {
            let per_round: Vec<Vec<f64>> = server
                .outcomes
                .iter()
                .map(|o| {
                    vec![
                        o.gigabytes_per_second(),
                        o.server_cpu_per_gigabyte_ns(CpuTime::total),
                        o.server_cpu_per_gigabyte_ns(|cpu| cpu.user),
                        o.elapsed.as_nanos() as f64,
                    ]
                })
                .collect();
            let mut by_rate = per_round.clone();
            by_rate.sort_by(|a, b| a[0].total_cmp(&b[0]));
            let reported = by_rate[(by_rate.len().max(1) - 1) / 2].clone();
            ServerFigures {
                name: server.name.clone(),
                rounds: per_round,
                reported,
                latency: Vec::new(),
            }
        })
        .collect();
    notes.insert(0, every_round(&metrics[0], &servers, 0));
    notes.insert(
        1,
        "every byte echoed was checked against what was sent; GB = 10^9 bytes each way".to_owned(),
    );
    notes.extend(said);
    Ok(Measured {
        scenario: "bulk".to_owned(),
        title: format!(
            "bulk: one connection streams {bytes} bytes and reads the echo concurrently \
             (median of {BULK_ROUNDS} alternating rounds)"
        ),
        conns: None,
        metrics,
        servers,
        notes,
    })
}

/// Idle connections: the server's memory per connection.
pub fn idle_table(setup: &mut Setup) -> Result<Measured> {
    let count = setup.args.count as usize;
    let (mut columns, mut notes) = columns(&setup.args, &setup.servers, Scenario::Idle);
    // Room for the warm-up and sample connections on top of the idle ones.
    for column in &mut columns {
        if column.spec.text == "ours" {
            column.spec =
                ServerSpec::preset("ours", &["--max-conns".into(), (count + 64).to_string()]);
        }
    }
    let (rounds, said) = side_by_side(setup, "idle", Transport::Tcp, columns, 1, |server| {
        idle::run(server.addr, server.pid, count)
    })?;
    let metrics = vec![
        Metric::new("server RSS/connection", Unit::Bytes, Better::Lower),
        Metric::new("server RSS before", Unit::Bytes, Better::Neither),
        Metric::new("server RSS with all open", Unit::Bytes, Better::Neither),
        Metric::new(
            "sampled connections that echoed",
            Unit::Count,
            Better::Neither,
        ),
    ];
    let mut servers = Vec::new();
    for server in &rounds {
        let o = server.outcomes.first().context("no idle round ran")?;
        let figures = vec![
            o.bytes_per_connection(),
            o.rss_before as f64,
            o.rss_after as f64,
            o.sampled as f64,
        ];
        if o.source_addrs > 1 {
            notes.push(format!(
                "{}: ephemeral ports ran out; connections came from {} source addresses in 127.0.0.0/8",
                server.name, o.source_addrs
            ));
        }
        servers.push(ServerFigures {
            name: server.name.clone(),
            rounds: vec![figures.clone()],
            reported: figures,
            latency: Vec::new(),
        });
    }
    notes.extend(said);
    Ok(Measured {
        scenario: "idle".to_owned(),
        title: format!("idle: {}", count_of(count as u64, "idle connection")),
        conns: None,
        metrics,
        servers,
        notes,
    })
}

/// `1 connection`, `50 connections`.
fn count(n: u32, noun: &str) -> String {
    count_of(u64::from(n), noun)
}

fn count_of(n: u64, noun: &str) -> String {
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
        columns(&args, &given, scenario)
            .0
            .into_iter()
            .map(|c| c.spec.text)
            .collect()
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
        assert_eq!(
            names(
                &["--server", "127.0.0.1:9", "--server", "tokio"],
                Scenario::Udp
            ),
            ["127.0.0.1:9", "tokio"]
        );
    }

    #[test]
    fn the_plan_counts_every_measurement_of_the_run() {
        let args = Args::parse_from(["bench", "tcp", "--conns", "1,50", "--secs", "4"]);
        let plan = plan(&args, &[]);
        // 2 tables × 4 rounds × 4 servers, each 0.2 s warm-up + 1 s.
        assert_eq!(plan.len(), 32);
        assert_eq!(plan[0], Duration::from_millis(1200));
        assert_eq!(count(1, "connection"), "1 connection");
        assert_eq!(count(50, "connection"), "50 connections");
    }
}
