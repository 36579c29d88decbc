//! The worker pool: a fixed number of threads that do the slow work, fed by
//! one bounded queue. The event loop never waits for a job: it hands the
//! job over and goes on serving everyone; a worker runs it and hands the
//! result back to the connection through a [`Reply`](netpoll::tcp::Reply),
//! which wakes the connection's loop. That is libuv's `uv_queue_work` (the
//! work on a pool thread, its completion back on the loop), and the
//! event-loop form of the Go tutorial's advice to "establish a goroutine
//! worker pool"; the Go twin feeds its workers through a buffered channel.
//!
//! Three rules, each a test in `tests/worker_pool.rs`:
//!
//! - **Bounded.** At most `--queue` jobs wait for a worker, over all
//!   connections; past that a job is refused at once ([`Busy`]), and its
//!   request answered so (the session says why answering beats pausing).
//!   The bound counts jobs that *wait*: a job a free worker takes at once
//!   waits for nothing, so with a worker free even a queue of 0 takes it
//!   (Go's unbuffered channel does the same, when the worker is ready).
//! - **A panic fails one job.** A job runs under `catch_unwind`; its panic
//!   becomes its result ([`Panicked`]), and the worker goes on to the next
//!   job: the pool keeps its N workers. The panic's message goes to the log
//!   (rate limited, through the program's stderr queue) instead of the
//!   default hook's direct write to stderr, which a full pipe would block:
//!   a client asking for panics must not be able to stop the workers.
//! - **Stopping drops what waits.** [`Pool::stop`] lets no job start any
//!   more; jobs running finish on their own, and the program does not wait
//!   for them (its connections are closed by then).

use std::collections::VecDeque;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread;
use std::time::Instant;

use netpoll::RateLimitedLog;

/// The name of each worker thread, numbered from 1: `worker-1`. A panic
/// on a thread so named is a job's, and is logged (see the module doc).
const WORKER: &str = "worker-";

/// A job's work, its completion included, as a worker runs it.
type Task = Box<dyn FnOnce() + Send>;

/// N worker threads and the queue of jobs waiting for them.
pub struct Pool {
    shared: Arc<Shared>,
}

/// What the submitting thread and the workers share.
struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued, or the pool stops.
    job_queued: Condvar,
    workers: usize,
    /// The most jobs that may wait for a worker.
    queue: usize,
}

struct State {
    waiting: VecDeque<Task>,
    /// Workers running a job now.
    running: usize,
    stopped: bool,
}

/// Every worker is busy and `--queue` jobs wait already: the job was not
/// taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// The job panicked: its result, in place of the one it would have had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panicked;

impl Pool {
    /// Starts `workers` threads (at least one), taking jobs from a queue
    /// where at most `queue` of them may wait.
    pub fn start(workers: usize, queue: usize) -> io::Result<Pool> {
        log_job_panics();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                running: 0,
                stopped: false,
            }),
            job_queued: Condvar::new(),
            workers: workers.max(1),
            queue,
        });
        for n in 1..=shared.workers {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("{WORKER}{n}"))
                .spawn(move || shared.work())?;
        }
        Ok(Pool { shared })
    }

    /// The most jobs that may wait for a worker (`--queue`).
    pub fn queue(&self) -> usize {
        self.shared.queue
    }

    /// Queues a job: a worker runs `work`, then `done` with its result (or
    /// [`Panicked`]), both on the worker's thread. [`Busy`] if it would
    /// have to wait with `--queue` jobs waiting already (or the pool has
    /// stopped); `work` and `done` are then dropped unrun.
    pub fn submit<T>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
        done: impl FnOnce(Result<T, Panicked>) + Send + 'static,
    ) -> Result<(), Busy> {
        let mut state = self.shared.lock();
        // A free worker takes a job at once: only the jobs beyond them wait.
        let free = self.shared.workers - state.running;
        if state.stopped || state.waiting.len() + 1 > self.shared.queue + free {
            return Err(Busy);
        }
        state.waiting.push_back(Box::new(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(work));
            done(result.map_err(|_| Panicked));
        }));
        drop(state);
        self.shared.job_queued.notify_one();
        Ok(())
    }

    /// Starts no more jobs: those waiting are dropped (their replies with
    /// them), those running finish on their own.
    pub fn stop(&self) {
        let waiting = {
            let mut state = self.shared.lock();
            state.stopped = true;
            std::mem::take(&mut state.waiting)
        };
        self.shared.job_queued.notify_all();
        // Dropped outside the lock: a job's drop may post a letter.
        drop(waiting);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock, so no panic can poison it mid-change.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker's life: take the oldest job, run it, again, until the pool
    /// stops.
    fn work(&self) {
        while let Some(task) = self.next_task() {
            // The job's own panic was caught for its request; this catches
            // one in its completion, so that the worker lives on either way.
            if panic::catch_unwind(AssertUnwindSafe(task)).is_err() {
                log::error!("a job's completion panicked; the worker goes on");
            }
            self.lock().running -= 1;
        }
    }

    /// The next job, counted as running, once there is one; `None` once
    /// the pool has stopped.
    fn next_task(&self) -> Option<Task> {
        let mut state = self.lock();
        loop {
            if state.stopped {
                return None;
            }
            if let Some(task) = state.waiting.pop_front() {
                state.running += 1;
                return Some(task);
            }
            state = self
                .job_queued
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Sends a panic on a worker thread to the log, one line, rate limited,
/// instead of the default hook's lines written straight to stderr; every
/// other thread's panic goes to the hook as before. Installed once.
fn log_job_panics() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let default = panic::take_hook();
        let log = Mutex::new(RateLimitedLog::per_second(10));
        panic::set_hook(Box::new(move |info| {
            let on_worker = thread::current()
                .name()
                .is_some_and(|name| name.starts_with(WORKER));
            if !on_worker {
                return default(info);
            }
            let ready = log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .ready(Instant::now());
            if let Some(suppressed) = ready {
                let more = match suppressed {
                    0 => String::new(),
                    n => format!(" ({n} more since the last such line)"),
                };
                let payload = info.payload();
                let what = (payload.downcast_ref::<&str>().copied())
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("no message");
                let place = info
                    .location()
                    .map(|at| format!(" at {at}"))
                    .unwrap_or_default();
                log::warn!("a job panicked ({what}{place}); its request fails{more}");
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(20);

    /// A job that holds its worker until the test lets it go; says when it
    /// has started.
    fn held(pool: &Pool, started: &mpsc::Sender<()>) -> Result<mpsc::Sender<()>, Busy> {
        let (release, hold) = mpsc::channel::<()>();
        let started = started.clone();
        pool.submit(
            move || {
                let _ = started.send(());
                let _ = hold.recv_timeout(TIMEOUT);
            },
            |_| {},
        )?;
        Ok(release)
    }

    #[test]
    fn jobs_past_the_free_workers_and_the_queue_are_refused_busy() {
        let pool = Pool::start(2, 1).unwrap();
        let (started, running) = mpsc::channel();
        let first = held(&pool, &started).unwrap();
        let second = held(&pool, &started).unwrap();
        // Each worker runs one, and one more may wait.
        for _ in 0..2 {
            running.recv_timeout(TIMEOUT).unwrap();
        }
        let waits = held(&pool, &started).unwrap();
        assert_eq!(held(&pool, &started).err(), Some(Busy));
        // A worker freed takes the waiting one, and the queue has room again.
        first.send(()).unwrap();
        running.recv_timeout(TIMEOUT).unwrap();
        let fourth = held(&pool, &started).unwrap();
        for release in [second, waits, fourth] {
            release.send(()).unwrap();
        }
        pool.stop();
    }

    #[test]
    fn with_no_queue_a_free_worker_still_takes_a_job() {
        let pool = Pool::start(1, 0).unwrap();
        let (started, running) = mpsc::channel();
        let release = held(&pool, &started).unwrap();
        running.recv_timeout(TIMEOUT).unwrap();
        assert_eq!(held(&pool, &started).err(), Some(Busy));
        release.send(()).unwrap();
        pool.stop();
    }

    #[test]
    fn a_job_that_panics_fails_alone_and_the_pool_keeps_its_workers() {
        let pool = Pool::start(2, 8).unwrap();
        let (results, result) = mpsc::channel();
        // More panics than workers, then as many jobs as workers, each
        // held until both run: only two live workers can run them at once.
        for _ in 0..3 {
            let results = results.clone();
            let work = || -> u32 { panic!("asked to") };
            pool.submit(work, move |r| results.send(r).unwrap())
                .unwrap();
        }
        for _ in 0..3 {
            assert_eq!(result.recv_timeout(TIMEOUT).unwrap(), Err(Panicked));
        }
        let (started, running) = mpsc::channel();
        let releases = [
            held(&pool, &started).unwrap(),
            held(&pool, &started).unwrap(),
        ];
        for _ in 0..2 {
            running.recv_timeout(TIMEOUT).expect("two workers alive");
        }
        for release in releases {
            release.send(()).unwrap();
        }
        pool.stop();
    }

    #[test]
    fn a_stopped_pool_runs_no_more_jobs_and_drops_those_waiting() {
        let pool = Pool::start(1, 4).unwrap();
        let (started, running) = mpsc::channel();
        let release = held(&pool, &started).unwrap();
        running.recv_timeout(TIMEOUT).unwrap();
        // Waits behind the held one, and would say so if it ever ran.
        let (ran, heard) = mpsc::channel::<()>();
        pool.submit(|| {}, move |_| ran.send(()).unwrap()).unwrap();
        pool.stop();
        release.send(()).unwrap();
        // The waiting job is dropped unrun: its sender goes with it.
        assert_eq!(
            heard.recv_timeout(TIMEOUT),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
        assert_eq!(pool.submit(|| {}, |_| {}), Err(Busy));
    }
}
