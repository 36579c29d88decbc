//! `udp-client`: the Go tutorial's `UDP/client/main.go`, read side by side.
//!
//! ```text
//! Go                                          Rust
//! socket, err := net.DialUDP("udp", nil, …)   UdpSocket::bind(any port), then connect(server)
//! defer socket.Close()                        the socket is closed when it drops
//! socket.Write([]byte("Hello server"))        socket.send(message)
//! data := make([]byte, 4096)                  a 65 535-byte buffer: no reply is truncated
//! socket.ReadFromUDP(data)                    socket.recv, with a read timeout
//! fmt.Printf("recv:%v addr:%v count:%v\n")    the same line, text escaped
//! ```
//!
//! # What a connected UDP socket tells the client
//!
//! `DialUDP` *connects* the socket, and so does this client: no handshake
//! happens (UDP has none), but the kernel now knows the one peer this
//! socket talks to, which buys two things.
//!
//! * **A refusal arrives at once.** When nothing listens on the server's
//!   port, its host answers the datagram with an ICMP "port unreachable".
//!   The kernel hands that to a connected socket as an error of the next
//!   `recv`: `ECONNREFUSED` on Linux, macOS and FreeBSD, `WSAECONNRESET`
//!   on Windows. The client says so in one line and exits 1, where it
//!   would otherwise wait out its timeout. (An unconnected socket is never
//!   told: the kernel cannot know which of its peers the ICMP was about.)
//! * **Only the server is heard.** The kernel drops datagrams from any
//!   other address, so a stranger's datagram can never be printed as the
//!   reply. Checking the source is the receiver's job in UDP, and a
//!   connected socket is the usual way to do it.
//!
//! What UDP still never reports is silence: a lost datagram, a lost reply,
//! a server that does not answer, a firewall that drops the ICMP. The Go
//! client then waits for ever; this one gives up after `--timeout` seconds
//! with one line on stderr and exit status 1.
//!
//! A reply shorter than the message is printed as it came, then named on
//! stderr with its likely cause, as `tcp-client` names a short echo: the Go
//! tutorial's server reads into 1 024 bytes, and the kernel drops the rest
//! of a longer datagram without a word.
//!
//! A mistyped flag is one line naming the expected form and exit status 2,
//! and every value a flag accepts works (`--timeout 1e19` waits,
//! `--message` fits in a datagram). UDP has no handshake, so there is
//! nothing to try at each address a host name resolves to, as the TCP
//! clients do: the first address is used, as Go's `Dial("udp", …)` does.

use std::io::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use edges::Escaped;
use edges::cli::{ClientFlags, Program, whole};

/// Big enough for any UDP payload (65 507 bytes over IPv4); the Go client's
/// 4096-byte buffer silently truncates longer replies.
const RECV_BUFFER_LEN: usize = 65_535;

/// The largest UDP payload over IPv4 (65 535 minus the IP and UDP headers);
/// a longer `--message` could not be sent.
const MAX_MESSAGE_LEN: usize = 65_507;

/// Sends a message to a UDP echo server and prints the reply, as the Go
/// client does; says at once when nothing listens there, and gives up
/// (exit 1) after --timeout seconds of silence.
///
/// A reply shorter than the message is printed as it came, then named on
/// stderr: the Go tutorial's server keeps only 1024 bytes of a datagram.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    client: ClientFlags<UdpClient>,

    /// Text to send in each datagram (at most 65507 bytes, one datagram).
    #[arg(long, value_name = "TEXT", default_value = "Hello server", value_parser = parse_message)]
    message: String,

    /// How many round trips to make, one after the other.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = whole("round trips", "3", 1..=u64::MAX))]
    count: u64,
}

/// The Go client's server (its 0.0.0.0 is this machine), and how long to
/// wait for each reply.
#[derive(Debug)]
struct UdpClient;

impl Program for UdpClient {
    const ADDR: &'static str = "127.0.0.1:30000";
    const TIMEOUT: &'static str = "2";
}

fn main() -> ExitCode {
    edges::program::main(run)
}

fn run(args: Args) -> anyhow::Result<()> {
    let server = args.client.addr.first();
    let message = args.message.as_bytes();
    // socket, err := net.DialUDP("udp", nil, &net.UDPAddr{…}): any local
    // port, on the unspecified address of the server's family, connected.
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .and_then(|socket| socket.connect(server).map(|()| socket))
        .with_context(|| format!("cannot open a UDP socket to {server}"))?;

    let mut buf = vec![0; RECV_BUFFER_LEN];
    let mut stdout = io::stdout();
    for _ in 0..args.count {
        // _, err = socket.Write(sendData)
        socket
            .send(message)
            .map_err(|e| failed(server, e, "send to"))?;

        // n, remoteAddr, err := socket.ReadFromUDP(data)
        let len = receive_reply(&socket, server, args.client.timeout, &mut buf)?;

        // fmt.Printf("recv:%v addr:%v count:%v\n", string(data[:n]), remoteAddr, n)
        writeln!(
            stdout,
            "recv:{} addr:{server} count:{len}",
            Escaped(&buf[..len])
        )
        .and_then(|()| stdout.flush())
        .context("cannot print the reply")?;
        if len < message.len() {
            eprintln!(
                "udp-client: echo incomplete: {len} of {} bytes came back — the server may \
                 have cut the datagram (the Go tutorial's server reads into 1024 bytes and \
                 the kernel drops the rest)",
                message.len()
            );
        }
    }
    Ok(())
}

/// Waits up to `timeout` for the server's reply and returns its length.
fn receive_reply(
    socket: &UdpSocket,
    server: SocketAddr,
    timeout: Duration,
    buf: &mut [u8],
) -> anyhow::Result<usize> {
    let deadline = edges::cli::deadline_after(timeout);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(no_reply(server, timeout));
        }
        socket
            .set_read_timeout(Some(remaining))
            .context("cannot set the read timeout")?;
        match socket.recv(buf) {
            Ok(len) => return Ok(len),
            // The timeout: std reports it as WouldBlock on Unix and
            // TimedOut on Windows.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(no_reply(server, timeout));
            }
            // A signal interrupted the wait: wait for what is left of it.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(server, e, "receive from")),
        }
    }
}

/// Silence: all that UDP can say about a datagram or a reply that is lost,
/// or a server that does not answer.
fn no_reply(server: SocketAddr, timeout: Duration) -> anyhow::Error {
    anyhow::anyhow!(
        "no reply from {server} within {} s (UDP reports nothing when the datagram or the \
         reply is lost or the server does not answer; is udp-server running there?)",
        timeout.as_secs_f64()
    )
}

/// A send or a receive that failed. A refusal is the server's host saying
/// that nothing listens on the port (an ICMP "port unreachable"): Linux,
/// macOS and FreeBSD report it to a connected socket as `ECONNREFUSED`,
/// Windows as `WSAECONNRESET`, on the send or the receive after it.
fn failed(server: SocketAddr, err: io::Error, what: &str) -> anyhow::Error {
    let refused = matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
    );
    if refused {
        anyhow::Error::new(err).context(format!(
            "cannot reach {server}: nothing listens there (is udp-server running?)"
        ))
    } else {
        anyhow::Error::new(err).context(format!("cannot {what} {server}"))
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
