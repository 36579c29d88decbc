//! Reaching a connection from outside its loop: [`Remote`], the handle any
//! thread uses to send to a connection or close it, and [`Reply`], a reply
//! a connection will get from another thread, which keeps it open until
//! then. libuv's `uv_async_send` is the model: a queue, and a wake-up.
//!
//! Each loop has a mailbox: an [`Outbox`] behind a mutex, and the loop's
//! mio [`Waker`]. Posting a letter appends it under the lock and, if the
//! mailbox was empty, wakes the loop; the loop, woken, takes every letter
//! at once (one lock, swapping in an empty box) and delivers them as it
//! delivers its own handlers' letters. So a burst of posts costs one
//! wake-up, and the loop never holds the lock while it works.
//!
//! The waker is the one the server's handle stops the loop with (mio
//! allows one per poll): a wake-up is only ever a "look", and the loop
//! looks at both its mailbox and the stop request (`crate::stop`).
//!
//! What a letter may do once delivered (bytes bounded by the receiver's
//! `max_pending`, dropped and counted for a connection that has gone) is
//! the loop's, the same for letters from a thread and from a handler
//! (`delivery.rs`).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use mio::Waker;

use super::ConnId;
use super::outbox::Outbox;

/// A handle that any thread uses to send bytes to a connection of a
/// server, or close it, waking the connection's loop. Cheap to clone;
/// `Send` and `Sync`. A handler gets one with
/// [`Conn::remote`](super::Conn::remote).
///
/// What is sent goes out in the order it was posted (by one thread), after
/// what the connection had already been sent, bounded like any output to
/// a peer that does not read (it is disconnected with
/// [`CloseReason::TooSlow`](super::CloseReason::TooSlow) past the
/// server's `max_pending`). Letters to a connection that has closed are
/// dropped and counted in [`Stats::undelivered`](super::Stats::undelivered),
/// never delivered to another; after the server has stopped, they are
/// dropped.
///
/// ```
/// use std::io::{BufRead, BufReader};
/// use std::sync::mpsc;
/// use netpoll::tcp::{Conn, Handler, Remote, ConnId, Server};
///
/// /// Hands its connection's id and a remote to the test, then waits.
/// struct Introduce(mpsc::Sender<(ConnId, Remote)>);
///
/// impl Handler for Introduce {
///     fn on_open(&mut self, conn: &mut Conn<'_>) {
///         let _ = self.0.send((conn.id(), conn.remote()));
///     }
///     fn on_data(&mut self, _conn: &mut Conn<'_>, _data: &[u8]) {}
/// }
///
/// let (tx, introduced) = mpsc::channel();
/// let tx = std::sync::Mutex::new(tx);
/// let server = Server::new(move |_peer| Introduce(tx.lock().unwrap().clone()))
///     .start("127.0.0.1:0".parse().unwrap())?;
/// let client = std::net::TcpStream::connect(server.local_addr())?;
/// let (id, remote) = introduced.recv().unwrap();
/// // Another thread writes to the connection; its loop wakes to send it.
/// std::thread::spawn(move || remote.send_to(b"from a thread\n", id)).join().unwrap();
/// let mut line = String::new();
/// BufReader::new(client).read_line(&mut line)?;
/// assert_eq!(line, "from a thread\n");
/// server.stop()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// **Proved by:** `a_thread_wakes_a_sleeping_loop_to_send_to_a_connection`,
/// `what_is_sent_to_a_closed_connection_is_dropped_and_counted`.
#[derive(Clone)]
pub struct Remote {
    /// One per loop, in the order of the loops' indices.
    mailboxes: Arc<[Mailbox]>,
}

/// One loop's letters from elsewhere, and how to wake it.
pub(super) struct Mailbox {
    inbox: Mutex<Inbox>,
    waker: Arc<Waker>,
}

#[derive(Default)]
struct Inbox {
    letters: Outbox,
    /// The loop has ended: nobody will take letters any more.
    closed: bool,
}

impl Remote {
    /// The remote of a server whose loops wake with `wakers`, in order.
    pub(super) fn new(wakers: impl IntoIterator<Item = Arc<Waker>>) -> Self {
        let mailboxes: Vec<Mailbox> = wakers
            .into_iter()
            .map(|waker| Mailbox {
                inbox: Mutex::default(),
                waker,
            })
            .collect();
        Remote {
            mailboxes: mailboxes.into(),
        }
    }

    /// Sends `data` to `to`'s peer, after everything sent to it before.
    /// Returns at once; the connection's loop writes it.
    pub fn send_to(&self, data: &[u8], to: ConnId) {
        self.post(to, |letters| letters.send(data, to));
    }

    /// Closes `id`'s connection as [`Conn::close`](super::Conn::close)
    /// would: output still pending is dropped. Its handler's `on_close`
    /// gets [`CloseReason::Elsewhere`](super::CloseReason::Elsewhere).
    pub fn close(&self, id: ConnId) {
        self.post(id, |letters| letters.close(id));
    }

    /// Says that one [`Reply`] to `id` is settled.
    fn release(&self, id: ConnId) {
        self.post(id, |letters| letters.release(id));
    }

    /// Posts what `write` adds to the mailbox of `to`'s loop. An id of
    /// another server, with more loops than this one, reaches nobody.
    fn post(&self, to: ConnId, write: impl FnOnce(&mut Outbox)) {
        if let Some(mailbox) = self.mailboxes.get(to.loop_index) {
            mailbox.post(write);
        }
    }

    /// Posts the letters of `outbox` that are for loop `loop_index`, if
    /// any, in one go: a handler's letters to another loop.
    pub(super) fn post_copies(&self, outbox: &Outbox, loop_index: usize) {
        if outbox.iter().any(|(to, _)| to.loop_index == loop_index) {
            self.mailboxes[loop_index].post(|letters| letters.take_copies(outbox, loop_index));
        }
    }

    /// Loop `loop_index`'s mailbox.
    pub(super) fn mailbox(&self, loop_index: usize) -> &Mailbox {
        &self.mailboxes[loop_index]
    }

    /// How many loops the server has.
    pub(super) fn loops(&self) -> usize {
        self.mailboxes.len()
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("loops", &self.mailboxes.len())
            .finish()
    }
}

impl Mailbox {
    /// Adds letters (what `write` adds) under the lock, and wakes the loop
    /// if the box was empty: a box with letters in it already has a
    /// wake-up on its way, which will take these too.
    fn post(&self, write: impl FnOnce(&mut Outbox)) {
        let was_empty = {
            let mut inbox = self.lock();
            if inbox.closed {
                return;
            }
            let was_empty = inbox.letters.is_empty();
            write(&mut inbox.letters);
            was_empty
        };
        if was_empty {
            if let Err(e) = self.waker.wake() {
                // Only a broken poll fails here; the loop reports that itself.
                log::debug!("cannot wake a loop for its letters: {e}");
            }
        }
    }

    /// Takes every letter, leaving `spare` (emptied) in their place.
    pub(super) fn take(&self, spare: &mut Outbox) {
        spare.clear();
        std::mem::swap(&mut self.lock().letters, spare);
    }

    /// The loop has ended: letters posted from now on are dropped. Takes
    /// those left, as [`take`](Self::take) does.
    pub(super) fn close(&self, spare: &mut Outbox) {
        spare.clear();
        let mut inbox = self.lock();
        inbox.closed = true;
        std::mem::swap(&mut inbox.letters, spare);
    }

    fn lock(&self) -> MutexGuard<'_, Inbox> {
        // The lock guards plain data that a panic cannot leave half-made.
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A reply that a connection will get later, from another thread: what
/// [`Conn::reply_later`](super::Conn::reply_later) returns, to hand to the
/// thread that does the work. Until it is dropped, the connection stays
/// open even after its peer has finished sending (a client that sends
/// `sleep 20` and shuts down its side still gets `slept 20 ms`); it then
/// closes as usual once its output is written. This is libuv's
/// `uv_queue_work`, whose handle lives until the work's completion runs on
/// the loop.
///
/// **Proved by:** `a_reply_keeps_the_connection_open_past_the_peers_end_of_stream`.
pub struct Reply {
    remote: Remote,
    to: ConnId,
}

impl Reply {
    /// A reply to `to`, promised by its handler (which counted it).
    pub(super) fn new(remote: Remote, to: ConnId) -> Self {
        Reply { remote, to }
    }

    /// The connection it is for.
    pub fn id(&self) -> ConnId {
        self.to
    }

    /// Sends `data` to the connection's peer, as
    /// [`Remote::send_to`] does (dropped and counted if it has closed).
    pub fn send(&self, data: &[u8]) {
        self.remote.send_to(data, self.to);
    }
}

impl Drop for Reply {
    /// Settles the reply: posted after everything it sent, so the
    /// connection closes only once those are out.
    fn drop(&mut self) {
        self.remote.release(self.to);
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply").field("to", &self.to).finish()
    }
}
