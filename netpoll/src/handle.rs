//! [`ServerHandle`]: a running server, TCP or UDP, seen from the thread that
//! started it: where it listens, how to stop it, and what it did.
//!
//! Both servers run their loops on threads of their own and hand back the
//! same kind of handle, so a test or a `main` stops either one the same way:
//! [`shutdown`](ServerHandle::shutdown) asks, [`join`](ServerHandle::join)
//! waits for the counters, [`stop`](ServerHandle::stop) does both, and
//! [`stop_within`](ServerHandle::stop_within) does both with a bound.

use std::io;
use std::net::SocketAddr;
use std::ops::AddAssign;
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mio::Waker;

use crate::stop::StopRequest;

/// A running server: its address, the way to stop it, and its counters
/// (`S`: [`tcp::Stats`](crate::tcp::Stats) or [`udp::Stats`](crate::udp::Stats)),
/// summed over its event loops.
///
/// Dropping the handle stops the server and waits for it, so a test that
/// fails half-way leaves no loop running.
pub struct ServerHandle<S> {
    local_addr: SocketAddr,
    stop: Arc<StopRequest>,
    loops: Vec<(Arc<Waker>, JoinHandle<io::Result<S>>)>,
}

impl<S: Default + AddAssign> ServerHandle<S> {
    /// A handle with no loops yet; [`add_loop`](Self::add_loop) adds them as
    /// they start, so dropping a partly built server stops what did start.
    pub(crate) fn new(local_addr: SocketAddr, stop: Arc<StopRequest>) -> Self {
        ServerHandle {
            local_addr,
            stop,
            loops: Vec::new(),
        }
    }

    pub(crate) fn add_loop(&mut self, waker: Arc<Waker>, thread: JoinHandle<io::Result<S>>) {
        self.loops.push((waker, thread));
    }

    /// The address the server is bound to (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Asks every loop to stop gracefully, as SIGINT/SIGTERM would. Returns
    /// at once; [`join`](Self::join) waits.
    pub fn shutdown(&self) {
        self.stop.request();
        for (waker, _) in &self.loops {
            // A loop that already ended has nothing to wake; that is fine.
            let _ = waker.wake();
        }
    }

    /// Waits until every loop has stopped (after a signal or
    /// [`shutdown`](Self::shutdown)) and returns the summed counters.
    pub fn join(mut self) -> io::Result<S> {
        let mut total = S::default();
        let mut first_error = None;
        for (_, thread) in std::mem::take(&mut self.loops) {
            match thread.join() {
                Ok(Ok(stats)) => total += stats,
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(io::Error::other("an event loop panicked"));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// [`shutdown`](Self::shutdown) then [`join`](Self::join).
    pub fn stop(self) -> io::Result<S> {
        self.shutdown();
        self.join()
    }
}

impl<S: Default + AddAssign + Send + 'static> ServerHandle<S> {
    /// [`stop`](Self::stop), waiting at most `limit`: a loop that does not
    /// stop is a `TimedOut` error instead of a wait for ever (a test's
    /// regression fails instead of hanging the suite; a supervisor can go
    /// on). A loop that did not stop is left running, on its thread.
    pub fn stop_within(self, limit: Duration) -> io::Result<S> {
        let (done, stopped) = mpsc::channel();
        // The join happens on a thread of its own, which alone can wait
        // for ever.
        thread::Builder::new()
            .name("stop".to_owned())
            .spawn(move || done.send(self.stop()))?;
        stopped.recv_timeout(limit).unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the server's loops did not stop within {limit:?}"),
            ))
        })
    }
}

/// Declares a server's counters: a struct of `u64`s, all zero at the start,
/// that a handle adds up field by field over the server's loops
/// ([`ServerHandle::join`]). TCP's and UDP's [`Stats`](crate::tcp::Stats)
/// are declared with it, so they have one shape: the fields differ (a
/// connection is a TCP word, a datagram a UDP one), nothing else does.
macro_rules! counters {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: u64,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: u64,)*
        }

        impl std::ops::AddAssign for $name {
            fn add_assign(&mut self, other: $name) {
                $(self.$field += other.$field;)*
            }
        }
    };
}
pub(crate) use counters;

impl<S> Drop for ServerHandle<S> {
    fn drop(&mut self) {
        if self.loops.is_empty() {
            return;
        }
        self.stop.request();
        for (waker, _) in &self.loops {
            let _ = waker.wake();
        }
        for (_, thread) in self.loops.drain(..) {
            let _ = thread.join();
        }
    }
}
