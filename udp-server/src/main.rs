//! `udp-server`: the Go tutorial's `UDP/server/main.go`, read side by side.
//!
//! ```text
//! Go                                         Rust
//! listen, err := net.ListenUDP("udp", …)     udp::Server::new(Echo::new(quiet))….start(addr)
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

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use edges::cli::{Program, ServerFlags, SpinFlag, announce_listening};
use edges::console::{self, Console};
use edges::words::plural;
use netpoll::udp;

use echo::Echo;

/// UDP echo server: every datagram goes back to its sender unchanged.
///
/// Prints `listening on <address>` first, then, for each datagram, the Go
/// server's line `data:<text> addr:<sender> count:<bytes>` (text escaped).
/// Ctrl-C (or SIGTERM) prints a one-line summary and exits 0.
///
/// It listens on loopback unless told otherwise, where the Go server takes
/// every interface (0.0.0.0): open to every network, a UDP echo server is
/// a reflector for anyone who forges a victim's address as the sender
/// (why, in full: docs/pitfalls.md, 10). To serve other machines on
/// purpose: --addr 0.0.0.0:30000.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    server: ServerFlags<UdpServer>,

    #[command(flatten)]
    spin: SpinFlag,
}

/// The Go server's port, on loopback.
#[derive(Debug)]
struct UdpServer;

impl Program for UdpServer {
    const ADDR: &'static str = udp::DEFAULT_ADDR;
}

fn main() -> ExitCode {
    edges::program::main(run)
}

fn run(args: Args) -> anyhow::Result<()> {
    let flags = &args.server;
    // listen, err := net.ListenUDP("udp", &net.UDPAddr{…})
    let server = udp::Server::new(Echo::new(flags.quiet))
        .spin(args.spin.window())
        .handle_signals(true)
        .trace(flags.trace)
        .start(flags.addr)
        .with_context(|| format!("cannot listen on {}", flags.addr))?;

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
            "summary: served {} ({} dropped), read {}, echoed {}",
            plural(stats.datagrams, "datagram"),
            stats.dropped,
            plural(stats.bytes_read, "byte"),
            plural(stats.bytes_written, "byte")
        ),
        console::stdout_is_terminal(),
    );
    Ok(())
}
