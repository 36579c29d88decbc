//! The `idle` scenario: open many connections that send nothing, prove a sample
//! of them is still served, and see how much resident memory the server spent
//! on them.
//!
//! An idle connection should cost the server a socket and a small bookkeeping
//! entry; a server that gives each connection its own read buffer (or a task
//! with one) pays for that buffer on every idle connection.

use std::{
    io::{self, Read, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use socket2::{Domain, Protocol, Socket, Type};

use crate::{procfs, table::Round};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ECHO_TIMEOUT: Duration = Duration::from_secs(5);
/// Well under the smallest listen backlog in play: 128, what std, mio and so
/// tokio pass to `listen` (tcp-server passes 4096).
const PACE_EVERY: usize = 64;
/// How many of the idle connections are checked for an echo.
const SAMPLE: usize = 100;

/// Opens `count` idle connections to the server at `addr` whose process
/// is `server_pid`, and reads its memory before and after.
pub fn run(addr: SocketAddr, server_pid: u32, count: usize) -> Result<Round> {
    // One echo first, so what the server allocates once (its scratch buffer, a
    // runtime's first task) is in the "before" figure, not spread over the idle
    // connections.
    let mut warm = connect(addr, None).context("warm-up connection")?;
    check_echo(&mut warm, u64::MAX).context("warm-up connection")?;
    drop(warm);
    let rss_before = procfs::rss_bytes(server_pid)?;

    let opening = Instant::now();
    let mut conns = Vec::with_capacity(count);
    // `None`: let the kernel pick the source address and port. When its
    // ephemeral ports run out, bind explicitly to 127.0.0.2, .3, … — each source
    // address has a port range of its own.
    let mut source: Option<Ipv4Addr> = None;
    let mut source_addrs = 1;
    while conns.len() < count {
        match connect(addr, source) {
            Ok(mut stream) => {
                // Pace ourselves to the server: connect() completes in the
                // kernel before the server accepts, so a client faster than
                // the server's accept loop overflows the listen backlog, and
                // each dropped SYN costs a 1 s retransmission. An echo on the
                // newest connection every so often proves the server has
                // accepted everything before it (one loop accepts in order).
                if (conns.len() + 1) % PACE_EVERY == 0 {
                    check_echo(&mut stream, conns.len() as u64)
                        .with_context(|| format!("idle connection {}", conns.len()))?;
                }
                conns.push(stream);
            }
            Err(err) if ports_exhausted(&err) && addr.ip().is_loopback() && addr.is_ipv4() => {
                let next = match source {
                    None => Ipv4Addr::new(127, 0, 0, 2),
                    Some(ip) if ip.octets()[3] < 254 => Ipv4Addr::from(u32::from(ip) + 1),
                    Some(_) => bail!("out of source ports even on 127.0.0.254"),
                };
                eprintln!(
                    "idle: {err} after {} connections; binding {next} as the source",
                    conns.len()
                );
                source = Some(next);
                source_addrs += 1;
            }
            Err(err) => {
                let hint = if err.raw_os_error() == Some(libc::EMFILE) {
                    " (this process is out of descriptors: raise `ulimit -Hn`)"
                } else {
                    ""
                };
                return Err(err).with_context(|| {
                    format!(
                        "opening idle connection {} to {addr}{hint}",
                        conns.len() + 1
                    )
                });
            }
        }
    }

    eprintln!(
        "idle: opened {count} connections in {:.1} s",
        opening.elapsed().as_secs_f64()
    );

    // Sample evenly, and always the last one: a single event loop accepts in
    // order, so the last connection answering means every one was accepted.
    let step = (count / SAMPLE).max(1);
    let mut sample: Vec<usize> = (0..count).step_by(step).collect();
    if let Some(last) = count.checked_sub(1) {
        if sample.last() != Some(&last) {
            sample.push(last);
        }
    }
    for &index in &sample {
        check_echo(&mut conns[index], index as u64)
            .with_context(|| format!("idle connection {index} no longer echoes"))?;
    }
    let rss_after = procfs::rss_bytes(server_pid)?;
    drop(conns);
    let (before, after) = (rss_before as f64, rss_after as f64);
    Ok(Round::new([
        ("conns", count as f64),
        ("sampled", sample.len() as f64),
        ("rss before", before),
        ("rss after", after),
        // Negative if it shrank.
        ("rss growth", after - before),
        ("sources", source_addrs as f64),
    ]))
}

fn connect(addr: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<std::net::TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(ip) = source {
        socket.bind(&SocketAddr::new(IpAddr::V4(ip), 0).into())?;
    }
    socket.connect_timeout(&addr.into(), CONNECT_TIMEOUT)?;
    Ok(socket.into())
}

/// EADDRNOTAVAIL from connect, or EADDRINUSE from bind: no free source port.
fn ports_exhausted(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EADDRNOTAVAIL) | Some(libc::EADDRINUSE)
    )
}

/// Sends 8 bytes that name `token` and expects them back.
fn check_echo(stream: &mut std::net::TcpStream, token: u64) -> Result<()> {
    stream.set_read_timeout(Some(ECHO_TIMEOUT))?;
    let message = (token ^ 0x1d1e_c0de_1d1e_c0de).to_le_bytes();
    stream.write_all(&message).context("write")?;
    let mut echo = [0; 8];
    stream.read_exact(&mut echo).context("reading the echo")?;
    if echo != message {
        bail!("echo {echo:02x?} differs from {message:02x?}");
    }
    Ok(())
}
