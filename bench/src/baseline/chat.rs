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

use tokio::{
    io::{AsyncWriteExt, BufReader},
    net::{TcpStream, tcp::OwnedWriteHalf},
    sync::mpsc,
    task::AbortHandle,
};

use super::{
    BaselineArgs,
    lines::{TOO_LONG, next_line},
};

const HELP: &str = "/nick NAME renames you, /quit leaves";

/// The room every connection shares.
#[derive(Clone)]
pub struct Room(Arc<Mutex<Shared>>);

struct Shared {
    peers: HashMap<u64, Peer>,
    connections: u64,
    max_pending: usize,
}

struct Peer {
    name: Vec<u8>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes queued for the peer and not yet written.
    pending: Arc<AtomicUsize>,
    writer: AbortHandle,
}

impl Room {
    /// An empty room, its peers bounded as `args` say.
    pub fn new(args: &BaselineArgs) -> Room {
        let shared = Shared {
            peers: HashMap::new(),
            connections: 0,
            max_pending: args.max_pending,
        };
        Room(Arc::new(Mutex::new(shared)))
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Serves one peer: joins it, hands each of its lines to the room,
    /// and announces it has left.
    pub async fn serve(self, socket: TcpStream) {
        let _ = socket.set_nodelay(true);
        let (read, write) = socket.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn(write_lines(write, rx, pending.clone())).abort_handle();
        let id = {
            let mut shared = self.shared();
            shared.connections += 1;
            let id = shared.connections;
            let name = format!("guest{id}").into_bytes();
            let others = shared.peers.len();
            let welcome = format!("* welcome, you are guest{id}; {others} others here; {HELP}");
            let joined = [b"* ", &name[..], b" joined"].concat();
            let peer = Peer {
                name,
                tx,
                pending,
                writer,
            };
            shared.peers.insert(id, peer);
            shared.send(id, welcome.into_bytes());
            shared.broadcast(Some(id), &joined);
            id
        };
        let (mut reader, mut line) = (BufReader::new(read), Vec::new());
        loop {
            let fits = next_line(&mut reader, &mut line).await;
            let mut shared = self.shared();
            match fits {
                // Gone already: disconnected as too slow.
                _ if !shared.peers.contains_key(&id) => return,
                Some(true) if line != b"/quit" => shared.handle(id, &line),
                Some(false) => {
                    shared.send(id, TOO_LONG.to_vec());
                    break;
                }
                _ => break,
            }
        }
        self.shared().remove(id, b"left");
    }
}

impl Shared {
    /// One line from peer `id`.
    fn handle(&mut self, id: u64, line: &[u8]) {
        let name = self.peers[&id].name.clone();
        if let Some(new) = line
            .strip_prefix(b"/nick")
            .filter(|r| r.is_empty() || r[0] == b' ')
        {
            let new = new.strip_prefix(b" ").unwrap_or(new);
            match self.refuse(new) {
                Some(why) => {
                    let refused = format!("* cannot take that name: {why}");
                    self.send(id, refused.into_bytes());
                }
                None => {
                    let renamed = [b"* ", &name[..], b" is now ", new].concat();
                    if let Some(peer) = self.peers.get_mut(&id) {
                        peer.name = new.to_vec();
                    }
                    self.broadcast(None, &renamed);
                }
            }
        } else if line.starts_with(b"/") {
            self.send(id, format!("* unknown command; {HELP}").into_bytes());
        } else {
            self.broadcast(Some(id), &[&name[..], b": ", line].concat());
        }
    }

    /// Why `name` cannot be taken, if it cannot.
    fn refuse(&self, name: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(name);
        if !(1..=32).contains(&text.chars().count()) {
            return Some("a name has 1 to 32 characters".to_owned());
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Some("a name has no spaces or control characters".to_owned());
        }
        let taken = self.peers.values().any(|p| p.name == name);
        taken.then(|| format!("{text} is in use"))
    }

    /// Queues `line` for peer `id`; false if that would pass its bound.
    fn send(&mut self, id: u64, line: Vec<u8>) -> bool {
        let Some(peer) = self.peers.get(&id) else {
            return true;
        };
        let size = line.len() + 1;
        if peer.pending.load(Relaxed) + size > self.max_pending {
            return false;
        }
        peer.pending.fetch_add(size, Relaxed);
        // A closed channel: the peer is leaving, its task will say so.
        let _ = peer.tx.send(line);
        true
    }

    /// Sends `line` to every peer but `skip`; those past their bound are
    /// disconnected, and the others told why.
    fn broadcast(&mut self, skip: Option<u64>, line: &[u8]) {
        let ids: Vec<u64> = self
            .peers
            .keys()
            .copied()
            .filter(|&id| Some(id) != skip)
            .collect();
        let slow: Vec<u64> = ids
            .into_iter()
            .filter(|&id| !self.send(id, line.to_vec()))
            .collect();
        for id in slow {
            if let Some(peer) = self.peers.get(&id) {
                peer.writer.abort();
            }
            self.remove(id, b"left (too slow: it did not read its messages)");
        }
    }

    /// Forgets peer `id` and tells the others why it went.
    fn remove(&mut self, id: u64, why: &[u8]) {
        if let Some(peer) = self.peers.remove(&id) {
            self.broadcast(None, &[b"* ", &peer.name[..], b" ", why].concat());
        }
    }
}

/// The peer's writer: each queued line, then the end of its stream once
/// the room has dropped the peer.
async fn write_lines(
    mut socket: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    pending: Arc<AtomicUsize>,
) {
    while let Some(mut line) = rx.recv().await {
        pending.fetch_sub(line.len() + 1, Relaxed);
        line.push(b'\n');
        if socket.write_all(&line).await.is_err() {
            return;
        }
    }
}
