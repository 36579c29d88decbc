//! A table: one scenario measured against several servers side by side,
//! as data, by one runner for every scenario ([`measure`]).
//!
//! Every round of every scenario is a [`Round`]: named totals (`done`:
//! exchanges completed, `ns`: nanoseconds measured, `cpu`: the server's
//! CPU nanoseconds, …) that add up over rounds, and a latency histogram
//! where something round-trips. Each row of a table is a [`Metric`]: a
//! ratio of two totals (requests/s is `done` ÷ `ns` × 10^9) or a
//! percentile of the latency, figured for each round and for all rounds
//! together. So a scenario is data (`scenarios.rs`), and the JSON file
//! keeps the totals themselves: tables and charts can be made from it.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use crate::{
    cli::{Args, Scenario},
    progress::Progress,
    report::format_value,
    servers::{Server, Spec, presets},
};

/// What every table needs: the settings, the servers, where the presets'
/// programs are, the CPU the servers run on, and the run's progress.
pub struct Setup {
    pub args: Args,
    /// The servers `--server` gave, if any.
    pub servers: Vec<Spec>,
    pub bin_dir: PathBuf,
    pub server_cpu: Option<usize>,
    pub progress: Progress,
}

/// One round against one server: named totals, and the latency of each
/// exchange where something round-trips.
#[derive(Debug)]
pub struct Round {
    pub totals: BTreeMap<&'static str, f64>,
    pub latency: Option<Histogram<u64>>,
}

impl Round {
    /// A round of these totals (`rounds` = 1 is added: a mean over rounds
    /// is a total divided by it).
    pub fn new(totals: impl IntoIterator<Item = (&'static str, f64)>) -> Round {
        let totals = totals.into_iter().chain([("rounds", 1.0)]).collect();
        Round {
            totals,
            latency: None,
        }
    }

    /// Several rounds as one: totals add up, latency histograms merge.
    pub fn merge(rounds: &[Round]) -> Result<Round> {
        let mut merged = Round {
            totals: BTreeMap::new(),
            latency: None,
        };
        for round in rounds {
            for (name, value) in &round.totals {
                *merged.totals.entry(name).or_default() += value;
            }
            if let Some(latency) = &round.latency {
                let into = match &mut merged.latency {
                    Some(into) => into,
                    None => merged.latency.insert(latency_histogram()?),
                };
                into.add(latency).context("merging latency histograms")?;
            }
        }
        Ok(merged)
    }

    /// The total `name` (`""` is 1: a plain count); NaN if never counted.
    pub fn total(&self, name: &str) -> f64 {
        match name {
            "" => 1.0,
            name => self.totals.get(name).copied().unwrap_or(f64::NAN),
        }
    }

    /// The latency at percentile `q`, in nanoseconds.
    pub fn percentile(&self, q: f64) -> f64 {
        self.latency
            .as_ref()
            .map_or(f64::NAN, |h| h.value_at_percentile(q) as f64)
    }
}

/// A fresh latency histogram: 1 ns to a minute at three significant digits.
pub fn latency_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).context("creating the latency histogram")
}

/// How a figure is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Events per second (`123 456/s`).
    PerSecond,
    /// A duration in nanoseconds, printed in ns, µs or ms.
    Nanos,
    /// Gigabytes (10^9 bytes) per second.
    GigabytesPerSecond,
    Bytes,
    Count,
    /// A fraction of one CPU core (1.0 = one core busy the whole time).
    Cores,
    /// A count per event, with two decimals (`0.99` sleeps per request).
    PerEvent,
}

/// Which way is better for a metric, printed beside its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// Not a performance figure (how many replies were verified).
    Neither,
}

/// What a row is figured from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Figure {
    /// `numerator ÷ denominator × scale`, of the totals.
    Ratio(&'static str, &'static str, f64),
    /// The latency at a percentile.
    Percentile(f64),
}

/// One row of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Its name in the table and the JSON (`requests/s`).
    pub name: String,
    pub unit: Unit,
    pub better: Better,
    pub figure: Figure,
    /// The table shows the median round's figure (a rate, which the
    /// machine's background load moves), not the one over all rounds.
    pub median: bool,
    /// Each round's figure is listed under the table.
    pub every_round: bool,
}

impl Metric {
    /// A row of [`crate::scenarios::ROWS`].
    pub fn parse(row: &'static str) -> Metric {
        let fields: Vec<&'static str> = row.split('|').map(str::trim).collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or_default();
        let units = ["/s", "ns", "GB/s", "B", "count", "cores", "per"];
        let units = [
            Unit::PerSecond,
            Unit::Nanos,
            Unit::GigabytesPerSecond,
            Unit::Bytes,
        ]
        .into_iter()
        .chain([Unit::Count, Unit::Cores, Unit::PerEvent])
        .zip(units);
        let unit = units
            .into_iter()
            .find(|(_, u)| *u == field(1))
            .map(|(unit, _)| unit);
        let better = match field(2) {
            "+" => Better::Higher,
            "-" => Better::Lower,
            _ => Better::Neither,
        };
        let (ratio, scale) = field(3).split_once('*').unwrap_or((field(3), "1"));
        let (num, den) = ratio.split_once('/').unwrap_or((ratio, ""));
        let percentile = field(3).strip_prefix('p').and_then(|q| q.parse().ok());
        let figure = match percentile {
            Some(q) => Figure::Percentile(q),
            None => Figure::Ratio(num, den, scale.parse().unwrap_or(f64::NAN)),
        };
        Metric {
            name: field(0).to_owned(),
            unit: unit.unwrap_or(Unit::Count),
            better,
            figure,
            median: field(4) == "median",
            every_round: matches!(field(4), "median" | "every"),
        }
    }

    /// This metric's figure for `round` (one, or several merged).
    pub fn of(&self, round: &Round) -> f64 {
        match self.figure {
            Figure::Ratio(num, den, scale) => round.total(num) / round.total(den) * scale,
            Figure::Percentile(q) => round.percentile(q),
        }
    }
}

/// One server's rounds and figures in one table.
#[derive(Debug, Default)]
pub struct Column {
    /// How the table names it (`ours`, `tokio`, a command's NAME).
    pub name: String,
    pub rounds: Vec<Round>,
    /// The figure the table shows for each metric.
    pub reported: Vec<f64>,
    /// `(percentile, nanoseconds)` of the round trip over all rounds.
    pub latency: Vec<(f64, f64)>,
}

/// One scenario's table: its metrics, and every server's figures.
#[derive(Debug, Default)]
pub struct Measured {
    /// The scenario as the command line says it: `tcp --conns=50`.
    pub scenario: String,
    /// What was measured, and how.
    pub title: String,
    /// The connections of a tcp ping-pong (for the sweep chart).
    pub conns: Option<u32>,
    pub metrics: Vec<Metric>,
    /// The first server is the one every ratio is about.
    pub servers: Vec<Column>,
    /// Lines under the table.
    pub notes: Vec<String>,
}

impl Measured {
    /// The reported figure of `metric` for the server `name`; NaN if none.
    pub fn reported(&self, metric: &str, name: &str) -> f64 {
        let index = self.metrics.iter().position(|m| m.name == metric);
        let server = self.servers.iter().find(|s| s.name == name);
        index.zip(server).map_or(f64::NAN, |(i, s)| s.reported[i])
    }
}

/// The percentiles the JSON keeps and the latency chart draws.
pub const PERCENTILES: [f64; 7] = [50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99];

/// The tables of a run, in order: each scenario, the tcp ping-pong once
/// per `--conns` count.
pub fn tables(args: &Args) -> Vec<(Scenario, Option<u32>)> {
    let one = |scenario| match scenario {
        Scenario::Tcp => args.conns.iter().map(|&n| (scenario, Some(n))).collect(),
        _ => vec![(scenario, None)],
    };
    args.scenario.expand().into_iter().flat_map(one).collect()
}

/// A table's name: `tcp --conns=50`, `bulk`.
pub fn name(scenario: Scenario, conns: Option<u32>) -> String {
    let name = crate::cli::name(scenario);
    conns.map_or(name.clone(), |n| format!("{name} --conns={n}"))
}

/// The servers of a `scenario` table, in column order (the first is the
/// one every ratio is about), each with whether it may be skipped (a
/// preset of the default list that cannot run: Go not installed, a fixed
/// port taken), and why any default one is left out.
pub fn columns(
    args: &Args,
    given: &[Spec],
    scenario: Scenario,
) -> (Vec<(Spec, bool)>, Vec<String>) {
    let mut notes = Vec::new();
    let mut columns: Vec<(Spec, bool)> = match given {
        [] => presets()
            .map(|preset| Spec::preset(preset[0], &[]))
            .filter(
                |spec| match spec.left_out_by_default(scenario, args.len as usize) {
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
    let with = |spec: &Spec, args: &[String]| spec.with_args(args);
    match scenario {
        Scenario::Tcp => {
            let spin = |us: &u64| Spec::preset("ours", &["--spin-us".into(), us.to_string()]);
            let at = columns.len().min(2);
            columns.splice(at..at, args.spin_us.iter().map(|us| (spin(us), false)));
        }
        Scenario::Pool => {
            let workers = ["--workers".to_owned(), args.workers.to_string()];
            columns
                .iter_mut()
                .for_each(|(spec, _)| *spec = with(spec, &workers));
        }
        Scenario::Idle => {
            // Room for the warm-up and sample connections on top of the idle ones.
            let max = ["--max-conns".to_owned(), (args.count + 64).to_string()];
            let ours = columns.iter_mut().filter(|(spec, _)| spec.name == "ours");
            ours.for_each(|(spec, _)| *spec = with(spec, &max));
        }
        _ => {}
    }
    (columns, notes)
}

/// Every measurement of the run, each named by its table and server, with
/// how long it is expected to take: the plan [`Progress`] counts against.
pub fn plan(args: &Args, given: &[Spec]) -> Vec<(String, Duration)> {
    let mut planned = Vec::new();
    for (scenario, conns) in tables(args) {
        for (spec, _) in columns(args, given, scenario).0 {
            let key = format!("{}, {}", name(scenario, conns), spec.name);
            let each = scenario.expected(args);
            planned.extend(std::iter::repeat_n((key, each), scenario.rounds()));
        }
    }
    planned
}

/// Starts the servers of the table, runs the scenario against each in
/// turn, round after round, reversing the order every other round so that
/// a disturbance from elsewhere on the machine does not always land on the
/// same server, stops them (each is stopped or killed, error or not), and
/// figures the table.
pub fn measure(setup: &mut Setup, scenario: Scenario, conns: Option<u32>) -> Result<Measured> {
    let table = name(scenario, conns);
    let (columns, mut notes) = columns(&setup.args, &setup.servers, scenario);
    let mut servers = Vec::new();
    for (spec, optional) in columns {
        match Server::start(&spec, scenario, &setup.bin_dir, setup.server_cpu) {
            Ok(server) => servers.push((server, spec.about(), Vec::new())),
            Err(err) if optional => {
                notes.push(format!("{} skipped: {err:#}", spec.name));
                setup.progress.skip(&format!("{table}, {}", spec.name));
            }
            Err(err) => return Err(err),
        }
    }
    for round in 0..scenario.rounds() {
        let mut order: Vec<usize> = (0..servers.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            let (server, _, rounds) = &mut servers[index];
            let started = Instant::now();
            let measured = scenario.run(server, &setup.args, conns.unwrap_or(0));
            rounds.push(measured.with_context(|| format!("against `{}`", server.name))?);
            let key = format!("{table}, {}", server.name);
            setup.progress.finished(&key, round + 1, started.elapsed());
        }
    }
    let metrics = scenario.metrics();
    let (mut figures, mut said) = (Vec::new(), Vec::new());
    for (server, about, rounds) in servers {
        figures.push(column(server.name.clone(), rounds, &metrics)?);
        said.extend(server.stop()?);
        if !notes.contains(&about) {
            notes.push(about);
        }
    }
    let every = metrics.iter().filter(|m| m.every_round);
    let mut lines: Vec<String> = every.map(|m| every_round(m, &figures)).collect();
    lines.extend(notes.into_iter().chain(said));
    Ok(Measured {
        scenario: table,
        title: scenario.title(&setup.args, conns),
        conns,
        metrics,
        servers: figures,
        notes: lines,
    })
}

/// A server's column: each metric over all its rounds, or its median round.
fn column(name: String, rounds: Vec<Round>, metrics: &[Metric]) -> Result<Column> {
    let merged = Round::merge(&rounds)?;
    let reported = metrics
        .iter()
        .map(|m| match m.median {
            true => median(rounds.iter().map(|r| m.of(r))),
            false => m.of(&merged),
        })
        .collect();
    let latency = match merged.latency {
        Some(_) => PERCENTILES
            .iter()
            .map(|&q| (q, merged.percentile(q)))
            .collect(),
        None => Vec::new(),
    };
    Ok(Column {
        name,
        rounds,
        reported,
        latency,
    })
}

/// `every round, requests/s — ours: 1 000/s, 1 020/s; tokio: …`.
fn every_round(metric: &Metric, servers: &[Column]) -> String {
    let list = |s: &Column| {
        let figures: Vec<String> = s
            .rounds
            .iter()
            .map(|r| format_value(metric.of(r), metric.unit))
            .collect();
        format!("{}: {}", s.name, figures.join(", "))
    };
    let lists: Vec<String> = servers.iter().map(list).collect();
    format!("every round, {} — {}", metric.name, lists.join("; "))
}

/// The median of some values (the mean of the middle two for an even
/// count), NaN for none.
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
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
        columns.into_iter().map(|(spec, _)| spec.name).collect()
    }

    #[test]
    fn the_servers_are_the_presets_or_those_given_with_the_spin_windows_after_the_first_two() {
        let tcp = ["ours", "tokio", "go-tutorial", "go-io-copy"];
        assert_eq!(names(&[], Scenario::Tcp), tcp);
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
        let long = names(&["--len", "129"], Scenario::Tcp);
        assert_eq!(long, ["ours", "tokio", "go-io-copy"]);
        let spin = names(&["--spin-us", "0,50"], Scenario::Tcp);
        let windows = ["ours --spin-us 0", "ours --spin-us 50"];
        assert_eq!(spin, [&tcp[..2], &windows, &tcp[2..]].concat());
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
        // 2 tables × 4 servers × 4 rounds, each 0.2 s warm-up + 1 s.
        assert_eq!(plan.len(), 32);
        assert_eq!(
            plan[0],
            ("tcp --conns=1, ours".into(), Duration::from_millis(1200))
        );
        assert_eq!(plan[31].0, "tcp --conns=50, go-io-copy");
    }

    #[test]
    fn every_row_of_every_scenario_reads_as_a_unit_and_a_figure() {
        let rows = crate::scenarios::ROWS.iter().flat_map(|rows| rows.lines());
        for row in rows.filter(|l| !l.is_empty()) {
            let (metric, unit) = (
                Metric::parse(row),
                row.split('|').nth(1).unwrap_or("").trim(),
            );
            // A unit it does not know would be read as a count.
            assert_eq!(metric.unit == Unit::Count, unit == "count", "{row}");
            let scaled = |scale: f64| scale.is_finite() && scale > 0.0;
            assert!(
                !matches!(metric.figure, Figure::Ratio(_, _, s) if !scaled(s)),
                "{row}"
            );
        }
        let pool = Scenario::Pool.metrics();
        assert_eq!(pool[1].figure, Figure::Ratio("jobs", "ideal jobs", 1.0));
        assert_eq!(
            (pool[0].every_round, pool[0].median, pool[2].figure),
            (true, false, Figure::Percentile(50.0))
        );
    }

    #[test]
    fn a_column_shows_the_median_rate_and_every_other_figure_over_all_rounds() {
        let round = |done: f64, sleeps: f64| {
            let mut round = Round::new([("done", done), ("ns", 1e9), ("sleeps", sleeps)]);
            let mut latency = latency_histogram().unwrap();
            latency.record(done as u64).unwrap();
            round.latency = Some(latency);
            round
        };
        let metrics = Scenario::Tcp.metrics();
        assert_eq!(metrics.len(), 12);
        assert_eq!(metrics[8].name, "server sleeps/request");
        let rounds = vec![round(1000.0, 0.0), round(3000.0, 40.0), round(2000.0, 0.0)];
        let column = column("ours".into(), rounds, &metrics).unwrap();
        // The median round's rate; sleeps over all rounds: 40 in 6 000.
        assert_eq!((column.reported[0], column.reported[11]), (2000.0, 6000.0));
        assert!((column.reported[8] - 40.0 / 6000.0).abs() < 1e-12);
        assert_eq!(column.latency.len(), PERCENTILES.len());
        assert!(
            (column.latency[0].1 - 2000.0).abs() < 2.0,
            "{:?}",
            column.latency
        );
        let udp = Scenario::Udp.metrics();
        assert_eq!(
            udp.last().unwrap().name,
            "datagrams lost (no reply in 500 ms)"
        );
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert!(median(std::iter::empty()).is_nan());
    }
}
