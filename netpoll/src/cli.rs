//! What every program of the workspace does the same way at its edges: read
//! an address from the command line, and announce where it listens.
//!
//! Both are contracts: users type host names as they would for Go's
//! `net.Listen` and `net.Dial`, and scripts, tests and `cargo xtask` wait for
//! the `listening on <addr>` line to learn the port a server got.

use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};

/// Reads `--addr` as Go's `net.Listen` and `net.Dial` do: an IP literal or
/// `host:port`, resolved to its first address. Made for clap's
/// `value_parser`, so a bad address is one line naming the expected form
/// and exit status 2.
///
/// ```
/// let addr = netpoll::cli::resolve("localhost:0").unwrap();
/// assert!(addr.ip().is_loopback());
/// assert!(netpoll::cli::resolve("no-port").unwrap_err().contains("HOST:PORT"));
/// ```
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("expected HOST:PORT, e.g. 127.0.0.1:20000 ({addr:?}: {e})"))?
        .next()
        .ok_or_else(|| format!("{addr:?} resolves to no address"))
}

/// Prints `listening on <addr>` and flushes it: the first line of every
/// server, and the one thing a script may rely on reading before any
/// connection is served (stdout may be a pipe, which is block-buffered).
pub fn announce_listening(addr: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()
}
