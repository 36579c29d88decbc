//! Is anything on port 20000 or 30000? Read from the kernel's socket tables.
//!
//! The Go programs hard-code their ports, so `compare` must know when a port
//! is free before starting a server on it, and when a Go server (which
//! prints nothing at start) has bound it. Asking by connecting would be seen
//! by the Go server as a client (it would print a failed read); binding to
//! test would race with the server's own bind. `/proc/net/{tcp,udp}{,6}`
//! answer without touching the port.

use std::{
    fs,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    fn tables(self) -> [&'static str; 2] {
        match self {
            Transport::Tcp => ["/proc/net/tcp", "/proc/net/tcp6"],
            Transport::Udp => ["/proc/net/udp", "/proc/net/udp6"],
        }
    }
}

/// The kernel's `st` value for a listening TCP socket.
const TCP_LISTEN: u8 = 0x0A;

/// Whether a socket of `transport` is bound to `port` in a way that a
/// server's bind would collide with: a listening TCP socket (connections in
/// TIME_WAIT do not stop a listener, which sets SO_REUSEADDR), or any UDP
/// socket with that local port.
pub fn in_use(transport: Transport, port: u16) -> Result<bool> {
    let mut readable = false;
    let mut used = false;
    for table in transport.tables() {
        // tcp6/udp6 are missing when IPv6 is disabled; that is fine.
        if let Ok(text) = fs::read_to_string(table) {
            readable = true;
            used |= local_sockets(&text).any(|(p, state)| {
                p == port && (transport == Transport::Udp || state == TCP_LISTEN)
            });
        }
    }
    if !readable {
        bail!(
            "cannot read {} (compare needs Linux's /proc)",
            transport.tables()[0]
        );
    }
    Ok(used)
}

/// Waits until `in_use` is `wanted`, checking `still_ok` between looks (a
/// server that exited will never bind). Bounded by `timeout`.
pub fn wait_until(
    transport: Transport,
    port: u16,
    wanted: bool,
    timeout: Duration,
    mut still_ok: impl FnMut() -> Result<()>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if in_use(transport, port)? == wanted {
            return Ok(());
        }
        still_ok()?;
        if Instant::now() >= deadline {
            let state = if wanted { "in use" } else { "free" };
            bail!("{transport:?} port {port} was not {state} within {timeout:?}");
        }
        // The kernel offers no notification for "someone bound a port";
        // a short poll, bounded by the deadline, is the way.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `(local port, state)` of every socket in one `/proc/net` table.
///
/// A line reads `sl local_address rem_address st …`, the address as hex
/// `IP:PORT`, e.g. `0: 0100007F:4E20 00000000:0000 0A …` for 127.0.0.1:20000
/// listening.
fn local_sockets(table: &str) -> impl Iterator<Item = (u16, u8)> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let local = fields.next()?;
        let state = fields.nth(1)?;
        let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
        Some((port, u8::from_str_radix(state, 16).ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:7530 0100007F:9C40 06 00000000:00000000 03:00000F3E 00000000     0        0 0 3 0
";

    #[test]
    fn proc_net_lines_give_port_and_state() {
        let sockets: Vec<_> = local_sockets(TCP).collect();
        assert_eq!(sockets, [(20000, 0x0A), (30000, 0x06)]);
        assert_eq!(local_sockets("header only\n").count(), 0);
        assert_eq!(local_sockets("h\n   0: garbage\n").count(), 0);
    }

    #[test]
    fn a_listener_on_an_ephemeral_port_is_seen_and_then_gone() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(in_use(Transport::Tcp, port).unwrap());
        drop(listener);
        wait_until(Transport::Tcp, port, false, Duration::from_secs(5), || {
            Ok(())
        })
        .unwrap();
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        assert!(in_use(Transport::Udp, port).unwrap());
    }
}
