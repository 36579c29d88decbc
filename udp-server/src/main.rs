//! `udp-server`: the Go tutorial's `UDP/server/main.go`, read side by side.
//!
//! ```text
//! Go                                         Rust
//! listen, err := net.ListenUDP("udp", …)     udp::Server::new(Echo::new(quiet))….start(args.addr)
//! if err != nil { fmt.Println(…); return }   one line on stderr (`udp-server: …`), exit status 1
//! defer listen.Close()                       the socket is closed when the loop ends
//! for { ReadFromUDP; Printf; WriteToUDP }    netpoll's UDP loop, calling `Echo` (src/echo.rs) per datagram
//! (runs until killed)                        server.join(): until SIGINT/SIGTERM, then a summary line
//! ```
//!
//! The loop lives in the `netpoll` library (`netpoll/src/udp/`), where its
//! module doc lists what differs from the Go server and why; this program
//! only says what to do with each datagram and what to print.

mod echo;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use edges::cli::{announce_listening, resolve};
use edges::console::{self, Console};
use netpoll::spin::{DEFAULT_SPIN_US, MAX_SPIN_US};
use netpoll::udp::{self, DEFAULT_ADDR};

use echo::Echo;

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
    /// Loopback by default, unlike the Go server's 0.0.0.0, which would make
    /// this an open reflector for anyone who forges a victim's address (the
    /// argument in full: netpoll::udp::DEFAULT_ADDR). To serve other
    /// machines on purpose, bind all interfaces: --addr 0.0.0.0:30000
    #[arg(long, default_value = DEFAULT_ADDR, value_name = "HOST:PORT", value_parser = resolve)]
    addr: SocketAddr,

    /// Don't print a line per datagram (the summary is still printed).
    #[arg(long)]
    quiet: bool,

    /// After traffic, keep polling this long before sleeping; 0 = sleep at once.
    ///
    /// Polling a little is cheaper than sleeping when the next datagram
    /// follows at once, because waking a sleeping thread takes longer than
    /// a ping-pong client takes to answer; an idle server still sleeps. Use
    /// 0 where client and server share one core: there the spin cannot
    /// help. Why and how: netpoll/src/spin.rs; measurements:
    /// docs/performance.md. At most 1000000 (one second).
    #[arg(
        long,
        value_name = "MICROSECONDS",
        default_value_t = DEFAULT_SPIN_US,
        value_parser = clap::value_parser!(u64).range(0..=MAX_SPIN_US)
    )]
    spin_us: u64,

    /// Watch the event loop work: one line on stderr per wake-up (or spin),
    /// receive batch, datagram and send, with the microseconds since start.
    #[arg(long)]
    trace: bool,
}

fn main() -> ExitCode {
    // Every log record and trace line goes through one bounded stderr
    // queue, so a stderr nobody reads never stops a loop; `_stderr` writes
    // out what is left in it as `main` returns.
    let _stderr = edges::console::logger::init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, like Go's `fmt.Println("listen failed, err:", err)`.
            Console::stderr().line(format_args!("udp-server: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    // listen, err := net.ListenUDP("udp", &net.UDPAddr{…})
    let server = udp::Server::new(Echo::new(args.quiet))
        .spin(Duration::from_micros(args.spin_us))
        .handle_signals(true)
        .trace(args.trace)
        .start(args.addr)
        .with_context(|| format!("cannot listen on {}", args.addr))?;

    // The contract with tests and scripts: the first line says where we are.
    announce_listening(server.local_addr()).context("cannot print the listening line")?;

    // for { ReadFromUDP; Printf; WriteToUDP }, until SIGINT/SIGTERM.
    let stats = server.join().context("event loop failed")?;
    netpoll::trace::finish();

    // After every line still queued for stdout; on a terminal, below the
    // `^C` it echoed. A closed or stuck stdout at exit is not worth a
    // failure status: the server did its work.
    Console::stdout().finish(
        format_args!(
            "summary: datagrams={} bytes={} dropped={}",
            stats.datagrams, stats.bytes_read, stats.dropped
        ),
        console::stdout_is_terminal(),
    );
    Ok(())
}
