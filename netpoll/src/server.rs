//! [`Server`]: the builder of a server, TCP or UDP, in one shape. What a
//! program serves with and the settings of its protocol are the `P` of
//! `Server<P>` ([`tcp::Tcp`](crate::tcp::Tcp): a factory of handlers and
//! the limits of connections; [`udp::Udp`](crate::udp::Udp): the handler and
//! its send queue); what every loop has, whatever it serves (how it waits,
//! whether it hears Ctrl-C, whether it traces), is set here, once for both.
//!
//! A program names the builder of its protocol, [`tcp::Server`](crate::tcp::Server)
//! or [`udp::Server`](crate::udp::Server), and `start`s it: the same words
//! for both, as the handle it gets back ([`ServerHandle`](crate::ServerHandle))
//! and the counters it ends with are.

use std::time::Duration;

use crate::spin::DEFAULT_SPIN_US;

/// Builder of a server: its protocol's part `P` and the settings every
/// loop shares. Made by `tcp::Server::new` or `udp::Server::new`.
///
/// See the [`tcp`](crate::tcp) and [`udp`](crate::udp) modules for examples.
pub struct Server<P> {
    pub(crate) protocol: P,
    pub(crate) loop_options: LoopOptions,
}

/// What every loop is told, TCP or UDP (see [`Server::spin`],
/// [`Server::handle_signals`], [`Server::trace`]).
#[derive(Debug, Clone)]
pub(crate) struct LoopOptions {
    pub(crate) spin: Duration,
    pub(crate) handle_signals: bool,
    pub(crate) trace: bool,
}

impl<P> Server<P> {
    /// A builder of `protocol`'s server with every loop setting at its default.
    pub(crate) fn with(protocol: P) -> Self {
        Server {
            protocol,
            loop_options: LoopOptions {
                spin: Duration::from_micros(DEFAULT_SPIN_US),
                handle_signals: false,
                trace: false,
            },
        }
    }

    /// After a turn with traffic, keeps polling without sleeping for this
    /// long before sleeping again (default [`DEFAULT_SPIN_US`] µs), in case
    /// the next request follows at once; zero sleeps as soon as there is
    /// nothing to do. A TCP loop spins only while it serves at most
    /// [`SPIN_AT_MOST_CONNECTIONS`](crate::spin::SPIN_AT_MOST_CONNECTIONS).
    /// See [`spin`](crate::spin).
    pub fn spin(mut self, window: Duration) -> Self {
        self.loop_options.spin = window;
        self
    }

    /// Stop gracefully on SIGINT/SIGTERM (on Windows, Ctrl-C, Ctrl-Break and
    /// the console closing), handled inside each loop (default false: a
    /// library used in tests must not take over the process' signals). For
    /// TCP, a second signal during the stop drops what is still pending.
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.loop_options.handle_signals = on;
        self
    }

    /// Makes a line for each thing the loops do: each wake-up (or spin),
    /// accept, read, receive, write, send, pause and close (default false;
    /// see [`crate::trace`] for the format, where the lines go, and why it
    /// costs nothing when off).
    pub fn trace(mut self, on: bool) -> Self {
        self.loop_options.trace = on;
        self
    }
}
