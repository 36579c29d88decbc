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

/// The kernel's `st` value for a listening TCP socket.
const TCP_LISTEN: u8 = 0x0A;

/// Every socket of `transport` on the machine a server's bind would
/// collide with (a listening TCP socket: connections in TIME_WAIT do not
/// stop a listener, which sets SO_REUSEADDR; any UDP socket), on `port` if
/// given: `(local address, inode)`.
fn serving(transport: Transport, port: Option<u16>) -> io::Result<Vec<(SocketAddr, u64)>> {
    let tables = match transport {
        Transport::Tcp => ["/proc/net/tcp", "/proc/net/tcp6"],
        Transport::Udp => ["/proc/net/udp", "/proc/net/udp6"],
    };
    let text = fs::read_to_string(tables[0])
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", tables[0])))?;
    // tcp6/udp6 are missing when IPv6 is disabled; that is fine.
    let text6 = fs::read_to_string(tables[1]).unwrap_or_default();
    let sockets = table_lines(&text).chain(table_lines(&text6));
    let serving = sockets.filter(|(addr, state, _)| {
        (transport == Transport::Udp || *state == TCP_LISTEN)
            && port.is_none_or(|p| addr.port() == p)
    });
    Ok(serving.map(|(addr, _, inode)| (addr, inode)).collect())
}

/// Whether a serving socket of `transport` has `port`.
pub fn in_use(transport: Transport, port: u16) -> io::Result<bool> {
    Ok(!serving(transport, Some(port))?.is_empty())
}

/// Which of `pids` hold a serving socket of `transport` (on `port`, if
/// given), and where a client on this machine reaches it (loopback for a
/// socket bound to every address). Another user's processes cannot be
/// looked into, and are passed over.
pub fn holders(
    transport: Transport,
    port: Option<u16>,
    pids: impl IntoIterator<Item = u32>,
) -> io::Result<Vec<(u32, SocketAddr)>> {
    let sockets = serving(transport, port)?;
    let mut held = Vec::new();
    for pid in pids {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for target in fds.flatten().filter_map(|fd| fs::read_link(fd.path()).ok()) {
            let target = target.to_string_lossy();
            let found = sockets
                .iter()
                .find(|(_, inode)| target == format!("socket:[{inode}]"));
            if let Some((addr, _)) = found {
                let ip = match addr.ip() {
                    IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                    ip => ip,
                };
                held.push((pid, SocketAddr::new(ip, addr.port())));
            }
        }
    }
    Ok(held)
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
    let in_group = |pid: &u32| {
        // The fifth field of `stat`, counted after the `)` that closes
        // the command name (which may itself hold spaces).
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        after_name.split_whitespace().nth(2) == Some(&pgid.to_string())
    };
    all_processes().into_iter().filter(in_group).collect()
}

/// Who holds a serving socket of `transport` with `port`, as `pid 4242
/// (nc)`; `None` when no process this user may look into has it open.
pub fn holder(transport: Transport, port: u16) -> io::Result<Option<String>> {
    let held = holders(transport, Some(port), all_processes())?;
    Ok(held.first().map(|(pid, _)| {
        let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        format!("pid {pid} ({})", name.trim())
    }))
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
        // A socket bound to every address is reached on loopback.
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let mine = holders(Transport::Udp, None, [std::process::id()]).unwrap();
        let reached = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(mine.contains(&(std::process::id(), reached)), "{mine:?}");
    }
}
