//! One connection of the worker pool: the Go twin's `process`, a goroutine
//! per connection reading lines, here a [`Handler`] the loop calls with
//! bytes. It never blocks the loop: an echo or a refusal is sent at once,
//! and slow work goes to the [`Pool`], whose worker sends the reply
//! itself through a [`Reply`](netpoll::tcp::Reply) when the job is done.
//! So replies may come out of request order, as the protocol says: an
//! echo now, a job's reply when the job is done.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use edges::console::Console;
use netpoll::tcp::{Conn, FrameReader, Handler};
use proto::LineCodec;

use crate::pool::{Busy, Panicked, Pool};
use crate::request::{BAD_JOB, FAILED, Job, Request};

/// What the summary counts, over all connections.
#[derive(Debug, Default)]
pub struct Counts {
    /// Job requests, run or refused.
    pub jobs: AtomicU64,
    /// Of those, refused because the queue was full.
    pub busy: AtomicU64,
    /// Of those, failed because the job panicked.
    pub failed: AtomicU64,
    /// Lines sent back as they came.
    pub echoed: AtomicU64,
}

/// What every session shares: the pool, the counts, and whether to print
/// a line per job.
pub struct Shared {
    pub pool: Pool,
    pub counts: Counts,
    pub quiet: bool,
}

/// One connection's requests.
pub struct Session {
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// Whole lines out of the reads, each at most 64 KiB.
    lines: FrameReader<LineCodec>,
    /// An echo's line and newline, made in one buffer for one `send`.
    echo: Vec<u8>,
}

impl Session {
    pub fn new(shared: Arc<Shared>, peer: SocketAddr) -> Session {
        Session {
            shared,
            peer,
            lines: FrameReader::new(LineCodec::new()),
            echo: Vec::new(),
        }
    }
}

impl Handler for Session {
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        let Session {
            shared,
            peer,
            lines,
            echo,
        } = self;
        let fed = lines.feed(data, |line| answer(&line, conn, shared, *peer, echo));
        // A line longer than 64 KiB: refused, and the connection closed
        // after the refusal (never buffer what a peer merely claims).
        if let Err(too_long) = fed {
            conn.send(format!("error: {too_long}\n").as_bytes());
            conn.close_after_sending();
        }
    }

    // A last line without its newline, when the client ends its stream, is
    // dropped, as the Go twin drops it: the client stopped mid-line. The
    // replies its jobs still owe it come all the same (see `Reply`).
}

/// Answers one request line: at once, or through a worker.
fn answer(
    line: &[u8],
    conn: &mut Conn<'_>,
    shared: &Arc<Shared>,
    peer: SocketAddr,
    echo: &mut Vec<u8>,
) {
    match Request::parse(line) {
        Request::Echo(line) => {
            shared.counts.echoed.fetch_add(1, Ordering::Relaxed);
            echo.clear();
            echo.extend_from_slice(line);
            echo.push(b'\n');
            conn.send(echo);
        }
        Request::BadJob => conn.send(format!("{BAD_JOB}\n").as_bytes()),
        Request::Job(job) => {
            shared.counts.jobs.fetch_add(1, Ordering::Relaxed);
            if submit(job, conn, shared, peer).is_err() {
                // Answer rather than pause reading this peer: the loop
                // keeps serving its cheap requests (echoes), and the client
                // learns at once that it should back off; pausing would
                // stall its echoes behind work it may not need.
                shared.counts.busy.fetch_add(1, Ordering::Relaxed);
                let queue = shared.pool.queue();
                conn.send(format!("busy: {queue} jobs waiting, try again later\n").as_bytes());
            }
        }
    }
}

/// Hands `job` to the pool, with a [`Reply`](netpoll::tcp::Reply) for its
/// worker to answer through; [`Busy`] if the queue is full.
fn submit(
    job: Job,
    conn: &mut Conn<'_>,
    shared: &Arc<Shared>,
    peer: SocketAddr,
) -> Result<(), Busy> {
    let reply = conn.reply_later();
    let done = Arc::clone(shared);
    shared.pool.submit(
        move || job.run(),
        move |result| {
            let line = result.unwrap_or_else(|Panicked| {
                done.counts.failed.fetch_add(1, Ordering::Relaxed);
                FAILED.to_owned()
            });
            if !done.quiet {
                let worker = thread::current();
                let worker = worker.name().unwrap_or("a worker");
                Console::stdout().line(format_args!("{worker}: {job} for {peer}: {line}"));
            }
            // Woken by this, the connection's loop writes the line; if the
            // connection has closed meanwhile, the line is dropped and
            // counted, never given to another.
            reply.send(format!("{line}\n").as_bytes());
        },
    )
}
