//! One table per scenario, each from measurements taken side by side:
//! [`side_by_side`] runs our server and the tokio baseline (and, for the tcp
//! ping-pong, variants of ours and the Go servers) in alternating rounds, and
//! each `*_table` turns the rounds into rows, targets and notes.

use anyhow::{Context, Result};

use crate::{
    BULK_ROUNDS, PINGPONG_ROUNDS, Setup, bulk,
    exchange::{self, Exchange},
    golang, idle, pingpong,
    report::{self, Better, Column, RatioOf, Table, Target, Unit},
    server::{ServerCommand, ServerProcess},
    udp,
};

/// What [`side_by_side`] measured: one outcome per round for each server.
struct Rounds<T> {
    ours: Vec<T>,
    tokio: Vec<T>,
    /// The further servers (variants of ours, the Go servers), in their order.
    others: Vec<OtherRounds<T>>,
    /// How our server exited and its last stdout line (its summary).
    ours_said: String,
}

/// The rounds of one further server.
struct OtherRounds<T> {
    column: Column,
    outcomes: Vec<T>,
    /// How it exited, and its last stdout line.
    said: String,
}

impl<T> Rounds<T> {
    /// The note listing one figure for every round of each server, so that
    /// a disturbance in one round shows beside the merged or median row.
    fn every_round(&self, name: &str, figure: impl Fn(&T) -> String) -> String {
        let list = |outcomes: &[T]| outcomes.iter().map(&figure).collect::<Vec<_>>().join(", ");
        // A colon after each server's name: `ours --spin-us 50` ends in a
        // number, which would run into the figures.
        let mut note = format!(
            "every round, {name} — ours: {}; tokio: {}",
            list(&self.ours),
            list(&self.tokio)
        );
        for other in &self.others {
            note.push_str(&format!(
                "; {}: {}",
                other.column.name,
                list(&other.outcomes)
            ));
        }
        note
    }
}

/// How a stopped server ended, for a note.
fn said(status: std::process::ExitStatus, last: Option<String>) -> String {
    match last {
        Some(line) => format!("exited with {status}, last line: `{line}`"),
        None => format!("exited with {status}"),
    }
}

/// Starts our server, the tokio baseline and any `others` (each with its
/// column), then runs `measure` against each in turn, `rounds` times,
/// reversing the order every other round so that a disturbance from
/// elsewhere on the machine does not always land on the same side. Every server is stopped (or
/// killed) before it returns, error or not.
fn side_by_side<T>(
    ours: &ServerCommand,
    tokio: &ServerCommand,
    others: &[(Column, ServerCommand)],
    rounds: usize,
    measure: impl Fn(&ServerProcess) -> Result<T>,
) -> Result<Rounds<T>> {
    let mut commands = vec![ours, tokio];
    commands.extend(others.iter().map(|(_, command)| command));
    // Started in order; a failure drops (kills) the ones already running.
    let servers = commands
        .iter()
        .map(|command| ServerProcess::start(command))
        .collect::<Result<Vec<_>>>()?;
    let run = |index: usize| -> Result<T> {
        let command = commands[index];
        let started = std::time::Instant::now();
        let outcome = measure(&servers[index]).with_context(|| format!("against `{command}`"))?;
        eprintln!(
            "bench: `{command}`: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(outcome)
    };
    let mut per_server: Vec<Vec<T>> = commands
        .iter()
        .map(|_| Vec::with_capacity(rounds))
        .collect();
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..commands.len()).collect()
        } else {
            (0..commands.len()).rev().collect()
        };
        for index in order {
            per_server[index].push(run(index)?);
        }
    }
    let mut said_by_server = Vec::with_capacity(servers.len());
    for server in servers {
        let (status, last) = server.stop()?;
        said_by_server.push(said(status, last));
    }
    let mut per_server = per_server.into_iter();
    let mut said_by_server = said_by_server.into_iter();
    let ours = per_server.next().unwrap_or_default();
    let tokio = per_server.next().unwrap_or_default();
    let ours_said = said_by_server.next().context("our server")?;
    // tokio's baseline prints no summary worth a note.
    let _tokio_said = said_by_server.next();
    Ok(Rounds {
        ours,
        tokio,
        others: others
            .iter()
            .zip(per_server.zip(said_by_server))
            .map(|((column, _), (outcomes, said))| OtherRounds {
                column: column.clone(),
                outcomes,
                said,
            })
            .collect(),
        ours_said,
    })
}

/// The median of some values (the mean of the middle two for an even count),
/// NaN for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The element whose `key` is the median (the lower one for an even count).
fn median_by<T>(items: &[T], key: impl Fn(&T) -> f64) -> Option<&T> {
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

/// The tcp ping-pong's targets (issue 15) for our default server at `conns`
/// connections. One connection is a pure round trip, where waking a
/// sleeping server is most of the latency: there ours must be much faster
/// than tokio. With more, both servers do the same system calls per
/// request: there parity in rate and CPU, within the noise of a round.
pub(crate) fn tcp_targets(conns: u32) -> Vec<Target> {
    let names = &pingpong::EXCHANGE;
    if conns == 1 {
        vec![
            Target::RatioAtLeast(names.per_second, 2.5),
            Target::RatioAtMost(LATENCY_P50, 0.4),
        ]
    } else {
        vec![
            Target::RatioAtLeast(names.per_second, 0.97),
            Target::RatioAtMost(names.cpu_per, 1.03),
        ]
    }
}

/// The latency row the one-connection target reads.
const LATENCY_P50: &str = "latency p50";

/// Our tcp-server once more for each `--spin-us` window: `ours` (our
/// server's command, with its default window) with `--spin-us N` added, a
/// column each, named for the flag, its ratio against tokio as ours is.
pub(crate) fn spin_variants(ours: &ServerCommand, windows: &[u64]) -> Vec<(Column, ServerCommand)> {
    windows
        .iter()
        .map(|us| {
            (
                Column::variant_of_ours(format!("ours --spin-us {us}")),
                ours.clone().arg("--spin-us").arg(us.to_string()),
            )
        })
        .collect()
}

/// The servers the tcp ping-pong runs besides ours and tokio, for requests
/// of `len` bytes: ours with each `--spin-us` window, then the Go servers
/// when Go is installed (the tutorial's only for messages it echoes whole,
/// up to [`golang::TUTORIAL_MAX_LEN`] bytes); and the notes saying what the
/// Go ones are, or why they are not run.
pub(crate) fn tcp_others(setup: &Setup, len: usize) -> (Vec<(Column, ServerCommand)>, Vec<String>) {
    let mut others = spin_variants(&setup.ours("tcp-server"), setup.args.spin_windows());
    let mut go_notes = Vec::new();
    match &setup.go {
        Ok(go) => {
            if len <= golang::TUTORIAL_MAX_LEN {
                others.push((
                    Column::baseline("Go tutorial"),
                    setup.go_server(&go.tutorial),
                ));
            } else {
                go_notes.push(format!(
                    "Go tutorial server not run: it echoes messages of at most {} B whole, these are {len} B",
                    golang::TUTORIAL_MAX_LEN,
                ));
            }
            others.push((Column::baseline("Go io.Copy"), setup.go_server(&go.echo)));
            go_notes.push(format!(
                "Go tutorial = go/tcp/server/main.go as published, listening on --addr instead of \
                 127.0.0.1:20000, its line per message going to the bench through a pipe; \
                 Go io.Copy = bench/go/echo/main.go; both built by {}",
                go.version
            ));
        }
        Err(skipped) => go_notes.push(skipped.clone()),
    }
    (others, go_notes)
}

/// The tcp ping-pong at `conns` connections: ours, tokio and the servers of
/// [`tcp_others`].
pub(crate) fn tcp_table(setup: &Setup, conns: u32) -> Result<Table> {
    let args = &setup.args;
    let config = pingpong::Config {
        conns: conns as usize,
        len: args.len as usize,
        warmup: args.warmup(),
        measure: args.measure(),
    };
    let (others, go_notes) = tcp_others(setup, config.len);
    let rounds = side_by_side(
        &setup.ours("tcp-server"),
        &setup.tokio("tokio-tcp-echo"),
        &others,
        PINGPONG_ROUNDS,
        |server| pingpong::run(server.addr, server.pid(), &config),
    )?;
    let mut table = exchange_table(
        format!(
            "tcp ping-pong: {} connections × {} B, {} s measured per server in \
             {PINGPONG_ROUNDS} alternating rounds, each after a {} s warm-up; \
             requests/s of the median round, latency and CPU over all rounds",
            config.conns,
            config.len,
            args.secs,
            config.warmup.as_secs_f64()
        ),
        &pingpong::EXCHANGE,
        &rounds,
    )?;
    table.targets = tcp_targets(conns);
    let names = &pingpong::EXCHANGE;
    // Each window against the default directly: what choosing it would change.
    for (column, _) in others.iter().filter(|(c, _)| c.ratio == RatioOf::ItToTokio) {
        table.notes.extend(table.against_ours(
            &column.name,
            &[names.per_second, LATENCY_P50, names.cpu_per],
        ));
    }
    table.notes.extend(go_notes);
    table.notes.push(format!("tcp-server {}", rounds.ours_said));
    for other in &rounds.others {
        if other.column.ratio == RatioOf::ItToTokio {
            table.notes.push(format!(
                "tcp-server as {} {}",
                other.column.name, other.said
            ));
        }
    }
    Ok(table)
}

/// The table of either ping-pong scenario: the same rows, named after what
/// it exchanges, with a column for each further baseline; the caller adds
/// its targets and its server's last words.
fn exchange_table(
    title: String,
    exchange: &Exchange,
    rounds: &Rounds<exchange::Outcome>,
) -> Result<Table> {
    let ours = &exchange::Outcome::merge(&rounds.ours)?;
    let tokio = &exchange::Outcome::merge(&rounds.tokio)?;
    let others = rounds
        .others
        .iter()
        .map(|other| exchange::Outcome::merge(&other.outcomes))
        .collect::<Result<Vec<_>>>()?;
    let rate =
        |outcomes: &[exchange::Outcome]| median(outcomes.iter().map(exchange::Outcome::per_second));
    let mut table = Table::new(title);
    table.others = rounds.others.iter().map(|o| o.column.clone()).collect();
    table
        .notes
        .push(rounds.every_round(exchange.per_second, |o| {
            report::group_thousands(o.per_second().round() as u64)
        }));
    // The machine's speed can change between rounds for both servers alike,
    // and the CPU row covers all rounds, so show each round's figure too.
    table.notes.push(rounds.every_round(exchange.cpu_per, |o| {
        report::format_nanos(o.server_cpu_per_exchange_ns())
    }));
    table
        .notes
        .push(rounds.every_round(exchange.server_sleeps_per, |o| {
            report::format_value(o.server_sleeps_per_exchange(), Unit::PerEvent)
        }));
    table.row_with_others(
        exchange.per_second,
        Unit::PerSecond,
        Better::Higher,
        rate(&rounds.ours),
        rate(&rounds.tokio),
        rounds.others.iter().map(|o| rate(&o.outcomes)).collect(),
    );
    // One row from the merged outcome of every server.
    let mut row = |name: &str, unit, better, figure: &dyn Fn(&exchange::Outcome) -> f64| {
        table.row_with_others(
            name,
            unit,
            better,
            figure(ours),
            figure(tokio),
            others.iter().map(figure).collect(),
        );
    };
    for (name, q) in [
        (LATENCY_P50, 50.0),
        ("latency p99", 99.0),
        ("latency p99.9", 99.9),
    ] {
        row(name, Unit::Nanos, Better::Lower, &|o| {
            o.latency.value_at_percentile(q) as f64
        });
    }
    row(exchange.cpu_per, Unit::Nanos, Better::Lower, &|o| {
        o.server_cpu_per_exchange_ns()
    });
    row(
        "… of which in user space",
        Unit::Nanos,
        Better::Lower,
        &|o| o.server_user_cpu_per_exchange_ns(),
    );
    row("server CPU busy", Unit::Cores, Better::Neither, &|o| {
        o.server_cores()
    });
    row(
        "load generator CPU busy",
        Unit::Cores,
        Better::Neither,
        &|o| o.client_cores(),
    );
    // Where a round trip goes: how often each side slept and had to be
    // woken (see `sleeps.rs` for why that is the figure to read on one
    // connection). Fewer server sleeps is what spinning buys; preemptions
    // and the load generator's sleeps describe the run, not the server.
    row(
        exchange.server_sleeps_per,
        Unit::PerEvent,
        Better::Lower,
        &|o| o.server_sleeps_per_exchange(),
    );
    row(
        exchange.server_preemptions_per,
        Unit::PerEvent,
        Better::Neither,
        &|o| o.server_preemptions_per_exchange(),
    );
    row(
        exchange.client_sleeps_per,
        Unit::PerEvent,
        Better::Neither,
        &|o| o.client_sleeps_per_exchange(),
    );
    row(exchange.verified, Unit::Count, Better::Neither, &|o| {
        o.completed as f64
    });
    if let Some(lost) = exchange.lost {
        row(lost, Unit::Count, Better::Lower, &|o| o.lost as f64);
    }
    Ok(table)
}

pub(crate) fn bulk_table(setup: &Setup) -> Result<Table> {
    let bytes = setup.args.bytes;
    let rounds = side_by_side(
        &setup.ours("tcp-server"),
        &setup.tokio("tokio-tcp-echo"),
        &[],
        BULK_ROUNDS,
        |server| bulk::run(server.addr, server.pid(), bytes),
    )?;
    let rate = |outcome: &bulk::Outcome| outcome.gigabytes_per_second();
    let ours = median_by(&rounds.ours, rate).context("no bulk round ran")?;
    let tokio = median_by(&rounds.tokio, rate).context("no bulk round ran")?;
    let said = &rounds.ours_said;
    let mut table = Table::new(format!(
        "bulk: one connection streams {bytes} bytes and reads the echo concurrently \
         (median of {BULK_ROUNDS} alternating rounds)"
    ));
    table.row(
        "throughput",
        Unit::GigabytesPerSecond,
        Better::Higher,
        ours.gigabytes_per_second(),
        tokio.gigabytes_per_second(),
    );
    table.row(
        "server CPU/GB",
        Unit::Nanos,
        Better::Lower,
        ours.server_cpu_per_gigabyte_ns(),
        tokio.server_cpu_per_gigabyte_ns(),
    );
    table.row(
        "… of which in user space",
        Unit::Nanos,
        Better::Lower,
        ours.server_user_cpu_per_gigabyte_ns(),
        tokio.server_user_cpu_per_gigabyte_ns(),
    );
    table.row(
        "elapsed",
        Unit::Nanos,
        Better::Lower,
        ours.elapsed.as_nanos() as f64,
        tokio.elapsed.as_nanos() as f64,
    );
    table.targets.push(Target::RatioAtLeast("throughput", 1.0));
    table
        .notes
        .push(rounds.every_round("GB/s", |o| format!("{:.2}", o.gigabytes_per_second())));
    table.notes.push(format!(
        "checksums of sent and echoed streams matched (ours {:#018x}, tokio {:#018x}); GB = 10^9 bytes each way",
        ours.checksum, tokio.checksum
    ));
    table.notes.push(format!("tcp-server {said}"));
    Ok(table)
}

pub(crate) fn idle_table(setup: &Setup) -> Result<Table> {
    let count = setup.args.count as usize;
    // Room for the warm-up and sample connections on top of the idle ones.
    let ours_command = setup
        .ours("tcp-server")
        .arg("--max-conns")
        .arg((count + 64).to_string());
    let rounds = side_by_side(
        &ours_command,
        &setup.tokio("tokio-tcp-echo"),
        &[],
        1,
        |server| idle::run(server.addr, server.pid(), count),
    )?;
    let (ours, tokio, said) = (&rounds.ours[0], &rounds.tokio[0], &rounds.ours_said);
    let mut table = Table::new(format!("idle: {count} idle connections"));
    table.row(
        "server RSS/connection",
        Unit::Bytes,
        Better::Lower,
        ours.bytes_per_connection(),
        tokio.bytes_per_connection(),
    );
    table.row(
        "server RSS before",
        Unit::Bytes,
        Better::Neither,
        ours.rss_before as f64,
        tokio.rss_before as f64,
    );
    table.row(
        "server RSS with all open",
        Unit::Bytes,
        Better::Neither,
        ours.rss_after as f64,
        tokio.rss_after as f64,
    );
    table.row(
        "sampled connections that echoed",
        Unit::Count,
        Better::Neither,
        ours.sampled as f64,
        tokio.sampled as f64,
    );
    table
        .targets
        .push(Target::OursAtMost("server RSS/connection", 256.0));
    if ours.source_addrs > 1 || tokio.source_addrs > 1 {
        table.notes.push(format!(
            "ephemeral ports ran out: connections came from {} (ours) / {} (tokio) source addresses in 127.0.0.0/8",
            ours.source_addrs, tokio.source_addrs
        ));
    }
    table.notes.push(format!("tcp-server {said}"));
    Ok(table)
}

pub(crate) fn udp_table(setup: &Setup) -> Result<Table> {
    let args = &setup.args;
    let config = udp::Config {
        len: args.len as usize,
        warmup: args.warmup(),
        measure: args.measure(),
    };
    let rounds = side_by_side(
        &setup.ours("udp-server"),
        &setup.tokio("tokio-udp-echo"),
        &[],
        PINGPONG_ROUNDS,
        |server| udp::run(server.addr, server.pid(), &config),
    )?;
    let mut table = exchange_table(
        format!(
            "udp ping-pong: one socket, one {} B datagram in flight, {} s measured per server in \
             {PINGPONG_ROUNDS} alternating rounds, each after a {} s warm-up; \
             datagrams/s of the median round, latency and CPU over all rounds",
            config.len,
            args.secs,
            config.warmup.as_secs_f64()
        ),
        &udp::EXCHANGE,
        &rounds,
    )?;
    let names = &udp::EXCHANGE;
    table
        .targets
        .push(Target::RatioAtLeast(names.per_second, 1.1));
    table.notes.push(format!("udp-server {}", rounds.ours_said));
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert_eq!(median([9.0, 1.0, 5.0].into_iter()), 5.0);
        assert!(median(std::iter::empty()).is_nan());
    }

    #[test]
    fn median_is_the_middle_element_by_key() {
        assert_eq!(median_by(&[3.0, 1.0, 2.0], |x| *x), Some(&2.0));
        assert_eq!(median_by(&[4.0, 1.0, 3.0, 2.0], |x| *x), Some(&2.0));
        assert_eq!(median_by(&[7.0], |x| *x), Some(&7.0));
        assert_eq!(median_by(&[] as &[f64], |x| *x), None);
    }

    use std::path::PathBuf;

    use crate::{RunArgs, golang::GoBaselines};

    /// What `run` would set up for `args`, with made-up paths (nothing is
    /// started) and, if `go`, made-up Go baselines.
    fn setup(args: &[&str], go: bool) -> Setup {
        use clap::Parser as _;
        let run = RunArgs::parse_from(std::iter::once("bench").chain(args.iter().copied()));
        Setup {
            args: run.bench,
            bin_dir: PathBuf::from("/release"),
            baselines: PathBuf::from("/release"),
            server_cpu: Some(1),
            go: if go {
                Ok(GoBaselines {
                    version: "go version go1.0".to_owned(),
                    tutorial: PathBuf::from("/release/go-tutorial-tcp-server"),
                    echo: PathBuf::from("/release/go-echo"),
                })
            } else {
                Err(golang::skipped_because("no Go here"))
            },
        }
    }

    fn names(others: &[(Column, ServerCommand)]) -> Vec<&str> {
        others.iter().map(|(c, _)| c.name.as_str()).collect()
    }

    #[test]
    fn at_one_connection_the_targets_are_rate_and_median_latency() {
        assert_eq!(
            tcp_targets(1),
            [
                Target::RatioAtLeast("requests/s", 2.5),
                Target::RatioAtMost("latency p50", 0.4),
            ]
        );
    }

    #[test]
    fn at_more_connections_the_targets_are_rate_and_cpu_parity() {
        for conns in [2, 50, 500, 10_000] {
            assert_eq!(
                tcp_targets(conns),
                [
                    Target::RatioAtLeast("requests/s", 0.97),
                    Target::RatioAtMost("server CPU/request", 1.03),
                ],
                "{conns} connections"
            );
        }
    }

    #[test]
    fn each_spin_window_is_our_server_again_with_its_flag() {
        let ours = ServerCommand::new("/release/tcp-server", &["--addr", "127.0.0.1:0", "--quiet"])
            .on_cpu(Some(1));
        let variants = spin_variants(&ours, &[0, 50]);
        assert_eq!(names(&variants), ["ours --spin-us 0", "ours --spin-us 50"]);
        for ((column, command), window) in variants.iter().zip(["0", "50"]) {
            assert_eq!(column.ratio, RatioOf::ItToTokio);
            assert_eq!(command.program, ours.program);
            assert_eq!(command.cpu, Some(1));
            assert_eq!(
                command.to_string(),
                format!("/release/tcp-server --addr 127.0.0.1:0 --quiet --spin-us {window}")
            );
        }
        assert!(spin_variants(&ours, &[]).is_empty());
    }

    #[test]
    fn the_tcp_pingpong_runs_ours_per_spin_window_then_go() {
        let (others, notes) = tcp_others(&setup(&["tcp", "--spin-us", "0,50"], true), 64);
        assert_eq!(
            names(&others),
            [
                "ours --spin-us 0",
                "ours --spin-us 50",
                "Go tutorial",
                "Go io.Copy"
            ]
        );
        // The directory is joined the platform's way (`\` on Windows).
        let command = others[1].1.to_string();
        assert!(
            command.ends_with("tcp-server --addr 127.0.0.1:0 --quiet --spin-us 50"),
            "{command}"
        );
        assert!(others.iter().all(|(_, command)| command.cpu == Some(1)));
        assert_eq!(others[3].0.ratio, RatioOf::OursToIt);
        assert!(
            notes[0].starts_with("Go tutorial = go/tcp/server/main.go"),
            "{notes:?}"
        );

        // Without --spin-us, only Go; without Go, only the windows.
        let (others, _) = tcp_others(&setup(&["tcp"], true), 64);
        assert_eq!(names(&others), ["Go tutorial", "Go io.Copy"]);
        let (others, notes) = tcp_others(&setup(&["tcp", "--spin-us", "5"], false), 64);
        assert_eq!(names(&others), ["ours --spin-us 5"]);
        assert_eq!(notes, ["Go baselines skipped: no Go here"]);
    }

    /// A measured round of 1000 exchanges in a second, with the given
    /// server sleeps, server preemptions and load generator sleeps.
    fn outcome(server: (u64, u64), client_sleeps: u64) -> exchange::Outcome {
        use std::time::Duration;

        use crate::sleeps::ContextSwitches;
        exchange::Outcome {
            completed: 1000,
            lost: 0,
            elapsed: Duration::from_secs(1),
            latency: exchange::latency_histogram().unwrap(),
            server_cpu: Default::default(),
            client_cpu: Default::default(),
            server_switches: ContextSwitches {
                voluntary: server.0,
                nonvoluntary: server.1,
            },
            client_switches: ContextSwitches {
                voluntary: client_sleeps,
                nonvoluntary: 0,
            },
        }
    }

    #[test]
    fn sleeps_and_preemptions_follow_the_cpu_rows_named_for_the_exchange() {
        for (names, per) in [
            (&pingpong::EXCHANGE, "request"),
            (&udp::EXCHANGE, "datagram"),
        ] {
            let rounds = Rounds {
                // Two rounds of ours merge: (0 + 20) sleeps / 2000 exchanges.
                ours: vec![outcome((0, 3), 990), outcome((20, 1), 1000)],
                tokio: vec![outcome((1000, 0), 1520)],
                others: vec![OtherRounds {
                    column: Column::variant_of_ours("ours --spin-us 0"),
                    outcomes: vec![outcome((990, 0), 0)],
                    said: String::new(),
                }],
                ours_said: String::new(),
            };
            let text = exchange_table("t".to_owned(), names, &rounds)
                .unwrap()
                .render();
            let metrics: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("| ")?.split(" |").next())
                .collect();
            let busy = metrics
                .iter()
                .position(|m| *m == "load generator CPU busy")
                .unwrap();
            assert_eq!(
                metrics[busy + 1..busy + 4],
                [
                    format!("server sleeps/{per} (lower is better)"),
                    format!("server preemptions/{per}"),
                    format!("load generator sleeps/{per}"),
                ],
                "{text}"
            );
            // Per exchange with two decimals; a ratio to a zero is undefined.
            assert!(
                text.contains(&format!(
                    "| server sleeps/{per} (lower is better) | 0.01 | 1.00 | 0.010× | 0.99 | 0.99× |\n"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "| server preemptions/{per} | 0.00 | 0.00 | – | 0.00 | – |\n"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "| load generator sleeps/{per} | 0.99 | 1.52 | 0.65× | 0.00 | 0.00× |\n"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "- every round, server sleeps/{per} — ours: 0.00, 0.02; tokio: 1.00; \
                     ours --spin-us 0: 0.99\n"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn every_round_lists_each_server_by_name_with_a_colon() {
        let rounds = Rounds {
            ours: vec![1, 2],
            tokio: vec![3, 4],
            others: vec![OtherRounds {
                column: Column::variant_of_ours("ours --spin-us 50"),
                outcomes: vec![5, 6],
                said: String::new(),
            }],
            ours_said: String::new(),
        };
        assert_eq!(
            rounds.every_round("requests/s", |n| n.to_string()),
            "every round, requests/s — ours: 1, 2; tokio: 3, 4; ours --spin-us 50: 5, 6"
        );
    }
}
