//! Which sockets serve on this machine, and which process holds each: read
//! from the kernel's tables (`/proc/net/{tcp,udp}{,6}` and each process's
//! `/proc/<pid>/fd`), Linux only (elsewhere every call is an error).
//!
//! A server that does not announce its port (the Go tutorial's, which
//! hard-codes it and prints nothing) is seen ready when its socket appears
//! here; asking by connecting would be seen by the server as a client, and
//! binding to test would race with the server's own bind. `compare` uses it
//! to know a fixed port is free and who holds it when not; the bench, to
//! find the process to measure behind any server it is pointed at.

use std::{
    fmt, fs, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A listening TCP socket.
    Tcp,
    /// A bound UDP socket.
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
        })
    }
}

/// A socket a server's bind would collide with: a listening TCP socket
/// (connections in TIME_WAIT do not stop a listener, which sets
/// SO_REUSEADDR), or any UDP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serving {
    /// Its local address (`0.0.0.0` or `::` when bound to every address).
    pub addr: SocketAddr,
    inode: u64,
}

impl Serving {
    /// An address a client on this machine reaches it at: loopback for a
    /// socket bound to every address.
    pub fn reachable(&self) -> SocketAddr {
        match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, self.addr.port()).into(),
            IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, self.addr.port()).into(),
            _ => self.addr,
        }
    }
}

/// The kernel's `st` value for a listening TCP socket.
const TCP_LISTEN: u8 = 0x0A;

/// Every serving socket of `transport` on the machine.
pub fn serving(transport: Transport) -> io::Result<Vec<Serving>> {
    let tables = match transport {
        Transport::Tcp => ["/proc/net/tcp", "/proc/net/tcp6"],
        Transport::Udp => ["/proc/net/udp", "/proc/net/udp6"],
    };
    let mut readable = None;
    let mut sockets = Vec::new();
    for table in tables {
        // tcp6/udp6 are missing when IPv6 is disabled; that is fine.
        match fs::read_to_string(table) {
            Ok(text) => {
                readable = Some(());
                sockets.extend(table_lines(&text).filter_map(|(addr, state, inode)| {
                    (transport == Transport::Udp || state == TCP_LISTEN)
                        .then_some(Serving { addr, inode })
                }));
            }
            Err(e) if readable.is_none() && table == tables[1] => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot read {}: {e}", tables[0]),
                ));
            }
            Err(_) => {}
        }
    }
    Ok(sockets)
}

/// Whether a serving socket of `transport` has `port`.
pub fn in_use(transport: Transport, port: u16) -> io::Result<bool> {
    Ok(serving(transport)?.iter().any(|s| s.addr.port() == port))
}

/// Which of `pids` holds each of `sockets` open: `(pid, socket)` pairs.
/// Another user's processes cannot be looked into, and are passed over.
pub fn held_by(sockets: &[Serving], pids: impl IntoIterator<Item = u32>) -> Vec<(u32, Serving)> {
    let mut held = Vec::new();
    for pid in pids {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if let Some(socket) = sockets
                .iter()
                .find(|s| target == format!("socket:[{}]", s.inode))
            {
                held.push((pid, *socket));
            }
        }
    }
    held
}

/// Every process id on the machine.
pub fn all_processes() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// The processes of the process group `pgid` (a harness child's group is
/// its pid): the child and whatever it started (`go run`'s program).
pub fn group_members(pgid: u32) -> Vec<u32> {
    all_processes()
        .into_iter()
        .filter(|&pid| {
            // The fifth field of `stat`, counted after the `)` that closes
            // the command name (which may itself hold spaces).
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after_name.split_whitespace().nth(2) == Some(&pgid.to_string())
        })
        .collect()
}

/// `pid 4242 (nc)`: a process as a message names it.
pub fn describe_process(pid: u32) -> String {
    let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    format!("pid {pid} ({})", name.trim())
}

/// Who holds a serving socket of `transport` with `port`, as
/// [`describe_process`] says it; `None` when no process this user may
/// look into has it open.
pub fn holder(transport: Transport, port: u16) -> io::Result<Option<String>> {
    let sockets: Vec<Serving> = serving(transport)?
        .into_iter()
        .filter(|s| s.addr.port() == port)
        .collect();
    let held = held_by(&sockets, all_processes());
    Ok(held.first().map(|(pid, _)| describe_process(*pid)))
}

/// `(local address, state, inode)` of every line of one `/proc/net` table.
///
/// A line reads `sl local_address rem_address st tx:rx tr:when retrnsmt uid
/// timeout inode …`, the address as hex `IP:PORT`, e.g. `0: 0100007F:4E20
/// 00000000:0000 0A …` for 127.0.0.1:20000 listening. The IP is in the
/// kernel's byte order: 32-bit words, each little-endian on this machine.
fn table_lines(table: &str) -> impl Iterator<Item = (SocketAddr, u8, u64)> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (ip, port) = fields.get(1)?.split_once(':')?;
        let port = u16::from_str_radix(port, 16).ok()?;
        let words: Vec<[u8; 4]> = (0..ip.len() / 8)
            .map(|i| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok())
            .collect::<Option<Vec<u32>>>()?
            .into_iter()
            .map(|word| word.to_le_bytes())
            .collect();
        let ip = match words.as_slice() {
            [v4] => IpAddr::from(*v4),
            [a, b, c, d] => IpAddr::from(<[u8; 16]>::try_from([*a, *b, *c, *d].concat()).ok()?),
            _ => return None,
        };
        let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
        let inode = fields.get(9)?.parse().ok()?;
        Some((SocketAddr::new(ip, port), state, inode))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:7530 0100007F:9C40 06 00000000:00000000 03:00000F3E 00000000     0        0 0 3 0
";

    #[test]
    fn proc_net_lines_give_address_state_and_inode() {
        let sockets: Vec<_> = table_lines(TCP).collect();
        assert_eq!(
            sockets,
            [
                ("127.0.0.1:20000".parse().unwrap(), 0x0A, 1),
                ("[::1]:30000".parse().unwrap(), 0x06, 0)
            ]
        );
        assert_eq!(table_lines("header only\n").count(), 0);
        assert_eq!(table_lines("h\n   0: garbage\n").count(), 0);
    }

    /// Linux only: the tables and the holders are read from /proc.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_serving_socket_is_seen_with_its_holder_and_then_gone() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(in_use(Transport::Tcp, port).unwrap());
        let holder = holder(Transport::Tcp, port).unwrap().unwrap();
        assert!(
            holder.starts_with(&format!("pid {} (", std::process::id())),
            "{holder}"
        );
        drop(listener);
        assert!(!in_use(Transport::Tcp, port).unwrap());
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let found = serving(Transport::Udp).unwrap();
        let mine = held_by(&found, [std::process::id()]);
        assert!(mine.iter().any(|(_, s)| s.reachable() == addr), "{mine:?}");
    }
}
