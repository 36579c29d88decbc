//! The `udp` scenario's load generator: one socket, one datagram in flight,
//! each reply checked against what was sent before the next datagram goes out.
//!
//! With a single datagram in flight a blocking socket is the cheapest client:
//! `send` then `recv`, no readiness machinery. The socket is connected to the
//! server, so the kernel drops datagrams from anyone else.

use std::{
    collections::VecDeque,
    io,
    net::{SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{cli::Args, exchange::Recorder, payload, table::Round};

/// A reply slower than this counts as lost; loopback does not lose datagrams
/// unless the server drops them.
const REPLY_TIMEOUT: Duration = Duration::from_millis(500);
/// Consecutive losses after which the server is taken to be gone.
const MAX_LOST_IN_A_ROW: u32 = 10;
/// Lost requests remembered, so their late replies are recognised, not errors.
const REMEMBERED_LOST: usize = 64;

/// One round against the server at `addr` whose process is `server_pid`.
pub fn run(addr: SocketAddr, server_pid: u32, args: &Args) -> Result<Round> {
    let len = args.len as usize;
    if len == 0 || len > 65_507 {
        bail!("a UDP ping-pong payload is 1 to 65 507 bytes, not {len}");
    }
    let local: SocketAddr = if addr.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    let socket = UdpSocket::bind(local).context("binding the client socket")?;
    socket
        .connect(addr)
        .with_context(|| format!("connecting to {addr}"))?;
    socket.set_read_timeout(Some(REPLY_TIMEOUT))?;

    let mut request = vec![0; len];
    let mut reply = vec![0; 65_536];
    let mut late = vec![0; len];
    let mut lost_seqs: VecDeque<u64> = VecDeque::new();
    let mut lost_in_a_row = 0u32;
    let mut recorder = Recorder::start(server_pid, args.warmup(), args.measure())?;
    let mut seq = 0u64;

    loop {
        let now = Instant::now();
        if recorder.is_over(now)? {
            return recorder.finish(now);
        }

        seq += 1;
        payload::fill(&mut request, 0, seq);
        let sent_at = Instant::now();
        send(&socket, &request).with_context(|| format!("sending datagram {seq} to {addr}"))?;
        // Wait for this request's reply; a bounded number of stale replies
        // (to requests given up as lost) may arrive first.
        let mut answered = false;
        for _ in 0..=REMEMBERED_LOST {
            let n = match socket.recv(&mut reply) {
                Ok(n) => n,
                Err(err) if is_timeout(&err) => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("waiting for the reply from {addr}"));
                }
            };
            if reply[..n] == request[..] {
                answered = true;
                break;
            }
            let stale = lost_seqs.iter().any(|&old| {
                payload::fill(&mut late, 0, old);
                reply[..n] == late[..]
            });
            if !stale {
                bail!(
                    "reply to datagram {seq} is wrong: {n} bytes, {} expected, first difference at {}",
                    request.len(),
                    payload::first_mismatch(&reply[..n], &request).unwrap_or(0)
                );
            }
        }
        if answered {
            recorder.completed(sent_at.elapsed());
            lost_in_a_row = 0;
        } else {
            recorder.lost();
            lost_in_a_row += 1;
            if lost_seqs.len() == REMEMBERED_LOST {
                lost_seqs.pop_front();
            }
            lost_seqs.push_back(seq);
            if lost_in_a_row >= MAX_LOST_IN_A_ROW {
                bail!("{MAX_LOST_IN_A_ROW} datagrams in a row got no reply from {addr}");
            }
        }
    }
}

fn send(socket: &UdpSocket, datagram: &[u8]) -> io::Result<()> {
    loop {
        match socket.send(datagram) {
            Ok(n) if n == datagram.len() => return Ok(()),
            Ok(n) => {
                return Err(io::Error::other(format!(
                    "sent {n} of {} bytes",
                    datagram.len()
                )));
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
}

/// A read timeout shows as WouldBlock on Unix (EAGAIN), TimedOut elsewhere.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lost_row_names_the_reply_timeout_in_force() {
        // The row's label is a fixed string (`scenarios.rs`): it must not
        // drift from the timeout it describes.
        let metrics = crate::cli::Scenario::Udp.metrics();
        let label = &metrics.last().expect("udp loses datagrams").name;
        let timeout = format!("no reply in {} ms", REPLY_TIMEOUT.as_millis());
        assert!(label.contains(&timeout), "{label}");
    }
}
