//! The room: who is here and under which name, and the chat's one act, a
//! line sent to everyone else. The Go twin's `hub`.
//!
//! # One roster behind a lock
//!
//! Go's hub is a goroutine that owns the clients, and every change goes
//! to it over a channel. Here every connection's handler changes the room
//! itself, on its loop's thread, and with `--threads N` those are N
//! threads: so the roster is behind a mutex, and the handlers share it.
//!
//! Why one roster, and not one per loop with letters between the loops: a
//! name must be unique in the whole room, and a newcomer is told how many
//! others are here, so one place must see every member; and a line goes to
//! every member, whatever loop serves it. The lock is cheap to share
//! because nothing slow happens under it: sending to a member is writing a
//! *letter* ([`Conn::send_to`]), which the member's own loop writes to its
//! socket once the callback has returned, all the letters of a turn in one
//! `write` per member; and the letters for another loop cross to it in one
//! post per turn. So the lock is held to walk a list of ids and copy a
//! line, never for a socket's I/O (what a member is sent itself, its
//! welcome, its new name, is written once the lock is let go); and a
//! member that does not read slows no one: its loop disconnects it once
//! what waits for it would pass `--max-pending`
//! ([`CloseReason::TooSlow`](netpoll::tcp::CloseReason::TooSlow)).
//!
//! A handler reaches the others through its [`Conn`] while the loop calls
//! it; when its connection has closed (`on_close`, which has no `Conn`),
//! it tells them through the server's [`Remote`], which the room keeps for
//! that. Both are a [`Post`].

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, OnceLock};

use netpoll::tcp::{Conn, ConnId, Remote};

use crate::protocol::{self, guest_name};

/// Everyone here, and what the room has done so far.
#[derive(Debug, Default)]
pub struct Room {
    roster: Mutex<Roster>,
    /// How the room reaches its members from `on_close`: the server's
    /// remote, taken from the first member's `Conn`.
    remote: OnceLock<Remote>,
}

#[derive(Debug, Default)]
struct Roster {
    /// Who is here (the last comes to the place of one who leaves).
    members: Vec<ConnId>,
    /// Their names: no two alike.
    names: HashSet<Vec<u8>>,
    /// Connections that have come so far: the last guest's number.
    arrivals: u64,
    counts: Counts,
}

/// What the room did, for the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Lines said (not commands, not notices).
    pub lines: u64,
    /// Those lines times the members each was sent to.
    pub deliveries: u64,
    /// Members disconnected because they did not read.
    pub too_slow: u64,
}

/// Why a member left: what the others are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// It quit, hung up, or was disconnected for what it sent.
    Left,
    /// It did not read what it was sent, past its bound.
    TooSlow,
    /// The server is stopping: everyone goes at once, and no one is told.
    Stopping,
}

/// Why a name cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a name at all ([`protocol::refuse_name`] says why).
    Unfit(&'static str),
    /// Another member has it.
    InUse,
}

/// Where a line for a member goes: a letter, written by the member's loop.
pub trait Post {
    /// Sends `line` to `to`.
    fn post(&mut self, line: &[u8], to: ConnId);
}

/// From a handler's callback: a letter, delivered once it returns.
impl Post for Conn<'_> {
    fn post(&mut self, line: &[u8], to: ConnId) {
        self.send_to(line, to);
    }
}

/// From anywhere else: posted to the member's loop, which it wakes.
impl Post for &Remote {
    fn post(&mut self, line: &[u8], to: ConnId) {
        self.send_to(line, to);
    }
}

impl Room {
    /// An empty room.
    pub fn new() -> Self {
        Room::default()
    }

    /// Lets the connection of `conn` in under the next guest name, which
    /// it returns: the newcomer is welcomed, the others told.
    pub fn join(&self, conn: &mut Conn<'_>) -> Vec<u8> {
        self.remote.get_or_init(|| conn.remote());
        let (name, others) = {
            let mut roster = self.lock();
            roster.arrivals += 1;
            let name = guest_name(roster.arrivals);
            roster.send_to_all(conn, &protocol::notice(&name, " joined"), None);
            roster.members.push(conn.id());
            roster.names.insert(name.clone());
            (name, roster.members.len() - 1)
        };
        // Written now, outside the lock: whatever the others send it is a
        // letter, which its loop delivers after this callback, so the
        // welcome comes first.
        conn.send(&protocol::welcome(&name, others));
        name
    }

    /// Sends `lines`, `count` lines said by `from` (`NAME: TEXT` each), to
    /// every other member.
    pub fn say(&self, conn: &mut Conn<'_>, from: ConnId, lines: &[u8], count: u64) {
        let mut roster = self.lock();
        let reached = roster.send_to_all(conn, lines, Some(from));
        roster.counts.lines += count;
        roster.counts.deliveries += count * reached;
    }

    /// Renames `name` to `new`, telling everyone (the renamed member too),
    /// unless the name cannot be taken; the line they get.
    pub fn rename(
        &self,
        conn: &mut Conn<'_>,
        name: &mut Vec<u8>,
        new: &[u8],
    ) -> Result<Vec<u8>, Refusal> {
        if let Some(why) = protocol::refuse_name(new) {
            return Err(Refusal::Unfit(why));
        }
        let renamed = protocol::renamed(name, new);
        {
            let mut roster = self.lock();
            if roster.names.contains(new) {
                return Err(Refusal::InUse);
            }
            roster.names.remove(name.as_slice());
            roster.names.insert(new.to_vec());
            roster.send_to_all(conn, &renamed, Some(conn.id()));
        }
        conn.send(&renamed);
        *name = new.to_vec();
        Ok(renamed)
    }

    /// `id`, named `name`, has gone (or is going) for `why`: its name is
    /// free again, and the others are told, through `post`. The line they
    /// get, if they are told.
    pub fn leave(
        &self,
        post: &mut impl Post,
        (id, name): (ConnId, &[u8]),
        why: Departure,
    ) -> Option<Vec<u8>> {
        let mut roster = self.lock();
        if let Some(at) = roster.members.iter().position(|&member| member == id) {
            roster.members.swap_remove(at);
        }
        roster.names.remove(name);
        let notice = match why {
            Departure::Left => protocol::notice(name, " left"),
            Departure::TooSlow => {
                roster.counts.too_slow += 1;
                protocol::notice(name, " left (too slow: it did not read its messages)")
            }
            Departure::Stopping => return None,
        };
        roster.send_to_all(post, &notice, None);
        Some(notice)
    }

    /// [`leave`](Self::leave) where there is no `Conn` to send with: once
    /// the connection has closed.
    pub fn leave_after_close(&self, member: (ConnId, &[u8]), why: Departure) -> Option<Vec<u8>> {
        // Set by the member's own `join`.
        let mut remote = self.remote.get()?;
        self.leave(&mut remote, member, why)
    }

    /// What the room has done so far.
    pub fn counts(&self) -> Counts {
        self.lock().counts
    }

    fn lock(&self) -> MutexGuard<'_, Roster> {
        // A handler that panicked leaves the roster whole: each change
        // is made in one step, after what could fail.
        self.roster.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Roster {
    /// Sends `line` to every member but `except`; how many it went to.
    fn send_to_all(&self, post: &mut impl Post, line: &[u8], except: Option<ConnId>) -> u64 {
        let mut reached = 0;
        for &member in self.members.iter().filter(|&&m| Some(m) != except) {
            post.post(line, member);
            reached += 1;
        }
        reached
    }
}
