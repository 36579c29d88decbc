//! Job objects and console events: how the harness starts, stops and kills
//! a child on Windows, with the same few functions `unix.rs` has.
//!
//! | Unix | Windows |
//! |---|---|
//! | the child leads its own process group | `CREATE_NEW_PROCESS_GROUP`: the terminal's Ctrl-C does not reach it |
//! | `killpg(SIGKILL)` takes the child and all it started | the child is in a job object of its own; `TerminateJobObject` ends every process in it |
//! | `PR_SET_PDEATHSIG` (Linux) kills it if we die | `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`: when our last handle to the job closes, which dying does, Windows kills the job |
//! | SIGTERM asks a server to stop with its summary | `CTRL_BREAK_EVENT` to its process group, which the servers' console handler treats as Ctrl-C (it needs the console we share with it) |
//! | zombies must be reaped | nothing to reap: a process handle keeps the pid reserved until it is closed |
//!
//! A child runs for a moment before it is put in its job (std starts it;
//! only then do we have its handle): a grandchild started in that moment
//! would escape the job. Our programs start none.

use std::{
    ffi::c_void,
    io,
    os::windows::{
        io::{AsRawHandle as _, FromRawHandle as _, OwnedHandle},
        process::{CommandExt as _, ExitStatusExt as _},
    },
    process::{Child, Command, ExitStatus},
    ptr,
    sync::Mutex,
};

use windows_sys::Win32::System::{
    Console::{CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent},
    JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
        SetInformationJobObject, TerminateJobObject,
    },
    Threading::{CREATE_NEW_PROCESS_GROUP, INFINITE, WaitForSingleObject},
};

/// What the interrupt handler reports for Ctrl-C: the C runtime's SIGINT,
/// so the exit status is 130 as on Unix.
const SIGINT: i32 = libc::SIGINT;

/// Puts the child in a console process group of its own.
pub(crate) fn prepare(command: &mut Command) {
    command.creation_flags(CREATE_NEW_PROCESS_GROUP);
}

/// The job object holding one child and whatever it starts.
pub(crate) struct Group {
    job: OwnedHandle,
}

impl Group {
    /// A new job, killed when its last handle closes, holding `child`.
    pub(crate) fn of(child: &Child) -> io::Result<Group> {
        // SAFETY: no security attributes, no name: a private job.
        let job = unsafe { CreateJobObjectW(ptr::null(), ptr::null()) };
        if job.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a handle just created, owned by nothing else.
        let job = unsafe { OwnedHandle::from_raw_handle(job) };
        // SAFETY: all-zero is a valid value of this plain-data struct.
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        // SAFETY: the pointer and size describe `limits`, the struct this
        // information class expects.
        let set = unsafe {
            SetInformationJobObject(
                job.as_raw_handle(),
                JobObjectExtendedLimitInformation,
                (&limits as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast::<c_void>(),
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        };
        if set == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both handles are live: the job's and our child's.
        if unsafe { AssignProcessToJobObject(job.as_raw_handle(), child.as_raw_handle()) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Group { job })
    }

    /// Ends every process in the job.
    pub(crate) fn kill(&self) {
        // SAFETY: a live job handle of ours.
        unsafe { TerminateJobObject(self.job.as_raw_handle(), 1) };
    }
}

/// SIGINT or SIGTERM (the only two the harness sends to ask for a stop)
/// become `CTRL_BREAK_EVENT` to the child's process group: Windows lets a
/// program raise Ctrl-C only in its own group, and Ctrl-Break anywhere.
pub(crate) fn send_signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    if signal != libc::SIGINT && signal != libc::SIGTERM {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("signal {signal} has no Windows equivalent"),
        ));
    }
    // SAFETY: only posts a console event to the group `pid` leads.
    if unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Blocks until `child` has exited; its handle, still open, keeps the pid
/// from being reused.
pub(crate) fn wait_for_exit_unreaped(child: &Child) {
    // SAFETY: a live process handle, owned by `child`.
    unsafe { WaitForSingleObject(child.as_raw_handle(), INFINITE) };
}

/// The status recorded for a child whose status could not be read.
pub(crate) fn killed_status() -> ExitStatus {
    ExitStatus::from_raw(1)
}

/// No signals end a Windows process.
pub(crate) fn killing_signal(_status: ExitStatus) -> Option<i32> {
    None
}

/// Calls `on_interrupt(SIGINT)` on the first Ctrl-C, Ctrl-Break or console
/// close, on the thread `ctrlc` runs its handler on.
pub(crate) fn on_interrupt(on_interrupt: impl FnOnce(i32) + Send + 'static) -> io::Result<()> {
    let once = Mutex::new(Some(on_interrupt));
    ctrlc::set_handler(move || {
        let first = once.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(on_interrupt) = first {
            on_interrupt(SIGINT);
        }
    })
    .map_err(io::Error::other)
}

/// Nothing to reap on Windows.
pub(crate) fn reap_killed(_pids: &[u32]) {}
