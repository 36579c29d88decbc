//! `udp-client`: the Go tutorial's `UDP/client/main.go`, read side by side.
//!
//! ```text
//! Go                                          Rust
//! socket, err := net.DialUDP("udp", nil, …)   UdpSocket::bind(any port), no connect (see below)
//! defer socket.Close()                        the socket is closed when it drops
//! socket.Write([]byte("Hello server"))        socket.send_to(message, server)
//! data := make([]byte, 4096)                  a 65 535-byte buffer: no reply is truncated
//! socket.ReadFromUDP(data)                    recv_from with a read timeout, skipping strangers
//! fmt.Printf("recv:%v addr:%v count:%v\n")    the same line, text escaped
//! ```
//!
//! The Go client waits for ever when its datagram or the reply is lost (UDP
//! gives no error for either); this one gives up after `--timeout` seconds
//! with one line on stderr and exit status 1. A mistyped flag is one line
//! naming the expected form and exit status 2, and every value a flag
//! accepts works (`--timeout 1e19` waits, `--message` fits in a datagram).
//!
//! # Why an unconnected socket
//!
//! `DialUDP` *connects* the socket: the kernel then drops datagrams from any
//! other address without telling anyone, and on Linux a closed server port
//! comes back at once as ECONNREFUSED. Here the socket is left unconnected
//! and every datagram's source is checked by hand, so a datagram from a
//! stranger is not printed as the answer but *logged*: the learner sees that
//! UDP lets anyone send to an open port, and that checking the source is the
//! receiver's job. The price is that a closed port is detected only by the
//! timeout, which the message on stderr says. Those warnings are rate
//! limited: a stranger flooding the port gets at most about one line a
//! second, each counting the datagrams ignored since the last.
//!
//! UDP has no handshake, so there is nothing to try at each address a host
//! name resolves to, as the TCP clients do: the first address is used, as
//! Go's `Dial("udp", …)` does.

use std::io::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use edges::Escaped;
use log::warn;
use netpoll::RateLimitedLog;

/// Big enough for any UDP payload (65 507 bytes over IPv4); the Go client's
/// 4096-byte buffer silently truncates longer replies.
const RECV_BUFFER_LEN: usize = 65_535;

/// The largest UDP payload over IPv4 (65 535 minus the IP and UDP headers);
/// a longer `--message` could not be sent.
const MAX_MESSAGE_LEN: usize = 65_507;

/// Sends a message to a UDP echo server and prints each reply, like the Go
/// client, but gives up (exit 1) when no reply comes within --timeout.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Server address (a host name is resolved; the first address is used).
    #[arg(long, default_value = "127.0.0.1:30000", value_name = "HOST:PORT", value_parser = parse_server_addr)]
    addr: SocketAddr,

    /// Text to send in each datagram (at most 65507 bytes, one datagram).
    #[arg(long, default_value = "Hello server", value_parser = parse_message)]
    message: String,

    /// How many round trips to make, one after the other.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,

    /// Seconds to wait for each reply (fractions allowed, e.g. 0.5).
    #[arg(long, default_value = "2", value_name = "SECONDS", value_parser = edges::cli::seconds)]
    timeout: Duration,
}

fn main() -> ExitCode {
    // Log records (the strangers' warnings) go through the bounded stderr
    // queue every program of the workspace uses; `_stderr` writes out
    // what is left in it as `main` returns.
    let _stderr = edges::console::logger::init();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, like the Go client's `fmt.Println("…, err:", err)`.
            edges::console::Console::stderr().line(format_args!("udp-client: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let server = args.addr;
    // socket, err := net.DialUDP("udp", nil, &net.UDPAddr{…})
    // Any local port, on the unspecified address of the server's family.
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let socket = UdpSocket::bind(local).context("cannot open a UDP socket")?;

    let mut buf = vec![0; RECV_BUFFER_LEN];
    let mut strangers = Strangers::default();
    let mut stdout = io::stdout();
    for _ in 0..args.count {
        // _, err = socket.Write(sendData)
        socket
            .send_to(args.message.as_bytes(), server)
            .with_context(|| format!("cannot send {} bytes to {server}", args.message.len()))?;

        // n, remoteAddr, err := socket.ReadFromUDP(data)
        let len = receive_reply(&socket, server, args.timeout, &mut buf, &mut strangers)?;

        // fmt.Printf("recv:%v addr:%v count:%v\n", string(data[:n]), remoteAddr, n)
        writeln!(
            stdout,
            "recv:{} addr:{server} count:{len}",
            Escaped(&buf[..len])
        )
        .and_then(|()| stdout.flush())
        .context("cannot print the reply")?;
    }
    Ok(())
}

/// Waits up to `timeout` for a datagram from `server` and returns its
/// length; datagrams from anyone else are logged (rate limited) and
/// skipped, without extending the deadline (so a stranger cannot keep us
/// waiting for ever).
fn receive_reply(
    socket: &UdpSocket,
    server: SocketAddr,
    timeout: Duration,
    buf: &mut [u8],
    strangers: &mut Strangers,
) -> anyhow::Result<usize> {
    let deadline = edges::cli::deadline_after(timeout);
    let no_reply = || {
        anyhow::anyhow!(
            "no reply from {server} within {}s (UDP reports nothing when the datagram, \
             the reply or the server is missing; is udp-server running there?)",
            timeout.as_secs_f64()
        )
    };
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(no_reply());
        }
        socket
            .set_read_timeout(Some(remaining))
            .context("cannot set the read timeout")?;
        match socket.recv_from(buf) {
            Ok((len, from)) if from == server => return Ok(len),
            Ok((len, from)) => strangers.ignore(len, from, server),
            // The timeout: std reports it as WouldBlock on Unix and
            // TimedOut on Windows.
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(no_reply());
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // E.g. ECONNRESET on Windows after an ICMP port unreachable.
            Err(err) => bail!("receiving from {server} failed: {err}"),
        }
    }
}

/// `--addr`: read as every program reads it ([`edges::cli::resolve`]),
/// then the unspecified address made loopback.
fn parse_server_addr(text: &str) -> Result<SocketAddr, String> {
    edges::cli::resolve(text).map(replying_addr)
}

/// Where the replies to `addr` come from. Sending to 0.0.0.0 (the Go
/// client's address) reaches this host, and the reply comes from loopback;
/// expect it from where it will really come from.
fn replying_addr(addr: SocketAddr) -> SocketAddr {
    if !addr.ip().is_unspecified() {
        return addr;
    }
    match addr {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port())),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port())),
    }
}

/// Datagrams from addresses other than the server's, logged at most about
/// once a second: a flood must not become a flood of log lines.
#[derive(Default)]
struct Strangers {
    log: RateLimitedLog,
}

impl Strangers {
    fn ignore(&mut self, len: usize, from: SocketAddr, server: SocketAddr) {
        if let Some(suppressed) = self.log.ready(Instant::now()) {
            let more = match suppressed {
                0 => String::new(),
                n => format!(" ({n} more ignored since the last such warning)"),
            };
            warn!("ignored a {len}-byte datagram from {from}: it is not the server {server}{more}");
        }
    }
}

/// `--message`: what fits in one datagram.
fn parse_message(text: &str) -> Result<String, String> {
    if text.len() > MAX_MESSAGE_LEN {
        return Err(format!(
            "{} bytes do not fit in one UDP datagram; expected at most {MAX_MESSAGE_LEN} bytes",
            text.len()
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_go_clients_unspecified_address_means_this_host() {
        assert_eq!(
            parse_server_addr("0.0.0.0:30000"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 30000)))
        );
        assert_eq!(
            parse_server_addr("127.0.0.1:9"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9)))
        );
        assert!(parse_server_addr("no port here").is_err());
    }
}
