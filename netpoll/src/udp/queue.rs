//! [`SendQueue`]: the datagrams the kernel could not take yet, bounded, so
//! that a full send buffer delays one reply instead of blocking the loop.

use std::collections::VecDeque;
use std::net::SocketAddr;

/// Datagrams (an echo server's echoes) waiting for the socket to become
/// writable again, in the order [`Socket::send_to`](super::Socket::send_to)
/// was called.
///
/// UDP `send_to` either hands the whole datagram to the kernel or fails; it
/// fails with `WouldBlock` when the socket's send buffer is full. The Go server
/// blocks in `WriteToUDP` then, and stops reading from everyone. We keep the
/// datagram here instead and keep reading, but a peer that floods us faster
/// than the kernel drains must not grow the server without bound: past
/// `max_datagrams` or `max_bytes` a new datagram is dropped and counted. That is
/// what UDP itself does with a full buffer, so no peer can tell the difference
/// from ordinary loss.
///
/// This is the only place the server allocates per datagram, and only while
/// the kernel is refusing sends. [`Stats::queued`](super::Stats::queued)
/// counts the datagrams that waited here.
///
/// Proved, with sends that really would block, by
/// `a_send_that_would_block_is_queued_and_sent_when_the_socket_is_writable`
/// (Linux, as root: loopback never blocks a UDP send, so the test slows a
/// loopback of its own down).
///
/// ```
/// let mut queue = netpoll::udp::SendQueue::new(1, 1024);
/// let peer = "127.0.0.1:9".parse().unwrap();
/// assert!(queue.push(peer, b"first"));
/// assert!(!queue.push(peer, b"second")); // full: dropped and counted
/// assert_eq!(queue.dropped(), 1);
/// assert_eq!(queue.front(), Some((peer, &b"first"[..])));
/// ```
#[derive(Debug)]
pub struct SendQueue {
    datagrams: VecDeque<(SocketAddr, Box<[u8]>)>,
    queued_bytes: usize,
    max_datagrams: usize,
    max_bytes: usize,
    dropped: u64,
}

impl SendQueue {
    /// A queue that holds at most `max_datagrams` datagrams totalling at most
    /// `max_bytes` payload bytes. Nothing is reserved up front: an idle
    /// server holds no queue memory.
    pub fn new(max_datagrams: usize, max_bytes: usize) -> SendQueue {
        SendQueue {
            datagrams: VecDeque::new(),
            queued_bytes: 0,
            max_datagrams,
            max_bytes,
            dropped: 0,
        }
    }

    /// Queues a copy of `payload` for `peer`; returns `false`, and counts the
    /// datagram as dropped, when either bound would be exceeded.
    pub fn push(&mut self, peer: SocketAddr, payload: &[u8]) -> bool {
        let fits = self.datagrams.len() < self.max_datagrams
            && payload.len() <= self.max_bytes - self.queued_bytes;
        if !fits {
            self.dropped += 1;
            return false;
        }
        self.queued_bytes += payload.len();
        self.datagrams.push_back((peer, payload.into()));
        true
    }

    /// The oldest queued datagram: the next one to send.
    pub fn front(&self) -> Option<(SocketAddr, &[u8])> {
        self.datagrams
            .front()
            .map(|(peer, payload)| (*peer, &payload[..]))
    }

    /// Forgets the oldest queued datagram, once it has been sent (or has
    /// failed for good).
    pub fn pop_front(&mut self) {
        if let Some((_, payload)) = self.datagrams.pop_front() {
            self.queued_bytes -= payload.len();
        }
    }

    /// Whether nothing is waiting; the loop wants WRITABLE events only
    /// while this is false.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// How many datagrams are waiting.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Payload bytes held by the waiting datagrams.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Datagrams refused because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn full_queue_drops_and_counts_new_datagrams() {
        let mut queue = SendQueue::new(2, 1024);
        assert!(queue.push(peer(1), b"one"));
        assert!(queue.push(peer(2), b"two"));
        assert!(!queue.push(peer(3), b"three"));
        assert!(!queue.push(peer(3), b""));
        assert_eq!(queue.dropped(), 2);
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.queued_bytes(), 6);
    }

    #[test]
    fn byte_bound_drops_a_datagram_that_would_pass_it() {
        let mut queue = SendQueue::new(100, 10);
        assert!(queue.push(peer(1), &[0; 6]));
        assert!(!queue.push(peer(1), &[0; 5]));
        assert!(queue.push(peer(1), &[0; 4]));
        assert_eq!(queue.queued_bytes(), 10);
        assert_eq!(queue.dropped(), 1);
    }

    #[test]
    fn queued_echoes_leave_in_arrival_order_with_their_own_peer() {
        let mut queue = SendQueue::new(8, 1024);
        queue.push(peer(1), b"a");
        queue.push(peer(2), b"");
        queue.push(peer(3), b"ccc");
        let mut seen = Vec::new();
        while let Some((to, payload)) = queue.front() {
            seen.push((to.port(), payload.to_vec()));
            queue.pop_front();
        }
        assert_eq!(
            seen,
            [(1, b"a".to_vec()), (2, Vec::new()), (3, b"ccc".to_vec())]
        );
        assert_eq!(queue.queued_bytes(), 0);
    }

    #[test]
    fn draining_makes_room_again() {
        let mut queue = SendQueue::new(1, 1024);
        assert!(queue.push(peer(1), b"x"));
        assert!(!queue.push(peer(1), b"y"));
        queue.pop_front();
        assert!(queue.is_empty());
        assert!(queue.push(peer(1), b"z"));
        assert_eq!(queue.dropped(), 1);
    }
}
