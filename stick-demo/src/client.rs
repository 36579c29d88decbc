//! `stick-demo client` and `stick-demo client2`: `socket_stick/client` and
//! `socket_stick/client2`, which write the same message 20 times, the first
//! as bare bytes, the second as `proto` frames.
//!
//! ```go
//! // socket_stick/client                 // socket_stick/client2
//! conn, err := net.Dial("tcp", "127.0.0.1:30000")
//! defer conn.Close()
//! for i := 0; i < 20; i++ {
//!     msg := `Hello, Hello. How are you?`
//!     conn.Write([]byte(msg))             data, err := proto.Encode(msg)
//!                                         conn.Write(data)
//! }
//! ```
//!
//! The flags turn the two causes of sticking on and off:
//!
//! * `--nodelay` sets `TCP_NODELAY`, switching off Nagle's algorithm, the
//!   sender-side coalescing of small writes. (Go sets it on every TCP
//!   connection by default; these clients leave Nagle on unless asked, to
//!   show the tutorial's explanation.) On loopback the stream usually still
//!   sticks: the server simply reads later than the bytes arrive.
//! * `--delay-ms` pauses between writes; spaced writes usually stop sticking,
//!   but nothing guarantees it — only framing does.
//! * `client2 --chunk N` writes every frame in N-byte pieces with a pause
//!   after each, so frames *arrive* split, and `server2` must put them back
//!   together.
//!
//! The Go clients wait for ever on a server that accepts and then stops
//! reading: once the sockets' buffers are full, `conn.Write` blocks. Here
//! the server must take more within `--timeout` seconds (and accept the
//! connection within as long), or the client says how far it got and exits
//! with status 1. A host name is dialled at each of its addresses in turn,
//! as Go's `net.Dial` does.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroUsize;
use std::thread;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::BytesMut;
use edges::cli::{ClientFlags, whole};

use edges::words::plural;

/// The chapter's message: 26 bytes.
pub const DEFAULT_MESSAGE: &str = "Hello, Hello. How are you?";

/// Flags shared by both clients.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// `--addr` and `--timeout`, as every client takes them.
    #[command(flatten)]
    pub client: ClientFlags<crate::Chapter>,

    /// How many times to send the message.
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = whole("messages", "20", 0..=u64::MAX))]
    pub count: u64,

    /// The message to send.
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_MESSAGE)]
    pub message: String,

    /// Set TCP_NODELAY: send each write at once instead of letting Nagle's
    /// algorithm merge small writes while earlier data is unacknowledged.
    #[arg(long)]
    pub nodelay: bool,

    /// Pause this many milliseconds between messages.
    #[arg(long, value_name = "MS", default_value_t = 0,
          value_parser = whole("milliseconds", "5", 0..=u64::MAX))]
    pub delay_ms: u64,
}

/// Flags of `stick-demo client`.
#[derive(clap::Args, Debug)]
pub struct RawArgs {
    /// The flags both clients take.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of `stick-demo client2`.
#[derive(clap::Args, Debug)]
pub struct FramedArgs {
    /// The flags both clients take.
    #[command(flatten)]
    pub common: CommonArgs,

    /// Write every frame in pieces of this many bytes, pausing after each
    /// piece, so frames arrive split. Implies --nodelay (Nagle would merge
    /// the pieces again).
    #[arg(long, value_name = "BYTES",
          value_parser = whole("bytes", "1", NonZeroUsize::MIN..=NonZeroUsize::MAX))]
    pub chunk: Option<NonZeroUsize>,

    /// The pause between pieces with --chunk, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1,
          value_parser = whole("milliseconds", "1", 0..=u64::MAX))]
    pub chunk_pause_ms: u64,
}

/// `socket_stick/client`: the message, bare, `--count` times.
pub fn run_raw(args: RawArgs) -> anyhow::Result<()> {
    let common = &args.common;
    let sender = Sender::connect(common, common.nodelay, "stick-demo server")?;
    let sent = sender.send_all(
        common.message.as_bytes(),
        common.count,
        None,
        Duration::ZERO,
    )?;
    println!(
        "sent {} of {} ({}) in {} to {}; {}",
        plural(common.count, "message"),
        plural(common.message.len() as u64, "byte"),
        plural(sent.bytes, "byte"),
        plural(sent.writes, "write"),
        sent.peer,
        sent.how
    );
    Ok(())
}

/// `socket_stick/client2`: the message as a `proto` frame, `--count` times.
pub fn run_framed(args: FramedArgs) -> anyhow::Result<()> {
    let common = &args.common;
    // data, err := proto.Encode(msg): the Go program encodes it every time
    // round the loop; the frame is the same each time, so encode it once.
    let mut frame = BytesMut::new();
    proto::encode_into(common.message.as_bytes(), &mut frame).context("encode msg failed")?;
    let nodelay = common.nodelay || args.chunk.is_some();
    let sender = Sender::connect(common, nodelay, "stick-demo server2")?;
    let pause = Duration::from_millis(args.chunk_pause_ms);
    let sent = sender.send_all(&frame, common.count, args.chunk, pause)?;
    let pieces = match args.chunk {
        Some(n) => format!(" of up to {}", plural(n.get() as u64, "byte")),
        None => String::new(),
    };
    println!(
        "sent {} of {} + {} ({}) in {}{pieces} to {}; {}",
        plural(common.count, "frame"),
        plural(proto::HEADER_LEN as u64, "header byte"),
        plural(common.message.len() as u64, "message byte"),
        plural(sent.bytes, "byte"),
        plural(sent.writes, "write"),
        sent.peer,
        sent.how
    );
    Ok(())
}

/// A connected client and how it was told to write.
struct Sender {
    stream: TcpStream,
    peer: SocketAddr,
    nodelay: bool,
    delay: Duration,
    timeout: Duration,
}

/// What [`Sender::send_all`] did, for the summary line.
struct Sent {
    peer: SocketAddr,
    bytes: u64,
    writes: u64,
    how: String,
}

impl Sender {
    /// net.Dial("tcp", addr), with TCP_NODELAY as asked, and a write
    /// timeout so that a server that stops reading is reported. `server`
    /// names the program a refusal suggests starting.
    fn connect(common: &CommonArgs, nodelay: bool, server: &str) -> anyhow::Result<Self> {
        let (addr, timeout) = (&common.client.addr, common.client.timeout);
        let stream = addr
            .connect(timeout)
            .with_context(|| format!("cannot connect to {addr} (is {server} running?)"))?;
        let peer = stream
            .peer_addr()
            .with_context(|| format!("the connection to {addr} closed at once"))?;
        stream
            .set_nodelay(nodelay)
            .with_context(|| format!("cannot set TCP_NODELAY on the connection to {peer}"))?;
        stream
            .set_write_timeout(Some(timeout))
            .with_context(|| format!("cannot set a write timeout on the connection to {peer}"))?;
        Ok(Sender {
            stream,
            peer,
            nodelay,
            delay: Duration::from_millis(common.delay_ms),
            timeout,
        })
    }

    /// Writes `message` `count` times, each in one `write_all` or, with
    /// `chunk`, in pieces with `pause` between them; then closes, as
    /// `defer conn.Close()` does.
    fn send_all(
        mut self,
        message: &[u8],
        count: u64,
        chunk: Option<NonZeroUsize>,
        pause: Duration,
    ) -> anyhow::Result<Sent> {
        let mut bytes = 0;
        let mut writes = 0;
        // `chunks` needs a non-zero size; an empty message has no pieces.
        let piece_len = chunk.map_or(message.len(), NonZeroUsize::get).max(1);
        for i in 0..count {
            if i > 0 && !self.delay.is_zero() {
                thread::sleep(self.delay);
            }
            for piece in message.chunks(piece_len) {
                if chunk.is_some() && writes > 0 {
                    thread::sleep(pause);
                }
                if let Err(e) = self.stream.write_all(piece) {
                    // A write timeout: std reports it as WouldBlock on Unix
                    // and TimedOut on Windows.
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) {
                        bail!(
                            "{} took nothing for {} s with {i} of {count} messages sent \
                             whole: it has stopped reading",
                            self.peer,
                            self.timeout.as_secs_f64(),
                        );
                    }
                    return Err(anyhow::Error::new(e).context(format!(
                        "connection to {} failed after {i} of {count} messages",
                        self.peer
                    )));
                }
                bytes += piece.len() as u64;
                writes += 1;
            }
        }
        // The data goes out before the FIN; nothing is lost by closing now.
        let how = format!(
            "TCP_NODELAY {}, {}",
            if self.nodelay {
                "on"
            } else {
                "off (Nagle may merge writes)"
            },
            if self.delay.is_zero() {
                "no pause between messages".to_string()
            } else {
                format!("{} ms between messages", self.delay.as_millis())
            }
        );
        Ok(Sent {
            peer: self.peer,
            bytes,
            writes,
            how,
        })
    }
}
