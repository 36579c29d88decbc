//! One process group per child, a register of the live ones, and the
//! Ctrl-C handler that kills them all: layers 2 and 3 of the crate doc.
//!
//! [`crate::Program`] uses this for every child; a tool that must run a
//! child with its own stdio (cargo, whose progress goes to the terminal)
//! calls [`spawn_in_own_group`] and [`reaped`] itself.

use std::{
    io,
    process::{Child, Command},
    sync::{Arc, Mutex, MutexGuard, OnceLock},
};

use crate::sys::{self, Group};

/// Spawns `command` as the leader of a new process group (a job object of
/// its own on Windows), registered with the interrupt handler (which kills
/// the group on Ctrl-C) until it is [`reaped`]. Linux also kills it if the
/// parent dies (`PR_SET_PDEATHSIG`), Windows too (the job is killed when
/// its last handle closes).
///
/// In its own group, a child does not get the terminal's Ctrl-C itself:
/// the parent stops it, in order, and says so.
pub fn spawn_in_own_group(command: &mut Command) -> io::Result<Child> {
    spawn_grouped(command).map(|(child, _)| child)
}

/// [`spawn_in_own_group`], also handing back the group to kill.
pub(crate) fn spawn_grouped(command: &mut Command) -> io::Result<(Child, Arc<Group>)> {
    sys::prepare(command);
    // Register under the lock the interrupt handler takes, so a Ctrl-C can
    // never miss a child that has just started.
    let mut live = live_groups();
    let mut child = command.spawn()?;
    let group = match Group::of(&child) {
        Ok(group) => Arc::new(group),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    live.push((child.id(), Arc::clone(&group)));
    Ok((child, group))
}

/// Forgets a reaped child's group (see [`spawn_in_own_group`]).
pub fn reaped(pid: u32) {
    live_groups().retain(|(p, _)| *p != pid);
}

/// Runs `reap` (which reaps the child `pid`) and forgets its group, under
/// the lock the interrupt handler holds while it stops everything: once
/// Ctrl-C is being handled, no child is seen to end, so the parent cannot
/// go on (record failures, print a table, exit 1) before the handler
/// exits with 128 + signal.
pub(crate) fn reap_registered(pid: u32, reap: impl FnOnce()) {
    let mut live = live_groups();
    reap();
    live.retain(|(p, _)| *p != pid);
}

/// Groups of children started and not yet reaped, by the child's pid.
type LiveGroups = Vec<(u32, Arc<Group>)>;

/// The register of [`LiveGroups`].
fn live_groups() -> MutexGuard<'static, LiveGroups> {
    static LIVE: OnceLock<Mutex<LiveGroups>> = OnceLock::new();
    LIVE.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// On SIGINT, SIGTERM or SIGHUP (Windows: Ctrl-C, Ctrl-Break, the console
/// closing): kill every child still running, say so, and exit with the
/// conventional 128 + signal status (130 for Ctrl-C everywhere). Installed
/// once; for a tool (`cargo xtask demo`), not for tests, whose runner owns
/// Ctrl-C.
pub fn install_interrupt_handler() -> io::Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    sys::on_interrupt(|signal| {
        // Holding the lock keeps new children from starting meanwhile.
        let live = live_groups();
        for (_, group) in live.iter() {
            group.kill();
        }
        let pids: Vec<u32> = live.iter().map(|(pid, _)| *pid).collect();
        sys::reap_killed(&pids);
        eprintln!(
            "\ninterrupted: stopped {} running program(s); exiting",
            live.len()
        );
        std::process::exit(128 + signal);
    })?;
    let _ = INSTALLED.set(());
    Ok(())
}
