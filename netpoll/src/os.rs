//! The operating system's vocabulary, named once for both loops: which I/O
//! errors mean "nothing more right now", "try again", "only this peer", and
//! the process-wide limit on open descriptors.
//!
//! Each loop matches on `io::Result`s many times; these helpers make every
//! such `match` arm read as what the OS means, as mio's examples do.

use std::io;
use std::time::{Duration, Instant};

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
    ) || matches!(err.raw_os_error(), Some(libc::EPROTO | libc::EPERM))
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

/// Raises the soft limit on open files to the hard limit, as Go's runtime
/// does at start-up.
///
/// Every connection is a file descriptor, and the usual soft limit of 1024
/// is far below a server's `--max-conns`. If even the hard limit is too
/// low, accept errors are handled (paused and logged), not fatal, so a
/// failure here is only worth a debug line.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                log::debug!(
                    "cannot raise the open file limit: {}",
                    io::Error::last_os_error()
                );
            }
        }
    }
}

/// Lets a repeated error be logged at most once a second, so a peer (or a
/// full descriptor table) that causes it a million times cannot flood the log.
#[derive(Default)]
pub(crate) struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// `Some(number suppressed since the last message)` when a message may
    /// be logged now.
    pub(crate) fn ready(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < Duration::from_secs(1) => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}
