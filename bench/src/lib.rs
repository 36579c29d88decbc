//! The load generator: servers measured side by side, in one run, on this
//! machine. `cargo xtask bench` builds this crate in release with our
//! servers (and the Go baselines, when `go` is installed), then runs its
//! `bench` binary: the load generator must not be a debug build, or it,
//! not the server, would be what is measured. (A crate of its own, so that
//! tokio and hdrhistogram are compiled only for the bench, never for
//! `cargo xtask demo`.)
//!
//! How a run goes ([`run`]): the servers inherit a raised open-file limit;
//! the load generator and the servers are pinned as `--placement` says;
//! then each table of the run (a scenario, or one `--conns` count of the
//! tcp ping-pong) is measured by the one runner, `table::measure`: it
//! starts the table's servers (`servers`: presets, commands, or servers
//! already running), runs the scenario against each in alternating rounds,
//! and figures each row from the rounds' totals as the scenario's data
//! says (`scenarios`). Each table is printed as Markdown (`report`); with
//! `--json FILE` the run is also written as data and drawn (`charts`).
//! Progress goes to stderr (`progress`).
//!
//! The load generators, one module each: `pingpong` (`tcp`), `bulk`,
//! `idle`, `udp`, `pool`, `chat`; the exchanges are counted alike through
//! `exchange`, CPU time, memory and sleeps read from `/proc` (`procfs`).
//! The tokio baselines are [`baseline`].

pub mod baseline;
mod bulk;
mod charts;
mod chat;
mod cli;
mod exchange;
mod idle;
mod payload;
mod pingpong;
mod pool;
mod procfs;
mod progress;
mod report;
mod scenarios;
mod servers;
mod table;
// The scenarios against real servers: they read /proc, so Linux only, as
// the bench itself is (see `run`).
#[cfg(all(test, target_os = "linux"))]
mod tests;
mod udp;

use std::{env, fs, io::Write as _, path::Path, process::Command};

use anyhow::{Context, Result, bail};
use serde_json::json;

pub use cli::{Args, Placement, Scenario};
use progress::{Progress, human};
use table::Setup;

impl Args {
    /// What the command line's parser cannot know: each `--server`'s
    /// form, the spin windows' limit, and options no scenario of the run
    /// would use. A misuse, said in one line.
    pub fn check(&self) -> Result<Vec<servers::Spec>, String> {
        use netpoll::spin::MAX_SPIN_US;
        let spins = &self.spin_us;
        let distinct = spins
            .iter()
            .enumerate()
            .all(|(i, us)| !spins[..i].contains(us));
        if spins.len() > 4 || !distinct || spins.iter().any(|&us| us > MAX_SPIN_US) {
            return Err(format!(
                "--spin-us expects up to 4 distinct windows in microseconds, each 0 to \
                 {MAX_SPIN_US}, like `0,50`"
            ));
        }
        if !spins.is_empty() && !self.scenario.expand().contains(&Scenario::Tcp) {
            return Err(format!(
                "--spin-us is for the tcp ping-pong, which scenario `{}` does not run",
                cli::name(self.scenario)
            ));
        }
        self.servers
            .iter()
            .map(|s| servers::Spec::parse(s))
            .collect()
    }
}

/// The bench proper, from the release build.
pub fn run(args: Args) -> Result<()> {
    // CPU time and memory come from /proc, pinning from sched_setaffinity:
    // the figures would mean nothing half-measured, so say so at once.
    if !cfg!(target_os = "linux") {
        bail!(
            "the bench is Linux only: it reads CPU time and memory from /proc \
             and pins processes to CPUs with sched_setaffinity"
        );
    }
    let servers = args.check().map_err(anyhow::Error::msg)?;
    // The servers inherit the raised limit: room for the idle connections.
    netpoll::raise_open_file_limit();
    let nofile = procfs::open_file_limit()?;
    let needed = u64::from(args.count) + 64;
    if args.scenario.expand().contains(&Scenario::Idle) && nofile < needed {
        bail!(
            "the idle scenario needs {needed} descriptors but RLIMIT_NOFILE allows {nofile}: \
             raise the hard limit (`ulimit -Hn`) or lower --count"
        );
    }
    let machine = procfs::machine();
    let cpus = machine["cpus"].as_u64().unwrap_or(0) as usize;
    let (load_generator, server_cpu) = args.placement().cpus(cpus);
    if let Some(cpu) = load_generator {
        servers::pin_current_thread(cpu)
            .with_context(|| format!("pinning the load generator to CPU {cpu}"))?;
    }
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => env::current_exe()?.parent().context("no directory")?.into(),
    };
    let progress = Progress::new(table::plan(&args, &servers));
    let header = json!({
        "command": args.invoked_as.clone().unwrap_or_else(|| "bench".to_owned()),
        "settings": args.settings()[1..].join(" "),
        "date": output_of("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"]),
        "source": source_revision(),
        "placement": args.placement().describe(cpus),
        "rlimit_nofile": nofile,
        "presets_from": bin_dir.display().to_string(),
        "machine": machine,
    });
    println!("## cargo xtask bench\n");
    let keys = [
        "command",
        "settings",
        "date",
        "source",
        "placement",
        "presets_from",
    ];
    for key in keys {
        println!("- {key}: {}", header[key].as_str().unwrap_or_default());
    }
    let field = |key: &str| {
        header["machine"][key]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (model, kernel, load) = (
        field("cpu_model"),
        field("kernel"),
        field("load_average_at_start"),
    );
    let machine = format!("{cpus} CPUs, {model}, Linux {kernel}; load average at start {load}");
    println!("- machine: {machine}; RLIMIT_NOFILE {nofile}");
    // A slower server takes longer, which no plan can know before it is
    // measured: the time left is corrected from each server's own rounds.
    let expected = human(progress.expected());
    println!("- expected length: about {expected} if every server keeps up with ours\n");
    let n = progress.len();
    eprintln!(
        "bench: {n} measurements, about {expected} in all if every server keeps up with ours"
    );
    flush();

    // Its directory is made now: a run is not lost at its end for want of it.
    let json_dir = args.json.as_ref().and_then(|p| p.parent());
    if let Some(dir) = json_dir.filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut setup = Setup {
        args,
        bin_dir,
        server_cpu,
        progress,
        servers,
    };
    let (mut measured, mut failed) = (Vec::new(), Vec::new());
    for (scenario, conns) in table::tables(&setup.args) {
        match table::measure(&mut setup, scenario, conns) {
            Ok(table) => {
                println!("{}", report::render(&table));
                measured.push(table);
            }
            Err(err) => {
                let name = table::name(scenario, conns);
                println!("### {name}: FAILED\n\n{err:#}\n");
                failed.push(format!("{name}: {err:#}"));
            }
        }
        flush();
    }
    if let Some(path) = &setup.args.json {
        write_results(path, header, &measured)?;
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// The JSON file and the charts beside it.
fn write_results(
    path: &Path,
    mut document: serde_json::Value,
    tables: &[table::Measured],
) -> Result<()> {
    document["tables"] = tables.iter().map(report::to_json).collect();
    let text = serde_json::to_string_pretty(&document)?;
    fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    println!("- results: {}", path.display());
    for chart in charts::write(path, tables)? {
        println!("- chart: {}", chart.display());
    }
    Ok(())
}

fn flush() {
    let _ = std::io::stdout().flush();
}

/// A command's output, trimmed; `unknown` if it cannot run.
fn output_of(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output();
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim_end().into(),
        _ => "unknown".to_owned(),
    }
}

/// The commit measured, and which measured crates differ from it: a
/// figure is only reproducible with the code that produced it.
fn source_revision() -> String {
    let head = output_of("git", &["rev-parse", "--short=12", "HEAD"]);
    let crates = [
        "tcp-server",
        "udp-server",
        "worker-pool",
        "chat",
        "netpoll",
        "edges",
        "bench",
    ];
    let changes = output_of(
        "git",
        &[&["status", "--porcelain", "--"][..], &crates].concat(),
    );
    match changes.as_str() {
        "" | "unknown" => format!("commit {head}"),
        changes => format!(
            "commit {head} plus uncommitted changes to {}",
            changes.replace('\n', ",")
        ),
    }
}

/// The workspace root: bench/ sits directly in it.
pub(crate) fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
}
