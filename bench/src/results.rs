//! What a run measured, as data: every table is a [`Measured`], and the
//! JSON file (`--json`) is the run's settings and machine with every
//! [`Measured`] in it, each round's figures included, so the tables and the
//! charts can be made again from the file alone.

use serde_json::{Map, Value, json};

/// How a figure is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Events per second (`123 456/s`).
    PerSecond,
    /// A duration in nanoseconds, printed in ns, µs or ms.
    Nanos,
    /// Gigabytes (10^9 bytes) per second.
    GigabytesPerSecond,
    /// Bytes.
    Bytes,
    /// A plain count.
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

/// One row of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Its name in the table and the JSON (`requests/s`).
    pub name: String,
    pub unit: Unit,
    pub better: Better,
}

impl Metric {
    pub fn new(name: &str, unit: Unit, better: Better) -> Metric {
        Metric {
            name: name.to_owned(),
            unit,
            better,
        }
    }
}

/// One server's figures in one table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerFigures {
    /// How the table names it (`ours`, `tokio`, a command).
    pub name: String,
    /// Each round's figure for each metric, in the table's metric order.
    pub rounds: Vec<Vec<f64>>,
    /// The figure the table shows for each metric (the median round's
    /// rate; latency and CPU over all rounds).
    pub reported: Vec<f64>,
    /// `(percentile, nanoseconds)` of the round trip over all rounds.
    pub latency: Vec<(f64, f64)>,
}

/// One scenario's table: its metrics, and every server's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    /// The scenario as the command line says it: `tcp --conns=50`.
    pub scenario: String,
    /// What was measured, and how.
    pub title: String,
    /// The connections of a tcp ping-pong (for the sweep chart).
    pub conns: Option<u32>,
    pub metrics: Vec<Metric>,
    /// The first server is the one every ratio is about.
    pub servers: Vec<ServerFigures>,
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

    /// This table as JSON: per server, every round, the medians over rounds
    /// and the table's figures, each by metric name.
    pub fn to_json(&self) -> Value {
        let by_metric = |values: &[f64]| -> Value {
            let pairs = self
                .metrics
                .iter()
                .zip(values)
                .map(|(m, v)| (m.name.clone(), finite(*v)));
            Value::Object(pairs.collect::<Map<_, _>>())
        };
        let servers: Vec<Value> = self
            .servers
            .iter()
            .map(|s| {
                let column = |i: usize| s.rounds.iter().map(move |round| round[i]);
                let medians: Vec<f64> =
                    (0..self.metrics.len()).map(|i| median(column(i))).collect();
                let latency = s
                    .latency
                    .iter()
                    .map(|(p, ns)| json!({"percentile": p, "ns": finite(*ns)}));
                json!({
                    "name": s.name,
                    "rounds": s.rounds.iter().map(|r| by_metric(r)).collect::<Vec<_>>(),
                    "median": by_metric(&medians),
                    "reported": by_metric(&s.reported),
                    "latency_ns": latency.collect::<Vec<_>>(),
                })
            })
            .collect();
        let metrics = self.metrics.iter().map(|m| {
            json!({"name": m.name, "unit": format!("{:?}", m.unit), "better": format!("{:?}", m.better)})
        });
        json!({
            "scenario": self.scenario,
            "title": self.title,
            "conns": self.conns,
            "metrics": metrics.collect::<Vec<_>>(),
            "servers": servers,
            "notes": self.notes,
        })
    }
}

/// JSON has no NaN: an undefined figure is `null`.
fn finite(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        Value::Null
    }
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
    use super::*;

    #[test]
    fn a_table_as_json_has_every_round_the_medians_and_the_reported_figures() {
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert!(median(std::iter::empty()).is_nan());
        let ours = ServerFigures {
            name: "ours".into(),
            rounds: vec![vec![3.0, 0.0], vec![1.0, 0.0], vec![2.0, 0.0]],
            reported: vec![2.0, f64::NAN],
            latency: vec![(50.0, 1000.0)],
        };
        let measured = Measured {
            metrics: vec![
                Metric::new("requests/s", Unit::PerSecond, Better::Higher),
                Metric::new("lost", Unit::Count, Better::Lower),
            ],
            servers: vec![ours],
            conns: Some(1),
            ..Measured::default()
        };
        assert_eq!(measured.reported("requests/s", "ours"), 2.0);
        assert!(measured.reported("requests/s", "tokio").is_nan());
        let value = measured.to_json();
        let ours = &value["servers"][0];
        assert_eq!(
            (
                &ours["rounds"][0]["requests/s"],
                &ours["median"]["requests/s"]
            ),
            (&json!(3.0), &json!(2.0))
        );
        assert_eq!(ours["reported"]["lost"], Value::Null);
        assert_eq!(ours["latency_ns"][0]["ns"], 1000.0);
        assert_eq!(
            (&value["metrics"][0]["unit"], &value["conns"]),
            (&json!("PerSecond"), &json!(1))
        );
    }
}
