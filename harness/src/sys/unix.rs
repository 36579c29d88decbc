//! Process groups and signals: how the harness starts, stops and kills a
//! child on Unix (Linux, macOS, the BSDs). `windows.rs` does the same with
//! job objects and console events; the rest of the crate sees only these
//! few functions.

use std::{
    io,
    os::unix::process::{CommandExt as _, ExitStatusExt as _},
    process::{Child, Command, ExitStatus},
    thread,
    time::{Duration, Instant},
};

/// Makes the child lead a process group of its own (and, on Linux, die
/// with the thread that started it: `PR_SET_PDEATHSIG`).
pub(crate) fn prepare(command: &mut Command) {
    command.process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed; prctl is a plain system
    // call that touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A child's process group: its id is the child's pid.
pub(crate) struct Group {
    pgid: libc::pid_t,
}

impl Group {
    /// The group `child` leads (see [`prepare`]).
    pub(crate) fn of(child: &Child) -> io::Result<Group> {
        let pgid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
        Ok(Group { pgid })
    }

    /// SIGKILL to every process of the group.
    pub(crate) fn kill(&self) {
        // SAFETY: killpg only sends a signal. The group is led by our own
        // child, whose pid stays reserved until we reap it; after that, the
        // group id can only be reused once every member is gone.
        unsafe { libc::killpg(self.pgid, libc::SIGKILL) };
    }
}

/// Sends `signal` to the child `pid` itself.
pub(crate) fn send_signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: kill only sends a signal, to our own unreaped child.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Blocks until `child` has exited, leaving it unreaped: its pid, and so
/// its group id, stay reserved until `child.wait()`.
pub(crate) fn wait_for_exit_unreaped(child: &Child) {
    loop {
        // SAFETY: siginfo_t is plain data, written by waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes only into `info`. WNOWAIT leaves the child
        // a zombie, so its pid stays reserved until it is reaped.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                child.id() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return; // exited, or no longer our child to wait for
        }
    }
}

/// The status recorded for a child someone else reaped: killed.
pub(crate) fn killed_status() -> ExitStatus {
    ExitStatus::from_raw(libc::SIGKILL)
}

/// The signal that ended a child, if one did.
pub(crate) fn killing_signal(status: ExitStatus) -> Option<i32> {
    status.signal()
}

/// Calls `on_interrupt(signal)` on a thread of its own at the first
/// SIGINT, SIGTERM or SIGHUP.
pub(crate) fn on_interrupt(on_interrupt: impl FnOnce(i32) + Send + 'static) -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                on_interrupt(signal);
            }
        })?;
    Ok(())
}

/// Reaps children just killed: our own parent (or a container's init) may
/// never collect zombies left to it. Bounded: SIGKILL cannot be ignored,
/// so each exit is moments away.
pub(crate) fn reap_killed(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(1);
    for &pid in pids {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            continue;
        };
        while Instant::now() < deadline {
            // SAFETY: waitpid on our own child writes only the status we
            // pass (none here).
            let done = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
            if done != 0 {
                break; // reaped, or already reaped by another thread
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}
