//! [`Links`]: what a handler reaches beyond its own connection, through
//! its [`Conn`](super::Conn): the other connections (letters in the loop's
//! outbox), its timers, and the server's [`Remote`] to hand to threads.
//! One per loop, lent to each callback with the rest of the loop's shared
//! state; the loop delivers what the callback left in it.

use std::time::Duration;

use super::outbox::Outbox;
use super::remote::Remote;
use super::timers::Timers;
use crate::trace::Trace;

/// One loop's links to beyond a connection.
#[derive(Debug)]
pub(super) struct Links {
    /// Which of the server's loops this is (a [`ConnId`](super::ConnId) says it).
    pub(super) loop_index: usize,
    /// Letters from this loop's handlers, delivered after each turn.
    pub(super) outbox: Outbox,
    /// Every connection's timers.
    pub(super) timers: Timers,
    /// The mailboxes of all the server's loops.
    pub(super) remote: Remote,
    /// How long a connection closing after its output waits for its peer
    /// to take it (the server's shutdown timeout).
    pub(super) linger: Duration,
    /// `--trace`: the loop's tracer, for the handlers' own lines
    /// ([`Conn::trace`](super::Conn::trace)).
    pub(super) trace: Option<Trace>,
}

impl Links {
    /// The links of loop `loop_index` of the server that `remote` reaches.
    pub(super) fn new(
        loop_index: usize,
        remote: Remote,
        linger: Duration,
        trace: Option<Trace>,
    ) -> Self {
        Links {
            loop_index,
            outbox: Outbox::default(),
            timers: Timers::default(),
            remote,
            linger,
            trace,
        }
    }
}
