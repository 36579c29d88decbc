//! What every program of the workspace does the same way on its command
//! line: read an address, a duration or a count, share the flags several
//! programs take, and announce where a server listens.
//!
//! These are contracts: users type addresses as they would for Go's
//! `net.Listen` and `net.Dial` ([`addr`]), a mistyped flag is one line
//! naming the expected form and exit status 2 in every program (each
//! parser here is made for clap's `value_parser`, which exits 2), and
//! scripts, tests and `cargo xtask` wait for the `listening on <addr>` line
//! to learn the port a server got.

pub mod addr;
pub mod flags;
pub mod numbers;

use std::io::{self, Write};
use std::net::SocketAddr;

pub use addr::{ServerAddr, listen_addr, server_addr};
pub use flags::{ClientFlags, ConnLimits, Program, ServerFlags, SpinFlag};
pub use numbers::{deadline_after, seconds, seconds_or_zero, whole};

/// Prints `listening on <addr>` and flushes it: the first line of every
/// server, and the one thing a script may rely on reading before any
/// connection is served (stdout may be a pipe, which is block-buffered).
pub fn announce_listening(addr: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()
}
