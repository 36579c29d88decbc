//! What the bench reads from `/proc`: a process's CPU time and resident memory,
//! and the machine's description for the report. (How often its threads
//! slept, from the same files, is [`super::sleeps`].)
//!
//! The parsers are pure functions over the file's text so they can be tested
//! without a process in the state the test needs, on any OS; reading the
//! files, and the two system calls here, are Linux (or Unix) only, and say
//! so as an error elsewhere ([`crate::run`] stops before that).

use std::{fs, time::Duration};

use anyhow::{Context, Result, bail};

/// CPU time a process has used, split as the kernel accounts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// In the program itself (the event loop, the runtime, the allocator).
    pub user: Duration,
    /// In the kernel on the process's behalf (system calls, and on loopback
    /// much of the TCP/UDP stack of both ends).
    pub system: Duration,
}

impl CpuTime {
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// The sum of two measurements (of separate intervals).
    pub fn plus(&self, other: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }

    /// What was used between `earlier` and `self`.
    pub fn since(&self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// User and system CPU time the process `pid` has used so far, all threads summed.
pub fn cpu_time(pid: u32) -> Result<CpuTime> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let (user, system) = parse_stat_cpu_ticks(&text).with_context(|| format!("parsing {path}"))?;
    let rate = clock_ticks_per_second()?;
    Ok(CpuTime {
        user: ticks_to_duration(user, rate),
        system: ticks_to_duration(system, rate),
    })
}

/// `(utime, stime)` from the text of `/proc/<pid>/stat`, in clock ticks.
///
/// The second field, `comm`, is the executable's name in parentheses, and a name
/// may itself contain spaces and parentheses (`(my (odd) name)`), so splitting
/// the line on spaces is wrong: the fields that follow start after the *last*
/// `)`. Counting from there, `state` is field 3 and `utime`/`stime` are fields
/// 14 and 15 (proc(5)).
pub fn parse_stat_cpu_ticks(stat: &str) -> Result<(u64, u64)> {
    let close = stat.rfind(')').context("no `)` closing the command name")?;
    let mut fields = stat[close + 1..].split_ascii_whitespace();
    // fields now starts at field 3 (`state`); utime is field 14, 11 further on.
    let utime = fields.nth(11).context("fewer than 14 fields")?;
    let stime = fields.next().context("fewer than 15 fields")?;
    let utime: u64 = utime.parse().with_context(|| format!("utime {utime:?}"))?;
    let stime: u64 = stime.parse().with_context(|| format!("stime {stime:?}"))?;
    Ok((utime, stime))
}

/// Converts clock ticks (`sysconf(_SC_CLK_TCK)` per second) to a duration.
pub fn ticks_to_duration(ticks: u64, ticks_per_second: u64) -> Duration {
    let micros = u128::from(ticks) * 1_000_000 / u128::from(ticks_per_second.max(1));
    Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
}

#[cfg(unix)]
fn clock_ticks_per_second() -> Result<u64> {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks <= 0 {
        bail!("sysconf(_SC_CLK_TCK) returned {ticks}");
    }
    Ok(ticks as u64)
}

#[cfg(not(unix))]
fn clock_ticks_per_second() -> Result<u64> {
    bail!("clock ticks: Unix only")
}

/// The resident set size of process `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_rss(&text).with_context(|| format!("parsing {path}"))
}

/// The value of field `name` in the text of a `status` file (proc(5):
/// one `Name:\tvalue` per line), untrimmed.
pub fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
}

/// `VmRSS` from the text of `/proc/<pid>/status` (given there in kB), in bytes.
pub fn parse_status_rss(status: &str) -> Result<u64> {
    let line = status_field(status, "VmRSS").context("no VmRSS line (has the process exited?)")?;
    let kb = line
        .trim()
        .strip_suffix("kB")
        .context("VmRSS is not in kB")?
        .trim();
    let kb: u64 = kb.parse().with_context(|| format!("VmRSS {kb:?}"))?;
    Ok(kb * 1024)
}

/// The machine a figure was measured on, as the report prints it.
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub load_average: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: parse_cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".to_owned()),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            load_average: read_trimmed("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path).map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// This process's soft limit on open files (`/proc/self/limits`), which
/// the servers it starts inherit.
pub fn open_file_limit() -> Result<u64> {
    let limits = fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no `Max open files` in /proc/self/limits")?;
    let soft = line["Max open files".len()..].split_whitespace().next();
    match soft {
        Some("unlimited") => Ok(u64::MAX),
        Some(n) => n.parse().with_context(|| format!("open file limit {n:?}")),
        None => bail!("no soft limit in {line:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real line from `cat /proc/self/stat`, with utime=7 and stime=3.
    const STAT: &str = "1234 (cat) R 1 1234 1234 34816 1234 4194304 110 0 0 0 7 3 0 0 20 0 1 0 \
                        889 5607424 224 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_cpu_is_utime_and_stime() {
        assert_eq!(parse_stat_cpu_ticks(STAT).unwrap(), (7, 3));
    }

    #[test]
    fn stat_comm_with_spaces_and_parentheses_does_not_shift_fields() {
        // A program may be named `a) b (c`; only the last `)` closes comm.
        let odd = STAT.replace("(cat)", "(x) 9 9 (y z))");
        assert_eq!(parse_stat_cpu_ticks(&odd).unwrap(), (7, 3));
    }

    #[test]
    fn stat_truncated_is_an_error_not_a_panic() {
        assert!(parse_stat_cpu_ticks("1234 (cat) R 1 2 3").is_err());
        assert!(parse_stat_cpu_ticks("1234 cat R").is_err());
        assert!(parse_stat_cpu_ticks(&STAT.replace(" 7 3 ", " 7 x ")).is_err());
    }

    /// This process's CPU time as `getrusage` reports it: the same
    /// accounts as `utime` and `stime`, by another road.
    #[cfg(target_os = "linux")]
    fn rusage() -> CpuTime {
        // SAFETY: rusage is plain data, written whole by getrusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes only into `usage`.
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        CpuTime {
            user: time(usage.ru_utime),
            system: time(usage.ru_stime),
        }
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
            if rusage().user >= Duration::from_millis(50) {
                break;
            }
            for i in 0..2_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
        }
        let before = rusage();
        let read = cpu_time(std::process::id()).unwrap();
        let after = rusage();
        assert!(before.user >= Duration::from_millis(50), "{before:?}");
        // /proc counts in clock ticks: allow one either side.
        let tick = ticks_to_duration(1, clock_ticks_per_second().unwrap());
        for (name, low, got, high) in [
            ("user", before.user, read.user, after.user),
            ("system", before.system, read.system, after.system),
        ] {
            assert!(
                low.saturating_sub(tick) <= got && got <= high + tick,
                "{name}: /proc says {got:?}, getrusage {low:?}..{high:?}"
            );
        }
    }

    #[test]
    fn cpu_time_difference_never_underflows() {
        let ms = Duration::from_millis;
        let later = CpuTime {
            user: ms(30),
            system: ms(5),
        };
        let earlier = CpuTime {
            user: ms(10),
            system: ms(9),
        };
        assert_eq!(
            later.since(earlier),
            CpuTime {
                user: ms(20),
                system: ms(0)
            }
        );
        assert_eq!(later.total(), ms(35));
    }

    #[test]
    fn ticks_convert_at_the_given_rate() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(1, 1000), Duration::from_millis(1));
    }

    #[test]
    fn status_rss_is_read_in_kilobytes() {
        let status = "Name:\tcat\nVmPeak:\t  9000 kB\nVmRSS:\t    1816 kB\nRssAnon:\t 100 kB\n";
        assert_eq!(parse_status_rss(status).unwrap(), 1816 * 1024);
        assert!(parse_status_rss("Name:\tzombie\n").is_err());
    }

    #[test]
    fn cpu_model_is_the_first_model_name() {
        let info = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\
                    processor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(parse_cpu_model(info).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(parse_cpu_model("processor\t: 0\n"), None);
    }
}
