//! `--addr`, read as Go reads an address: `HOST:PORT`, where the host is an
//! IP address, a name, or nothing.
//!
//! | `--addr`            | a server listens on              | a client connects to               |
//! |---------------------|----------------------------------|------------------------------------|
//! | `127.0.0.1:20000`   | that address                     | that address                       |
//! | `localhost:20000`   | the name's first address         | each of the name's addresses in turn, as Go's `net.Dial` |
//! | `:20000`            | every IPv4 address (`0.0.0.0`)   | this machine: 127.0.0.1, then ::1  |
//! | `0.0.0.0:20000`     | every IPv4 address               | this machine (127.0.0.1)           |
//! | `127.0.0.1:0`       | a free port, which `listening on` names | refused: port 0 is for servers |
//!
//! Go's `net.Listen("tcp", ":20000")` listens on every address, IPv4 and
//! IPv6, on one dual-stack socket; ours listen on one address, so `:20000`
//! means every IPv4 address, and `[::]:20000` is the IPv6 one. Go's
//! `net.Dial` reads an empty or unspecified host as "the local system", and
//! so do our clients.
//!
//! Each mistake gets its own words: a malformed address names the form
//! with an example on the program's own port (`expected HOST:PORT, e.g.
//! 127.0.0.1:30000 or localhost:30000`), a well-formed one whose name does
//! not resolve says so, and port 0 on a client says what port 0 is for.
//! The text itself is not repeated: clap quotes it once, in front.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Reads a server's `--addr`: where to listen. A name is resolved to its
/// first address (a listener binds one); an empty host is every IPv4
/// address. `example` is the program's own address, shown when the text is
/// not an address at all.
///
/// ```
/// use edges::cli::listen_addr;
/// assert!(listen_addr("localhost:0", "127.0.0.1:20000").unwrap().ip().is_loopback());
/// assert_eq!(listen_addr(":20000", "127.0.0.1:20000").unwrap().to_string(), "0.0.0.0:20000");
/// let err = listen_addr("no-port", "127.0.0.1:30000").unwrap_err();
/// assert_eq!(err, "expected HOST:PORT, e.g. 127.0.0.1:30000 or localhost:30000");
/// ```
pub fn listen_addr(text: &str, example: &str) -> Result<SocketAddr, String> {
    let (host, port) = split(text, example)?;
    match host {
        Host::Empty => Ok((Ipv4Addr::UNSPECIFIED, port).into()),
        Host::Literal(addr) => Ok(addr),
        Host::Name(name) => Ok(resolve(name, port)?[0]),
    }
}

/// Reads a client's `--addr`: where its server is. A name keeps every
/// address it resolves to, in the resolver's order, so that
/// [`ServerAddr::connect`] can try each; an empty or unspecified host
/// (`:20000`, `0.0.0.0:20000`) is this machine, as for Go's `net.Dial`.
///
/// ```
/// use edges::cli::server_addr;
/// let server = server_addr("localhost:20000", "127.0.0.1:20000").unwrap();
/// assert!(server.addrs().iter().all(|a| a.ip().is_loopback()));
/// assert_eq!(server.to_string(), "localhost:20000");
/// let err = server_addr("127.0.0.1:0", "127.0.0.1:20000").unwrap_err();
/// assert!(err.starts_with("port 0 is for servers"), "{err}");
/// ```
pub fn server_addr(text: &str, example: &str) -> Result<ServerAddr, String> {
    let (host, port) = split(text, example)?;
    if port == 0 {
        return Err(format!(
            "port 0 is for servers (it asks the system for any free port); a client needs \
             the port its server listens on, e.g. {example}"
        ));
    }
    let addrs = match host {
        Host::Empty => vec![
            (Ipv4Addr::LOCALHOST, port).into(),
            (Ipv6Addr::LOCALHOST, port).into(),
        ],
        Host::Literal(addr) => vec![this_machine_if_unspecified(addr)],
        Host::Name(name) => resolve(name, port)?,
    };
    Ok(ServerAddr {
        text: text.to_owned(),
        addrs,
    })
}

/// What the host part of an address is.
enum Host<'a> {
    /// `:20000`.
    Empty,
    /// An IP address, with the port (and an IPv6 scope) as written.
    Literal(SocketAddr),
    /// Anything else: for the resolver to say whether it is a name.
    Name(&'a str),
}

/// `HOST:PORT` cut in two, or the form named with `example`.
fn split<'a>(text: &'a str, example: &str) -> Result<(Host<'a>, u16), String> {
    // IP literals, `[::1]:20000` and `[fe80::1%2]:20000` included.
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok((Host::Literal(addr), addr.port()));
    }
    let expected = || expected_form(example);
    let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
    let port: u16 = port.parse().map_err(|_| expected())?;
    if host.contains(':') || host.starts_with('[') {
        // An IPv6 address without brackets (shown with them), or brackets
        // that held no IPv6 address.
        let bracketed = match host.parse::<Ipv6Addr>() {
            Ok(_) => format!("[{host}]:{port}"),
            Err(_) => format!("[::1]:{port}"),
        };
        return Err(format!(
            "{}; an IPv6 address goes in brackets, e.g. {bracketed}",
            expected()
        ));
    }
    let host = match host {
        "" => Host::Empty,
        name => Host::Name(name),
    };
    Ok((host, port))
}

/// `expected HOST:PORT, e.g. 127.0.0.1:30000 or localhost:30000`.
fn expected_form(example: &str) -> String {
    let port = example.rsplit_once(':').map_or("20000", |(_, p)| p);
    format!("expected HOST:PORT, e.g. {example} or localhost:{port}")
}

/// Every address `name` resolves to, or why there is none.
fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = (name, port)
        .to_socket_addrs()
        .map_err(|e| format!("the host name does not resolve ({e})"))?
        .collect();
    if addrs.is_empty() {
        return Err("the host name resolves to no address".to_owned());
    }
    Ok(addrs)
}

/// Go's `net.Dial` reads an unspecified address (`0.0.0.0`, `::`) as the
/// local system; so do our clients, which also lets them connect on
/// Windows, where connecting to `0.0.0.0` fails.
fn this_machine_if_unspecified(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(v6) if v6.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// Where a client connects: `--addr` as the user typed it (shown in
/// messages) and every address it resolved to, never empty.
#[derive(Debug, Clone)]
pub struct ServerAddr {
    text: String,
    addrs: Vec<SocketAddr>,
}

impl ServerAddr {
    /// Every address, in the resolver's order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The first address: where a UDP client sends, as Go's
    /// `Dial("udp", …)` does (UDP has no handshake to try the others with).
    pub fn first(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// `net.Dial("tcp", addr)`: tries each address in turn, each for at
    /// most `timeout`, and returns the first connection made. A name such
    /// as `localhost` may resolve to 127.0.0.1 and ::1 while the server
    /// listens on only one of them; trying only the first would fail where
    /// Go connects. When every address fails, the error is the last one,
    /// naming the addresses tried.
    pub fn connect(&self, timeout: Duration) -> io::Result<TcpStream> {
        connect_any(&self.addrs, timeout)
    }
}

/// The addresses tried, in order, until one accepts.
fn connect_any(addrs: &[SocketAddr], timeout: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    let last = last.unwrap_or_else(|| io::Error::other("no address to connect to"));
    if addrs.len() < 2 {
        return Err(last);
    }
    let tried: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
    Err(io::Error::new(
        last.kind(),
        format!("{last} (tried {})", tried.join(", ")),
    ))
}

impl fmt::Display for ServerAddr {
    /// As typed: `localhost:20000` says more to the user than the address
    /// it happened to reach.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    const EXAMPLE: &str = "127.0.0.1:30000";

    #[test]
    fn dial_tries_every_address_until_one_accepts() {
        // 127.0.0.1 refuses (bound, then dropped: nothing listens), ::1
        // listens: as `localhost` resolving to both while the server is
        // on [::1] only. Go's Dial connects; so must we.
        let refused = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let listener = TcpListener::bind("[::1]:0").expect("IPv6 loopback");
        let listening = listener.local_addr().unwrap();
        // As the clients dial: through `ServerAddr::connect`, here with
        // the two addresses a resolver would give, whatever this machine's
        // own resolver says of `localhost`.
        let server = ServerAddr {
            text: format!("localhost:{}", listening.port()),
            addrs: vec![refused, listening],
        };
        let stream = server.connect(Duration::from_secs(30)).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), listening);
    }

    #[test]
    fn dial_error_names_every_address_tried() {
        let refused: Vec<SocketAddr> = ["127.0.0.1:0", "[::1]:0"]
            .iter()
            .map(|a| TcpListener::bind(a).unwrap().local_addr().unwrap())
            .collect();
        let err = connect_any(&refused, Duration::from_secs(30)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        for addr in &refused {
            assert!(err.to_string().contains(&addr.to_string()), "{err}");
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn dial_gives_up_after_the_timeout_when_the_server_does_not_answer() {
        // A listener whose accept queue (backlog 0: one connection) is
        // full: Linux drops further SYNs, so a connect is never answered,
        // as with a server behind a firewall that drops packets.
        let listener =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        listener
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let _queued = TcpStream::connect(addr).unwrap();
        let err = connect_any(&[addr], Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    }

    #[test]
    fn every_malformed_addr_names_the_form_with_the_programs_own_port() {
        for bad in [
            "garbage",
            "no port",
            "127.0.0.1",
            ":",
            "host:notaport",
            "",
            "h:70000",
        ] {
            let expected = "expected HOST:PORT, e.g. 127.0.0.1:30000 or localhost:30000";
            assert_eq!(listen_addr(bad, EXAMPLE).unwrap_err(), expected, "{bad:?}");
            assert_eq!(server_addr(bad, EXAMPLE).unwrap_err(), expected, "{bad:?}");
        }
        for (bad, bracketed) in [
            ("::1:30000", "[::1]:30000"),
            ("fe80::2:9", "[fe80::2]:9"),
            ("[localhost]:30000", "[::1]:30000"),
        ] {
            let err = listen_addr(bad, EXAMPLE).unwrap_err();
            let hint = format!("goes in brackets, e.g. {bracketed}");
            assert!(err.ends_with(&hint), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_well_formed_addr_whose_name_does_not_resolve_says_so() {
        // `.invalid` never resolves (RFC 2606); nor does a dotted name
        // with five numbers, which is no IPv4 address.
        for unknown in ["example.invalid:20000", "1.2.3.4.5:1"] {
            let err = listen_addr(unknown, EXAMPLE).unwrap_err();
            assert!(err.starts_with("the host name does not resolve ("), "{err}");
            let err = server_addr(unknown, EXAMPLE).unwrap_err();
            assert!(err.starts_with("the host name does not resolve ("), "{err}");
        }
    }

    #[test]
    fn an_empty_host_is_every_address_to_a_server_and_this_machine_to_a_client() {
        assert_eq!(
            listen_addr(":20000", EXAMPLE),
            Ok(SocketAddr::from(([0, 0, 0, 0], 20000)))
        );
        let server = server_addr(":20000", EXAMPLE).unwrap();
        assert_eq!(
            server.addrs(),
            [
                "127.0.0.1:20000".parse().unwrap(),
                "[::1]:20000".parse().unwrap()
            ]
        );
        assert_eq!(server.to_string(), ":20000");
        // The Go UDP client's own address, 0.0.0.0: this machine too.
        let go_udp_client = server_addr("0.0.0.0:30000", EXAMPLE).unwrap();
        assert_eq!(go_udp_client.first(), "127.0.0.1:30000".parse().unwrap());
        let v6 = server_addr("[::]:30000", EXAMPLE).unwrap();
        assert_eq!(v6.first(), "[::1]:30000".parse().unwrap());
    }

    #[test]
    fn port_0_is_for_servers() {
        assert_eq!(listen_addr("127.0.0.1:0", EXAMPLE).unwrap().port(), 0);
        for client in ["127.0.0.1:0", "localhost:0", ":0"] {
            let err = server_addr(client, EXAMPLE).unwrap_err();
            assert_eq!(
                err,
                "port 0 is for servers (it asks the system for any free port); a client \
                 needs the port its server listens on, e.g. 127.0.0.1:30000"
            );
        }
    }

    #[test]
    fn ip_literals_of_every_form_are_read_without_a_resolver() {
        for (text, addr) in [
            ("127.0.0.1:9", "127.0.0.1:9"),
            ("[::1]:9", "[::1]:9"),
            ("[fe80::1%2]:9", "[fe80::1%2]:9"),
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(listen_addr(text, EXAMPLE), Ok(addr));
            assert_eq!(server_addr(text, EXAMPLE).unwrap().addrs(), [addr]);
        }
    }
}
