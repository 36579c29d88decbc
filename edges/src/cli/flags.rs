//! The flags several programs share, declared once: each program's `Args`
//! flattens the groups it takes (`#[command(flatten)]`) and adds its own,
//! so that a flag reads, parses and explains itself the same everywhere.
//!
//! | group          | flags                          | taken by                                   |
//! |----------------|--------------------------------|--------------------------------------------|
//! | [`ServerFlags`] | `--addr`, `--quiet`, `--trace` | every server                               |
//! | [`SpinFlag`]   | `--spin-us`                    | `tcp-server`, `udp-server`                 |
//! | [`ConnLimits`] | `--max-conns`, `--idle-timeout` | `tcp-server`, `stick-demo server2`        |
//! | [`ClientFlags`] | `--addr`, `--timeout`         | every client                               |
//!
//! What differs between programs (the address, a client's patience) comes
//! from a [`Program`], a type of the program's own.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Duration;

use netpoll::spin::{DEFAULT_SPIN_US, MAX_SPIN_US};

use super::{ServerAddr, listen_addr, seconds, server_addr, whole};

/// What a program gives the flags it shares with the others.
///
/// ```
/// struct UdpServer;
/// impl edges::cli::Program for UdpServer {
///     const ADDR: &'static str = "127.0.0.1:30000";
/// }
/// ```
pub trait Program {
    /// Where it listens or connects unless told: the Go program's address
    /// (the examples in `--addr`'s messages use its port).
    const ADDR: &'static str;
    /// A client's patience, in seconds (`--timeout`).
    const TIMEOUT: &'static str = "3";
}

/// `--addr`, `--quiet` and `--trace`: what every server takes.
#[derive(clap::Args, Debug)]
pub struct ServerFlags<P: Program> {
    /// Address to listen on, HOST:PORT. Port 0 picks a free port, which the
    /// first line names; ":PORT" listens on every IPv4 address.
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value = P::ADDR,
        value_parser = |text: &str| listen_addr(text, P::ADDR)
    )]
    pub addr: SocketAddr,

    /// Print only the summaries, not the line for each read, message,
    /// datagram or job.
    #[arg(long)]
    pub quiet: bool,

    /// Watch the event loop work: a line on stderr for each wake-up and
    /// each accept, read, write and close (for UDP, each datagram and
    /// send), with the microseconds since start.
    #[arg(long)]
    pub trace: bool,

    #[arg(skip)]
    program: PhantomData<fn() -> P>,
}

/// `--spin-us`: how long a loop polls after traffic before it sleeps.
#[derive(clap::Args, Debug, Clone)]
pub struct SpinFlag {
    /// After traffic, keep polling this long before sleeping; 0 = sleep at
    /// once.
    ///
    /// Polling a little is cheaper than sleeping when the next request
    /// follows at once, because waking a sleeping thread takes longer than
    /// a ping-pong client takes to answer; an idle server still sleeps. A
    /// TCP loop spins only while it serves one or two connections. The
    /// cost: a core kept busy for up to this long after the last request,
    /// and, where client and server share one core (where the spin cannot
    /// help), a few percent more CPU per request: use 0 there. Why and how:
    /// netpoll/src/spin.rs; measurements: docs/performance.md.
    #[arg(
        long = "spin-us",
        value_name = "MICROSECONDS",
        allow_negative_numbers = true,
        default_value_t = DEFAULT_SPIN_US,
        value_parser = whole("microseconds", "50", 0..=MAX_SPIN_US)
    )]
    spin_us: u64,
}

impl SpinFlag {
    /// The window, for the server's builder (`.spin(…)`).
    pub fn window(&self) -> Duration {
        Duration::from_micros(self.spin_us)
    }
}

/// `--max-conns` and `--idle-timeout`: what bounds a TCP server's
/// connections.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnLimits {
    /// Most connections served at once; further ones are accepted and
    /// closed.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        default_value_t = 10_000,
        value_parser = whole("connections", "100", 0..=usize::MAX)
    )]
    pub max_conns: usize,

    /// Close a connection that sends nothing for this many seconds
    /// (fractions allowed, e.g. 0.5); without it, none is closed for its
    /// silence.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, value_parser = seconds)]
    pub idle_timeout: Option<Duration>,
}

/// `--addr` and `--timeout`: what every client takes.
#[derive(clap::Args, Debug)]
pub struct ClientFlags<P: Program> {
    /// Address of the server, HOST:PORT. A host name is resolved, and a TCP
    /// client tries each of its addresses in turn, as Go's net.Dial does;
    /// ":PORT" is this machine.
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value = P::ADDR,
        value_parser = |text: &str| server_addr(text, P::ADDR)
    )]
    pub addr: ServerAddr,

    /// Seconds to wait for the server before giving up, fractions allowed
    /// (e.g. 0.5); what the program then does is the first lines of its
    /// --help.
    #[arg(
        long,
        value_name = "SECONDS",
        allow_negative_numbers = true,
        default_value = P::TIMEOUT,
        value_parser = seconds
    )]
    pub timeout: Duration,

    #[arg(skip)]
    program: PhantomData<fn() -> P>,
}
