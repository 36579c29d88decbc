//! How often each side of a ping-pong went to sleep and had to be woken: the
//! kernel's count of each thread's context switches, read from
//! `/proc/<pid>/task/<tid>/status`.
//!
//! Why these counts matter: with one request in flight, each side has
//! nothing to do while the other works. A side that sleeps then (in
//! `epoll_wait`, on a futex, in a blocking `read`) must be woken by the
//! other: the kernel makes the sleeper runnable again, and when it sleeps on
//! another core, interrupts that core and brings it out of its idle state
//! before the thread runs. That wake-up costs more than the request's own
//! work, so on one connection the sleeps per request say more about the
//! round trip than the CPU time does:
//!
//! - a server that spins before sleeping (tcp-server and udp-server
//!   `--spin-us`, see `netpoll/src/spin.rs`) is still spinning when the next
//!   request arrives: about 0 sleeps per request;
//! - a plain readiness loop (`--spin-us 0`, the tokio baselines) sleeps in
//!   `epoll_wait` once per request: about 1;
//! - Go's runtime more: it hands a request between threads (the netpoller,
//!   the goroutine's thread), and each of them may sleep and be woken.
//!
//! The kernel counts two kinds of switch per thread: *voluntary*, the
//! thread blocked and gave up its CPU until woken (a sleep), and
//! *nonvoluntary*, the scheduler took the CPU away from a thread that could
//! have run on (a preemption: something else wanted that core).
//!
//! The load generator counts only its own measuring thread
//! (`/proc/thread-self`): the bench process's other threads take no part in
//! the exchange. The parser is a pure function over the file's text, tested
//! on any OS; reading the files is Linux only, as the bench is.

use std::{collections::BTreeMap, fs, io};

use anyhow::{Context, Result};

use crate::procfs::status_field;

/// One thread's context switches, or a sum of several threads'.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContextSwitches {
    /// The thread blocked and slept until something woke it.
    pub voluntary: u64,
    /// The scheduler preempted the thread while it could still run.
    pub nonvoluntary: u64,
}

impl ContextSwitches {
    /// The sum of two counts (of separate threads or intervals).
    pub fn plus(&self, other: ContextSwitches) -> ContextSwitches {
        ContextSwitches {
            voluntary: self.voluntary + other.voluntary,
            nonvoluntary: self.nonvoluntary + other.nonvoluntary,
        }
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: ContextSwitches) -> ContextSwitches {
        ContextSwitches {
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            nonvoluntary: self.nonvoluntary.saturating_sub(earlier.nonvoluntary),
        }
    }
}

/// The counts of every thread of a process at one moment, by thread id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Threads(BTreeMap<u32, ContextSwitches>);

impl Threads {
    /// Every thread of process `pid` now (`/proc/<pid>/task/*/status`).
    pub fn of(pid: u32) -> Result<Threads> {
        let dir = format!("/proc/{pid}/task");
        let mut threads = BTreeMap::new();
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
            let entry = entry.with_context(|| format!("listing {dir}"))?;
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse().ok())
            else {
                continue;
            };
            let path = entry.path().join("status");
            match fs::read_to_string(&path) {
                Ok(text) => {
                    let switches = parse_status_switches(&text)
                        .with_context(|| format!("parsing {}", path.display()))?;
                    threads.insert(tid, switches);
                }
                // The thread exited after the directory was listed.
                Err(err) if has_vanished(&err) => {}
                Err(err) => {
                    return Err(err).with_context(|| format!("reading {}", path.display()));
                }
            }
        }
        Ok(Threads(threads))
    }

    /// The switches of all threads between `earlier` and `self`, summed.
    ///
    /// Kept simple, as threads come and go rarely in the servers measured:
    /// a thread present at both ends counts its difference; one born since
    /// `earlier` counts from 0; one that exited before `self` is not counted
    /// at all (what it did after `earlier` is lost with it). A thread id
    /// reused by a new thread is taken for the old one, its counts never
    /// going below 0.
    pub fn since(&self, earlier: &Threads) -> ContextSwitches {
        self.0
            .iter()
            .map(|(tid, now)| now.since(earlier.0.get(tid).copied().unwrap_or_default()))
            .fold(ContextSwitches::default(), |sum, one| sum.plus(one))
    }
}

/// The calling thread's own counts (`/proc/thread-self/status`).
pub fn this_thread() -> Result<ContextSwitches> {
    let path = "/proc/thread-self/status";
    let text = fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    parse_status_switches(&text).with_context(|| format!("parsing {path}"))
}

/// Whether reading a thread's file failed because the thread is gone:
/// `ENOENT` once its directory is removed, `ESRCH` if it exits while the
/// file is open.
fn has_vanished(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ESRCH)
}

/// `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` from the text
/// of a `status` file (proc(5)).
pub fn parse_status_switches(status: &str) -> Result<ContextSwitches> {
    let field = |name: &str| -> Result<u64> {
        let value = status_field(status, name)
            .with_context(|| format!("no {name} line"))?
            .trim();
        value.parse().with_context(|| format!("{name} {value:?}"))
    };
    Ok(ContextSwitches {
        voluntary: field("voluntary_ctxt_switches")?,
        nonvoluntary: field("nonvoluntary_ctxt_switches")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The end of a real `cat /proc/self/status`.
    const STATUS: &str = "Name:\tcat\nState:\tR (running)\nTgid:\t4242\nPid:\t4242\n\
                          VmRSS:\t    1816 kB\nThreads:\t1\n\
                          Mems_allowed_list:\t0\n\
                          voluntary_ctxt_switches:\t12\n\
                          nonvoluntary_ctxt_switches:\t3\n";

    fn switches(voluntary: u64, nonvoluntary: u64) -> ContextSwitches {
        ContextSwitches {
            voluntary,
            nonvoluntary,
        }
    }

    #[test]
    fn status_switches_are_voluntary_and_nonvoluntary() {
        // `nonvoluntary_ctxt_switches` ends in the other field's name: each
        // must be read from its own line.
        assert_eq!(parse_status_switches(STATUS).unwrap(), switches(12, 3));
        let reordered = "nonvoluntary_ctxt_switches:\t7\nvoluntary_ctxt_switches: 0\n";
        assert_eq!(parse_status_switches(reordered).unwrap(), switches(0, 7));
    }

    #[test]
    fn status_without_switches_is_an_error_not_zero() {
        let err = parse_status_switches("Name:\tcat\nvoluntary_ctxt_switches:\t1\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("no nonvoluntary_ctxt_switches line"),
            "{err:#}"
        );
        assert!(parse_status_switches(&STATUS.replace("\t12", "\tmany")).is_err());
    }

    #[test]
    fn threads_sum_their_differences_counting_a_new_thread_from_zero() {
        let start = Threads(BTreeMap::from([
            (100, switches(10, 1)),
            (101, switches(50, 5)),
            // Exits before the end: not counted.
            (102, switches(7, 7)),
        ]));
        let end = Threads(BTreeMap::from([
            (100, switches(13, 1)),
            (101, switches(51, 7)),
            // Born during the interval: all of its switches count.
            (103, switches(4, 2)),
        ]));
        assert_eq!(end.since(&start), switches(3 + 1 + 4, 2 + 2));
        assert_eq!(end.since(&end), switches(0, 0));
        assert_eq!(Threads::default().since(&start), switches(0, 0));
    }

    #[test]
    fn a_reused_thread_id_never_counts_below_zero() {
        let start = Threads(BTreeMap::from([(100, switches(90, 9))]));
        let end = Threads(BTreeMap::from([(100, switches(2, 10))]));
        assert_eq!(end.since(&start), switches(0, 1));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_lists_its_threads() {
        let threads = Threads::of(std::process::id()).unwrap();
        assert!(!threads.0.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_that_blocks_counts_a_voluntary_switch() {
        use std::{sync::mpsc, thread};

        // This thread parks until a waker unparks it; the waker first waits
        // for the word that this thread is about to park, so this thread is
        // almost always asleep by the time the unpark comes. Almost: if the
        // waker is quicker, `park` returns at once without sleeping. Hence a
        // few tries; any one of them that slept must show in the count.
        const TRIES: usize = 20;
        for _ in 0..TRIES {
            let (about_to_park, wait) = mpsc::channel();
            let parked = thread::current();
            let waker = thread::spawn(move || {
                wait.recv().unwrap();
                parked.unpark();
            });
            let before = this_thread().unwrap();
            about_to_park.send(()).unwrap();
            thread::park();
            let after = this_thread().unwrap();
            waker.join().unwrap();
            if after.voluntary > before.voluntary {
                return;
            }
        }
        panic!("{TRIES} park/unpark round trips and voluntary_ctxt_switches never rose");
    }
}
