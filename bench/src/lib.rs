//! The load generator and the tokio baselines: our servers against tokio,
//! side by side, in one run. `cargo xtask bench` builds this crate in
//! release with the servers, then runs its `bench` binary with the
//! arguments it was given: the load generator must not be a debug build, or
//! it, not the server, would be what is measured. (It is a crate of its own
//! so that tokio and hdrhistogram are compiled only for the bench, never for
//! `cargo xtask demo`.)
//!
//! How a run goes: [`run`] raises `RLIMIT_NOFILE` (inherited by every
//! server it starts), pins itself and the servers as `--placement` says
//! ([`Placement`]: by default itself to CPU 0, the servers to CPU 1), then
//! for each scenario starts our server and the tokio baseline (the
//! `tokio-tcp-echo` and `tokio-udp-echo` binaries of this crate, see
//! [`baseline`]), measures them in alternating rounds ([`tables::side_by_side`]),
//! stops both, and prints a table: metric | ours | tokio | ratio. The tcp
//! ping-pong also runs, in the same rounds, the Go baselines when `go` is
//! installed (`golang.rs`: the tutorial's own server and an `io.Copy` echo, a
//! column and a ratio each), our tcp-server once more per window of
//! `--spin-us 0,50` (a column each, beside the default's), and once per count
//! of `--conns 1,50,500`.
//!
//! Scenarios, one module each: [`pingpong`] (`tcp`), [`bulk`], [`idle`],
//! [`udp`]; the two ping-pongs count, and are reported, alike through
//! [`exchange`]. Servers are separate processes ([`server::ServerProcess`],
//! started through the workspace's `harness`) so their CPU time and memory
//! are read from `/proc` ([`procfs`]; how often each side slept, [`sleeps`]),
//! and are killed and reaped whatever happens.

pub mod baseline;
mod bulk;
mod exchange;
mod golang;
mod idle;
mod payload;
mod pingpong;
mod procfs;
mod report;
mod server;
mod sleeps;
mod tables;
// The scenarios against real servers: they read /proc, so Linux only, as
// the bench itself is (see `run`).
#[cfg(all(test, target_os = "linux"))]
mod tests;
mod udp;

use std::{
    env,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use netpoll::spin::MAX_SPIN_US;

use self::{procfs::Machine, server::ServerCommand};

/// A transfer of the default 1 GiB lasts about a second, short enough for one
/// disturbance on a shared machine to move it by a fifth: the median of a few
/// rounds is steadier, and five keep the default run well under two minutes.
const BULK_ROUNDS: usize = 5;

/// Ping-pong rounds per server, alternating ours and tokio (ours, tokio, tokio,
/// ours, ours, tokio, …): a drift in the machine's background load then falls
/// on both sides alike instead of on whichever ran second, and the median
/// round's rate ignores one disturbed round (on this shared machine one round
/// in a few loses half its rate to something else running).
const PINGPONG_ROUNDS: usize = 4;

/// Why the figures read as they do on a small machine: printed with every run.
const TWO_CORE_NOTE: &str = "On a 2-core machine the load generator saturates one core, so \
    requests/s is capped by the client as much as by the server; the server's CPU time per \
    request is the figure that shows the server's own efficiency.";

/// The same for `--placement same`.
const SHARED_CORE_NOTE: &str = "The load generator and the servers share CPU 0, so every request's \
    client and server work come out of one core: requests/s falls as either side's CPU cost \
    rises, and a server spinning before it sleeps only delays the client (netpoll/src/spin.rs).";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Ping-pong: N connections, one L-byte request in flight on each.
    Tcp,
    /// One connection streams --bytes and reads the echo concurrently.
    Bulk,
    /// --count idle connections: the server's memory per connection.
    Idle,
    /// Ping-pong of L-byte datagrams from one socket.
    Udp,
    /// Every scenario above, in that order.
    All,
}

impl Scenario {
    fn expand(self) -> Vec<Scenario> {
        match self {
            Scenario::All => vec![Scenario::Tcp, Scenario::Bulk, Scenario::Idle, Scenario::Udp],
            one => vec![one],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scenario::Tcp => "tcp",
            Scenario::Bulk => "bulk",
            Scenario::Idle => "idle",
            Scenario::Udp => "udp",
            Scenario::All => "all",
        }
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// Which scenario to run.
    #[arg(value_enum, default_value_t = Scenario::All)]
    pub scenario: Scenario,

    /// tcp: connections, each with one request in flight; a list
    /// (`--conns 1,50,500`) runs the scenario once per count, one table each,
    /// so that how each server's cost grows with connections shows.
    #[arg(long, default_value = "50", value_delimiter = ',', num_args = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub conns: Vec<u32>,

    /// tcp, udp: bytes per request.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_507))]
    pub len: u32,

    /// tcp, udp: seconds measured per server, in four rounds, each after a
    /// warm-up of a twentieth of this (at most 0.25 s) that is not counted.
    #[arg(long, default_value_t = 5.0, value_parser = parse_secs)]
    pub secs: f64,

    /// bulk: bytes to stream through the server (suffixes K, M, G = KiB, MiB, GiB).
    #[arg(long, default_value = "1G", value_parser = parse_bytes)]
    pub bytes: u64,

    /// Where the load generator and the servers run: `separate` pins the
    /// load generator to CPU 0 and the servers to CPU 1 (unpinned on a
    /// machine of one CPU), `same` pins them all to CPU 0, sharing one core,
    /// `unpinned` lets the scheduler choose (see docs/performance.md for why
    /// the default pins).
    #[arg(long, value_enum, default_value_t = Placement::Separate)]
    pub placement: Placement,

    /// Shorthand for `--placement unpinned`.
    #[arg(long, conflicts_with = "placement")]
    pub no_pin: bool,

    /// tcp: also measure tcp-server started with `--spin-us N` for each
    /// window of this list (`--spin-us 0,50`; at most 4, each 0 to 1000000
    /// microseconds), a column each beside the default's, in the same rounds.
    #[arg(long, value_name = "MICROSECONDS,...", value_parser = parse_spin_windows)]
    pub spin_us: Option<SpinWindows>,

    /// idle: idle connections to open.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub count: u32,
}

impl BenchArgs {
    /// The same settings as command-line arguments: the report's settings
    /// line, which reproduces the run.
    fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            self.scenario.name().to_owned(),
            format!(
                "--conns={}",
                self.conns
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            format!("--len={}", self.len),
            format!("--secs={}", self.secs),
            format!("--bytes={}", self.bytes),
            format!("--count={}", self.count),
        ];
        args.push(format!("--placement={}", self.placement().name()));
        if let Some(windows) = &self.spin_us {
            args.push(format!("--spin-us={windows}"));
        }
        args
    }

    /// `--placement`, or `unpinned` for `--no-pin`.
    fn placement(&self) -> Placement {
        if self.no_pin {
            Placement::Unpinned
        } else {
            self.placement
        }
    }

    /// `--spin-us` without the tcp ping-pong would be silently ignored: an
    /// error instead.
    fn check_spin_us_has_a_use(&self) -> Result<()> {
        if self.spin_us.is_some() && !self.scenario.expand().contains(&Scenario::Tcp) {
            bail!(
                "--spin-us is for the tcp ping-pong (tcp-server's spin windows), \
                 which scenario `{}` does not run",
                self.scenario.name()
            );
        }
        Ok(())
    }

    /// The `--spin-us` windows; none without the option.
    fn spin_windows(&self) -> &[u64] {
        self.spin_us.as_ref().map_or(&[], |windows| &windows.0)
    }

    /// Warm-up before each ping-pong round: not counted.
    fn warmup(&self) -> Duration {
        Duration::from_secs_f64((self.secs / 20.0).min(0.25))
    }

    /// Measured time of each ping-pong round; the rounds add up to --secs.
    fn measure(&self) -> Duration {
        Duration::from_secs_f64(self.secs / PINGPONG_ROUNDS as f64)
    }
}

/// Where the load generator and the servers run (`--placement`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Placement {
    /// Load generator on CPU 0, servers on CPU 1: each owns a core.
    Separate,
    /// Load generator and servers all on CPU 0, sharing one core.
    Same,
    /// No pinning: the scheduler places every process.
    Unpinned,
}

/// The CPUs a placement pins to on a given machine; `None`: the scheduler's
/// choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cpus {
    load_generator: Option<usize>,
    servers: Option<usize>,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Separate => "separate",
            Placement::Same => "same",
            Placement::Unpinned => "unpinned",
        }
    }

    /// Where this placement puts the processes on a machine of
    /// `machine_cpus` CPUs. `separate` needs two; with fewer it pins nothing
    /// rather than quietly becoming `same`.
    fn cpus(self, machine_cpus: usize) -> Cpus {
        match self {
            Placement::Separate if machine_cpus >= 2 => Cpus {
                load_generator: Some(0),
                servers: Some(1),
            },
            Placement::Same => Cpus {
                load_generator: Some(0),
                servers: Some(0),
            },
            Placement::Separate | Placement::Unpinned => Cpus {
                load_generator: None,
                servers: None,
            },
        }
    }

    /// The report's `placement:` line, for this placement run on a machine
    /// of `machine_cpus` CPUs.
    fn report_line(self, machine_cpus: usize) -> String {
        match (self, self.cpus(machine_cpus).servers) {
            (Placement::Separate, Some(_)) => {
                "placement: separate: load generator pinned to CPU 0, \
                 servers to CPU 1 (`--placement same` to share one core, `--placement unpinned` \
                 or `--no-pin` to let the scheduler choose)"
                    .to_owned()
            }
            (Placement::Separate, None) => format!(
                "placement: unpinned (the scheduler places load generator and servers): \
                 `separate` needs 2 CPUs, this machine has {machine_cpus}"
            ),
            (Placement::Same, _) => {
                "placement: same: load generator and servers all pinned to CPU 0, sharing one core"
                    .to_owned()
            }
            (Placement::Unpinned, _) => {
                "placement: unpinned (the scheduler places load generator and servers)".to_owned()
            }
        }
    }

    /// How to read the figures under this placement: printed with every run.
    fn note(self) -> &'static str {
        match self {
            Placement::Same => SHARED_CORE_NOTE,
            Placement::Separate | Placement::Unpinned => TWO_CORE_NOTE,
        }
    }
}

/// tcp-server's spin windows, in microseconds, that the tcp ping-pong
/// measures beside its default (`--spin-us 0,50`): distinct, at most
/// [`MAX_SPIN_WINDOWS`], each at most [`MAX_SPIN_US`] as tcp-server accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpinWindows(pub Vec<u64>);

/// Each window is one more server in every round: four keep a default run's
/// length within reason.
const MAX_SPIN_WINDOWS: usize = 4;

impl std::fmt::Display for SpinWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = self.0.iter().map(u64::to_string).collect();
        write!(f, "{}", list.join(","))
    }
}

/// `0,50` → the windows 0 µs and 50 µs.
fn parse_spin_windows(text: &str) -> Result<SpinWindows, String> {
    let form = format!(
        "expected up to {MAX_SPIN_WINDOWS} distinct windows in microseconds, each 0 to \
         {MAX_SPIN_US}, separated by commas, like `0,50`"
    );
    let mut windows = Vec::new();
    for item in text.split(',') {
        let window = item
            .parse::<u64>()
            .ok()
            .filter(|&us| us <= MAX_SPIN_US)
            .ok_or_else(|| format!("{form}: `{item}` is not one"))?;
        if windows.contains(&window) {
            return Err(format!("{form}: {window} is given twice"));
        }
        windows.push(window);
    }
    if windows.len() > MAX_SPIN_WINDOWS {
        return Err(format!("{form}: `{text}` has {}", windows.len()));
    }
    Ok(SpinWindows(windows))
}

fn parse_secs(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 3600.0 => Ok(secs),
        _ => Err(format!(
            "`{text}` is not a number of seconds between 0 and 3600"
        )),
    }
}

/// `1073741824`, `1024K`, `64M`, `1G` → bytes.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.as_bytes().last() {
        Some(b'K' | b'k') => (&text[..text.len() - 1], 10),
        Some(b'M' | b'm') => (&text[..text.len() - 1], 20),
        Some(b'G' | b'g') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a byte count like 1048576, 512K, 64M or 1G"))?;
    match number.checked_mul(1 << shift) {
        Some(0) | None => Err(format!("`{text}`: give 1 byte to 16 EiB")),
        Some(bytes) => Ok(bytes),
    }
}

/// `bench [SCENARIO] [OPTIONS]`: what `cargo xtask bench` runs, after the
/// release build, with the arguments it was given.
#[derive(clap::Parser, Debug)]
#[command(
    name = "bench",
    about = "Benchmark tcp-server and udp-server against tokio baselines, side by side \
             (run by `cargo xtask bench`, which builds everything in release first)",
    version
)]
pub struct RunArgs {
    #[command(flatten)]
    pub bench: BenchArgs,

    /// Directory holding the release tcp-server and udp-server (default:
    /// this binary's own directory, where cargo puts them).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,

    /// The command line the user typed, for the report.
    #[arg(long, hide = true)]
    pub invoked_as: Option<String>,
}

fn workspace_root() -> PathBuf {
    // bench/ sits directly in the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// What every scenario needs: the settings and the two servers' programs.
struct Setup {
    args: BenchArgs,
    bin_dir: PathBuf,
    /// The directory of this release binary, which also holds the tokio
    /// baselines (`tokio-tcp-echo`, `tokio-udp-echo`).
    baselines: PathBuf,
    /// The CPU the servers run on, when pinned.
    server_cpu: Option<usize>,
    /// The Go baselines, built, or why they are skipped.
    go: Result<golang::GoBaselines, String>,
}

impl Setup {
    /// One of our release servers, `program`, on a port the kernel picks.
    fn ours(&self, program: &str) -> ServerCommand {
        ServerCommand::new(
            self.bin_dir.join(program),
            &["--addr", "127.0.0.1:0", "--quiet"],
        )
        .on_cpu(self.server_cpu)
    }

    /// A tokio baseline, `program`, on a port the kernel picks.
    fn tokio(&self, program: &str) -> ServerCommand {
        ServerCommand::new(self.baselines.join(program), &["--addr", "127.0.0.1:0"])
            .on_cpu(self.server_cpu)
    }

    /// A Go baseline, built by [`golang::build`], on a port the kernel picks.
    fn go_server(&self, program: &Path) -> ServerCommand {
        ServerCommand::new(program, &["--addr", "127.0.0.1:0"]).on_cpu(self.server_cpu)
    }
}

/// The bench proper, from the release build.
pub fn run(args: RunArgs) -> Result<()> {
    // CPU time and memory come from /proc, pinning from sched_setaffinity:
    // the figures would mean nothing half-measured, so say so at once.
    if !cfg!(target_os = "linux") {
        bail!(
            "the bench is Linux only: it reads CPU time and memory from /proc \
             and pins processes to CPUs with sched_setaffinity"
        );
    }
    // The servers inherit the raised limit: room for the idle connections.
    netpoll::raise_open_file_limit();
    let nofile = procfs::open_file_limit()?;
    args.bench.check_spin_us_has_a_use()?;
    let scenarios = args.bench.scenario.expand();
    let machine = Machine::describe();
    // Separate, the load generator and the server each own a core, as the
    // two-core reading of the figures assumes. Unpinned, the scheduler
    // sometimes wakes both on the same core (each ~50% busy) and sometimes not
    // (each ~95%): the rate then depends on placement, not on the server.
    // Same, they always share one: what a spin before sleeping costs there.
    let placement = args.bench.placement();
    let cpus = placement.cpus(machine.cpus);
    if let Some(cpu) = cpus.load_generator {
        server::pin_current_thread(cpu)
            .with_context(|| format!("pinning the load generator to CPU {cpu}"))?;
    }
    let exe = env::current_exe().context("locating this executable")?;
    let baselines = exe.parent().context("this executable has no directory")?;
    // Go is built only when a scenario runs it (the tcp ping-pong), once.
    let go = if scenarios.contains(&Scenario::Tcp) {
        golang::build(
            &env::var_os("PATH").unwrap_or_default(),
            &workspace_root(),
            baselines,
        )?
    } else {
        Err(golang::skipped_because("no scenario of this run uses them"))
    };
    let setup = Setup {
        args: args.bench,
        bin_dir: args.bin_dir.unwrap_or_else(|| baselines.to_path_buf()),
        baselines: baselines.to_path_buf(),
        server_cpu: cpus.servers,
        go,
    };
    let settings = setup.args.to_args()[1..].join(" ");
    println!("## cargo xtask bench\n");
    println!(
        "- command: `{}`",
        args.invoked_as.as_deref().unwrap_or("bench")
    );
    println!("- settings: {settings}");
    println!("- date: {}", utc_now());
    println!("- source: {}", source_revision(&workspace_root()));
    println!(
        "- machine: {} CPUs, {}, Linux {}; load average at start {}",
        machine.cpus, machine.cpu_model, machine.kernel, machine.load_average
    );
    println!(
        "- servers on 127.0.0.1, port 0; ours from {}, tokio baselines from {}; RLIMIT_NOFILE {nofile}",
        setup.bin_dir.display(),
        setup.baselines.display()
    );
    match &setup.go {
        Ok(go) => println!(
            "- Go baselines (tcp ping-pong): {}, built into {}",
            go.version,
            setup.baselines.display()
        ),
        Err(skipped) => println!("- {skipped}"),
    }
    println!("- {}", placement.report_line(machine.cpus));
    println!("- note: {}\n", placement.note());
    flush();

    if setup.args.scenario.expand().contains(&Scenario::Idle)
        && nofile < u64::from(setup.args.count) + 64
    {
        bail!(
            "the idle scenario needs {} descriptors but RLIMIT_NOFILE allows {nofile}: \
             raise the hard limit (`ulimit -Hn`) or lower --count",
            u64::from(setup.args.count) + 64
        );
    }

    let mut failed = Vec::new();
    for scenario in setup.args.scenario.expand() {
        // The tcp ping-pong once per connection count of the sweep.
        let tables: Vec<(String, Result<report::Table>)> = match scenario {
            Scenario::Tcp => setup
                .args
                .conns
                .iter()
                .map(|&conns| {
                    (
                        format!("tcp --conns={conns}"),
                        tables::tcp_table(&setup, conns),
                    )
                })
                .collect(),
            Scenario::Bulk => vec![("bulk".to_owned(), tables::bulk_table(&setup))],
            Scenario::Idle => vec![("idle".to_owned(), tables::idle_table(&setup))],
            Scenario::Udp => vec![("udp".to_owned(), tables::udp_table(&setup))],
            Scenario::All => unreachable!("expanded above"),
        };
        for (name, table) in tables {
            match table {
                Ok(table) => println!("{}", table.render()),
                Err(err) => {
                    println!("### {name}: FAILED\n\n{err:#}\n");
                    failed.push(name);
                }
            }
            flush();
        }
    }
    if !failed.is_empty() {
        bail!("scenarios failed: {}", failed.join(", "));
    }
    Ok(())
}

fn flush() {
    let _ = std::io::stdout().flush();
}

/// The commit measured, and which measured crates differ from it: a figure
/// is only reproducible with the code that produced it.
fn source_revision(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            // Only the end: porcelain lines start with a status column that
            // may be a space.
            .map(|out| String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    };
    let Some(head) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown (not a git checkout)".to_owned();
    };
    match git(&[
        "status",
        "--porcelain",
        "--",
        "tcp-server",
        "udp-server",
        "netpoll",
        "bench",
    ]) {
        Some(changes) if changes.is_empty() => format!("commit {head}"),
        Some(changes) => {
            let files: Vec<&str> = changes.lines().map(|l| l.get(3..).unwrap_or(l)).collect();
            format!(
                "commit {head} plus uncommitted changes to {}",
                files.join(", ")
            )
        }
        None => format!("commit {head}"),
    }
}

/// The current UTC time as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), so the
/// report needs no date crate.
fn format_utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs_of_day = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn byte_counts_accept_binary_suffixes() {
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("64m"), Ok(64 << 20));
        assert_eq!(parse_bytes("512K"), Ok(512 << 10));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999G").is_err());
    }

    #[test]
    fn seconds_must_be_positive_and_bounded() {
        assert_eq!(parse_secs("0.25"), Ok(0.25));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("NaN").is_err());
        assert!(parse_secs("99999").is_err());
    }

    /// The bench's options alone, as `bench` parses them.
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        use clap::Parser as _;
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .map(|cli| cli.bench)
    }

    /// The settings line given back to the parser.
    fn reparsed(args: &BenchArgs) -> BenchArgs {
        use clap::Parser as _;
        Cli::parse_from(std::iter::once("bench".to_owned()).chain(args.to_args())).bench
    }

    #[test]
    fn the_printed_settings_reproduce_the_run() {
        // The report's settings line, given back, must run exactly what the
        // user asked for.
        let asked = parse(&[
            "udp", "--len", "100", "--secs", "0.5", "--bytes", "2M", "--no-pin",
        ])
        .unwrap();
        let again = reparsed(&asked);
        assert_eq!(again.scenario, Scenario::Udp);
        assert_eq!(again.len, 100);
        assert_eq!(again.secs, 0.5);
        assert_eq!(again.bytes, 2 << 20);
        assert_eq!(again.conns, [50]);
        assert_eq!(again.placement(), Placement::Unpinned);
        assert_eq!(again.spin_us, None);
    }

    #[test]
    fn placement_defaults_to_separate_and_takes_each_choice() {
        assert_eq!(parse(&[]).unwrap().placement(), Placement::Separate);
        for (given, placement) in [
            ("separate", Placement::Separate),
            ("same", Placement::Same),
            ("unpinned", Placement::Unpinned),
        ] {
            let args = parse(&["tcp", "--placement", given]).unwrap();
            assert_eq!(args.placement(), placement);
            assert!(
                args.to_args().contains(&format!("--placement={given}")),
                "{:?}",
                args.to_args()
            );
            assert_eq!(reparsed(&args).placement(), placement);
        }
        let err = parse(&["--placement", "both"]).expect_err("must fail");
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("separate, same, unpinned"),
            "{err}"
        );
    }

    #[test]
    fn no_pin_is_placement_unpinned_and_conflicts_with_placement() {
        let args = parse(&["--no-pin"]).unwrap();
        assert_eq!(args.placement(), Placement::Unpinned);
        assert!(args.to_args().contains(&"--placement=unpinned".to_owned()));
        let err = parse(&["--no-pin", "--placement", "same"]).expect_err("must fail");
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn each_placement_pins_where_it_says() {
        let cpus = |load_generator, servers| Cpus {
            load_generator,
            servers,
        };
        assert_eq!(Placement::Separate.cpus(2), cpus(Some(0), Some(1)));
        assert_eq!(Placement::Same.cpus(2), cpus(Some(0), Some(0)));
        assert_eq!(Placement::Unpinned.cpus(2), cpus(None, None));
        // Separate needs two CPUs; with one it pins nothing, as before.
        assert_eq!(Placement::Separate.cpus(1), cpus(None, None));
        assert_eq!(Placement::Same.cpus(1), cpus(Some(0), Some(0)));
    }

    #[test]
    fn the_placement_line_names_the_placement_used() {
        assert!(
            Placement::Separate.report_line(2).starts_with(
                "placement: separate: load generator pinned to CPU 0, servers to CPU 1"
            )
        );
        assert_eq!(
            Placement::Same.report_line(2),
            "placement: same: load generator and servers all pinned to CPU 0, sharing one core"
        );
        assert_eq!(
            Placement::Unpinned.report_line(2),
            "placement: unpinned (the scheduler places load generator and servers)"
        );
        assert!(
            Placement::Separate
                .report_line(1)
                .contains("`separate` needs 2 CPUs, this machine has 1")
        );
        assert_eq!(Placement::Same.note(), SHARED_CORE_NOTE);
        assert_eq!(Placement::Separate.note(), TWO_CORE_NOTE);
    }

    #[test]
    fn spin_us_takes_a_list_of_windows_and_reproduces_it() {
        let args = parse(&["tcp", "--spin-us", "0,50"]).unwrap();
        assert_eq!(args.spin_windows(), [0, 50]);
        assert!(args.to_args().contains(&"--spin-us=0,50".to_owned()));
        assert_eq!(reparsed(&args).spin_windows(), [0, 50]);
        assert_eq!(
            parse(&["--spin-us=1000000,0,7,3"]).unwrap().spin_windows(),
            [1_000_000, 0, 7, 3]
        );
        // Without the option: no window, and nothing in the settings line.
        let plain = parse(&["tcp"]).unwrap();
        assert_eq!(plain.spin_windows(), [] as [u64; 0]);
        assert!(!plain.to_args().iter().any(|a| a.starts_with("--spin-us")));
    }

    #[test]
    fn spin_us_is_refused_where_no_tcp_pingpong_runs() {
        for scenario in ["tcp", "all"] {
            let args = parse(&[scenario, "--spin-us", "0"]).unwrap();
            assert!(args.check_spin_us_has_a_use().is_ok(), "{scenario}");
        }
        let err = parse(&["udp", "--spin-us", "0"])
            .unwrap()
            .check_spin_us_has_a_use()
            .unwrap_err();
        assert!(
            format!("{err}").contains("scenario `udp` does not run"),
            "{err}"
        );
        assert!(parse(&["udp"]).unwrap().check_spin_us_has_a_use().is_ok());
    }

    #[test]
    fn spin_us_rejects_bad_lists_naming_the_expected_form() {
        for bad in [
            "1000001",   // more than tcp-server accepts
            "-1",        // negative
            "0,,50",     // an empty window
            "fast",      // not a number
            "",          // nothing
            "0,50,0",    // a duplicate
            "0,1,2,3,4", // more than four
        ] {
            let err = parse(&["tcp", &format!("--spin-us={bad}")])
                .err()
                .unwrap_or_else(|| panic!("`{bad}` must be rejected"));
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(
                err.to_string()
                    .contains("up to 4 distinct windows in microseconds, each 0 to 1000000"),
                "{bad}: {err}"
            );
        }
        assert!(
            parse_spin_windows("0,50,0")
                .unwrap_err()
                .ends_with("0 is given twice")
        );
    }

    #[test]
    fn each_round_warms_up_for_a_twentieth_of_the_run_up_to_a_quarter_second() {
        let args = |secs| BenchArgs {
            scenario: Scenario::All,
            conns: vec![1],
            len: 1,
            secs,
            bytes: 1,
            count: 1,
            placement: Placement::Separate,
            no_pin: false,
            spin_us: None,
        };
        assert_eq!(args(5.0).warmup(), Duration::from_millis(250));
        assert_eq!(args(30.0).warmup(), Duration::from_millis(250));
        assert_eq!(args(0.5).warmup(), Duration::from_millis(25));
        assert_eq!(
            args(5.0).measure() * PINGPONG_ROUNDS as u32,
            Duration::from_secs(5)
        );
    }

    #[test]
    fn conns_takes_a_comma_separated_sweep_and_reproduces_it() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let asked = Cli::parse_from(["x", "tcp", "--conns", "1,50,500"]);
        assert_eq!(asked.bench.conns, [1, 50, 500]);
        assert!(
            asked
                .bench
                .to_args()
                .contains(&"--conns=1,50,500".to_owned())
        );
        let again = Cli::parse_from(std::iter::once("x".to_owned()).chain(asked.bench.to_args()));
        assert_eq!(again.bench.conns, [1, 50, 500]);
        assert_eq!(Cli::parse_from(["x", "--conns=7"]).bench.conns, [7]);
        // Each count is checked as a single one is.
        assert!(Cli::try_parse_from(["x", "--conns", "1,0"]).is_err());
        assert!(Cli::try_parse_from(["x", "--conns", "1,,5"]).is_err());
        assert!(Cli::try_parse_from(["x", "--conns", "1,many"]).is_err());
    }

    #[test]
    fn all_runs_every_scenario_once() {
        assert_eq!(
            Scenario::All.expand(),
            [Scenario::Tcp, Scenario::Bulk, Scenario::Idle, Scenario::Udp]
        );
    }

    #[test]
    fn dates_are_printed_in_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_795_000_000), "2026-11-18 11:06:40 UTC");
    }
}
