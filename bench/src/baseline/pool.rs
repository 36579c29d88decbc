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
    io::{AsyncWriteExt, BufReader},
    net::TcpStream,
    sync::{Semaphore, mpsc},
};

use super::lines::{TOO_LONG, next_line};

/// The pool's two bounds, shared by every connection: a permit per job
/// running, and a permit per job running or waiting; and the queue's size.
#[derive(Clone)]
pub struct Pool(Arc<Semaphore>, Arc<Semaphore>, u32);

impl Pool {
    /// A pool of `workers` running and `queue` waiting.
    pub fn new(workers: u32, queue: u32) -> Pool {
        let permits = |n: u32| Arc::new(Semaphore::new(n as usize));
        Pool(permits(workers), permits(workers + queue), queue)
    }

    /// Serves one connection until it closes; its jobs' replies are sent
    /// before the writer ends, or dropped if the peer has gone.
    pub async fn serve(self, socket: TcpStream) {
        let _ = socket.set_nodelay(true);
        let (read, mut write) = socket.into_split();
        let (tx, mut rx) = mpsc::channel::<String>(64);
        let written = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if write
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let (mut reader, mut line) = (BufReader::new(read), Vec::new());
        while let Some(fits) = next_line(&mut reader, &mut line).await {
            let text = String::from_utf8_lossy(&line).into_owned();
            let reply = match job(&text) {
                _ if !fits => TOO_LONG.to_owned(),
                Some(Some(job)) => match self.1.clone().try_acquire_owned() {
                    Ok(admitted) => {
                        let (running, tx) = (self.0.clone(), tx.clone());
                        tokio::spawn(async move {
                            let (_admitted, Ok(_running)) =
                                (admitted, running.acquire_owned().await)
                            else {
                                return;
                            };
                            let _ = tx.send(run(job).await).await;
                        });
                        continue;
                    }
                    Err(_) => format!("busy: {} jobs waiting, try again later", self.2),
                },
                Some(None) => {
                    r#"error: expected "sleep MS" or "spin MS" with MS from 0 to 10000"#.to_owned()
                }
                None => text,
            };
            if tx.send(reply).await.is_err() || !fits {
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

/// The job a line asks for; `Some(None)` for `sleep`/`spin` without a
/// number from 0 to 10 000; `None` for a line to echo.
fn job(line: &str) -> Option<Option<Job>> {
    let (kind, ms) = line.split_once(' ').unwrap_or((line, ""));
    let ms = ms.parse().ok().filter(|&ms| ms <= 10_000);
    match kind {
        "panic" if line == "panic" => Some(Some(Job::Panic)),
        "sleep" => Some(ms.map(Job::Sleep)),
        "spin" => Some(ms.map(Job::Spin)),
        _ => None,
    }
}

/// Runs `job` on a blocking thread; its reply. A panic fails this job only.
async fn run(job: Job) -> String {
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
    });
    done.await
        .unwrap_or_else(|_| "error: the job failed (panicked)".to_owned())
}
