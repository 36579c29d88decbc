//! `tokio-worker-pool`: the worker pool of `worker-pool`'s protocol the
//! tokio way. A task per connection reads lines; a job runs on tokio's
//! blocking threads (`spawn_blocking`), at most `--workers` at a time (a
//! semaphore), and at most `--queue` more wait for one (a second
//! semaphore, tried without waiting: past it, the request is answered
//! "busy" at once); each reply goes to the connection's writer task.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    io::BufReader,
    net::TcpStream,
    sync::{Semaphore, mpsc},
};

use super::{
    BaselineArgs,
    lines::{TOO_LONG, next_line, writer},
};

/// The longest job a request may ask for, in milliseconds.
const MAX_MS: u64 = 10_000;

/// The pool's two bounds, shared by every connection.
#[derive(Clone)]
pub struct Pool {
    /// A permit per job running.
    running: Arc<Semaphore>,
    /// A permit per job running or waiting.
    admitted: Arc<Semaphore>,
    queue: u32,
}

impl Pool {
    /// A pool of `args.workers` running and `args.queue` waiting.
    pub fn new(args: &BaselineArgs) -> Pool {
        let permits = |n: u32| Arc::new(Semaphore::new(n as usize));
        Pool {
            running: permits(args.workers),
            admitted: permits(args.workers + args.queue),
            queue: args.queue,
        }
    }

    /// Serves one connection until it closes; its jobs' replies are sent
    /// before the writer ends, or dropped if the peer has gone.
    pub async fn serve(self, socket: TcpStream) {
        let _ = socket.set_nodelay(true);
        let (read, write) = socket.into_split();
        let (tx, written) = writer(write, 64);
        let (mut reader, mut line) = (BufReader::new(read), Vec::new());
        while let Some(fits) = next_line(&mut reader, &mut line).await {
            if !fits {
                let _ = tx.send(TOO_LONG.to_vec()).await;
                break;
            }
            let reply = match job(&line) {
                Some(Ok(job)) => match self.admitted.clone().try_acquire_owned() {
                    Ok(admitted) => {
                        let (running, tx) = (self.running.clone(), tx.clone());
                        tokio::spawn(async move {
                            let _admitted = admitted;
                            let Ok(_running) = running.acquire_owned().await else {
                                return;
                            };
                            run(job, tx).await;
                        });
                        continue;
                    }
                    Err(_) => {
                        format!("busy: {} jobs waiting, try again later", self.queue).into_bytes()
                    }
                },
                Some(Err(())) => {
                    br#"error: expected "sleep MS" or "spin MS" with MS from 0 to 10000"#.to_vec()
                }
                None => line.clone(),
            };
            if tx.send(reply).await.is_err() {
                break;
            }
        }
        drop(tx);
        let _ = written.await;
    }
}

/// What a job does.
#[derive(Clone, Copy)]
enum Job {
    Sleep(u64),
    Spin(u64),
    Panic,
}

/// The job a line asks for; `Some(Err)` for `sleep`/`spin` without a
/// number in range; `None` for a line to echo.
fn job(line: &[u8]) -> Option<Result<Job, ()>> {
    if line == b"panic" {
        return Some(Ok(Job::Panic));
    }
    let (kind, ms) = match line.iter().position(|&b| b == b' ') {
        Some(at) => (&line[..at], &line[at + 1..]),
        None => (line, &b""[..]),
    };
    let ms = std::str::from_utf8(ms).ok().and_then(|ms| ms.parse().ok());
    let ms = ms.filter(|&ms| ms <= MAX_MS).ok_or(());
    match kind {
        b"sleep" => Some(ms.map(Job::Sleep)),
        b"spin" => Some(ms.map(Job::Spin)),
        _ => None,
    }
}

/// Runs `job` on a blocking thread and sends its reply; a panic fails
/// this job only.
async fn run(job: Job, tx: mpsc::Sender<Vec<u8>>) {
    let done = tokio::task::spawn_blocking(move || match job {
        Job::Sleep(ms) => {
            std::thread::sleep(Duration::from_millis(ms));
            format!("slept {ms} ms")
        }
        Job::Spin(ms) => {
            let end = Instant::now() + Duration::from_millis(ms);
            while Instant::now() < end {
                std::hint::spin_loop();
            }
            format!("spun {ms} ms")
        }
        Job::Panic => panic!("the client asked this job to panic"),
    })
    .await;
    let reply = done.unwrap_or_else(|_| "error: the job failed (panicked)".to_owned());
    let _ = tx.send(reply.into_bytes()).await;
}
