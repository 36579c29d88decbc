//! [`ConnId`]: the name of one connection for its whole life, that any
//! thread may hold and that can never reach another connection.
//!
//! A loop finds its connections by slab key (their mio token), and a slab
//! hands a freed key to the next connection: a key alone, kept by a chat
//! peer or a worker thread past the close, would one day name a stranger.
//! So an id carries, besides the loop and the key, the connection's
//! *serial*: a number taken once per accepted connection from one counter
//! of the whole process, never reused. A letter for an id is delivered only
//! if the connection under that key still has that serial; otherwise it is
//! dropped and counted ([`Stats::undelivered`](super::Stats::undelivered)).
//! Ids from two servers of one process never collide either.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// One connection of a server, for its whole life: usable from any thread
/// (it is `Copy`, `Send` and `Sync`), valid after the connection closed
/// (letters to it are then dropped and counted), and never the name of a
/// later connection that reuses its slot.
///
/// A handler learns its own with [`Conn::id`](super::Conn::id), and sends
/// to others with [`Conn::send_to`](super::Conn::send_to) or a
/// [`Remote`](super::Remote). It prints as `#N`, N counting the process'
/// connections from 1.
///
/// **Proved by:** `a_letter_to_an_id_whose_slot_was_reused_never_reaches_the_new_connection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// Which of the server's loops serves it.
    pub(super) loop_index: usize,
    /// Its slab key (and mio token) in that loop: reused after it closes.
    pub(super) key: usize,
    /// Its serial: never reused in the process.
    pub(super) serial: u64,
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.serial)
    }
}

/// The serial of a connection just accepted: 1, 2, 3… over the process.
pub(super) fn next_serial() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    // Relaxed: only uniqueness matters, which every order gives.
    LAST.fetch_add(1, Ordering::Relaxed) + 1
}
