//! Is anything on port 20000 or 30000? Read from the kernel's socket tables.
//!
//! The Go programs hard-code their ports, so `compare` must know when a port
//! is free before starting a server on it, and when a Go server (which
//! prints nothing at start) has bound it. Asking by connecting would be seen
//! by the Go server as a client (it would print a failed read); binding to
//! test would race with the server's own bind. `/proc/net/{tcp,udp}{,6}`
//! answer without touching the port, and name the socket's inode, which
//! [`holder`] follows to the process that has it open.

use std::{
    fmt, fs,
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

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
        })
    }
}

/// The kernel's `st` value for a listening TCP socket.
const TCP_LISTEN: u8 = 0x0A;

/// Whether a socket of `transport` is bound to `port` in a way that a
/// server's bind would collide with: a listening TCP socket (connections in
/// TIME_WAIT do not stop a listener, which sets SO_REUSEADDR), or any UDP
/// socket with that local port.
pub fn in_use(transport: Transport, port: u16) -> Result<bool> {
    Ok(!colliding_inodes(transport, port)?.is_empty())
}

/// The inodes of the sockets that [`in_use`] counts.
fn colliding_inodes(transport: Transport, port: u16) -> Result<Vec<u64>> {
    let mut readable = false;
    let mut inodes = Vec::new();
    for table in transport.tables() {
        // tcp6/udp6 are missing when IPv6 is disabled; that is fine.
        if let Ok(text) = fs::read_to_string(table) {
            readable = true;
            inodes.extend(
                local_sockets(&text)
                    .filter(|s| {
                        s.port == port && (transport == Transport::Udp || s.state == TCP_LISTEN)
                    })
                    .map(|s| s.inode),
            );
        }
    }
    if !readable {
        bail!(
            "cannot read {} (compare needs Linux's /proc)",
            transport.tables()[0]
        );
    }
    Ok(inodes)
}

/// Who holds `port`, when it is in use: `pid 4242 (nc)`, or `None` when no
/// process this user may look into has the socket open (another user's,
/// or one that has just exited).
pub fn holder(transport: Transport, port: u16) -> Result<Option<String>> {
    let inodes = colliding_inodes(transport, port)?;
    let Ok(processes) = fs::read_dir("/proc") else {
        return Ok(None);
    };
    for process in processes.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // Another user's descriptors are unreadable: skipped, not an error.
        let Ok(fds) = fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            fs::read_link(fd.path()).is_ok_and(|target| {
                inodes
                    .iter()
                    .any(|inode| target.as_os_str() == format!("socket:[{inode}]").as_str())
            })
        });
        if holds {
            let name = fs::read_to_string(process.path().join("comm")).unwrap_or_default();
            return Ok(Some(format!("pid {pid} ({})", name.trim())));
        }
    }
    Ok(None)
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

/// One line of a `/proc/net` table: what `compare` needs of a socket.
#[derive(Debug, PartialEq, Eq)]
struct Socket {
    port: u16,
    state: u8,
    inode: u64,
}

/// Every socket in one `/proc/net` table.
///
/// A line reads `sl local_address rem_address st tx:rx tr:when retrnsmt uid
/// timeout inode …`, the address as hex `IP:PORT`, e.g. `0: 0100007F:4E20
/// 00000000:0000 0A …` for 127.0.0.1:20000 listening.
fn local_sockets(table: &str) -> impl Iterator<Item = Socket> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
        let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
        let inode = fields.get(9)?.parse().ok()?;
        Some(Socket { port, state, inode })
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
        let sockets: Vec<_> = local_sockets(TCP)
            .map(|s| (s.port, s.state, s.inode))
            .collect();
        assert_eq!(sockets, [(20000, 0x0A, 1), (30000, 0x06, 0)]);
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

    /// Linux only: the holder of a port is found through /proc.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_holder_of_a_port_is_named_by_pid() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = holder(Transport::Tcp, port).unwrap().unwrap();
        assert!(
            holder.starts_with(&format!("pid {} (", std::process::id())),
            "{holder}"
        );
    }
}
