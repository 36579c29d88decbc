//! What every program of the workspace does the same way at its edges: read
//! an address or a timeout from the command line, dial a server, and
//! announce where it listens.
//!
//! These are contracts: users type host names as they would for Go's
//! `net.Listen` and `net.Dial`, a mistyped flag is one line naming the
//! expected form and exit status 2 in every program (each parser here is
//! made for clap's `value_parser`, which exits 2), and scripts, tests and
//! `cargo xtask` wait for the `listening on <addr>` line to learn the port a
//! server got.

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// What every `--addr` error shows, so a user sees the form to type.
const EXPECTED_ADDR: &str = "expected HOST:PORT, e.g. 127.0.0.1:20000 or localhost:20000";

/// Reads `--addr` as Go's `net.Listen` does: an IP literal or `host:port`,
/// resolved to its first address (a server binds one address).
///
/// ```
/// let addr = edges::cli::resolve("localhost:0").unwrap();
/// assert!(addr.ip().is_loopback());
/// assert!(edges::cli::resolve("no-port").unwrap_err().contains("HOST:PORT"));
/// ```
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    Ok(resolve_all(addr)?.addrs[0])
}

/// Reads a client's `--addr` as Go's `net.Dial` does: an IP literal or
/// `host:port`, keeping *every* address the name resolves to, in the
/// resolver's order, so that [`ServerAddr::connect`] can try each.
///
/// ```
/// let server = edges::cli::resolve_all("localhost:20000").unwrap();
/// assert!(server.addrs().iter().all(|a| a.ip().is_loopback()));
/// assert_eq!(server.to_string(), "localhost:20000");
/// let err = edges::cli::resolve_all("garbage").unwrap_err();
/// assert!(err.contains("expected HOST:PORT, e.g. 127.0.0.1:20000"), "{err}");
/// ```
pub fn resolve_all(text: &str) -> Result<ServerAddr, String> {
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("{EXPECTED_ADDR} ({text:?}: {e})"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{text:?} resolves to no address; {EXPECTED_ADDR}"));
    }
    Ok(ServerAddr {
        text: text.to_owned(),
        addrs,
    })
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

/// Reads a timeout flag: positive, finite seconds, fractions allowed. Any
/// value accepted here works with [`deadline_after`], however long.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(edges::cli::seconds("0.5"), Ok(Duration::from_millis(500)));
/// assert!(edges::cli::seconds("0").is_err());
/// assert!(edges::cli::seconds("1e19").is_ok());
/// ```
pub fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("expected seconds, e.g. 2 or 0.5, not {text:?}"))?;
    // NaN compares false with everything, so it needs its own check.
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!(
            "expected more than 0 seconds, e.g. 2 or 0.5, not {text}"
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| {
        format!("{text} seconds is too long a timeout; expected seconds, e.g. 2 or 0.5")
    })
}

/// The instant `timeout` from now. A timeout of centuries, which
/// [`seconds`] accepts, would overflow `Instant` (a panic); it is cut to
/// one hundred years, which no program here will wait out.
pub fn deadline_after(timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    Instant::now() + timeout.min(CENTURY)
}

/// Prints `listening on <addr>` and flushes it: the first line of every
/// server, and the one thing a script may rely on reading before any
/// connection is served (stdout may be a pipe, which is block-buffered).
pub fn announce_listening(addr: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

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
    fn every_addr_error_names_the_expected_form_and_an_example() {
        for bad in ["garbage", "no port", "127.0.0.1", ":", "host:notaport", ""] {
            let err = resolve(bad).unwrap_err();
            assert!(err.contains(EXPECTED_ADDR), "{bad:?}: {err}");
        }
    }

    #[test]
    fn every_accepted_timeout_gives_a_deadline_without_overflow() {
        for text in ["1e-9", "0.5", "3", "1e19", "18446744073709549568"] {
            let timeout = seconds(text).unwrap();
            let before = Instant::now();
            assert!(deadline_after(timeout) >= before, "{text}");
        }
        for bad in ["0", "-1", "NaN", "inf", "18446744073709551616", "soon", ""] {
            let err = seconds(bad).unwrap_err();
            assert!(err.contains("e.g. 2 or 0.5"), "{bad:?}: {err}");
        }
    }
}
