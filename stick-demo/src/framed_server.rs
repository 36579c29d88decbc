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
//! The Go `bufio.Reader` and its loop of `proto.Decode` become a
//! [`FrameReader`] per connection: a buffer that grows with what arrives
//! and hands over each whole frame that [`FrameCodec`] finds in it. One
//! read may hold many frames (stuck) or part of one (split), and either
//! way every whole frame is printed exactly once. What this adds to the Go
//! program:
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
//! * When a connection closes: how many messages came out of how many reads,
//!   and, if the server stopped in the middle of one, how much of that frame
//!   had arrived.
//! * Limits: `--max-conns` and `--idle-timeout`, as `tcp-server` has, and
//!   a connection's buffer gives a large frame's memory back once it is
//!   decoded ([`FrameReader`] does), so memory follows what is buffered now.
//!   Rejected peers are logged at most once a second, however many there are.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use edges::Escaped;
use edges::cli::{ConnLimits, ServerFlags, whole};
use edges::console::{self, Console};
use netpoll::RateLimitedLog;
use netpoll::tcp::{CloseReason, Conn, FrameReader, Handler, Server};
use proto::{DecodeError, FrameCodec};

use edges::words::plural;

/// Flags of `stick-demo server2`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// `--addr`, `--quiet` and `--trace`, as every server takes them.
    #[command(flatten)]
    pub server: ServerFlags<crate::Chapter>,

    /// Largest message accepted, in bytes; a header announcing more closes
    /// the connection before anything is buffered for it.
    #[arg(long, value_name = "BYTES", default_value_t = proto::DEFAULT_MAX_FRAME_LEN,
          value_parser = whole("bytes", "1048576", 0..=usize::MAX))]
    pub max_frame: usize,

    /// Largest single read, in bytes: framing decodes the same messages
    /// whatever the reads look like.
    #[arg(long, value_name = "BYTES", default_value_t = 1024, value_parser = crate::read_size)]
    pub read_size: u32,

    /// `--max-conns` and `--idle-timeout`, as tcp-server takes them.
    #[command(flatten)]
    pub limits: ConnLimits,
}

/// `--trace`: what is buffered while a frame is incomplete, in the words
/// of the wire format (a header of [`proto::HEADER_LEN`] bytes, then the
/// message).
fn trace_partial(conn: &Conn<'_>, buffered: &[u8]) {
    let have = buffered.len();
    match buffered.first_chunk::<{ proto::HEADER_LEN }>() {
        None if have == 0 => conn.trace(format_args!("nothing left over: every frame decoded")),
        None => conn.trace(format_args!(
            "have {have} of {} header bytes: wait for more",
            proto::HEADER_LEN
        )),
        Some(header) => conn.trace(format_args!(
            "have {} of {} message bytes: wait for more",
            have - proto::HEADER_LEN,
            i32::from_le_bytes(*header)
        )),
    }
}

/// What the framed server's connections share: settings and totals.
#[derive(Debug)]
pub struct Shared {
    quiet: bool,
    codec: FrameCodec,
    messages: AtomicU64,
    reads: AtomicU64,
    /// Frames left incomplete when the server stopped.
    cut_frames: AtomicU64,
    /// A flood of bad peers must not flood stderr: a burst of
    /// [`REJECTS_LOGGED_PER_SECOND`] lines (a learner trying a few bad
    /// frames sees each), then a count with the next line.
    reject_log: Mutex<RateLimitedLog>,
}

impl Shared {
    /// Settings for every connection of one server.
    pub fn new(quiet: bool, max_frame: usize) -> Arc<Self> {
        Arc::new(Shared {
            quiet,
            codec: FrameCodec::with_max_frame_len(max_frame),
            messages: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            cut_frames: AtomicU64::new(0),
            reject_log: Mutex::new(RateLimitedLog::per_second(REJECTS_LOGGED_PER_SECOND)),
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

    /// Frames the server stopped in the middle of.
    pub fn cut_frames(&self) -> u64 {
        self.cut_frames.load(Ordering::Relaxed)
    }
}

/// Most rejected peers logged in one second; the rest are counted and
/// the count is given with the next line logged.
pub const REJECTS_LOGGED_PER_SECOND: u32 = 10;

/// One connection of the framed server: the Go `process` function.
#[derive(Debug)]
pub struct FramedServer {
    shared: Arc<Shared>,
    frames: FrameReader<FrameCodec>,
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
            frames: FrameReader::new(shared.codec),
            shared,
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
        let ready = self
            .shared
            .reject_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ready(Instant::now());
        let Some(suppressed) = ready else {
            return;
        };
        // Queued for stderr's writer (edges::console::logger), never a
        // blocking write on the loop thread; rate limited above.
        let more = match suppressed {
            0 => String::new(),
            n => format!(" ({n} more rejected since the last message)"),
        };
        match err {
            DecodeError::Truncated { .. } => log::warn!("{peer}: frame {frame}: {err}{more}"),
            _ => log::warn!(
                "{peer}: decode msg failed at frame {frame}, closing the connection: {err}{more}"
            ),
        }
    }
}

impl Handler for FramedServer {
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        self.reads += 1;
        self.bytes += data.len() as u64;
        self.shared.reads.fetch_add(1, Ordering::Relaxed);
        // One read may complete zero, one or many frames.
        let (shared, messages) = (&self.shared, &mut self.messages);
        let fed = self.frames.feed(data, |message| {
            *messages += 1;
            conn.trace(format_args!(
                "frame {} bytes: message {} decoded",
                message.len(),
                messages
            ));
            shared.messages.fetch_add(1, Ordering::Relaxed);
            if !shared.quiet {
                Console::stdout().line(format_args!(
                    "received client Data sent: {} (from {})",
                    Escaped(&message),
                    conn.peer_addr()
                ));
            }
        });
        match fed {
            // Part of a frame, kept: the rest comes with a later read.
            Ok(()) => trace_partial(conn, self.frames.buffered()),
            // No way to find the next frame boundary: drop this peer (the
            // reader has let its buffer go already).
            Err(e) => {
                self.reject(conn.peer_addr(), &e);
                conn.close();
            }
        }
    }

    fn on_peer_closed_write(&mut self, conn: &mut Conn<'_>) {
        // Every whole frame was decoded in on_data; anything left is the
        // start of a frame the peer never finished.
        if let Err(e) = self.frames.finish(|_| {}) {
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
            // Closed before the peer's end of stream (a stop, an idle
            // timeout, a reset), maybe in the middle of a frame: say how
            // much of it had come.
            if let Err(DecodeError::Truncated {
                frame_len,
                received,
            }) = self.frames.finish(|_| {})
            {
                self.shared.cut_frames.fetch_add(1, Ordering::Relaxed);
                let frame = self.messages + 1;
                line.push_str(&match frame_len {
                    Some(len) => {
                        format!("; frame {frame} incomplete: {received} of {len} bytes arrived")
                    }
                    None => format!(
                        "; frame {frame} incomplete: {received} of its 4 header bytes arrived"
                    ),
                });
            }
            line.push_str(&format!(" ({reason})"));
        }
        Console::stdout().line(format_args!("{line}"));
    }
}

/// Runs the framed server until SIGINT/SIGTERM, then prints its totals.
pub fn run(args: Args) -> anyhow::Result<()> {
    let flags = &args.server;
    let shared = Shared::new(flags.quiet, args.max_frame);
    let per_conn = Arc::clone(&shared);
    let server = Server::new(move |_peer| FramedServer::new(Arc::clone(&per_conn)))
        .read_buffer_size(args.read_size as usize)
        .max_conns(args.limits.max_conns)
        .idle_timeout(args.limits.idle_timeout)
        .handle_signals(true)
        .trace(flags.trace);
    let stats = crate::serve(server, flags.addr)?;
    let cut = match shared.cut_frames() {
        0 => String::new(),
        n => format!(", {} left incomplete at the stop", plural(n, "frame")),
    };
    Console::stdout().finish(
        format_args!(
            "summary: served {}, decoded {} from {} ({}){cut}",
            plural(stats.connections, "connection"),
            plural(shared.messages(), "message"),
            plural(shared.reads(), "read"),
            plural(stats.bytes_read, "byte")
        ),
        console::stdout_is_terminal(),
    );
    Ok(())
}
