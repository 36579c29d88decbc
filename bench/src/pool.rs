//! The `pool` scenario's load generator: what a worker pool is for. Slow
//! work (a blocking call) must not slow anyone else: [`JOB_CLIENTS`]
//! connections each ask for [`JOB_MS`] ms of blocking work (`sleep 2`) and
//! wait for each reply, while one connection asks for none (any other line
//! is echoed at once) and its round trips are timed. The job clients are
//! threads with blocking sockets (each waits 2 ms or more a request); the
//! timed client runs on the measuring thread, through [`Recorder`].

use std::{
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{cli::Args, exchange::Recorder, table::Round};

/// The clients asking for slow work, and how much each asks for.
pub const JOB_CLIENTS: usize = 50;
pub const JOB_MS: u64 = 2;
/// How long a reply may take before the server is taken to be stuck.
const STALL_TIMEOUT: Duration = Duration::from_secs(5);

/// One line connection: a request, then its one-line reply.
struct Line {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    reply: String,
}

impl Line {
    fn connect(addr: SocketAddr) -> Result<Line> {
        let writer = TcpStream::connect_timeout(&addr, STALL_TIMEOUT)
            .with_context(|| format!("connecting to {addr}"))?;
        writer.set_nodelay(true)?;
        writer.set_read_timeout(Some(STALL_TIMEOUT))?;
        let reader = BufReader::new(writer.try_clone()?);
        let reply = String::new();
        Ok(Line {
            writer,
            reader,
            reply,
        })
    }

    /// Sends `request` (a line with its `\n`) and reads the reply line.
    fn ask(&mut self, request: &str) -> Result<&str> {
        self.writer.write_all(request.as_bytes())?;
        self.reply.clear();
        let n = self.reader.read_line(&mut self.reply).context(
            "no reply within 5 s: the server stalled, or does not speak the worker-pool protocol",
        )?;
        if n == 0 {
            bail!("the server closed the connection after {request:?}");
        }
        Ok(self.reply.trim_end_matches(['\n', '\r']))
    }
}

/// One round against the server at `addr` whose process is `server_pid`,
/// which runs `args.workers` worker threads: the echoes' totals, and the
/// jobs done (replied `slept 2 ms`), those that `workers` threads doing one
/// job at a time would have done (`ideal jobs`), and the `busy` replies.
pub fn run(addr: SocketAddr, server_pid: u32, args: &Args) -> Result<Round> {
    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicU64; 2]> = Arc::default();
    let mut clients = Vec::new();
    for _ in 0..JOB_CLIENTS {
        let mut line = Line::connect(addr)?;
        let (stop, counts) = (stop.clone(), counts.clone());
        clients.push(thread::spawn(move || {
            ask_for_jobs(&mut line, &stop, &counts)
        }));
    }
    let timed = time_echoes(addr, server_pid, args, &counts);
    stop.store(true, Relaxed);
    for client in clients {
        client
            .join()
            .map_err(|_| anyhow::anyhow!("a job client panicked"))??;
    }
    timed
}

/// A job client: `sleep 2` until told to stop, counting the replies.
fn ask_for_jobs(line: &mut Line, stop: &AtomicBool, counts: &[AtomicU64; 2]) -> Result<()> {
    let (request, done) = (format!("sleep {JOB_MS}\n"), format!("slept {JOB_MS} ms"));
    while !stop.load(Relaxed) {
        match line.ask(&request)? {
            reply if reply == done => counts[0].fetch_add(1, Relaxed),
            reply if reply.starts_with("busy: ") => {
                // Back off for a job's length, as a client told "busy" should.
                thread::sleep(Duration::from_millis(JOB_MS));
                counts[1].fetch_add(1, Relaxed)
            }
            other => bail!("the server answered {request:?} with {other:?}"),
        };
    }
    Ok(())
}

/// The no-work client: an echo line at a time, each timed, on this thread.
fn time_echoes(
    addr: SocketAddr,
    server_pid: u32,
    args: &Args,
    counts: &[AtomicU64; 2],
) -> Result<Round> {
    let snapshot = || counts.each_ref().map(|count| count.load(Relaxed) as f64);
    let mut line = Line::connect(addr)?;
    let mut recorder = Recorder::start(server_pid, args.warmup(), args.measure())?;
    let mut at_start = None;
    for seq in 0u64.. {
        let now = Instant::now();
        if recorder.is_over(now)? {
            let [jobs, busy] = snapshot();
            let [jobs_before, busy_before] = at_start.context("measured")?;
            let mut round = recorder.finish(now)?;
            let ms = round.total("ns") / 1e6;
            let ideal = f64::from(args.workers) * ms / JOB_MS as f64;
            let more = [
                ("jobs", jobs - jobs_before),
                ("busy", busy - busy_before),
                ("ideal jobs", ideal),
            ];
            round.totals.extend(more);
            return Ok(round);
        }
        if at_start.is_none() && recorder.measuring() {
            at_start = Some(snapshot());
        }
        let request = format!("no work, request {seq}\n");
        let sent = Instant::now();
        let reply = line.ask(&request)?;
        if reply != request.trim_end() {
            bail!("the server answered {request:?} with {reply:?}, not its echo");
        }
        recorder.completed(sent.elapsed());
    }
    unreachable!("the loop returns when the measured interval is over")
}
