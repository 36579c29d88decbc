//! One table per scenario, from measurements taken side by side:
//! [`measure`] starts every server of the table, runs the scenario against
//! each in turn, round after round, alternating the order, stops them, and
//! turns the rounds into a [`Measured`] through the scenario's metrics.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use crate::{
    bulk, chat,
    cli::{Args, BULK_ROUNDS, PINGPONG_ROUNDS, Scenario},
    exchange::{Exchange, Outcome},
    idle, pingpong, pool,
    procfs::CpuTime,
    progress::Progress,
    report::format_value,
    results::{Better, Measured, Metric, ServerFigures, Unit, median},
    servers::{PRESETS, Server, ServerSpec, Service},
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

/// The servers a `scenario` table measures, in column order (the first is
/// the one every ratio is about), each with whether it is one of the
/// default list (skipped with a note when it cannot run: Go not installed,
/// a fixed port taken), and why any default one is left out.
fn columns(
    args: &Args,
    given: &[ServerSpec],
    scenario: Scenario,
) -> (Vec<(ServerSpec, bool)>, Vec<String>) {
    let pingpong = scenario == Scenario::Tcp;
    let service = service(scenario);
    let mut notes = Vec::new();
    let mut columns: Vec<(ServerSpec, bool)> = match given {
        [] => PRESETS
            .iter()
            .map(|preset| ServerSpec::preset(preset.name, &[]))
            .filter(
                |spec| match spec.left_out_by_default(service, pingpong, args.len as usize) {
                    Some(why) => {
                        notes.extend((!why.is_empty()).then_some(why));
                        false
                    }
                    None => true,
                },
            )
            .map(|spec| (spec, true))
            .collect(),
        given => given.iter().map(|spec| (spec.clone(), false)).collect(),
    };
    if pingpong {
        let spin = |us: &u64| ServerSpec::preset("ours", &["--spin-us".to_owned(), us.to_string()]);
        let at = columns.len().min(2);
        columns.splice(at..at, args.spin_us.iter().map(|us| (spin(us), false)));
    }
    if scenario == Scenario::Pool {
        let workers = ["--workers".to_owned(), args.workers.to_string()];
        columns
            .iter_mut()
            .for_each(|(spec, _)| *spec = spec.with_args(&workers));
    }
    (columns, notes)
}

/// What the servers of a `scenario` table serve.
fn service(scenario: Scenario) -> Service {
    match scenario {
        Scenario::Udp => Service::Udp,
        Scenario::Pool => Service::Pool,
        Scenario::Chat => Service::Chat,
        _ => Service::Echo,
    }
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
            Scenario::Udp | Scenario::Pool => (1, PINGPONG_ROUNDS, pingpong),
            // Joining 100 clients, and the lines in flight at the end.
            Scenario::Chat => (1, PINGPONG_ROUNDS, pingpong + Duration::from_millis(300)),
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

/// A server's figures as the table shows them, and its latency at each
/// percentile (empty where nothing round-trips).
type Reported = (Vec<f64>, Vec<(f64, f64)>);

/// What a table is: its scenario and title, service and rounds, its
/// metrics, a round's figures for them, which metrics list every round in
/// a note, and the figures it shows from all of a server's rounds.
struct Table<T> {
    scenario: String,
    title: String,
    service: Service,
    rounds: usize,
    metrics: Vec<Metric>,
    figures: fn(&T) -> Vec<f64>,
    every_round: &'static [usize],
    reported: fn(&Table<T>, &[T]) -> Result<Reported>,
}

/// Starts the servers of `columns`, runs `run` against each in turn,
/// `rounds` times, reversing the order every other round so that a
/// disturbance from elsewhere on the machine does not always land on the
/// same server, stops them (each is stopped or killed, error or not), and
/// makes the table.
fn measure<T>(
    setup: &mut Setup,
    (columns, mut notes): (Vec<(ServerSpec, bool)>, Vec<String>),
    table: Table<T>,
    run: impl Fn(&Server) -> Result<T>,
) -> Result<Measured> {
    let mut servers = Vec::new();
    for (spec, optional) in columns {
        match Server::start(&spec, table.service, &setup.bin_dir, setup.server_cpu) {
            Ok(server) => servers.push((server, spec.about(), Vec::new())),
            Err(err) if optional => {
                notes.push(format!("{} skipped: {err:#}", spec.text));
                setup.progress.skip(table.rounds);
            }
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
        let figures_of = |o| {
            let mut figures = (table.figures)(o);
            figures.truncate(table.metrics.len());
            figures
        };
        let rounds = outcomes.iter().map(figures_of).collect();
        let (reported, latency) = (table.reported)(&table, &outcomes)?;
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
    let every = table
        .every_round
        .iter()
        .map(|&i| every_round(&table.metrics[i], &figures, i));
    notes.splice(0..0, every);
    let (scenario, title, metrics) = (table.scenario, table.title, table.metrics);
    Ok(Measured {
        scenario,
        title,
        conns: None,
        metrics,
        servers: figures,
        notes,
    })
}

/// The figures of the median round by the first metric.
fn median_round<T>(table: &Table<T>, outcomes: &[T]) -> Result<Reported> {
    let mut rounds: Vec<Vec<f64>> = outcomes.iter().map(table.figures).collect();
    rounds.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let median = rounds
        .get((rounds.len().max(1) - 1) / 2)
        .context("no round ran")?;
    Ok((median.clone(), Vec::new()))
}

/// `every round, requests/s — ours: 1 000/s, 1 020/s; tokio: …`.
fn every_round(metric: &Metric, servers: &[ServerFigures], index: usize) -> String {
    let list = |s: &ServerFigures| {
        let figures: Vec<String> = s
            .rounds
            .iter()
            .map(|r| format_value(r[index], metric.unit))
            .collect();
        format!("{}: {}", s.name, figures.join(", "))
    };
    let lists: Vec<String> = servers.iter().map(list).collect();
    format!("every round, {} — {}", metric.name, lists.join("; "))
}

/// The tcp ping-pong at `conns` connections.
pub fn tcp_table(setup: &mut Setup, conns: u32) -> Result<Measured> {
    let args = &setup.args;
    let (warmup, measure_for) = (args.warmup(), args.measure());
    let config = pingpong::Config {
        conns: conns as usize,
        len: args.len as usize,
        warmup,
        measure: measure_for,
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
        Service::Echo,
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
    let rounds = pingpong_rounds(args, "datagrams/s");
    let title = format!(
        "udp ping-pong: one socket, one {} B datagram in flight, {rounds}",
        config.len
    );
    let columns = columns(args, &setup.servers, Scenario::Udp);
    let table = exchange_table("udp".to_owned(), title, Service::Udp, &udp::EXCHANGE);
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

fn percentile(outcome: &Outcome, q: f64) -> f64 {
    outcome.latency.value_at_percentile(q) as f64
}

/// Either ping-pong's table: metrics named after what it exchanges; the
/// median round's rate, and every other figure over all rounds merged.
fn exchange_table(
    scenario: String,
    title: String,
    service: Service,
    names: &Exchange,
) -> Table<Outcome> {
    use {Better::*, Unit::*};
    let metrics: Vec<Metric> = [
        (names.per_second, PerSecond, Higher),
        ("latency p50", Nanos, Lower),
        ("latency p99", Nanos, Lower),
        ("latency p99.9", Nanos, Lower),
        (names.cpu_per, Nanos, Lower),
        ("… of which in user space", Nanos, Lower),
        ("server CPU busy", Cores, Neither),
        ("load generator CPU busy", Cores, Neither),
        // Where a round trip goes: how often each side slept and had to be
        // woken (`procfs.rs`). Fewer server sleeps is what spinning buys;
        // preemptions and the load generator's sleeps describe the run.
        (names.server_sleeps_per, PerEvent, Lower),
        (names.server_preemptions_per, PerEvent, Neither),
        (names.client_sleeps_per, PerEvent, Neither),
        (names.verified, Count, Neither),
    ]
    .into_iter()
    .chain(names.lost.map(|lost| (lost, Count, Lower)))
    .map(|(name, unit, better)| Metric::new(name, unit, better))
    .collect();
    Table {
        scenario,
        title,
        service,
        rounds: PINGPONG_ROUNDS,
        metrics,
        figures: |o| {
            let mut figures = vec![o.per_second(), percentile(o, 50.0), percentile(o, 99.0)];
            figures.extend([percentile(o, 99.9), o.server_cpu_per_exchange_ns()]);
            figures.extend([
                o.server_user_cpu_per_exchange_ns(),
                o.server_cores(),
                o.client_cores(),
            ]);
            figures.extend([
                o.server_sleeps_per_exchange(),
                o.server_preemptions_per_exchange(),
            ]);
            figures.extend([
                o.client_sleeps_per_exchange(),
                o.completed as f64,
                o.lost as f64,
            ]);
            figures
        },
        // The machine's speed can change between rounds for every server
        // alike, so each round's rate, CPU and sleeps show beside the
        // merged figures.
        every_round: &[0, 4, 8],
        reported: |table, outcomes| {
            let merged = Outcome::merge(outcomes)?;
            let mut reported = (table.figures)(&merged);
            reported.truncate(table.metrics.len());
            reported[0] = median(outcomes.iter().map(Outcome::per_second));
            let latency = PERCENTILES
                .iter()
                .map(|&q| (q, percentile(&merged, q)))
                .collect();
            Ok((reported, latency))
        },
    }
}

/// The worker pool: the no-work client's latency and the jobs' rate, over
/// all rounds.
pub fn pool_table(setup: &mut Setup) -> Result<Measured> {
    use {Better::*, Unit::*};
    let (workers, secs) = (setup.args.workers, setup.args.secs);
    let ideal = f64::from(workers) * 1000.0 / pool::JOB_MS as f64;
    let (warmup, measure_for) = (setup.args.warmup(), setup.args.measure());
    let columns = columns(&setup.args, &setup.servers, Scenario::Pool);
    let table = Table {
        scenario: "pool".to_owned(),
        title: format!(
            "pool: {} clients each asking for {} ms of blocking work (`sleep {}`) at a time, \
             and one asking for none (an echo line), {workers} workers (ideal: {} jobs/s); \
             {secs} s measured per server in {PINGPONG_ROUNDS} alternating rounds",
            pool::JOB_CLIENTS,
            pool::JOB_MS,
            pool::JOB_MS,
            ideal,
        ),
        service: Service::Pool,
        rounds: PINGPONG_ROUNDS,
        metrics: vec![
            Metric::new("jobs/s", PerSecond, Higher),
            Metric::new("jobs/s ÷ ideal (workers ÷ 2 ms)", PerEvent, Higher),
            Metric::new("no-work latency p50", Nanos, Lower),
            Metric::new("no-work latency p99", Nanos, Lower),
            Metric::new("no-work requests/s", PerSecond, Higher),
            Metric::new("busy replies", Count, Neither),
            Metric::new("server CPU busy", Cores, Neither),
        ],
        figures: |o: &pool::Outcome| {
            let echoes = &o.echoes;
            vec![
                o.jobs_per_second(),
                o.jobs_per_second() / o.ideal_per_second(),
                percentile(echoes, 50.0),
                percentile(echoes, 99.0),
                echoes.per_second(),
                o.busy as f64,
                echoes.server_cores(),
            ]
        },
        every_round: &[0, 3],
        reported: |table, outcomes| {
            let merged = pool::Outcome {
                echoes: Outcome::merge(outcomes.iter().map(|o| &o.echoes))?,
                jobs: outcomes.iter().map(|o| o.jobs).sum(),
                busy: outcomes.iter().map(|o| o.busy).sum(),
                workers: outcomes.first().context("no round ran")?.workers,
            };
            let latency = PERCENTILES.map(|q| (q, percentile(&merged.echoes, q)));
            Ok(((table.figures)(&merged), latency.into()))
        },
    };
    measure(setup, columns, table, |s| {
        pool::run(s.addr, s.pid, workers, warmup, measure_for)
    })
}

/// The chat: deliveries, their latency and their cost, as a ping-pong's
/// exchanges.
pub fn chat_table(setup: &mut Setup) -> Result<Measured> {
    let args = &setup.args;
    let config = chat::Config {
        rate: args.rate,
        warmup: args.warmup(),
        measure: args.measure(),
    };
    let clients = chat::CLIENTS as f64;
    let title = format!(
        "chat: {} clients each sending {} lines/s, every client reading everything (offered: \
         {} deliveries/s); latency from a line's sending to its receipt; {}",
        chat::CLIENTS,
        args.rate,
        format_value(clients * (clients - 1.0) * args.rate, Unit::Count),
        pingpong_rounds(args, "deliveries/s")
    );
    let columns = columns(args, &setup.servers, Scenario::Chat);
    let table = exchange_table("chat".to_owned(), title, Service::Chat, &chat::EXCHANGE);
    measure(setup, columns, table, |s| chat::run(s.addr, s.pid, &config))
}

/// The bulk transfer: the median round of each server by throughput.
pub fn bulk_table(setup: &mut Setup) -> Result<Measured> {
    use {Better::*, Unit::*};
    let bytes = setup.args.bytes;
    let columns = columns(&setup.args, &setup.servers, Scenario::Bulk);
    let table = Table {
        scenario: "bulk".to_owned(),
        title: format!(
            "bulk: one connection streams {bytes} bytes and reads the echo concurrently \
             (median of {BULK_ROUNDS} alternating rounds); every byte echoed is checked \
             against what was sent; GB = 10^9 bytes each way"
        ),
        service: Service::Echo,
        rounds: BULK_ROUNDS,
        metrics: vec![
            Metric::new("throughput", GigabytesPerSecond, Higher),
            Metric::new("server CPU/GB", Nanos, Lower),
            Metric::new("… of which in user space", Nanos, Lower),
            Metric::new("elapsed", Nanos, Lower),
        ],
        figures: |o: &bulk::Outcome| {
            let cpu = |of: fn(&CpuTime) -> Duration| o.server_cpu_per_gigabyte_ns(of);
            vec![
                o.gigabytes_per_second(),
                cpu(CpuTime::total),
                cpu(|c| c.user),
                o.elapsed.as_nanos() as f64,
            ]
        },
        every_round: &[0],
        reported: median_round,
    };
    measure(setup, columns, table, |s| bulk::run(s.addr, s.pid, bytes))
}

/// Idle connections: the server's memory per connection.
pub fn idle_table(setup: &mut Setup) -> Result<Measured> {
    use {Better::*, Unit::*};
    let idle = setup.args.count as usize;
    let (mut columns, notes) = columns(&setup.args, &setup.servers, Scenario::Idle);
    // Room for the warm-up and sample connections on top of the idle ones.
    for (spec, _) in columns.iter_mut().filter(|(spec, _)| spec.text == "ours") {
        *spec = ServerSpec::preset("ours", &["--max-conns".into(), (idle + 64).to_string()]);
        spec.text = "ours".to_owned();
    }
    let table = Table {
        scenario: "idle".to_owned(),
        title: format!("idle: {}", count(idle as u64, "idle connection")),
        service: Service::Echo,
        rounds: 1,
        metrics: vec![
            Metric::new("server RSS/connection", Bytes, Lower),
            Metric::new("server RSS before", Bytes, Neither),
            Metric::new("server RSS with all open", Bytes, Neither),
            Metric::new("sampled connections that echoed", Count, Neither),
            // Above 1 when one address ran out of ephemeral ports.
            Metric::new("source addresses used", Count, Neither),
        ],
        figures: |o: &idle::Outcome| {
            let (before, after) = (o.rss_before as f64, o.rss_after as f64);
            vec![
                o.bytes_per_connection(),
                before,
                after,
                o.sampled as f64,
                o.source_addrs as f64,
            ]
        },
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
        columns(&args, &given, scenario)
            .0
            .into_iter()
            .map(|(spec, _)| spec.text)
            .collect()
    }

    #[test]
    fn the_servers_are_the_presets_or_those_given_with_the_spin_windows_after_the_first_two() {
        assert_eq!(
            names(&[], Scenario::Tcp),
            ["ours", "tokio", "go-tutorial", "go-io-copy"]
        );
        assert_eq!(names(&[], Scenario::Bulk), ["ours", "tokio"]);
        // The Go twins where they serve; each preset told the workers.
        assert_eq!(names(&[], Scenario::Chat), ["ours", "tokio", "go"]);
        let args = Args::parse_from(["bench", "--workers", "7"]);
        let pool = columns(&args, &[], Scenario::Pool).0;
        assert!(
            format!("{:?}", pool[2].0).contains(r#"["--workers", "7"]"#),
            "{pool:?}"
        );
        // The tutorial echoes 128 bytes whole at most.
        assert_eq!(
            names(&["--len", "129"], Scenario::Tcp),
            ["ours", "tokio", "go-io-copy"]
        );
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
        assert_eq!(
            (count(1, "connection"), count(50, "idle connection")),
            ("1 connection".into(), "50 idle connections".into())
        );
    }

    #[test]
    fn a_pingpong_table_reports_the_median_rate_and_the_merged_rest() {
        use crate::procfs::ContextSwitches;
        let outcome = |completed, voluntary| Outcome {
            completed,
            lost: 0,
            elapsed: Duration::from_secs(1),
            latency: crate::exchange::latency_histogram().unwrap(),
            server_cpu: CpuTime::default(),
            client_cpu: CpuTime::default(),
            server_switches: ContextSwitches {
                voluntary,
                nonvoluntary: 0,
            },
            client_switches: ContextSwitches::default(),
        };
        let table = exchange_table("tcp".into(), "t".into(), Service::Echo, &pingpong::EXCHANGE);
        assert_eq!(table.metrics.len(), 12);
        assert_eq!(table.metrics[8].name, "server sleeps/request");
        let (reported, latency) = (table.reported)(
            &table,
            &[outcome(1000, 0), outcome(3000, 40), outcome(2000, 0)],
        )
        .unwrap();
        // The median round's rate; sleeps over all rounds: 40 in 6 000.
        assert_eq!((reported[0], reported[11]), (2000.0, 6000.0));
        assert!((reported[8] - 40.0 / 6000.0).abs() < 1e-12);
        assert_eq!(latency.len(), PERCENTILES.len());
        let udp = exchange_table("udp".into(), "t".into(), Service::Udp, &udp::EXCHANGE);
        assert_eq!(
            udp.metrics.last().unwrap().name,
            "datagrams lost (no reply in 500 ms)"
        );
    }
}
