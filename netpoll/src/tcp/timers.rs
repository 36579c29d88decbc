//! Timers per connection: a handler sets, resets and cancels its own
//! ([`Conn::set_timer`](super::Conn::set_timer)), and its `on_timer` is
//! called when one comes due; a connection that closes takes its timers
//! with it. One loop keeps all its connections' timers in [`Timers`].
//!
//! # A heap, with lazy cancellation
//!
//! The timers wait in a binary heap ordered by deadline: setting one costs
//! O(log n), and the loop sleeps until the earliest. What makes many of
//! them cheap is what is *not* done:
//!
//! - **Cancelling** (or closing the connection) only forgets the timer in
//!   a map; its heap entry stays, and is thrown away when it comes to the
//!   top. No search through the heap.
//! - **Resetting to later**, the common case (an idle timeout pushed back
//!   by every line a peer sends), only changes the deadline the map
//!   remembers. The heap entry keeps its earlier deadline; when it comes to
//!   the top early, it is put back at the new one. A timer reset on every
//!   read costs one map update per read, and one heap step per time it
//!   comes due, not one heap entry per reset.
//! - Entries that no longer count are cleared out in one pass once they
//!   are more than half the heap, so the heap stays within about twice the
//!   timers armed, however many were cancelled.
//!
//! Why not a timer wheel (Netty's, the Linux kernel's): a wheel sets and
//! cancels in O(1), but ticks at a fixed grain, needs a list per slot with
//! links to unhook a cancelled timer, and costs its slots even when no
//! timer is set. A loop here sleeps until the next deadline anyway, and
//! the log n of a heap of thousands is a dozen comparisons; with the two
//! shortcuts above, the operations that happen per request (reset later,
//! cancel) are O(1) already. A loop with no timer set holds an empty heap
//! and an empty map, and checks nothing on its hot path but that.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

/// Which of a connection's timers: a name its handler chooses, such as
/// `const IDLE: Timer = Timer(0);`. Setting a timer that is already set
/// moves it (a reset); each connection's timers are its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timer(pub u32);

/// What comes due: a handler's timer, or the loop's own for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimerKind {
    /// The handler's, given to its `on_timer`.
    Handler(Timer),
    /// How long a connection closing after its output
    /// ([`Conn::close_after_sending`](super::Conn::close_after_sending))
    /// waits for its peer before closing anyway.
    Linger,
}

/// One loop's timers.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    /// The timers set on each connection that has any, by slab key.
    armed: HashMap<usize, Vec<Armed>>,
    /// Numbers the heap entries; an entry counts while its timer's
    /// [`Armed::seq`] is still its own.
    next_seq: u64,
    /// Heap entries that no longer count.
    stale: usize,
}

/// When a timer of connection `key` comes due, in the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    deadline: Instant,
    seq: u64,
    key: usize,
}

/// A timer set, as the map remembers it.
#[derive(Debug, Clone, Copy)]
struct Armed {
    kind: TimerKind,
    /// When it is due: later than its heap entry's after a reset to later.
    deadline: Instant,
    /// Its heap entry's.
    seq: u64,
}

/// Above this many stale entries, more than live ones, the heap is cleared
/// of them.
const STALE_TOLERATED: usize = 64;

impl Timers {
    /// Whether no timer is waiting (nor any stale entry).
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Sets `kind` on connection `key` to come due at `deadline`, moving
    /// it if it was set.
    pub(super) fn set(&mut self, key: usize, kind: TimerKind, deadline: Instant) {
        let seq = self.next_seq;
        let timers = self.armed.entry(key).or_default();
        match timers.iter_mut().find(|armed| armed.kind == kind) {
            // Later: the entry in the heap comes due first and moves on.
            Some(armed) if deadline >= armed.deadline => {
                armed.deadline = deadline;
                return;
            }
            Some(armed) => {
                *armed = Armed {
                    kind,
                    deadline,
                    seq,
                };
                self.stale += 1;
            }
            None => timers.push(Armed {
                kind,
                deadline,
                seq,
            }),
        }
        self.next_seq += 1;
        self.heap.push(Reverse(Entry { deadline, seq, key }));
        self.clear_out_stale();
    }

    /// Cancels `kind` on connection `key`, if it is set.
    pub(super) fn cancel(&mut self, key: usize, kind: TimerKind) {
        let Some(timers) = self.armed.get_mut(&key) else {
            return;
        };
        let before = timers.len();
        timers.retain(|armed| armed.kind != kind);
        self.stale += before - timers.len();
        if timers.is_empty() {
            self.armed.remove(&key);
        }
        self.clear_out_stale();
    }

    /// Connection `key` has closed: none of its timers will come due.
    pub(super) fn forget(&mut self, key: usize) {
        if let Some(timers) = self.armed.remove(&key) {
            self.stale += timers.len();
            self.clear_out_stale();
        }
    }

    /// The deadline the loop must wake up for, if any.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(entry)| entry.deadline)
    }

    /// Takes every timer due at `now` into `due`, earliest first, as
    /// (connection key, timer). Those set while the loop fires them come
    /// due at the loop's next look at least, never within this one.
    pub(super) fn take_due(&mut self, now: Instant, due: &mut Vec<(usize, TimerKind)>) {
        while let Some(Reverse(entry)) = self.heap.peek().copied() {
            if entry.deadline > now {
                break;
            }
            self.heap.pop();
            match self.current(&entry) {
                None => self.stale = self.stale.saturating_sub(1),
                // Reset to later: back in the heap at its new deadline.
                Some(armed) if armed.deadline > entry.deadline => {
                    self.heap.push(Reverse(Entry {
                        deadline: armed.deadline,
                        ..entry
                    }));
                }
                Some(armed) => {
                    due.push((entry.key, armed.kind));
                    self.disarm(entry.key, entry.seq);
                }
            }
        }
    }

    /// The timer a heap entry stands for, if the entry still counts.
    fn current(&self, entry: &Entry) -> Option<Armed> {
        self.armed
            .get(&entry.key)?
            .iter()
            .find(|armed| armed.seq == entry.seq)
            .copied()
    }

    /// Forgets the timer of `key` whose entry is `seq` (it came due).
    fn disarm(&mut self, key: usize, seq: u64) {
        if let Some(timers) = self.armed.get_mut(&key) {
            timers.retain(|armed| armed.seq != seq);
            if timers.is_empty() {
                self.armed.remove(&key);
            }
        }
    }

    /// Clears the heap of entries that no longer count, once there are
    /// enough of them to matter.
    fn clear_out_stale(&mut self) {
        if self.stale <= STALE_TOLERATED || self.stale <= self.heap.len() / 2 {
            return;
        }
        let armed = &self.armed;
        self.heap.retain(|Reverse(entry)| {
            armed
                .get(&entry.key)
                .is_some_and(|timers| timers.iter().any(|t| t.seq == entry.seq))
        });
        self.stale = 0;
    }

    /// Entries in the heap, stale ones included.
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const A: TimerKind = TimerKind::Handler(Timer(0));
    const B: TimerKind = TimerKind::Handler(Timer(1));

    fn due(timers: &mut Timers, now: Instant) -> Vec<(usize, TimerKind)> {
        let mut due = Vec::new();
        timers.take_due(now, &mut due);
        due
    }

    #[test]
    fn timers_come_due_in_deadline_order_and_only_once() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        timers.set(1, A, t0 + ms(30));
        timers.set(2, A, t0 + ms(10));
        timers.set(1, B, t0 + ms(20));
        assert_eq!(timers.next_deadline(), Some(t0 + ms(10)));
        assert_eq!(due(&mut timers, t0 + ms(5)), []);
        assert_eq!(due(&mut timers, t0 + ms(25)), [(2, A), (1, B)]);
        assert_eq!(due(&mut timers, t0 + ms(30)), [(1, A)]);
        assert_eq!(due(&mut timers, t0 + ms(99)), []);
        assert!(timers.is_empty());
    }

    #[test]
    fn a_reset_moves_a_timer_and_a_cancel_or_a_close_stops_it() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        // Later, then earlier than first set: due at the last deadline only.
        timers.set(1, A, t0 + ms(10));
        timers.set(1, A, t0 + ms(50));
        assert_eq!(due(&mut timers, t0 + ms(20)), []);
        timers.set(1, A, t0 + ms(30));
        assert_eq!(due(&mut timers, t0 + ms(40)), [(1, A)]);
        assert_eq!(due(&mut timers, t0 + ms(60)), []);
        // Cancelled, and forgotten with its connection.
        timers.set(1, A, t0 + ms(70));
        timers.set(2, A, t0 + ms(70));
        timers.set(2, B, t0 + ms(70));
        timers.cancel(1, A);
        timers.forget(2);
        assert_eq!(due(&mut timers, t0 + ms(80)), []);
        assert!(timers.is_empty());
    }

    #[test]
    fn resetting_a_timer_later_adds_no_heap_entry() {
        // An idle timeout pushed back by every read: however many resets,
        // the heap holds one entry for it.
        let t0 = Instant::now();
        let mut timers = Timers::default();
        for i in 0..10_000 {
            timers.set(7, A, t0 + Duration::from_millis(i));
        }
        assert_eq!(timers.entries(), 1);
        assert_eq!(due(&mut timers, t0 + Duration::from_secs(60)), [(7, A)]);
    }

    #[test]
    fn cancelled_timers_do_not_pile_up_in_the_heap() {
        // Set and cancel, over and over, with one timer left armed: the
        // stale entries are cleared out, so the heap stays small.
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.set(0, A, t0 + Duration::from_secs(3600));
        for key in 1..100_000 {
            timers.set(key, A, t0 + Duration::from_secs(3600));
            timers.cancel(key, A);
        }
        assert!(
            timers.entries() <= 2 * STALE_TOLERATED + 2,
            "{} entries for 1 timer",
            timers.entries()
        );
        assert_eq!(due(&mut timers, t0 + Duration::from_secs(3600)), [(0, A)]);
    }
}
