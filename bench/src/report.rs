//! The bench's output: one Markdown table per scenario (metric | ours | tokio |
//! ratio), and a verdict line per target (issues 3 and 4; issue 15's for the
//! tcp ping-pong), so the output can be pasted into `docs/performance.md` as
//! it is.

use std::fmt::Write as _;

/// How a figure is printed.
#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// A count per event, fractional, with two decimals (`0.99` sleeps per
    /// request).
    PerEvent,
}

/// Which way is better for a metric, printed beside its name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Better {
    Higher,
    Lower,
    /// Not a performance figure (e.g. how many replies were verified).
    Neither,
}

pub struct Row {
    pub metric: String,
    pub unit: Unit,
    pub better: Better,
    pub ours: f64,
    pub tokio: f64,
    /// One figure per [`Table::others`] column, in that order.
    pub others: Vec<f64>,
}

/// A column after tokio's: one more server, with a ratio column of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub ratio: RatioOf,
}

/// What a further column's ratio compares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RatioOf {
    /// `ours / it`: our server against another baseline (the Go servers).
    OursToIt,
    /// `it / tokio`: a variant of our server (`ours --spin-us 0`), held to
    /// the same baseline as ours, so the two ratios read side by side.
    ItToTokio,
}

impl Column {
    /// Another baseline, compared with ours.
    pub fn baseline(name: impl Into<String>) -> Column {
        Column {
            name: name.into(),
            ratio: RatioOf::OursToIt,
        }
    }

    /// A variant of our server, compared with tokio as ours is.
    pub fn variant_of_ours(name: impl Into<String>) -> Column {
        Column {
            name: name.into(),
            ratio: RatioOf::ItToTokio,
        }
    }

    fn ratio_header(&self) -> String {
        match self.ratio {
            RatioOf::OursToIt => format!("ratio (ours/{})", self.name),
            RatioOf::ItToTokio => format!("ratio ({} / tokio)", self.name),
        }
    }

    /// This column's ratio in `row`, whose figure for it is `it`.
    fn ratio_in(&self, row: &Row, it: f64) -> (f64, f64) {
        match self.ratio {
            RatioOf::OursToIt => (row.ours, it),
            RatioOf::ItToTokio => (it, row.tokio),
        }
    }
}

/// A target from the issues, checked against a row of the table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// `ours / tokio >= x` for the named metric.
    RatioAtLeast(&'static str, f64),
    /// `ours / tokio <= x` for the named metric.
    RatioAtMost(&'static str, f64),
    /// `ours <= x` for the named metric.
    OursAtMost(&'static str, f64),
}

pub struct Table {
    pub title: String,
    pub rows: Vec<Row>,
    /// More servers than ours and tokio (variants of ours, the Go servers):
    /// each gets a column and a ratio column after tokio's.
    pub others: Vec<Column>,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>) -> Table {
        Table {
            title: title.into(),
            rows: Vec::new(),
            others: Vec::new(),
            targets: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, metric: &str, unit: Unit, better: Better, ours: f64, tokio: f64) {
        self.row_with_others(metric, unit, better, ours, tokio, Vec::new());
    }

    /// A row with a figure for each of [`Table::others`] too.
    pub fn row_with_others(
        &mut self,
        metric: &str,
        unit: Unit,
        better: Better,
        ours: f64,
        tokio: f64,
        others: Vec<f64>,
    ) {
        self.rows.push(Row {
            metric: metric.to_owned(),
            unit,
            better,
            ours,
            tokio,
            others,
        });
    }

    /// The table, its target verdicts and notes as Markdown.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### {}\n", self.title);
        let _ = write!(out, "| metric | ours | tokio | ratio (ours/tokio) |");
        for other in &self.others {
            let _ = write!(out, " {} | {} |", other.name, other.ratio_header());
        }
        let _ = writeln!(
            out,
            "\n|---|---:|---:|---:|{}",
            "---:|---:|".repeat(self.others.len())
        );
        for row in &self.rows {
            let arrow = match row.better {
                Better::Higher => " (higher is better)",
                Better::Lower => " (lower is better)",
                Better::Neither => "",
            };
            let _ = write!(
                out,
                "| {}{} | {} | {} | {} |",
                row.metric,
                arrow,
                format_value(row.ours, row.unit),
                format_value(row.tokio, row.unit),
                format_ratio(row.ours, row.tokio),
            );
            for (index, column) in self.others.iter().enumerate() {
                let other = row.others.get(index).copied().unwrap_or(f64::NAN);
                let (numerator, denominator) = column.ratio_in(row, other);
                let _ = write!(
                    out,
                    " {} | {} |",
                    format_value(other, row.unit),
                    format_ratio(numerator, denominator)
                );
            }
            out.push('\n');
        }
        if !self.targets.is_empty() {
            out.push('\n');
        }
        for target in &self.targets {
            let _ = writeln!(out, "- {}", self.verdict(target));
        }
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }

    fn find(&self, metric: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.metric == metric)
    }

    /// One line comparing the further column `name` with ours directly
    /// (`it / ours`) on each of `metrics`: how a variant of our server
    /// differs from the default, without going through tokio. `None` when
    /// there is no such column.
    pub fn against_ours(&self, name: &str, metrics: &[&str]) -> Option<String> {
        let index = self.others.iter().position(|column| column.name == name)?;
        let figures: Vec<String> = metrics
            .iter()
            .map(|&metric| {
                let r = self.find(metric).map_or(f64::NAN, |row| {
                    ratio(row.others.get(index).copied().unwrap_or(f64::NAN), row.ours)
                });
                let r = if r.is_nan() {
                    "–".to_owned()
                } else {
                    format!("{r:.3}×")
                };
                format!("{metric} {r}")
            })
            .collect();
        Some(format!("{name} / ours: {}", figures.join(", ")))
    }

    /// One line: the target, the measured value and whether it is met.
    pub fn verdict(&self, target: &Target) -> String {
        let (metric, wanted, measured, met) = match *target {
            Target::RatioAtLeast(metric, x) => {
                let r = self.find(metric).map(|row| ratio(row.ours, row.tokio));
                (
                    metric,
                    format!("≥ {x:.2}× tokio"),
                    r.map(|r| format!("{r:.3}×")),
                    r.map(|r| r >= x),
                )
            }
            Target::RatioAtMost(metric, x) => {
                let r = self.find(metric).map(|row| ratio(row.ours, row.tokio));
                (
                    metric,
                    format!("≤ {x:.2}× tokio"),
                    r.map(|r| format!("{r:.3}×")),
                    r.map(|r| r <= x),
                )
            }
            Target::OursAtMost(metric, x) => {
                let row = self.find(metric);
                (
                    metric,
                    format!("≤ {}", format_value(x, row.map_or(Unit::Count, |r| r.unit))),
                    row.map(|r| format_value(r.ours, r.unit)),
                    row.map(|r| r.ours <= x),
                )
            }
        };
        let status = match met {
            Some(true) => "MET",
            Some(false) => "MISSED",
            None => "NOT MEASURED",
        };
        let measured = measured.unwrap_or_else(|| "–".to_owned());
        format!("target {metric} {wanted}: {status} ({measured})")
    }
}

/// `ours / tokio`, or NaN when there is nothing to compare against.
pub fn ratio(ours: f64, tokio: f64) -> f64 {
    if tokio == 0.0 || !tokio.is_finite() || !ours.is_finite() {
        f64::NAN
    } else {
        ours / tokio
    }
}

/// The ratio column: two decimals and a `×` (two significant digits below
/// 0.1, so a 500-fold difference does not print as `0.00×`), or `–` when
/// undefined.
pub fn format_ratio(ours: f64, tokio: f64) -> String {
    let r = ratio(ours, tokio);
    if r.is_nan() {
        "–".to_owned()
    } else if r.abs() >= 0.1 || r == 0.0 {
        format!("{r:.2}×")
    } else {
        let decimals = (1.0 - r.abs().log10().floor()).min(12.0) as usize;
        format!("{r:.decimals$}×")
    }
}

pub fn format_value(value: f64, unit: Unit) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    match unit {
        Unit::PerSecond => format!("{}/s", group_thousands(value.round() as u64)),
        Unit::Nanos => format_nanos(value),
        Unit::GigabytesPerSecond => format!("{value:.2} GB/s"),
        Unit::Bytes => format_bytes(value),
        Unit::Count => group_thousands(value.round() as u64),
        Unit::Cores => format!("{:.0}% of a core", value * 100.0),
        Unit::PerEvent => format!("{value:.2}"),
    }
}

/// A duration in nanoseconds with three significant figures in a unit a reader
/// takes in at a glance: `850 ns`, `38.2 µs`, `1.20 ms`.
pub fn format_nanos(ns: f64) -> String {
    let (value, unit) = if ns == 0.0 {
        // Below what was measurable (CPU time comes in 10 ms ticks).
        return "0".to_owned();
    } else if ns < 1_000.0 {
        (ns, "ns")
    } else if ns < 1_000_000.0 {
        (ns / 1_000.0, "µs")
    } else if ns < 1_000_000_000.0 {
        (ns / 1_000_000.0, "ms")
    } else {
        (ns / 1_000_000_000.0, "s")
    };
    format!("{} {unit}", three_significant(value))
}

fn format_bytes(bytes: f64) -> String {
    if bytes.abs() < 10_000.0 {
        format!("{bytes:.0} B")
    } else if bytes.abs() < 10_000_000.0 {
        format!("{} KiB", three_significant(bytes / 1024.0))
    } else {
        format!("{} MiB", three_significant(bytes / (1024.0 * 1024.0)))
    }
}

fn three_significant(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// `1234567` → `1 234 567` (a thin separator that reads the same in every locale).
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
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

    #[test]
    fn ratio_is_ours_over_tokio_with_two_decimals() {
        assert_eq!(format_ratio(110.0, 100.0), "1.10×");
        assert_eq!(format_ratio(1.0, 3.0), "0.33×");
    }

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        assert_eq!(format_ratio(97.0, 48_128.0), "0.0020×");
        assert_eq!(format_ratio(5.0, 100.0), "0.050×");
        assert_eq!(format_ratio(0.0, 100.0), "0.00×");
    }

    #[test]
    fn ratio_against_zero_or_missing_is_a_dash_not_infinity() {
        assert_eq!(format_ratio(5.0, 0.0), "–");
        assert_eq!(format_ratio(f64::NAN, 1.0), "–");
    }

    #[test]
    fn a_verdict_near_the_threshold_shows_why_it_missed() {
        // 1.098 rounds to "1.10×" in the table; the verdict must not read
        // "≥ 1.10×: MISSED (1.10×)".
        let mut table = Table::new("udp");
        table.row(
            "datagrams/s",
            Unit::PerSecond,
            Better::Higher,
            1098.0,
            1000.0,
        );
        let verdict = table.verdict(&Target::RatioAtLeast("datagrams/s", 1.1));
        assert_eq!(verdict, "target datagrams/s ≥ 1.10× tokio: MISSED (1.098×)");
    }

    #[test]
    fn latencies_print_with_three_significant_figures() {
        assert_eq!(format_nanos(0.0), "0");
        assert_eq!(format_nanos(850.0), "850 ns");
        assert_eq!(format_nanos(38_240.0), "38.2 µs");
        assert_eq!(format_nanos(1_204_000.0), "1.20 ms");
        assert_eq!(format_nanos(2_500_000_000.0), "2.50 s");
    }

    #[test]
    fn counts_per_event_print_with_two_decimals() {
        assert_eq!(format_value(0.987, Unit::PerEvent), "0.99");
        assert_eq!(format_value(0.001, Unit::PerEvent), "0.00");
        assert_eq!(format_value(1.52, Unit::PerEvent), "1.52");
        assert_eq!(format_value(f64::NAN, Unit::PerEvent), "–");
    }

    #[test]
    fn rates_group_thousands() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_000), "1 000");
        assert_eq!(group_thousands(1_234_567), "1 234 567");
        assert_eq!(format_value(99_999.6, Unit::PerSecond), "100 000/s");
    }

    #[test]
    fn table_renders_markdown_rows_and_verdicts() {
        let mut table = Table::new("tcp");
        table.row(
            "requests/s",
            Unit::PerSecond,
            Better::Higher,
            120_000.0,
            100_000.0,
        );
        table.row(
            "server CPU/request",
            Unit::Nanos,
            Better::Lower,
            5_000.0,
            4_000.0,
        );
        table.row(
            "server RSS/connection",
            Unit::Bytes,
            Better::Lower,
            40.0,
            30_000.0,
        );
        table.targets.push(Target::RatioAtLeast("requests/s", 1.0));
        table
            .targets
            .push(Target::RatioAtMost("server CPU/request", 0.9));
        table
            .targets
            .push(Target::OursAtMost("server RSS/connection", 256.0));
        table.targets.push(Target::RatioAtLeast("missing", 1.0));
        let text = table.render();
        assert!(text.contains("| requests/s (higher is better) | 120 000/s | 100 000/s | 1.20× |"));
        assert!(
            text.contains("| server CPU/request (lower is better) | 5.00 µs | 4.00 µs | 1.25× |")
        );
        assert!(text.contains("target requests/s ≥ 1.00× tokio: MET (1.200×)"));
        assert!(text.contains("target server CPU/request ≤ 0.90× tokio: MISSED (1.250×)"));
        assert!(text.contains("target server RSS/connection ≤ 256 B: MET (40 B)"));
        assert!(text.contains("target missing ≥ 1.00× tokio: NOT MEASURED"));
    }

    #[test]
    fn other_baselines_get_a_column_and_a_ratio_each() {
        let mut table = Table::new("tcp");
        table.others = vec![Column::baseline("go-echo")];
        table.row_with_others(
            "requests/s",
            Unit::PerSecond,
            Better::Higher,
            120_000.0,
            100_000.0,
            vec![60_000.0],
        );
        let text = table.render();
        assert!(
            text.contains("| metric | ours | tokio | ratio (ours/tokio) | go-echo | ratio (ours/go-echo) |\n|---|---:|---:|---:|---:|---:|\n"),
            "{text}"
        );
        assert!(
            text.contains("| requests/s (higher is better) | 120 000/s | 100 000/s | 1.20× | 60 000/s | 2.00× |\n"),
            "{text}"
        );
    }

    #[test]
    fn a_variant_of_ours_is_compared_with_tokio_and_a_baseline_with_ours() {
        let mut table = Table::new("tcp");
        table.others = vec![
            Column::variant_of_ours("ours --spin-us 0"),
            Column::baseline("Go io.Copy"),
        ];
        table.row_with_others(
            "server CPU/request",
            Unit::Nanos,
            Better::Lower,
            5_000.0,
            4_000.0,
            vec![4_400.0, 8_000.0],
        );
        let text = table.render();
        assert!(
            text.contains(
                "| metric | ours | tokio | ratio (ours/tokio) | ours --spin-us 0 | \
                 ratio (ours --spin-us 0 / tokio) | Go io.Copy | ratio (ours/Go io.Copy) |\n\
                 |---|---:|---:|---:|---:|---:|---:|---:|\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| server CPU/request (lower is better) | 5.00 µs | 4.00 µs | 1.25× | \
                 4.40 µs | 1.10× | 8.00 µs | 0.62× |\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_variant_of_ours_is_compared_with_ours_directly_in_a_note() {
        let mut table = Table::new("tcp");
        table.others = vec![Column::variant_of_ours("ours --spin-us 0")];
        table.row_with_others(
            "requests/s",
            Unit::PerSecond,
            Better::Higher,
            100_000.0,
            90_000.0,
            vec![80_000.0],
        );
        table.row_with_others(
            "server CPU/request",
            Unit::Nanos,
            Better::Lower,
            5_000.0,
            4_000.0,
            vec![4_000.0],
        );
        assert_eq!(
            table
                .against_ours(
                    "ours --spin-us 0",
                    &["requests/s", "server CPU/request", "missing"]
                )
                .as_deref(),
            Some(
                "ours --spin-us 0 / ours: requests/s 0.800×, server CPU/request 0.800×, missing –"
            )
        );
        assert_eq!(
            table.against_ours("ours --spin-us 9", &["requests/s"]),
            None
        );
    }

    #[test]
    fn a_latency_target_reads_the_latency_row() {
        let mut table = Table::new("tcp");
        table.row(
            "latency p50",
            Unit::Nanos,
            Better::Lower,
            10_000.0,
            30_000.0,
        );
        assert_eq!(
            table.verdict(&Target::RatioAtMost("latency p50", 0.4)),
            "target latency p50 ≤ 0.40× tokio: MET (0.333×)"
        );
    }
}
