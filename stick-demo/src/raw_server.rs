//! `stick-demo server`: the chapter's "unchanged" server (`tcp/server`, on
//! port 30000), which prints every read exactly as it arrived.
//!
//! ```go
//! func process(conn net.Conn) {
//!     defer conn.Close() // Close connection
//!     for {
//!         reader := bufio.NewReader(conn)
//!         var buf [128]byte
//!         n, err := reader.Read(buf[:]) // Read data
//!         if err != nil {
//!             fmt.Println("read from client failed, err:", err)
//!             break
//!         }
//!         recvStr := string(buf[:n])
//!         fmt.Println("received client Data sent from terminal:", recvStr)
//!         conn.Write([]byte(recvStr)) // send data
//!     }
//! }
//! ```
//!
//! One `fmt.Println` per `Read`: that is what makes the sticking visible,
//! since a line holds whatever one read returned, be it two and a half
//! messages. [`RawServer::on_data`] is that line; the event loop of
//! `netpoll`'s TCP loop does the reading, one `on_data` per `read(2)`.
//!
//! Two deliberate differences from the Go program:
//!
//! * **No echo.** The chapter's client never reads. Echoing to it would
//!   fill its receive buffer, and closing a socket with unread data makes
//!   Linux send a reset instead of a clean end of stream, so the server
//!   would log "connection reset" for a client that did nothing wrong.
//! * **A summary when the connection closes** ([`ReadLog`]), in place of
//!   the Go `read from client failed, err: EOF`: the bytes, the reads and a
//!   picture of where the reads ended among the messages.
//!
//! (The Go tutorial's own sample output shows `received client Data sent:`,
//! from a different build of the server; the code it prints, quoted above,
//! says `sent from terminal:`, and so does this server.) Every line goes
//! out through [`Console`], so a full stdout never stops the loop.
//!
//! The Go server's `bufio.Reader` (re-created each time round the loop, which
//! drops whatever it buffered beyond 128 bytes) is replaced by one plain
//! read of up to `--read-size` bytes, so no byte is lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use edges::Escaped;
use edges::cli::{ServerFlags, whole};
use edges::console::{self, Console};
use netpoll::tcp::{CloseReason, Conn, Handler, Server};

use crate::boundaries::{ReadLog, legend};
use edges::words::plural;

/// The length of `Hello, Hello. How are you?`, the chapter's message.
pub const DEFAULT_MESSAGE_LEN: u64 = 26;

/// Flags of `stick-demo server`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// `--addr`, `--quiet` and `--trace`, as every server takes them.
    #[command(flatten)]
    pub server: ServerFlags<crate::Chapter>,

    /// Largest single read, in bytes. Small values (e.g. 16) show the other
    /// half of the problem: one message split across several reads.
    #[arg(long, value_name = "BYTES", default_value_t = 1024, value_parser = crate::read_size)]
    pub read_size: u32,

    /// Length of the client's messages, used only to draw where reads ended
    /// among them. The stream itself does not carry it: that is the problem.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MESSAGE_LEN,
          value_parser = whole("bytes", "26", 1..=u64::MAX))]
    pub message_len: u64,
}

/// What the raw server's connections share: settings and totals.
#[derive(Debug)]
pub struct Shared {
    quiet: bool,
    message_len: u64,
    legend_printed: AtomicBool,
    reads: AtomicU64,
}

impl Shared {
    /// Settings for every connection of one server.
    pub fn new(quiet: bool, message_len: u64) -> Arc<Self> {
        Arc::new(Shared {
            quiet,
            message_len,
            legend_printed: AtomicBool::new(false),
            reads: AtomicU64::new(0),
        })
    }

    /// Reads over all connections so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

/// One connection of the raw server: the Go `process` function.
#[derive(Debug)]
pub struct RawServer {
    shared: Arc<Shared>,
    log: ReadLog,
}

impl RawServer {
    /// A handler for one new connection.
    pub fn new(shared: Arc<Shared>) -> Self {
        RawServer {
            shared,
            log: ReadLog::new(),
        }
    }
}

impl Handler for RawServer {
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        self.log.record(data.len());
        self.shared.reads.fetch_add(1, Ordering::Relaxed);
        if !self.shared.quiet {
            // fmt.Println("received client Data sent from terminal:", recvStr),
            // escaped, plus the peer since one process serves many clients.
            Console::stdout().line(format_args!(
                "received client Data sent from terminal: {} (from {})",
                Escaped(data),
                conn.peer_addr()
            ));
        }
    }

    fn on_close(&mut self, peer: SocketAddr, reason: &CloseReason) {
        let out = Console::stdout();
        if !self.shared.legend_printed.swap(true, Ordering::Relaxed) {
            out.line(format_args!("{}", legend(self.shared.message_len)));
        }
        let ending = match reason {
            CloseReason::PeerClosed => String::new(),
            other => format!(" ({other})"),
        };
        out.line(format_args!(
            "{peer}: {}{ending}",
            self.log.summary(self.shared.message_len)
        ));
        // A connection that sent nothing has nothing to draw.
        if self.log.total() > 0 {
            out.line(format_args!(
                "{peer}: reads {}",
                self.log.picture(self.shared.message_len)
            ));
        }
    }
}

/// Runs the raw server until SIGINT/SIGTERM, then prints its totals.
pub fn run(args: Args) -> anyhow::Result<()> {
    let flags = &args.server;
    let shared = Shared::new(flags.quiet, args.message_len);
    let per_conn = Arc::clone(&shared);
    // net.Listen("tcp", "127.0.0.1:30000"); the loop's scratch buffer is the
    // Go program's `buf`, so its size is the largest read.
    let server = Server::new(move |_peer| RawServer::new(Arc::clone(&per_conn)))
        .read_buffer_size(args.read_size as usize)
        .handle_signals(true)
        .trace(flags.trace);
    let stats = crate::serve(server, flags.addr)?;
    Console::stdout().finish(
        format_args!(
            "summary: served {}, read {} in {}",
            plural(stats.connections, "connection"),
            plural(stats.bytes_read, "byte"),
            plural(shared.reads(), "read")
        ),
        console::stdout_is_terminal(),
    );
    Ok(())
}
