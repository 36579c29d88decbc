//! One connection of the chat: its lines in, what they ask of the room
//! out. The Go twin's `readLines` and its `client`, as a [`Handler`] the
//! loop calls with whatever each `read` returned.
//!
//! The loop hands over reads, not lines; a [`FrameReader`] over `proto`'s
//! [`LineCodec`] keeps what arrived and hands back whole lines, however
//! the reads fell, and refuses a line longer than 64 KiB as soon as that
//! much has come without a newline, before keeping more.
//!
//! The lines a peer says in one read go to the room together, as one
//! letter per member (`said`): a peer that pastes a hundred lines costs
//! each other member one letter, not a hundred. Anything else it asks
//! (`/nick`, `/quit`) sends those first, so that the others get every
//! line in the order it was sent, each under the name it was said with.

use std::net::SocketAddr;
use std::sync::Arc;

use edges::Escaped;
use edges::console::Console;
use netpoll::tcp::{CloseReason, Conn, ConnId, FrameReader, Handler};
use proto::{LineCodec, LineError};

use crate::protocol::{self, Command, Request};
use crate::room::{Departure, Refusal, Room};

/// The handler of one connection.
#[derive(Debug)]
pub struct Client {
    lines: FrameReader<LineCodec>,
    member: Member,
}

/// The connection as a member of the room.
#[derive(Debug)]
struct Member {
    room: Arc<Room>,
    /// Who it is, from its arrival until it leaves.
    here: Option<Here>,
    peer: SocketAddr,
    /// No line printed for each thing said and done (`--quiet`).
    quiet: bool,
    /// The lines said in this read, `NAME: TEXT` each, not yet sent.
    said: Vec<u8>,
    /// How many lines `said` holds.
    said_count: u64,
}

/// A member's id and name while it is in the room.
#[derive(Debug)]
struct Here {
    id: ConnId,
    name: Vec<u8>,
}

impl Client {
    /// The handler of the connection from `peer`, a member of `room` once
    /// it is open.
    pub fn new(room: Arc<Room>, peer: SocketAddr, quiet: bool) -> Self {
        Client {
            lines: FrameReader::new(LineCodec::new()),
            member: Member {
                room,
                here: None,
                peer,
                quiet,
                said: Vec::new(),
                said_count: 0,
            },
        }
    }
}

impl Handler for Client {
    /// The newcomer is welcomed and the others told, before it says a word.
    fn on_open(&mut self, conn: &mut Conn<'_>) {
        let member = &mut self.member;
        let name = member.room.join(conn);
        member.print(&protocol::notice(&name, " joined"));
        member.here = Some(Here {
            id: conn.id(),
            name,
        });
    }

    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        let Client { lines, member } = self;
        let fed = lines.feed(data, |line| member.on_line(conn, &line));
        member.send_said(conn);
        if let Err(too_long) = fed {
            member.refuse(conn, &too_long);
        }
    }

    // A last line without its newline is dropped, as in the Go twin: the
    // peer hung up in the middle of it. The loop closes the connection once
    // what was sent to it is written, and `on_close` says it left.

    fn on_close(&mut self, _peer: SocketAddr, reason: &CloseReason) {
        let member = &mut self.member;
        let Some(Here { id, name }) = member.here.take() else {
            return; // it quit, or was refused, and the others were told then
        };
        let why = match reason {
            CloseReason::TooSlow { .. } => Departure::TooSlow,
            CloseReason::Shutdown { .. } | CloseReason::StoppedNow => Departure::Stopping,
            _ => Departure::Left,
        };
        if let Some(notice) = member.room.leave_after_close((id, &name), why) {
            member.print(&notice);
        }
    }
}

impl Member {
    /// One whole line from the peer, without its newline.
    fn on_line(&mut self, conn: &mut Conn<'_>, line: &[u8]) {
        match Request::parse(line) {
            Request::Say(text) => self.keep_said(text),
            Request::Command(command) => {
                self.send_said(conn);
                self.obey(conn, command);
            }
        }
    }

    /// Keeps a line the peer said, to send with the others of this read.
    fn keep_said(&mut self, text: &[u8]) {
        let Some(here) = &self.here else {
            return; // it quit earlier in this read: the rest is not heard
        };
        let start = self.said.len();
        protocol::said(&mut self.said, &here.name, text);
        self.said_count += 1;
        self.print(&self.said[start..]);
    }

    fn obey(&mut self, conn: &mut Conn<'_>, command: Command<'_>) {
        let Some(here) = &mut self.here else {
            return;
        };
        match command {
            Command::Nick(new) => match self.room.rename(conn, &mut here.name, new) {
                Ok(renamed) => self.print(&renamed),
                Err(refusal) => conn.send(&refused(new, refusal)),
            },
            Command::Quit => {
                self.leave(conn, Departure::Left);
                // What it was sent before still reaches it, then the end
                // of the stream; what it sends after is not read.
                conn.close_after_sending();
            }
            Command::Unknown => conn.send(&protocol::unknown_command()),
        }
    }

    /// Sends the others what the peer said in this read, in one letter
    /// each.
    fn send_said(&mut self, conn: &mut Conn<'_>) {
        if let (Some(here), false) = (&self.here, self.said.is_empty()) {
            self.room.say(conn, here.id, &self.said, self.said_count);
        }
        self.said.clear();
        self.said_count = 0;
    }

    /// A line too long to keep: the peer is told why, leaves, and its
    /// connection is closed once that is written.
    fn refuse(&mut self, conn: &mut Conn<'_>, too_long: &LineError) {
        if self.here.is_none() {
            return;
        }
        conn.send(format!("error: {too_long}\n").as_bytes());
        self.leave(conn, Departure::Left);
        conn.close_after_sending();
    }

    /// Leaves the room now, while there is a `Conn` to tell the others with.
    fn leave(&mut self, conn: &mut Conn<'_>, why: Departure) {
        if let Some(Here { id, name }) = self.here.take() {
            if let Some(notice) = self.room.leave(conn, (id, &name), why) {
                self.print(&notice);
            }
        }
    }

    /// Prints `line` (one the room sent, with its newline) and who caused
    /// it, unless quiet: the server's transcript of the room.
    fn print(&self, line: &[u8]) {
        if !self.quiet {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            Console::stdout().line(format_args!("{} (from {})", Escaped(line), self.peer));
        }
    }
}

/// `* cannot take that name: REASON`, to the peer that asked for `name`.
fn refused(name: &[u8], refusal: Refusal) -> Vec<u8> {
    let mut line = b"* cannot take that name: ".to_vec();
    match refusal {
        Refusal::Unfit(why) => line.extend_from_slice(why.as_bytes()),
        Refusal::InUse => {
            line.extend_from_slice(name);
            line.extend_from_slice(b" is in use");
        }
    }
    line.push(b'\n');
    line
}
