//! What every program of this workspace does alike at its edges: the
//! command line and the terminal.
//!
//! The loops a server runs on are `netpoll`'s; what a program says to its
//! user is here, the same in every program, so that a user learns it once:
//!
//! - [`program`]: what every `main` does around its own work (the command
//!   line, the logger, one line on stderr for an error);
//! - [`cli`]: `--addr` read as Go's `net.Listen` and `net.Dial` read it
//!   (host names too), durations in seconds, dialling each address a name
//!   resolves to, the flags several programs share, and the
//!   `listening on <addr>` line that scripts, tests and `cargo xtask` wait
//!   for;
//! - [`Escaped`] ([`text`]): bytes that came from the network, printed so
//!   that a peer cannot drive the terminal;
//! - [`console`]: stdout and stderr behind bounded queues, so that no write
//!   a loop makes (a line per read, a `--trace` line, a warning) can block
//!   it, and [`console::logger`], which sends every `log` record (a loop's
//!   warnings, its `--trace` lines) through stderr's queue;
//! - [`words`]: a count said as a person says it (`1 read`, `2 reads`).

pub mod cli;
pub mod console;
pub mod program;
pub mod text;
pub mod words;

pub use text::Escaped;
