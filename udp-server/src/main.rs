//! `udp-server`: the Go tutorial's `UDP/server/main.go`, read side by side.
//!
//! ```text
//! Go                                         Rust
//! listen, err := net.ListenUDP("udp", …)     Server::bind(args.addr, options)
//! if err != nil { …; return }                error on stderr, exit status 1
//! defer listen.Close()                       the socket is closed when `Server` drops
//! for { ReadFromUDP; Printf; WriteToUDP }    server.run(): see the udp_server library
//! ```
//!
//! The loop itself lives in the library (`src/lib.rs`), so that tests can run
//! the same server inside their own process.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use udp_server::{DEFAULT_ADDR, DEFAULT_SPIN_US, Options, Server};

/// UDP echo server: every datagram goes back to its sender unchanged.
///
/// Prints `listening on <address>` first, then, for each datagram, the Go
/// server's line `data:<text> addr:<sender> count:<bytes>` (text escaped).
/// SIGINT/SIGTERM print a one-line summary and exit 0. Diagnostics go to
/// stderr; set RUST_LOG=debug for more.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    ///
    /// Loopback by default, unlike the Go server's 0.0.0.0: a UDP echo server
    /// on a public interface is an open reflector: anyone can forge a
    /// victim's address as the source and have us send the victim traffic
    /// (reflection), or make two echo servers bounce datagrams at each other
    /// for ever (amplification). To serve other machines on purpose, bind
    /// all interfaces: --addr 0.0.0.0:30000
    #[arg(long, default_value = DEFAULT_ADDR, value_name = "HOST:PORT")]
    addr: SocketAddr,

    /// Don't print a line per datagram (the summary is still printed).
    #[arg(long)]
    quiet: bool,

    /// After answering, keep polling this long before sleeping; 0 = sleep at once.
    ///
    /// A client that sends its next datagram as soon as the echo arrives
    /// would otherwise find the server asleep every time, and waking a
    /// sleeping thread costs more than a few microseconds of polling: the
    /// spin can triple the ping-pong rate. Each datagram restarts the
    /// window; an idle server still sleeps (the spin only follows traffic),
    /// and the spin yields the CPU between tries, so another thread on the
    /// same core is not held up. Shutdown signals are seen during the spin as
    /// when sleeping. If client and server share one core the spin cannot
    /// help: use 0 there. (Go's scheduler makes the same trade: an idle worker
    /// thread polls the network and looks for work to steal before it
    /// parks.) At most 1000000 (one second).
    #[arg(
        long,
        value_name = "MICROSECONDS",
        default_value_t = DEFAULT_SPIN_US,
        value_parser = clap::value_parser!(u64).range(0..=1_000_000)
    )]
    spin_us: u64,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();

    // listen, err := net.ListenUDP("udp", &net.UDPAddr{…})
    let options = Options {
        quiet: args.quiet,
        spin: Duration::from_micros(args.spin_us),
        ..Options::default()
    };
    let mut server = match Server::bind(args.addr, options) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("udp-server: cannot listen on {}: {err}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = server.stop_on_signals() {
        eprintln!("udp-server: cannot install the SIGINT/SIGTERM handler: {err}");
        return ExitCode::FAILURE;
    }

    // The first line is a contract: scripts and tests wait for it to learn
    // the real port. Flush, because stdout may be a pipe.
    let mut stdout = io::stdout();
    // A failed print of this line means nobody can learn where we listen.
    if writeln!(stdout, "listening on {}", server.local_addr())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }

    // for { ReadFromUDP; Printf; WriteToUDP }
    match server.run() {
        Ok(summary) => {
            // A closed stdout at exit is not worth a different status: the
            // server did its work.
            let _ = writeln!(stdout, "{summary}").and_then(|()| stdout.flush());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("udp-server: event loop failed: {err}");
            ExitCode::FAILURE
        }
    }
}
