//! The bench's tables: one per [`Measured`], in Markdown, so the output can
//! be pasted into a document as it is. Each server is a column, and each
//! column after the first has a ratio beside it: the first server's figure
//! divided by that server's (`docs/performance.md` says how to read them).

use std::fmt::Write as _;

use crate::results::{Better, Measured, Unit};

/// The table, and its notes, as Markdown.
pub fn render(measured: &Measured) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {}\n", measured.title);
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
        for other in others {
            let theirs = other.reported[index];
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
    for note in &measured.notes {
        let _ = writeln!(out, "- {note}");
    }
    out
}

/// `first / other`, or NaN when there is nothing to compare against.
pub fn ratio(first: f64, other: f64) -> f64 {
    if other == 0.0 || !other.is_finite() || !first.is_finite() {
        f64::NAN
    } else {
        first / other
    }
}

/// The ratio column: two decimals and a `×` (two significant digits below
/// 0.1, so a 500-fold difference does not print as `0.00×`), or `–` when
/// undefined.
pub fn format_ratio(first: f64, other: f64) -> String {
    let r = ratio(first, other);
    if r.is_nan() {
        "–".to_owned()
    } else if r.abs() >= 0.1 || r == 0.0 {
        format!("{r:.2}×")
    } else {
        let decimals = (1.0 - r.abs().log10().floor()).min(12.0) as usize;
        format!("{r:.decimals$}×")
    }
}

/// A figure in its unit, `–` when undefined.
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
    use crate::results::{Metric, ServerFigures};

    #[test]
    fn ratios_keep_two_significant_digits_and_never_divide_by_zero() {
        assert_eq!(format_ratio(110.0, 100.0), "1.10×");
        assert_eq!(format_ratio(1.0, 3.0), "0.33×");
        assert_eq!(format_ratio(97.0, 48_128.0), "0.0020×");
        assert_eq!(format_ratio(0.0, 100.0), "0.00×");
        assert_eq!(format_ratio(5.0, 0.0), "–");
        assert_eq!(format_ratio(f64::NAN, 1.0), "–");
    }

    #[test]
    fn figures_print_in_a_unit_read_at_a_glance() {
        assert_eq!(format_nanos(0.0), "0");
        assert_eq!(format_nanos(850.0), "850 ns");
        assert_eq!(format_nanos(38_240.0), "38.2 µs");
        assert_eq!(format_nanos(1_204_000.0), "1.20 ms");
        assert_eq!(format_nanos(2_500_000_000.0), "2.50 s");
        assert_eq!(format_value(0.987, Unit::PerEvent), "0.99");
        assert_eq!(format_value(f64::NAN, Unit::PerEvent), "–");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_234_567), "1 234 567");
        assert_eq!(format_value(99_999.6, Unit::PerSecond), "100 000/s");
        assert_eq!(format_value(50_000.0, Unit::Bytes), "48.8 KiB");
    }

    #[test]
    fn each_server_after_the_first_gets_a_column_and_a_ratio() {
        let server = |name: &str, reported: Vec<f64>| ServerFigures {
            name: name.into(),
            reported,
            ..ServerFigures::default()
        };
        let measured = Measured {
            title: "tcp".into(),
            metrics: vec![
                Metric::new("requests/s", Unit::PerSecond, Better::Higher),
                Metric::new("requests verified", Unit::Count, Better::Neither),
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
    }
}
