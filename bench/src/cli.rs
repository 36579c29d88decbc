//! The bench's command line: which scenarios, which servers, the load, and
//! where the results go. `Args::settings` gives the settings back as
//! arguments, so the report's settings line reproduces the run.
//!
//! It depends on clap alone: xtask compiles this file too, so that `cargo
//! xtask bench --help` prints at once, before any release build. What needs
//! the rest of the bench (a server's form, the spin limit) is checked by
//! `Args::check` in the library.

use std::{path::PathBuf, time::Duration};

use clap::ValueEnum;

/// Ping-pong rounds per server, alternating the order (ours, tokio, tokio,
/// ours, …): a drift in the machine's background load then falls on every
/// server alike, and the median round ignores one disturbed round.
pub const PINGPONG_ROUNDS: usize = 4;

const AFTER_HELP: &str = "\
A full run with the defaults (`all`) takes about 3 minutes on two cores: four 5 s \
rounds per server for tcp, udp, pool and chat, five 1 GiB bulk transfers and 10 000 \
idle connections per server; it says its length when it starts, and after each \
measurement how long is left. It prints Markdown tables: each figure per server, and \
the first server's figure divided by each other's (docs/performance.md says how to \
read them); --json writes every round's figures, and SVG charts beside them.

The Go baselines (the tutorial's tcp/server and an io.Copy echo) run in the tcp \
ping-pong, and the Go twins (go/beyond-the-tutorial/) in pool and chat, when `go` is \
installed, which `cargo xtask bench` then builds them with; without Go they are \
skipped, with a note.";

/// Measures servers side by side on this machine: our tcp-server,
/// udp-server, worker-pool and chat against tokio and Go, or any server of
/// those protocols you point it at (--server).
#[derive(clap::Parser, Debug)]
#[command(
    name = "bench",
    bin_name = "cargo xtask bench",
    after_help = AFTER_HELP,
    override_usage = "cargo xtask bench [tcp|bulk|idle|udp|pool|chat|all] [--server SERVER]... [OPTIONS]"
)]
pub struct Args {
    /// Which scenario to run.
    #[arg(value_enum, default_value_t = Scenario::All)]
    pub scenario: Scenario,

    /// A server to measure, repeatable; the first is the one every ratio is
    /// about. A preset (ours, tokio, go, go-tutorial, go-io-copy), optionally
    /// with arguments (`ours --spin-us 0`); a command (`'./my-echo --listen
    /// {addr}'`: {addr} becomes 127.0.0.1:0, run by `sh -c`), named in the
    /// tables as NAME if given as `NAME=COMMAND`; or the address of a
    /// server already running (`127.0.0.1:20000`). The process measured is
    /// the one holding the listening socket. Default: ours, tokio, and the
    /// Go presets of the scenario (go-tutorial and go-io-copy in the tcp
    /// ping-pong, go in pool and chat).
    #[arg(long = "server", value_name = "SERVER")]
    pub servers: Vec<String>,

    /// tcp: connections, each with one request in flight; a list
    /// (`--conns 1,50,500`) runs the scenario once per count, one table
    /// each, so that how each server's cost grows with connections shows.
    #[arg(long, default_value = "50", value_delimiter = ',', num_args = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub conns: Vec<u32>,

    /// tcp, udp: bytes per request.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_507))]
    pub len: u32,

    /// tcp, udp, pool, chat: seconds measured per server, in four rounds,
    /// each after a warm-up of a twentieth of this (at most 0.25 s) that is
    /// not counted.
    #[arg(long, default_value_t = 5.0, value_parser = |t: &str| number(t, 3600.0, "seconds"))]
    pub secs: f64,

    /// bulk: bytes to stream through the server (suffixes K, M, G = KiB, MiB, GiB).
    #[arg(long, default_value = "1G", value_parser = parse_bytes)]
    pub bytes: u64,

    /// idle: idle connections to open.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub count: u32,

    /// pool: the servers' worker threads, given to each preset as
    /// `--workers N`; the ideal throughput of 2 ms jobs is N ÷ 2 ms.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub workers: u32,

    /// chat: lines each of the 100 clients sends a second.
    #[arg(long, default_value_t = 20.0, value_parser = |t: &str| number(t, 10_000.0, "lines a second"))]
    pub rate: f64,

    /// Where the load generator and the servers run: `separate` pins the
    /// load generator to CPU 0 and the servers to CPU 1 (unpinned on a
    /// machine of one CPU), `same` pins them all to CPU 0, sharing one
    /// core, `unpinned` lets the scheduler choose.
    #[arg(long, value_enum, default_value_t = Placement::Separate)]
    pub placement: Placement,

    /// Shorthand for `--placement unpinned`.
    #[arg(long, conflicts_with = "placement")]
    pub no_pin: bool,

    /// tcp: also measure `ours --spin-us N` for each window of this list
    /// (`--spin-us 0,50`; at most 4, each 0 to 1000000 microseconds), a
    /// column each, in the same rounds.
    #[arg(
        long,
        value_name = "MICROSECONDS,...",
        value_delimiter = ',',
        num_args = 1
    )]
    pub spin_us: Vec<u64>,

    /// Also write every round's figures, the settings, the machine and the
    /// commit to FILE as JSON, and SVG charts beside it (FILE-latency.svg,
    /// …).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Directory of the presets' programs (tcp-server, tokio-tcp-echo,
    /// go-echo, …). Default: this program's own directory.
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,

    /// How the run was invoked, for the report.
    #[arg(long, hide = true)]
    pub invoked_as: Option<String>,
}

/// What a run measures.
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
    /// A worker pool: 50 clients asking for 2 ms of blocking work each, and
    /// one asking for none, whose latency is what the pool protects.
    Pool,
    /// A chat: 100 clients each sending --rate lines a second, every client
    /// reading everything.
    Chat,
    /// Every scenario above, in that order.
    All,
}

impl Scenario {
    /// The scenarios this one stands for.
    pub fn expand(self) -> Vec<Scenario> {
        match self {
            Scenario::All => {
                use Scenario::*;
                vec![Tcp, Bulk, Idle, Udp, Pool, Chat]
            }
            one => vec![one],
        }
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

impl Placement {
    /// The CPUs `(load generator, servers)` are pinned to on a machine of
    /// `cpus` CPUs; `None`, the scheduler's choice. `separate` needs two;
    /// with fewer it pins nothing rather than quietly becoming `same`.
    pub fn cpus(self, cpus: usize) -> (Option<usize>, Option<usize>) {
        match self {
            Placement::Separate if cpus >= 2 => (Some(0), Some(1)),
            Placement::Same => (Some(0), Some(0)),
            Placement::Separate | Placement::Unpinned => (None, None),
        }
    }

    /// The report's placement line, and how to read the figures under it.
    pub fn describe(self, cpus: usize) -> String {
        match (self, self.cpus(cpus).1) {
            (Placement::Separate, Some(_)) => "separate: load generator pinned to CPU 0, \
                servers to CPU 1. On a 2-core machine the load generator saturates one core, so \
                requests/s is capped by the client as much as by the server; the server's CPU \
                time per request is the figure that shows the server's own efficiency"
                .to_owned(),
            (Placement::Same, _) => "same: load generator and servers all pinned to CPU 0, \
                sharing one core: requests/s falls as either side's CPU cost rises, and a \
                server spinning before it sleeps only delays the client"
                .to_owned(),
            (Placement::Separate, None) => {
                format!("unpinned: `separate` needs 2 CPUs, this machine has {cpus}")
            }
            (Placement::Unpinned, _) => "unpinned: the scheduler places every process".to_owned(),
        }
    }
}

/// A value's name on the command line (`tcp`, `separate`).
pub fn name(value: impl ValueEnum) -> String {
    let possible = value.to_possible_value().expect("no value is skipped");
    possible.get_name().to_owned()
}

impl Args {
    /// The settings as command-line arguments: the report's settings line.
    pub fn settings(&self) -> Vec<String> {
        let list = |items: &[String]| items.join(",");
        let conns: Vec<String> = self.conns.iter().map(u32::to_string).collect();
        let spins: Vec<String> = self.spin_us.iter().map(u64::to_string).collect();
        let mut args = vec![
            name(self.scenario),
            format!("--conns={}", list(&conns)),
            format!("--len={}", self.len),
            format!("--secs={}", self.secs),
            format!("--bytes={}", self.bytes),
            format!("--count={}", self.count),
            format!("--workers={}", self.workers),
            format!("--rate={}", self.rate),
            format!("--placement={}", name(self.placement())),
        ];
        args.extend((!spins.is_empty()).then(|| format!("--spin-us={}", list(&spins))));
        args.extend(self.servers.iter().map(|s| format!("--server='{s}'")));
        args
    }

    /// `--placement`, or `unpinned` for `--no-pin`.
    pub fn placement(&self) -> Placement {
        if self.no_pin {
            Placement::Unpinned
        } else {
            self.placement
        }
    }

    /// Warm-up before each ping-pong round: not counted.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64((self.secs / 20.0).min(0.25))
    }

    /// Measured time of each ping-pong round; the rounds add up to --secs.
    pub fn measure(&self) -> Duration {
        Duration::from_secs_f64(self.secs / PINGPONG_ROUNDS as f64)
    }
}

/// A number above 0 and at most `max` (of `what`), or the misuse in words.
fn number(text: &str, max: f64, what: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n > 0.0 && n <= max => Ok(n),
        _ => Err(format!(
            "`{text}` is not a number of {what} between 0 and {max}"
        )),
    }
}

/// `1073741824`, `1024K`, `64M`, `1G` → bytes.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let form = || format!("`{text}` is not a byte count like 1048576, 512K, 64M or 1G");
    let (digits, shift) = match text.char_indices().last() {
        Some((at, 'K' | 'k')) => (&text[..at], 10),
        Some((at, 'M' | 'm')) => (&text[..at], 20),
        Some((at, 'G' | 'g')) => (&text[..at], 30),
        _ => (text, 0),
    };
    let number: u64 = digits.parse().map_err(|_| form())?;
    number
        .checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(form)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
    }

    #[test]
    fn the_printed_settings_reproduce_the_run() {
        let asked = parse(&[
            "tcp",
            "--conns",
            "1,50,500",
            "--len",
            "100",
            "--secs",
            "0.5",
            "--bytes",
            "2M",
            "--no-pin",
            "--workers",
            "8",
            "--rate",
            "2.5",
            "--spin-us",
            "0,50",
            "--server",
            "ours",
            "--server",
            "127.0.0.1:9",
        ])
        .unwrap();
        let settings = asked.settings().into_iter().map(|a| a.replace('\'', ""));
        let again = Args::parse_from(std::iter::once("bench".to_owned()).chain(settings));
        assert_eq!(
            (again.scenario, again.placement()),
            (Scenario::Tcp, Placement::Unpinned)
        );
        assert_eq!(
            (&again.conns[..], &again.spin_us[..]),
            (&[1, 50, 500][..], &[0, 50][..])
        );
        assert_eq!((again.len, again.secs, again.bytes), (100, 0.5, 2 << 20));
        assert_eq!((again.workers, again.rate), (8, 2.5));
        assert_eq!(again.servers, asked.servers);
        assert_eq!(again.warmup(), Duration::from_millis(25));
        assert_eq!(parse(&[]).unwrap().warmup(), Duration::from_millis(250));
        assert_eq!(parse(&[]).unwrap().measure(), Duration::from_millis(1250));
    }

    #[test]
    fn misuse_is_refused_with_the_expected_form_and_exit_2() {
        for (args, form) in [
            (&["--placement", "both"][..], "separate, same, unpinned"),
            (&["--no-pin", "--placement", "same"], "cannot be used with"),
            (&["--conns", "1,0"], "1..=10000"),
            (&["--secs", "0"], "between 0 and 3600"),
            (&["--bytes", "lots"], "like 1048576, 512K, 64M or 1G"),
            (&["--bytes", "99999999999G"], "like 1048576"),
            (&["--spin-us", "x"], "invalid digit"),
            (&["--rate", "0"], "lines a second between 0 and 10000"),
            (&["--workers", "0"], "1..=1000"),
        ] {
            let err = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains(form), "{args:?}: {err}");
        }
    }

    #[test]
    fn each_placement_pins_where_it_says() {
        assert_eq!(Placement::Separate.cpus(2), (Some(0), Some(1)));
        assert_eq!(Placement::Same.cpus(2), (Some(0), Some(0)));
        assert_eq!(Placement::Unpinned.cpus(2), (None, None));
        assert_eq!(Placement::Separate.cpus(1), (None, None));
        assert!(
            Placement::Separate
                .describe(1)
                .contains("needs 2 CPUs, this machine has 1")
        );
        assert_eq!(name(Scenario::Bulk), "bulk");
    }
}
