//! One process group per child, a register of the live ones, and the
//! Ctrl-C handler that kills them all: layers 2 and 3 of the crate doc.
//!
//! [`crate::Process`] uses this for every child; a tool that must run a
//! child with its own stdio (cargo, whose progress goes to the terminal)
//! calls [`spawn_in_own_group`] and [`reaped`] itself.

use std::{
    io,
    os::unix::process::CommandExt as _,
    process::{Child, Command},
    sync::{Mutex, MutexGuard, OnceLock},
    thread,
    time::{Duration, Instant},
};

/// Spawns `command` as the leader of a new process group, registered with
/// the interrupt handler (which kills the group on Ctrl-C) until it is
/// [`reaped`]. Linux also kills it if the parent dies (`PR_SET_PDEATHSIG`).
///
/// In its own group, a child does not get the terminal's Ctrl-C itself:
/// the parent stops it, in order, and says so.
pub fn spawn_in_own_group(command: &mut Command) -> io::Result<Child> {
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
    // Register under the lock the interrupt handler takes, so a Ctrl-C can
    // never miss a child that has just started.
    let mut live = live_groups();
    let child = command.spawn()?;
    live.push(child.id());
    Ok(child)
}

/// Forgets a reaped child's group (see [`spawn_in_own_group`]).
pub fn reaped(pid: u32) {
    live_groups().retain(|&p| p != pid);
}

/// Runs `reap` (which reaps the child `pid`) and forgets its group, under
/// the lock the interrupt handler holds while it stops everything: once
/// Ctrl-C is being handled, no child is seen to end, so the parent cannot
/// go on (record failures, print a table, exit 1) before the handler
/// exits with 128 + signal.
pub(crate) fn reap_registered(pid: u32, reap: impl FnOnce()) {
    let mut live = live_groups();
    reap();
    live.retain(|&p| p != pid);
}

/// Process groups of children started and not yet reaped.
fn live_groups() -> MutexGuard<'static, Vec<u32>> {
    static LIVE: OnceLock<Mutex<Vec<u32>>> = OnceLock::new();
    LIVE.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// SIGKILL to every process of the group `pgid`.
pub(crate) fn kill_group(pgid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid) {
        // SAFETY: killpg only sends a signal. The group is led by our own
        // child, whose pid stays reserved until we reap it; after that, the
        // group id can only be reused once every member is gone.
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
    }
}

/// On SIGINT, SIGTERM or SIGHUP: kill every child still running, say so,
/// and exit with the conventional 128 + signal status. Installed once; for
/// a tool (`cargo xtask demo`), not for tests, whose runner owns Ctrl-C.
pub fn install_interrupt_handler() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Holding the lock keeps new children from starting meanwhile.
                let live = live_groups();
                for &pgid in live.iter() {
                    kill_group(pgid);
                }
                // Reap them too: our own parent (or a container's init) may
                // never collect zombies left to it.
                let deadline = Instant::now() + Duration::from_secs(1);
                for &pid in live.iter() {
                    let Ok(pid) = libc::pid_t::try_from(pid) else {
                        continue;
                    };
                    while Instant::now() < deadline {
                        // SAFETY: waitpid on our own child writes only the
                        // status we pass (none here).
                        let done =
                            unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
                        if done != 0 {
                            break; // reaped, or already reaped by another thread
                        }
                        // SIGKILL was sent and cannot be ignored; the exit
                        // is moments away, and the whole wait is bounded.
                        thread::sleep(Duration::from_millis(2));
                    }
                }
                eprintln!(
                    "\ninterrupted: stopped {} running program(s); exiting",
                    live.len()
                );
                std::process::exit(128 + signal);
            }
        })?;
    let _ = INSTALLED.set(());
    Ok(())
}
