//! A [`Measured`] table as the run shows it and keeps it: Markdown, so the
//! output can be pasted into a document as it is, and JSON, with every
//! round's totals, so the tables and charts can be made again from it. In
//! Markdown each server is a column, and each column after the first has a
//! ratio beside it: the first server's figure divided by that server's
//! (`docs/performance.md` says how to read them).

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::table::{Better, Measured, Unit, median};

/// The table, and its notes, as Markdown.
pub fn render(measured: &Measured) -> String {
    let mut out = format!("### {}\n\n", measured.title);
    let Some((first, others)) = measured.servers.split_first() else {
        return out;
    };
    let _ = write!(out, "| metric | {} |", first.name);
    for other in others {
        let _ = write!(
            out,
            " {} | ratio ({}/{}) |",
            other.name, first.name, other.name
        );
    }
    let _ = writeln!(out, "\n|---|---:|{}", "---:|---:|".repeat(others.len()));
    for (index, metric) in measured.metrics.iter().enumerate() {
        let arrow = match metric.better {
            Better::Higher => " (higher is better)",
            Better::Lower => " (lower is better)",
            Better::Neither => "",
        };
        let mine = first.reported[index];
        let _ = write!(
            out,
            "| {}{arrow} | {} |",
            metric.name,
            format_value(mine, metric.unit)
        );
        for theirs in others.iter().map(|other| other.reported[index]) {
            let _ = write!(
                out,
                " {} | {} |",
                format_value(theirs, metric.unit),
                format_ratio(mine, theirs)
            );
        }
        out.push('\n');
    }
    if !measured.notes.is_empty() {
        out.push('\n');
    }
    measured
        .notes
        .iter()
        .for_each(|note| out += &format!("- {note}\n"));
    out
}

/// This table as JSON: per server, every round's totals and figures, the
/// medians over rounds, the table's figures and the latency, each figure by
/// metric name.
pub fn to_json(table: &Measured) -> Value {
    let by_metric = |values: &mut dyn Iterator<Item = f64>| -> Value {
        let pairs = table
            .metrics
            .iter()
            .zip(values)
            .map(|(m, v)| (m.name.clone(), finite(v)));
        Value::Object(pairs.collect::<Map<_, _>>())
    };
    let servers: Vec<Value> = table
        .servers
        .iter()
        .map(|s| {
            let rounds = s.rounds.iter().map(|r| {
                let totals = r.totals.iter().map(|(k, v)| (k.to_string(), finite(*v)));
                json!({
                    "totals": Value::Object(totals.collect()),
                    "figures": by_metric(&mut table.metrics.iter().map(|m| m.of(r))),
                })
            });
            let medians = table
                .metrics
                .iter()
                .map(|m| median(s.rounds.iter().map(|r| m.of(r))));
            let latency = s
                .latency
                .iter()
                .map(|(p, ns)| json!({"percentile": p, "ns": finite(*ns)}));
            json!({
                "name": s.name,
                "rounds": rounds.collect::<Vec<_>>(),
                "median": by_metric(&mut medians.into_iter()),
                "reported": by_metric(&mut s.reported.iter().copied()),
                "latency_ns": latency.collect::<Vec<_>>(),
            })
        })
        .collect();
    let metrics = table.metrics.iter().map(|m| {
        json!({"name": m.name, "unit": format!("{:?}", m.unit), "better": format!("{:?}", m.better)})
    });
    json!({
        "scenario": table.scenario,
        "title": table.title,
        "conns": table.conns,
        "metrics": metrics.collect::<Vec<_>>(),
        "servers": servers,
        "notes": table.notes,
    })
}

/// JSON has no NaN: an undefined figure is `null`.
fn finite(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        Value::Null
    }
}

/// The ratio column: `first / other` with two decimals and a `×` (two
/// significant digits below 0.1, so a 500-fold difference does not print as
/// `0.00×`), or `–` when there is nothing to compare against.
pub fn format_ratio(first: f64, other: f64) -> String {
    let r = first / other;
    if other == 0.0 || !r.is_finite() {
        "–".to_owned()
    } else if r.abs() >= 0.1 || r == 0.0 {
        format!("{r:.2}×")
    } else {
        let decimals = (1.0 - r.abs().log10().floor()).min(12.0) as usize;
        format!("{r:.decimals$}×")
    }
}

/// A figure in its unit, `–` when undefined: durations and sizes with
/// three significant figures in a unit read at a glance (`38.2 µs`).
pub fn format_value(value: f64, unit: Unit) -> String {
    let three = |v: f64| match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    };
    match unit {
        _ if !value.is_finite() => "–".to_owned(),
        Unit::PerSecond => format!("{}/s", group_thousands(value.round() as u64)),
        // Below a clock tick: CPU time is counted in ticks.
        Unit::Nanos if value == 0.0 => "0".to_owned(),
        Unit::Nanos => {
            let scales = [(1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns")];
            let (scale, name) = scales
                .into_iter()
                .find(|(s, _)| value.abs() >= *s)
                .unwrap_or((1.0, "ns"));
            format!("{} {name}", three(value / scale))
        }
        Unit::GigabytesPerSecond => format!("{value:.2} GB/s"),
        Unit::Bytes if value.abs() < 1e4 => format!("{value:.0} B"),
        Unit::Bytes if value.abs() < 1e7 => format!("{} KiB", three(value / 1024.0)),
        Unit::Bytes => format!("{} MiB", three(value / 1048576.0)),
        Unit::Count => group_thousands(value.round() as u64),
        Unit::Cores => format!("{:.0}% of a core", value * 100.0),
        Unit::PerEvent => format!("{value:.2}"),
    }
}

/// `1234567` → `1 234 567` (a thin separator that reads the same in every locale).
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, Metric, Round};

    #[test]
    fn figures_and_ratios_print_in_a_form_read_at_a_glance() {
        assert_eq!(
            (format_ratio(110.0, 100.0), format_ratio(1.0, 3.0)),
            ("1.10×".into(), "0.33×".into())
        );
        assert_eq!(
            (format_ratio(97.0, 48_128.0), format_ratio(0.0, 100.0)),
            ("0.0020×".into(), "0.00×".into())
        );
        assert_eq!(
            (format_ratio(5.0, 0.0), format_ratio(f64::NAN, 1.0)),
            ("–".into(), "–".into())
        );
        let nanos = [0.0, 850.0, 38_240.0, 1_204_000.0, 2_500_000_000.0]
            .map(|v| format_value(v, Unit::Nanos));
        assert_eq!(nanos, ["0", "850 ns", "38.2 µs", "1.20 ms", "2.50 s"]);
        let bytes = [97.0, 50_000.0, 52_428_800.0].map(|v| format_value(v, Unit::Bytes));
        assert_eq!(bytes, ["97 B", "48.8 KiB", "50.0 MiB"]);
        assert_eq!(format_value(0.987, Unit::PerEvent), "0.99");
        assert_eq!(format_value(f64::NAN, Unit::PerEvent), "–");
        assert_eq!(format_value(99_999.6, Unit::PerSecond), "100 000/s");
        assert_eq!(
            (group_thousands(999), group_thousands(1_234_567)),
            ("999".into(), "1 234 567".into())
        );
    }

    #[test]
    fn each_server_after_the_first_gets_a_column_and_a_ratio() {
        let server = |name: &str, reported: Vec<f64>| Column {
            name: name.into(),
            reported,
            rounds: vec![Round::new([("done", 3.0)])],
            ..Column::default()
        };
        let measured = Measured {
            title: "tcp".into(),
            metrics: vec![
                Metric::parse("requests/s | /s | + | done/ns*1e9"),
                Metric::parse("requests verified | count | | done"),
            ],
            servers: vec![
                server("ours", vec![120_000.0, 10.0]),
                server("tokio", vec![100_000.0, 0.0]),
                server("go-io-copy", vec![60_000.0, 5.0]),
            ],
            notes: vec!["a note".into()],
            ..Measured::default()
        };
        assert_eq!(
            render(&measured),
            "### tcp\n\n\
             | metric | ours | tokio | ratio (ours/tokio) | go-io-copy | ratio (ours/go-io-copy) |\n\
             |---|---:|---:|---:|---:|---:|\n\
             | requests/s (higher is better) | 120 000/s | 100 000/s | 1.20× | 60 000/s | 2.00× |\n\
             | requests verified | 10 | 0 | – | 5 | 2.00× |\n\
             \n- a note\n"
        );
        let value = to_json(&measured);
        let ours = &value["servers"][0];
        assert_eq!(
            ours["rounds"][0]["totals"],
            json!({"done": 3.0, "rounds": 1.0})
        );
        assert_eq!(
            ours["rounds"][0]["figures"]["requests verified"],
            json!(3.0)
        );
        // No `ns` was counted: the rate is undefined, which JSON says as null.
        assert_eq!(ours["rounds"][0]["figures"]["requests/s"], Value::Null);
        assert_eq!(
            (
                &ours["median"]["requests verified"],
                &ours["reported"]["requests/s"]
            ),
            (&json!(3.0), &json!(120000.0))
        );
        assert_eq!(value["metrics"][0]["unit"], json!("PerSecond"));
    }
}
