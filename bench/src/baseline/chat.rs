//! `tokio-chat`: the chat of `chat`'s protocol as tokio's own
//! `examples/chat.rs` writes it: the peers in a `HashMap` behind a mutex,
//! each with an unbounded channel to the task that writes to it, and a
//! broadcast that sends to every other peer's channel. Its one addition is
//! the protocol's bound on what a peer leaves unread (`--max-pending`):
//! past it the peer is disconnected and the others are told why.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering::Relaxed},
    },
};

use tokio::{io::AsyncWriteExt, net::TcpStream, sync::mpsc, task::AbortHandle};

use super::lines::{TOO_LONG, next_line};

const HELP: &str = "/nick NAME renames you, /quit leaves";

/// The room every connection shares.
#[derive(Clone)]
pub struct Room(Arc<Mutex<Shared>>);

/// The room's state: the peers by id, the connections counted (for guest
/// names), the bound on a peer's unread bytes.
struct Shared {
    peers: HashMap<u64, Peer>,
    connections: u64,
    max_pending: usize,
}

/// A peer: its name, its writer's queue, the bytes queued and not yet
/// written, and its writer task (aborted if it falls too far behind).
struct Peer {
    name: String,
    tx: mpsc::UnboundedSender<String>,
    pending: Arc<AtomicUsize>,
    writer: AbortHandle,
}

impl Room {
    /// An empty room whose peers may leave `max_pending` bytes unread.
    pub fn new(max_pending: usize) -> Room {
        let peers = HashMap::new();
        Room(Arc::new(Mutex::new(Shared {
            peers,
            connections: 0,
            max_pending,
        })))
    }

    /// Runs `change` on the room, under its lock.
    fn with<T>(&self, change: impl FnOnce(&mut Shared) -> T) -> T {
        let mut room = self.0.lock();
        change(
            room.as_deref_mut()
                .unwrap_or_else(|poisoned| poisoned.get_mut()),
        )
    }

    /// Serves one peer: joins it, hands each of its lines to the room,
    /// and announces it has left.
    pub async fn serve(self, socket: TcpStream) {
        let _ = socket.set_nodelay(true);
        let (read, mut write) = socket.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let pending = Arc::new(AtomicUsize::new(0));
        let queued = Arc::clone(&pending);
        let writer = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                queued.fetch_sub(line.len(), Relaxed);
                if write.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
        let id = self.with(|room| {
            room.join(Peer {
                name: String::new(),
                tx,
                pending,
                writer: writer.abort_handle(),
            })
        });
        let (mut reader, mut line) = (tokio::io::BufReader::new(read), Vec::new());
        while let Some(fits) = next_line(&mut reader, &mut line).await {
            let text = String::from_utf8_lossy(&line).into_owned();
            let go_on = self.with(|room| match fits {
                // Gone already: disconnected as too slow.
                _ if !room.peers.contains_key(&id) => false,
                true if text != "/quit" => room.handle(id, &text),
                true => false,
                false => {
                    room.send(id, TOO_LONG);
                    false
                }
            });
            if !go_on {
                break;
            }
        }
        self.with(|room| room.remove(id, "left"));
    }
}

impl Shared {
    /// Names a new peer, welcomes it and tells the others; its id.
    fn join(&mut self, mut peer: Peer) -> u64 {
        self.connections += 1;
        let id = self.connections;
        peer.name = format!("guest{id}");
        let others = self.peers.len();
        let welcome = format!("* welcome, you are guest{id}; {others} others here; {HELP}");
        self.peers.insert(id, peer);
        self.send(id, &welcome);
        self.broadcast(Some(id), &format!("* guest{id} joined"));
        id
    }

    /// One line from peer `id`; false when the peer is to be closed.
    fn handle(&mut self, id: u64, line: &str) -> bool {
        let name = self.peers[&id].name.clone();
        let nick = line
            .strip_prefix("/nick")
            .filter(|rest| rest.is_empty() || rest.starts_with(' '));
        if let Some(new) = nick.map(|rest| rest.strip_prefix(' ').unwrap_or(rest)) {
            let taken = self.peers.values().any(|p| p.name == new);
            let why = match new.chars().count() {
                1..=32 if new.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                    Some("a name has no spaces or control characters".to_owned())
                }
                1..=32 => taken.then(|| format!("{new} is in use")),
                _ => Some("a name has 1 to 32 characters".to_owned()),
            };
            if let Some(why) = why {
                self.send(id, &format!("* cannot take that name: {why}"));
            } else {
                self.peers.entry(id).and_modify(|p| p.name = new.to_owned());
                self.broadcast(None, &format!("* {name} is now {new}"));
            }
        } else if line.starts_with('/') {
            self.send(id, &format!("* unknown command; {HELP}"));
        } else {
            self.broadcast(Some(id), &format!("{name}: {line}"));
        }
        true
    }

    /// Queues `line` for peer `id`; false if that would pass its bound.
    fn send(&mut self, id: u64, line: &str) -> bool {
        let Some(peer) = self.peers.get(&id) else {
            return true;
        };
        let line = format!("{line}\n");
        if peer.pending.load(Relaxed) + line.len() > self.max_pending {
            return false;
        }
        peer.pending.fetch_add(line.len(), Relaxed);
        // A closed channel: the peer is leaving, its task will say so.
        let _ = peer.tx.send(line);
        true
    }

    /// Sends `line` to every peer but `skip`; those past their bound are
    /// disconnected, and the others told why.
    fn broadcast(&mut self, skip: Option<u64>, line: &str) {
        let ids: Vec<u64> = self
            .peers
            .keys()
            .copied()
            .filter(|&id| Some(id) != skip)
            .collect();
        let slow: Vec<u64> = ids.into_iter().filter(|&id| !self.send(id, line)).collect();
        for id in slow {
            if let Some(peer) = self.peers.get(&id) {
                peer.writer.abort();
            }
            self.remove(id, "left (too slow: it did not read its messages)");
        }
    }

    /// Forgets peer `id` and tells the others why it went.
    fn remove(&mut self, id: u64, why: &str) {
        if let Some(peer) = self.peers.remove(&id) {
            self.broadcast(None, &format!("* {} {why}", peer.name));
        }
    }
}
