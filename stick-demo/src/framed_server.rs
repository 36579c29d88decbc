//! `stick-demo server2`: `socket_stick/server2`, which decodes
//! length-prefixed frames with `proto` and prints one line per message.
//!
//! ```go
//! func process(conn net.Conn) {
//!     defer conn.Close()
//!     reader := bufio.NewReader(conn)
//!     for {
//!         msg, err := proto.Decode(reader)
//!         if err == io.EOF { return }
//!         if err != nil {
//!             fmt.Println("decode msg failed, err:", err)
//!             return
//!         }
//!         fmt.Println("received client Data sent:", msg)
//!     }
//! }
//! ```
//!
//! The Go `bufio.Reader` becomes a [`BytesMut`] per connection that grows
//! with what arrives, and `proto.Decode` becomes [`FrameCodec::decode`] in a
//! loop: one read may hold many frames (stuck) or part of one (split), and
//! either way every whole frame is printed exactly once. What this adds to
//! the Go program:
//!
//! * The peer is not trusted: a negative length, or one above `--max-frame`,
//!   is rejected as soon as its 4 header bytes arrive, before any memory is
//!   set aside for it; that connection alone is closed, with a log line
//!   naming the length and the peer. (In Go the negative length panics and
//!   takes the whole server down; a length near 2 GiB panics or loops, and
//!   the obvious repair with `io.ReadFull` would allocate it.)
//! * Plain text (someone trying `nc`) is explained instead of being read as
//!   a length of a billion bytes.
//! * A stream that ends inside a frame says which frame and how many bytes
//!   were missing; the Go server says `unexpected EOF`, or nothing.
//! * When a connection closes: how many messages came out of how many reads.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use netpoll::Escaped;
use netpoll::tcp::{CloseReason, Conn, Handler, Server};
use proto::{DecodeError, FrameCodec};

use crate::boundaries::plural;

/// Flags of `stick-demo server2`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = crate::DEFAULT_ADDR, value_parser = netpoll::cli::resolve)]
    pub addr: SocketAddr,

    /// Largest message accepted, in bytes; a header announcing more closes
    /// the connection before anything is buffered for it.
    #[arg(long, value_name = "BYTES", default_value_t = proto::DEFAULT_MAX_FRAME_LEN)]
    pub max_frame: usize,

    /// Largest single read, in bytes: framing decodes the same messages
    /// whatever the reads look like.
    #[arg(long, value_name = "BYTES", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_READ_SIZE))]
    pub read_size: u32,

    /// Print only the per-connection and final summaries, not every message.
    #[arg(long)]
    pub quiet: bool,
}

/// What the framed server's connections share: settings and totals.
#[derive(Debug)]
pub struct Shared {
    quiet: bool,
    codec: FrameCodec,
    messages: AtomicU64,
    reads: AtomicU64,
}

impl Shared {
    /// Settings for every connection of one server.
    pub fn new(quiet: bool, max_frame: usize) -> Arc<Self> {
        Arc::new(Shared {
            quiet,
            codec: FrameCodec::with_max_frame_len(max_frame),
            messages: AtomicU64::new(0),
            reads: AtomicU64::new(0),
        })
    }

    /// Messages decoded over all connections so far.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Reads over all connections so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

/// One connection of the framed server: the Go `process` function.
#[derive(Debug)]
pub struct FramedServer {
    shared: Arc<Shared>,
    /// Bytes received and not yet decoded: at most one partial frame, which
    /// the codec has already checked against the maximum, plus one read.
    buf: BytesMut,
    messages: u64,
    reads: u64,
    bytes: u64,
    /// Set when the stream was rejected; the summary points at the log.
    failed_frame: Option<u64>,
}

impl FramedServer {
    /// A handler for one new connection.
    pub fn new(shared: Arc<Shared>) -> Self {
        FramedServer {
            shared,
            buf: BytesMut::new(),
            messages: 0,
            reads: 0,
            bytes: 0,
            failed_frame: None,
        }
    }

    /// Logs why the stream cannot be decoded. The frame number tells the
    /// learner where in the stream it went wrong; the error names the
    /// length, and explains a plain-text header in words.
    fn reject(&mut self, peer: SocketAddr, err: &DecodeError) {
        let frame = self.messages + 1;
        self.failed_frame = Some(frame);
        match err {
            DecodeError::Truncated { .. } => log::warn!("{peer}: frame {frame}: {err}"),
            _ => log::warn!(
                "{peer}: decode msg failed at frame {frame}, closing the connection: {err}"
            ),
        }
    }
}

impl Handler for FramedServer {
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        self.reads += 1;
        self.bytes += data.len() as u64;
        self.shared.reads.fetch_add(1, Ordering::Relaxed);
        self.buf.extend_from_slice(data);
        // One read may complete zero, one or many frames.
        loop {
            match self.shared.codec.decode(&mut self.buf) {
                Ok(Some(message)) => {
                    self.messages += 1;
                    self.shared.messages.fetch_add(1, Ordering::Relaxed);
                    if !self.shared.quiet {
                        let _ = writeln!(
                            std::io::stdout().lock(),
                            "received client Data sent: {} (from {})",
                            Escaped(&message),
                            conn.peer_addr()
                        );
                    }
                }
                // Part of a frame: keep it, the rest comes with a later read.
                Ok(None) => break,
                // No way to find the next frame boundary: drop this peer.
                Err(e) => {
                    self.reject(conn.peer_addr(), &e);
                    // Nothing more will be decoded; let the buffer go now.
                    self.buf = BytesMut::new();
                    conn.close();
                    break;
                }
            }
        }
    }

    fn on_peer_closed_write(&mut self, conn: &mut Conn<'_>) {
        // Every whole frame was decoded in on_data; anything left is the
        // start of a frame the peer never finished.
        if let Err(e) = self.shared.codec.decode_eof(&mut self.buf) {
            self.reject(conn.peer_addr(), &e);
        }
    }

    fn on_close(&mut self, peer: SocketAddr, reason: &CloseReason) {
        let mut line = format!(
            "{peer}: decoded {} from {} ({})",
            plural(self.messages, "message"),
            plural(self.reads, "read"),
            plural(self.bytes, "byte")
        );
        if let Some(frame) = self.failed_frame {
            line.push_str(&format!(
                "; frame {frame} was bad or incomplete (see stderr)"
            ));
        } else if !matches!(reason, CloseReason::PeerClosed) {
            line.push_str(&format!(" ({reason})"));
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Runs the framed server until SIGINT/SIGTERM, then prints its totals.
pub fn run(args: Args) -> anyhow::Result<()> {
    let shared = Shared::new(args.quiet, args.max_frame);
    let per_conn = Arc::clone(&shared);
    let server = Server::new(move |_peer| FramedServer::new(Arc::clone(&per_conn)))
        .read_buffer_size(args.read_size as usize)
        .handle_signals(true);
    let stats = crate::serve(server, args.addr)?;
    crate::print_totals(format_args!(
        "summary: served {}, decoded {} from {} ({})",
        plural(stats.connections, "connection"),
        plural(shared.messages(), "message"),
        plural(shared.reads(), "read"),
        plural(stats.bytes_read, "byte")
    ))
}
