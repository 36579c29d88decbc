//! What the bench reads from `/proc`: a process's CPU time and resident
//! memory, how often its threads slept, and the machine's description.
//!
//! Why the sleeps matter: with one request in flight, each side has nothing
//! to do while the other works. A side that sleeps then (in `epoll_wait`,
//! on a futex, in a blocking `read`) must be woken by the other, and on
//! another core the wake-up (an interrupt, the core leaving its idle
//! state) costs more than the request's own work. So on one connection the
//! sleeps per request say more about the round trip than the CPU time: a
//! server that spins before sleeping (`--spin-us`, `netpoll/src/spin.rs`)
//! shows about 0, a plain readiness loop 1, Go's runtime more (it hands a
//! request between threads). The kernel counts per thread *voluntary*
//! switches (the thread blocked: a sleep) and *nonvoluntary* ones (the
//! scheduler took its CPU away: a preemption).
//!
//! The parsers are pure functions over a file's text, tested without a
//! process in the state the test needs; the bench itself is Linux only.

use std::{collections::BTreeMap, fs, io};

use anyhow::{Context, Result, bail};

/// The CPU time the process `pid` has used, all threads summed, as the
/// kernel accounts it: `(user, system)` in nanoseconds. User time is in the
/// program itself (the event loop, the runtime, the allocator); system
/// time in the kernel on its behalf (system calls, and on loopback much of
/// the TCP/UDP stack of both ends).
pub fn cpu_ns(pid: u32) -> Result<(f64, f64)> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let (user, system) = parse_stat_cpu_ticks(&text).with_context(|| format!("parsing {path}"))?;
    let ns_per_tick = 1e9 / clock_ticks_per_second()? as f64;
    Ok((user as f64 * ns_per_tick, system as f64 * ns_per_tick))
}

/// `(utime, stime)` from the text of `/proc/<pid>/stat`, in clock ticks.
///
/// The second field, `comm`, is the executable's name in parentheses, and
/// a name may itself hold spaces and parentheses, so the fields that
/// follow start after the *last* `)`: from there `state` is field 3, and
/// `utime`/`stime` are fields 14 and 15 (proc(5)).
pub fn parse_stat_cpu_ticks(stat: &str) -> Result<(u64, u64)> {
    let close = stat.rfind(')').context("no `)` closing the command name")?;
    let mut fields = stat[close + 1..].split_ascii_whitespace();
    let utime = fields.nth(11).context("fewer than 14 fields")?;
    let stime = fields.next().context("fewer than 15 fields")?;
    let utime: u64 = utime.parse().with_context(|| format!("utime {utime:?}"))?;
    let stime: u64 = stime.parse().with_context(|| format!("stime {stime:?}"))?;
    Ok((utime, stime))
}

#[cfg(unix)]
fn clock_ticks_per_second() -> Result<u64> {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks)
        .ok()
        .filter(|&t| t > 0)
        .with_context(|| format!("sysconf(_SC_CLK_TCK) returned {ticks}"))
}

#[cfg(not(unix))]
fn clock_ticks_per_second() -> Result<u64> {
    bail!("clock ticks: Unix only")
}

/// The value of field `name` in a `status` file (one `Name:\tvalue` a line).
fn status_field<'a>(status: &'a str, name: &str) -> Result<&'a str> {
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'));
    value
        .map(str::trim)
        .with_context(|| format!("no {name} line"))
}

/// The resident set size of process `pid`, in bytes (`VmRSS`, in kB).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_rss(&text).with_context(|| format!("parsing {path}"))
}

fn parse_status_rss(status: &str) -> Result<u64> {
    let value = status_field(status, "VmRSS")?;
    let kb = value
        .strip_suffix("kB")
        .context("VmRSS is not in kB")?
        .trim();
    Ok(kb.parse::<u64>().with_context(|| format!("VmRSS {kb:?}"))? * 1024)
}

/// Context switches, of one thread or summed over several: `[voluntary,
/// nonvoluntary]`. Voluntary: the thread blocked and slept until something
/// woke it; nonvoluntary: the scheduler preempted it while it could still
/// run.
pub type Switches = [u64; 2];

fn parse_status_switches(status: &str) -> Result<Switches> {
    let field = |name: &str| -> Result<u64> {
        let value = status_field(status, name)?;
        value.parse().with_context(|| format!("{name} {value:?}"))
    };
    Ok([
        field("voluntary_ctxt_switches")?,
        field("nonvoluntary_ctxt_switches")?,
    ])
}

/// The calling thread's own counts (`/proc/thread-self/status`): the load
/// generator counts only its measuring thread, the one that takes part in
/// the exchange.
pub fn this_thread() -> Result<Switches> {
    let path = "/proc/thread-self/status";
    let text = fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    parse_status_switches(&text).with_context(|| format!("parsing {path}"))
}

/// The counts of every thread of a process at one moment, by thread id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Threads(BTreeMap<u32, Switches>);

impl Threads {
    /// Every thread of process `pid` now (`/proc/<pid>/task/*/status`).
    pub fn of(pid: u32) -> Result<Threads> {
        let dir = format!("/proc/{pid}/task");
        let mut threads = BTreeMap::new();
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
            let path = entry?.path();
            let tid = path.file_name().and_then(|n| n.to_str()?.parse().ok());
            match (tid, fs::read_to_string(path.join("status"))) {
                (None, _) => {}
                (Some(tid), Ok(text)) => {
                    let parsed = parse_status_switches(&text);
                    threads.insert(
                        tid,
                        parsed.with_context(|| format!("parsing {}", path.display()))?,
                    );
                }
                // The thread exited after the directory was listed: ENOENT
                // once its directory is gone, ESRCH while the file is open.
                (_, Err(e))
                    if e.kind() == io::ErrorKind::NotFound
                        || e.raw_os_error() == Some(libc::ESRCH) => {}
                (_, Err(e)) => {
                    return Err(e).with_context(|| format!("reading {}", path.display()));
                }
            }
        }
        Ok(Threads(threads))
    }

    /// The switches of all threads between `earlier` and `self`, summed: a
    /// thread at both ends counts its difference, one born since counts
    /// from 0, one that has exited is not counted (what it did is lost
    /// with it); a reused thread id never counts below 0.
    pub fn since(&self, earlier: &Threads) -> Switches {
        let mut sum = [0, 0];
        for (tid, now) in &self.0 {
            let before = earlier.0.get(tid).copied().unwrap_or_default();
            sum = [0, 1].map(|i| sum[i] + now[i].saturating_sub(before[i]));
        }
        sum
    }
}

/// The machine a figure was measured on, as the report prints it and the
/// JSON file keeps it.
pub fn machine() -> serde_json::Value {
    let read = |path| {
        fs::read_to_string(path)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    });
    let load = read("/proc/loadavg");
    serde_json::json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": model.unwrap_or_else(|| "unknown".to_owned()),
        "kernel": read("/proc/sys/kernel/osrelease"),
        "load_average_at_start": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

/// This process's soft limit on open files, which the servers it starts
/// inherit (`Max open files` in `/proc/self/limits`).
pub fn open_file_limit() -> Result<u64> {
    let limits = fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"));
    match line.and_then(|rest| rest.split_whitespace().next()) {
        Some("unlimited") => Ok(u64::MAX),
        Some(n) => n.parse().with_context(|| format!("open file limit {n:?}")),
        None => bail!("no `Max open files` limit in /proc/self/limits"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real line from `cat /proc/self/stat`, with utime=7 and stime=3.
    const STAT: &str = "1234 (cat) R 1 1234 1234 34816 1234 4194304 110 0 0 0 7 3 0 0 20 0 1 0 \
                        889 5607424 224 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_cpu_is_utime_and_stime_whatever_the_command_name() {
        assert_eq!(parse_stat_cpu_ticks(STAT).unwrap(), (7, 3));
        // A program may be named `x) 9 9 (y z)`: only the last `)` closes it.
        let odd = STAT.replace("(cat)", "(x) 9 9 (y z))");
        assert_eq!(parse_stat_cpu_ticks(&odd).unwrap(), (7, 3));
        assert!(parse_stat_cpu_ticks("1234 (cat) R 1 2 3").is_err());
        assert!(parse_stat_cpu_ticks(&STAT.replace(" 7 3 ", " 7 x ")).is_err());
    }

    /// This process's `(user, system)` CPU time as `getrusage` reports it,
    /// in nanoseconds: the same accounts as `utime` and `stime`, by another
    /// road.
    #[cfg(target_os = "linux")]
    fn rusage() -> (f64, f64) {
        // SAFETY: rusage is plain data, written whole by getrusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes only into `usage`.
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
        let ns = |t: libc::timeval| t.tv_sec as f64 * 1e9 + t.tv_usec as f64 * 1e3;
        (ns(usage.ru_utime), ns(usage.ru_stime))
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn own_cpu_time_is_this_processs_user_and_system_time() {
        // Reads the real file of this test process: the fields read must be
        // the kernel's utime and stime, not their neighbours (a fault count,
        // the children's time), so first spend some user time, bounded in
        // work, then compare with getrusage read just before and after.
        let mut x = 1u64;
        for _ in 0..200 {
            if rusage().0 >= 50e6 {
                break;
            }
            for i in 0..2_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
        }
        let before = rusage();
        let read = cpu_ns(std::process::id()).unwrap();
        let after = rusage();
        assert!(before.0 >= 50e6, "{before:?}");
        // /proc counts in clock ticks: allow one either side.
        let tick = 1e9 / clock_ticks_per_second().unwrap() as f64;
        for (name, low, got, high) in [
            ("user", before.0, read.0, after.0),
            ("system", before.1, read.1, after.1),
        ] {
            assert!(
                low - tick <= got && got <= high + tick,
                "{name}: /proc says {got:?}, getrusage {low:?}..{high:?}"
            );
        }
    }

    #[test]
    fn status_fields_are_read_from_their_own_lines() {
        let status = "Name:\tcat\nVmRSS:\t    1816 kB\n\
                      voluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(parse_status_rss(status).unwrap(), 1816 * 1024);
        // `nonvoluntary_ctxt_switches` ends in the other field's name.
        assert_eq!(parse_status_switches(status).unwrap(), [12, 3]);
        let err = parse_status_switches("voluntary_ctxt_switches:\t1\n").unwrap_err();
        assert!(format!("{err:#}").contains("no nonvoluntary_ctxt_switches line"));
        assert!(parse_status_rss("Name:\tzombie\n").is_err());
    }

    #[test]
    fn threads_sum_their_differences_counting_a_new_thread_from_zero() {
        let start = Threads(BTreeMap::from([
            (100, [10, 1]),
            (101, [50, 5]),
            (102, [7, 7]),
            (104, [90, 9]),
        ]));
        // 102 exited; 103 was born; 104's id was reused by a new thread.
        let end = Threads(BTreeMap::from([
            (100, [13, 1]),
            (101, [51, 7]),
            (103, [4, 2]),
            (104, [2, 10]),
        ]));
        assert_eq!(end.since(&start), [3 + 1 + 4, 2 + 2 + 1]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_that_blocks_counts_a_voluntary_switch() {
        use std::{sync::mpsc, thread};
        // This thread parks until a waker unparks it, after the word that it
        // is about to park: it is almost always asleep by then. Almost: if
        // the waker is quicker, `park` returns at once. Hence a few tries.
        for _ in 0..20 {
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
            assert!(!Threads::of(std::process::id()).unwrap().0.is_empty());
            if after[0] > before[0] {
                return;
            }
        }
        panic!("20 park/unpark round trips and voluntary_ctxt_switches never rose");
    }
}
