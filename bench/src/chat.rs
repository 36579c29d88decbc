//! The `chat` scenario's load generator: [`CLIENTS`] connections to a chat
//! server on one thread (one mio `Poll`), every one reading everything.
//! Once every client has joined (each has seen the others that came after
//! it join), each client sends a line every 1/rate seconds, staggered so
//! that lines leave evenly. A line says who sent it, its number and when
//! it left (`m SENDER SEQ NANOS`), so every delivery is checked (the
//! right sender, in order, none lost or repeated) and timed: send to
//! receipt, through the server. Notices (`* …`) are not deliveries.

use std::{
    io::{Read as _, Write as _},
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use mio::{Events, Poll, net::TcpStream};

use crate::{
    cli::Args,
    exchange::{self, Recorder, polled, some},
    table::Round,
};

/// The clients, each sending and each reading everything.
pub const CLIENTS: usize = 100;
/// How long joining, or a delivery, may take before the server is taken
/// to be stuck.
const STALL_TIMEOUT: Duration = Duration::from_secs(5);

/// One client: its socket, what it has not yet sent or not yet read whole.
struct Client {
    stream: TcpStream,
    unsent: Vec<u8>,
    partial: Vec<u8>,
    /// The next line number it sends.
    seq: u64,
    /// By sender, the next line number expected from it.
    expected: Vec<u64>,
}

/// The clients, and what they have seen so far.
struct Load {
    poll: Poll,
    events: Events,
    clients: Vec<Client>,
    scratch: Vec<u8>,
    /// When the clients connected: the lines' clock.
    epoch: Instant,
    joins: usize,
    sent: u64,
    delivered: u64,
}

impl Load {
    /// Waits up to `timeout` for the sockets, then writes and reads what
    /// they allow; deliveries are timed by `recorder` while measuring.
    fn turn(&mut self, mut recorder: Option<&mut Recorder>, timeout: Duration) -> Result<()> {
        polled(self.poll.poll(&mut self.events, Some(timeout)))?;
        for event in &self.events {
            let id = event.token().0;
            let client = &mut self.clients[id];
            if event.is_writable() {
                client.flush()?;
            }
            if event.is_readable() || event.is_read_closed() {
                let seen = (&mut self.joins, &mut self.delivered);
                let recorder = recorder.as_deref_mut();
                client.read(id, &mut self.scratch, self.epoch, seen, recorder)?;
            }
        }
        Ok(())
    }

    /// Deliveries still to come of the lines sent.
    fn missing(&self) -> u64 {
        self.sent * (CLIENTS as u64 - 1) - self.delivered
    }
}

/// One round against the chat server at `addr` whose process is
/// `server_pid`.
pub fn run(addr: SocketAddr, server_pid: u32, args: &Args) -> Result<Round> {
    let poll = Poll::new()?;
    let clients = (0..CLIENTS)
        .map(|id| {
            Ok(Client {
                stream: exchange::connect(addr, poll.registry(), id)?,
                unsent: Vec::new(),
                partial: Vec::new(),
                seq: 0,
                expected: vec![0; CLIENTS],
            })
        })
        .collect::<Result<_>>()?;
    let mut load = Load {
        poll,
        events: Events::with_capacity(1024),
        clients,
        scratch: vec![0; 64 * 1024],
        epoch: Instant::now(),
        joins: 0,
        sent: 0,
        delivered: 0,
    };
    // Joining: client i sees the joins of the clients after it.
    let all_joined = CLIENTS * (CLIENTS - 1) / 2;
    let deadline = Instant::now() + STALL_TIMEOUT;
    while load.joins < all_joined {
        if Instant::now() > deadline {
            bail!(
                "{} of {all_joined} joins seen within {STALL_TIMEOUT:?}",
                load.joins
            );
        }
        load.turn(None, Duration::from_millis(100))?;
    }
    // Sending at the rate, and measuring; then the lines in flight arrive.
    let interval = Duration::from_secs_f64(1.0 / (args.rate * CLIENTS as f64));
    let mut recorder = Some(Recorder::start(server_pid, args.warmup(), args.measure())?);
    let (mut outcome, mut next, mut sender) = (None, Instant::now(), 0);
    let mut progress = (Instant::now(), 0);
    while outcome.is_none() || load.missing() > 0 {
        let now = Instant::now();
        if let Some(measuring) = recorder.as_mut() {
            if measuring.is_over(now)? {
                outcome = recorder.take().map(|r| r.finish(now)).transpose()?;
            }
        }
        while outcome.is_none() && now >= next {
            load.clients[sender].send(sender, load.epoch)?;
            (load.sent, sender, next) = (load.sent + 1, (sender + 1) % CLIENTS, next + interval);
        }
        if load.delivered > progress.1 || load.missing() == 0 {
            progress = (now, load.delivered);
        } else if now - progress.0 > STALL_TIMEOUT {
            bail!(
                "{} deliveries missing, none made for {STALL_TIMEOUT:?}: the server lost them, \
                 or holds them",
                load.missing()
            );
        }
        let wait = next
            .saturating_duration_since(now)
            .min(Duration::from_millis(100));
        load.turn(recorder.as_mut(), wait)?;
    }
    outcome.context("measured")
}

impl Client {
    /// Queues this client's next line and writes what the socket takes.
    fn send(&mut self, id: usize, epoch: Instant) -> Result<()> {
        let nanos = epoch.elapsed().as_nanos();
        writeln!(self.unsent, "m {id} {} {nanos}", self.seq)?;
        self.seq += 1;
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        while !self.unsent.is_empty() {
            match some(|| self.stream.write(&self.unsent)).context("writing a line")? {
                Some(n) => drop(self.unsent.drain(..n)),
                None => break,
            }
        }
        Ok(())
    }

    /// Reads what arrived, and checks and counts each whole line.
    fn read(
        &mut self,
        id: usize,
        scratch: &mut [u8],
        epoch: Instant,
        (joins, delivered): (&mut usize, &mut u64),
        mut recorder: Option<&mut Recorder>,
    ) -> Result<()> {
        loop {
            let read = some(|| self.stream.read(scratch));
            let n = match read.with_context(|| format!("client {id}: read"))? {
                Some(0) => bail!("the server closed client {id}'s connection"),
                Some(n) => n,
                None => return Ok(()),
            };
            self.partial.extend_from_slice(&scratch[..n]);
            let end = self
                .partial
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1);
            let now = epoch.elapsed().as_nanos();
            for line in self.partial[..end]
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
            {
                let line = std::str::from_utf8(line).unwrap_or("");
                if line.starts_with("* ") {
                    *joins += usize::from(line.ends_with(" joined"));
                    continue;
                }
                let (sender, seq, sent) = parse(line).with_context(|| {
                    format!("client {id} received {line:?}, not `NAME: m SENDER SEQ NANOS`")
                })?;
                let expected = self.expected.get_mut(sender).context("no such sender")?;
                if seq != *expected {
                    bail!(
                        "client {id} received line {seq} of client {sender}, expected {expected}"
                    );
                }
                *expected += 1;
                *delivered += 1;
                if let Some(recorder) = recorder.as_deref_mut() {
                    let latency = u64::try_from(now.saturating_sub(sent)).unwrap_or(u64::MAX);
                    recorder.completed(Duration::from_nanos(latency));
                }
            }
            self.partial.drain(..end);
        }
    }
}

/// `NAME: m SENDER SEQ NANOS` → (sender, seq, nanos).
fn parse(line: &str) -> Option<(usize, u64, u128)> {
    let mut words = line.split_once(": m ")?.1.split(' ');
    let mut next = || words.next();
    Some((
        next()?.parse().ok()?,
        next()?.parse().ok()?,
        next()?.parse().ok()?,
    ))
}
