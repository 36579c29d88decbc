//! The operating system's vocabulary, named once for both loops: which I/O
//! errors mean "nothing more right now", "try again", "only this peer", and
//! the process-wide limit on open descriptors.
//!
//! Each loop matches on `io::Result`s many times; these helpers make every
//! such `match` arm read as what the OS means, as mio's examples do.

use std::io;

/// "Would block" errors are the OS's way of saying: nothing more right now.
pub(crate) fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// A signal interrupted the syscall before it did anything: try again.
pub(crate) fn interrupted(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

/// Accept errors that concern only the connection being accepted (it was
/// aborted or reset while queued, or refused by a firewall rule).
pub(crate) fn is_per_connection_accept_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) || is_per_connection_accept_errno(err)
}

/// Linux reports a protocol error on the queued connection (`EPROTO`) and a
/// firewall's refusal (`EPERM`) from `accept` itself. Windows reports these
/// as `WSAECONNRESET`, already matched above by its kind.
#[cfg(unix)]
fn is_per_connection_accept_errno(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EPROTO | libc::EPERM))
}

#[cfg(not(unix))]
fn is_per_connection_accept_errno(_err: &io::Error) -> bool {
    false
}

/// The peer went away abruptly (reset, or its end closed while we wrote).
pub(crate) fn is_routine_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// Bytes written to a TCP socket that its peer has not acknowledged yet
/// (Linux: `SIOCOUTQ`), counting a FIN as one. `None` where the OS cannot
/// say: a graceful stop then cannot tell delivered echo from echo in flight.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn unacknowledged(socket: &impl std::os::fd::AsRawFd) -> Option<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int into the variable we pass.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    (rc == 0).then(|| usize::try_from(queued).unwrap_or(0))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn unacknowledged<S>(_socket: &S) -> Option<usize> {
    None
}

/// Whether a short write proves the send buffer full, so that the loop may
/// wait for the next writable event instead of writing again to hear
/// `WouldBlock`. True for epoll and kqueue, which report new room on their
/// own. Not on Windows: mio polls each socket there (through AFD) once per
/// event and arms the next poll only when an operation returns `WouldBlock`,
/// so a loop that stopped at a short write would never hear of that socket
/// again. (Reads need the same care; see `Connection::urgent`.)
pub(crate) const SHORT_WRITE_MEANS_FULL: bool = cfg!(not(windows));

/// Raises the soft limit on open files to the hard limit, as Go's runtime
/// does at start-up.
///
/// Every connection is a file descriptor, and the usual soft limit of 1024
/// is far below a server's `--max-conns`. If even the hard limit is too
/// low, accept errors are handled (paused and logged), not fatal, so a
/// failure here is only worth a debug line.
///
/// On macOS the hard limit is often "unlimited", which `setrlimit` refuses
/// for `RLIMIT_NOFILE`: the soft limit may go no higher than
/// `kern.maxfilesperproc`, so that is asked for instead, as Go does.
/// Windows has no such limit (a socket is a handle, bounded only by
/// memory): there this does nothing.
#[cfg(unix)]
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max.min(max_files_per_process());
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                log::debug!(
                    "cannot raise the open file limit: {}",
                    io::Error::last_os_error()
                );
            }
        }
    }
}

/// Windows: nothing to raise (see the Unix version's doc).
#[cfg(not(unix))]
pub fn raise_open_file_limit() {}

/// The most descriptors the kernel lets one process have, where it says.
#[cfg(target_vendor = "apple")]
fn max_files_per_process() -> libc::rlim_t {
    let mut max: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: the name is NUL-terminated, and `max`/`len` describe a
    // buffer of exactly the size the kernel writes for this integer.
    let rc = unsafe {
        libc::sysctlbyname(
            c"kern.maxfilesperproc".as_ptr(),
            (&mut max as *mut libc::c_int).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    match rc {
        0 if max > 0 => max as libc::rlim_t,
        // OPEN_MAX, the limit macOS documents for setrlimit.
        _ => 10_240,
    }
}

/// Linux and the BSDs accept the hard limit itself.
#[cfg(all(unix, not(target_vendor = "apple")))]
fn max_files_per_process() -> libc::rlim_t {
    libc::RLIM_INFINITY
}

/// The scheduler state of thread `tid` of this process: `R` while it runs
/// or spins (a `yield_now` leaves it runnable), `S` while it sleeps in
/// `epoll_wait`.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn thread_state(tid: libc::pid_t) -> char {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    // `pid (comm) state …`: comm may hold spaces and parentheses, the state
    // follows the last `)`.
    let after_comm = &stat[stat.rfind(')').unwrap() + 1..];
    after_comm.trim_start().chars().next().unwrap()
}
