//! The run's results as pictures, SVG files beside the JSON (`--json
//! out.json` → `out-latency.svg`, …), drawn with plotters' SVG backend:
//!
//! - `latency`: the round trip at each percentile, per server, a panel per
//!   ping-pong table;
//! - `sweep` (with `--conns` a list): requests/s and server CPU per request
//!   against connections, per server;
//! - `spin` (with `--spin-us`): requests/s and server CPU per request of
//!   each spin window of ours against its default's, and the server's
//!   sleeps per request, a line per connection count.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::{
    report::format_value,
    table::{Measured, Unit},
};

/// One panel: a title, the x positions' labels, and a line per series
/// (a NaN is a gap); `log`: a logarithmic y axis (latencies, whose tail is
/// a hundred times their median).
struct Panel {
    title: String,
    unit: Unit,
    log: bool,
    x_labels: Vec<String>,
    series: Vec<(String, Vec<f64>)>,
}

/// Writes the charts this run's tables allow, beside `json`; returns the
/// files written.
pub fn write(json: &Path, tables: &[Measured]) -> Result<Vec<PathBuf>> {
    let tcp: Vec<&Measured> = tables.iter().filter(|t| t.conns.is_some()).collect();
    let mut written = Vec::new();
    for (name, panels) in [
        ("latency", latency(tables)),
        ("sweep", sweep(&tcp)),
        ("spin", spin(&tcp)),
    ] {
        if !panels.is_empty() {
            let path = PathBuf::from(format!("{}-{name}.svg", json.with_extension("").display()));
            draw(&path, &panels).map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// A panel per ping-pong table: latency at each percentile, per server.
fn latency(tables: &[Measured]) -> Vec<Panel> {
    let pingpongs = tables
        .iter()
        .filter(|t| t.servers.iter().any(|s| !s.latency.is_empty()));
    let panel = |table: &Measured| Panel {
        title: format!("{}: round-trip latency", table.scenario),
        unit: Unit::Nanos,
        log: true,
        x_labels: table.servers[0]
            .latency
            .iter()
            .map(|(p, _)| format!("p{p}"))
            .collect(),
        series: table
            .servers
            .iter()
            .map(|s| (s.name.clone(), s.latency.iter().map(|l| l.1).collect()))
            .collect(),
    };
    pingpongs.map(panel).collect()
}

/// Requests/s and CPU per request against connections, when the run had
/// several connection counts.
fn sweep(tcp: &[&Measured]) -> Vec<Panel> {
    if tcp.len() < 2 {
        return Vec::new();
    }
    let mut names: Vec<&str> = tcp
        .iter()
        .flat_map(|t| t.servers.iter().map(|s| s.name.as_str()))
        .collect();
    names.dedup();
    names.sort_by_key(|name| tcp[0].servers.iter().position(|s| s.name == *name));
    names.dedup();
    let x_labels: Vec<String> = tcp
        .iter()
        .map(|t| t.conns.unwrap_or(0).to_string())
        .collect();
    let panel = |(metric, unit)| Panel {
        title: format!("{metric} against connections"),
        unit,
        log: false,
        x_labels: x_labels.clone(),
        series: names
            .iter()
            .map(|&n| {
                (
                    n.to_owned(),
                    tcp.iter().map(|t| t.reported(metric, n)).collect(),
                )
            })
            .collect(),
    };
    [
        ("requests/s", Unit::PerSecond),
        ("server CPU/request", Unit::Nanos),
    ]
    .map(panel)
    .into()
}

/// Each spin window of ours beside ours' default, a line per connection
/// count, when the run measured spin windows.
fn spin(tcp: &[&Measured]) -> Vec<Panel> {
    let Some(first) = tcp.first() else {
        return Vec::new();
    };
    let windows: Vec<&str> = first
        .servers
        .iter()
        .filter_map(|s| s.name.strip_prefix("ours --spin-us "))
        .collect();
    if windows.is_empty() {
        return Vec::new();
    }
    let names: Vec<String> = std::iter::once("ours".to_owned())
        .chain(windows.iter().map(|w| format!("ours --spin-us {w}")))
        .collect();
    let x_labels: Vec<String> = std::iter::once("default".to_owned())
        .chain(windows.iter().map(|w| format!("{w} µs")))
        .collect();
    // Rate and CPU relative to the default's, so every connection count
    // reads on one scale; sleeps as they are (0 to about 1).
    let line = |metric: &str, relative: bool, table: &&Measured| {
        let base = if relative {
            table.reported(metric, "ours")
        } else {
            1.0
        };
        let figures = names
            .iter()
            .map(|n| table.reported(metric, n) / base)
            .collect();
        let conns = table.conns.unwrap_or(0);
        (
            format!("{conns} connection{}", if conns == 1 { "" } else { "s" }),
            figures,
        )
    };
    let panel = |(metric, relative): (&str, bool)| Panel {
        title: if relative {
            format!("{metric}, ÷ the default's")
        } else {
            metric.to_owned()
        },
        unit: Unit::PerEvent,
        log: false,
        x_labels: x_labels.clone(),
        series: tcp
            .iter()
            .map(|table| line(metric, relative, table))
            .collect(),
    };
    [
        ("requests/s", true),
        ("server CPU/request", true),
        ("server sleeps/request", false),
    ]
    .map(panel)
    .into()
}

/// Draws `panels` side by side into the SVG file `path`: x positions are
/// the labels, evenly spaced; y starts at 0.
fn draw(path: &Path, panels: &[Panel]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (520 * panels.len() as u32, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, panel) in root.split_evenly((1, panels.len())).iter().zip(panels) {
        // On a log axis every figure is drawn as its logarithm.
        let y = |v: f64| if panel.log { v.log10() } else { v };
        let values: Vec<f64> = panel
            .series
            .iter()
            .flat_map(|(_, ys)| ys.iter().map(|&v| y(v)))
            .collect();
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let top = finite
            .clone()
            .fold(f64::MIN, f64::max)
            .max(if panel.log { 1.0 } else { 0.0 });
        let bottom = if panel.log {
            finite.fold(top, f64::min).floor()
        } else {
            0.0
        };
        let top = if panel.log { top.ceil() } else { top * 1.15 };
        let last = panel.x_labels.len().saturating_sub(1) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.3..last + 0.3, bottom..top.max(bottom + 1e-9))?;
        let x_label = |x: &f64| {
            let at = x.round();
            let label = panel
                .x_labels
                .get(at as usize)
                .filter(|_| (x - at).abs() < 1e-6);
            label.cloned().unwrap_or_default()
        };
        let y_label =
            |v: &f64| format_value(if panel.log { 10f64.powf(*v) } else { *v }, panel.unit);
        let mut mesh = chart.configure_mesh();
        mesh.x_labels(panel.x_labels.len() * 2 + 1)
            .x_label_formatter(&x_label);
        mesh.y_labels(6)
            .y_label_formatter(&y_label)
            .disable_x_mesh()
            .draw()?;
        for (index, (name, ys)) in panel.series.iter().enumerate() {
            let colour = Palette99::pick(index).to_rgba();
            let points: Vec<(f64, f64)> = ys
                .iter()
                .enumerate()
                .map(|(x, v)| (x as f64, y(*v)))
                .filter(|(_, v)| v.is_finite())
                .collect();
            let line = LineSeries::new(points.clone(), colour.stroke_width(2));
            let legend = move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour);
            chart.draw_series(line)?.label(name).legend(legend);
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )?;
        }
        let mut legend = chart.configure_series_labels();
        legend.background_style(WHITE.mix(0.8)).border_style(BLACK);
        // In the corner the lines leave free: the left one when they rise.
        let rising = values
            .last()
            .zip(values.first())
            .is_some_and(|(last, first)| last > first);
        let corner = if rising {
            SeriesLabelPosition::UpperLeft
        } else {
            SeriesLabelPosition::UpperRight
        };
        legend.position(corner).draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, Metric};

    fn tcp(conns: u32, servers: &[(&str, f64)]) -> Measured {
        let server = |(name, rate): &(&str, f64)| Column {
            name: (*name).into(),
            reported: vec![*rate],
            rounds: Vec::new(),
            latency: vec![(50.0, 1e4), (99.0, 3e4)],
        };
        Measured {
            scenario: format!("tcp --conns={conns}"),
            conns: Some(conns),
            metrics: vec![Metric::parse("requests/s | /s | + | done/ns*1e9")],
            servers: servers.iter().map(server).collect(),
            ..Measured::default()
        }
    }

    #[test]
    fn the_charts_a_run_allows_are_written_beside_the_json() {
        let dir = std::env::temp_dir().join(format!("bench-charts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json = dir.join("out.json");
        let written = write(&json, &[tcp(1, &[("ours", 3e4), ("tokio", 1e4)])]).unwrap();
        assert_eq!(written, [dir.join("out-latency.svg")]);
        let svg = std::fs::read_to_string(&written[0]).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("tokio") && svg.contains("p99"),
            "{svg}"
        );
        let spun = [("ours", 3e4), ("tokio", 1e4), ("ours --spin-us 0", 2e4)];
        let written = write(&json, &[tcp(1, &spun), tcp(50, &spun)]).unwrap();
        let names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["out-latency.svg", "out-sweep.svg", "out-spin.svg"]);
        let spin = std::fs::read_to_string(dir.join("out-spin.svg")).unwrap();
        assert!(
            spin.contains("50 connections") && spin.contains("0 µs"),
            "{spin}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
