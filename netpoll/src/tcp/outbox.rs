//! [`Outbox`]: letters for connections, waiting to be delivered by the
//! loop that serves them.
//!
//! A handler cannot write to another connection while the loop calls it:
//! the loop is in the middle of this connection's turn, and the other one
//! may belong to another loop, on another thread. So what it sends there
//! is a *letter*, kept in its loop's outbox; after the callback the loop
//! delivers the letters for its own connections and posts the others to
//! their loops' mailboxes (`remote.rs`), whose content is an outbox too.
//!
//! The bytes of all the letters share one buffer, and a letter is a range
//! of it: a turn's letters cost no allocation each, and a box emptied and
//! reused keeps its memory.

use std::ops::Range;

use super::ConnId;

/// Letters in the order they were written, with their bytes.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    letters: Vec<Letter>,
    bytes: Vec<u8>,
}

/// One letter: for whom, and what.
#[derive(Debug, Clone)]
struct Letter {
    to: ConnId,
    what: What,
}

#[derive(Debug, Clone)]
enum What {
    /// These bytes of the outbox, for the connection's peer.
    Send(Range<usize>),
    /// Close the connection.
    Close,
    /// A [`Reply`](super::Reply) is settled: the connection owes one fewer.
    Release,
}

/// What a letter asks of the connection it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mail<'a> {
    /// Send these bytes to the peer, after what was sent before.
    Send(&'a [u8]),
    /// Close the connection (its pending output is dropped).
    Close,
    /// One reply fewer is owed ([`Reply`](super::Reply) dropped).
    Release,
}

impl Outbox {
    /// A letter of `data` for `to`'s peer.
    pub(super) fn send(&mut self, data: &[u8], to: ConnId) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.push(to, What::Send(start..self.bytes.len()));
    }

    /// A letter that closes `to`.
    pub(super) fn close(&mut self, to: ConnId) {
        self.push(to, What::Close);
    }

    /// A letter that says a reply to `to` is settled.
    pub(super) fn release(&mut self, to: ConnId) {
        self.push(to, What::Release);
    }

    fn push(&mut self, to: ConnId, what: What) {
        self.letters.push(Letter { to, what });
    }

    /// Whether there are no letters.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.letters.is_empty()
    }

    /// Roughly the memory the letters hold: their bytes and their entries.
    pub(super) fn weight(&self) -> usize {
        self.bytes.len() + self.letters.len() * std::mem::size_of::<Letter>()
    }

    /// The letters, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (ConnId, Mail<'_>)> {
        self.letters.iter().map(|letter| {
            let mail = match &letter.what {
                What::Send(range) => Mail::Send(&self.bytes[range.clone()]),
                What::Close => Mail::Close,
                What::Release => Mail::Release,
            };
            (letter.to, mail)
        })
    }

    /// Copies the letters of `from` for loop `loop_index` here, in order.
    pub(super) fn take_copies(&mut self, from: &Outbox, loop_index: usize) {
        for (to, mail) in from.iter().filter(|(to, _)| to.loop_index == loop_index) {
            match mail {
                Mail::Send(data) => self.send(data, to),
                Mail::Close => self.close(to),
                Mail::Release => self.release(to),
            }
        }
    }

    /// Empties the box, keeping its memory for the next letters.
    pub(super) fn clear(&mut self) {
        self.letters.clear();
        self.bytes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(loop_index: usize, key: usize) -> ConnId {
        ConnId {
            loop_index,
            key,
            serial: key as u64 + 1,
        }
    }

    #[test]
    fn letters_keep_their_order_and_their_bytes() {
        let mut outbox = Outbox::default();
        outbox.send(b"one", id(0, 1));
        outbox.close(id(1, 2));
        outbox.send(b"", id(0, 1));
        outbox.release(id(0, 3));
        let got: Vec<_> = outbox.iter().collect();
        assert_eq!(
            got,
            [
                (id(0, 1), Mail::Send(b"one")),
                (id(1, 2), Mail::Close),
                (id(0, 1), Mail::Send(b"")),
                (id(0, 3), Mail::Release),
            ]
        );
        let mut loop_1 = Outbox::default();
        loop_1.take_copies(&outbox, 1);
        assert_eq!(loop_1.iter().collect::<Vec<_>>(), [(id(1, 2), Mail::Close)]);
        outbox.clear();
        assert!(outbox.is_empty() && outbox.weight() == 0);
    }
}
