//! What can go wrong with a child, as a value: a tool decides what a
//! failure means (a failed check, a skipped pair); [`crate::Program`] turns
//! each into a test's panic.

use std::{fmt, io, time::Duration};

use crate::NotListening;

/// Why a [`crate::Process`] call failed. Each message names the child.
#[derive(Debug)]
pub enum Error {
    /// The child could not be started (`command` is its command line).
    Spawn { command: String, source: io::Error },
    /// A system call on the child failed (`doing` says which), or a thread
    /// the harness needs could not be started.
    Io {
        label: String,
        doing: &'static str,
        source: io::Error,
    },
    /// The child did not print `what` within `timeout`.
    Timeout {
        label: String,
        what: String,
        timeout: Duration,
    },
    /// The child closed its output without printing `what`.
    Ended { label: String, what: String },
    /// The child did not exit within `timeout`, so it was killed.
    Killed { label: String, timeout: Duration },
    /// The child's first line is not `listening on <addr>`.
    NotListening { label: String, source: NotListening },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spawn { command, .. } => write!(f, "cannot start {command}"),
            Error::Io { label, doing, .. } => write!(f, "{label}: cannot {doing}"),
            Error::Timeout {
                label,
                what,
                timeout,
            } => write!(f, "{label} did not print {what} within {timeout:?}"),
            Error::Ended { label, what } => write!(f, "{label} ended without printing {what}"),
            Error::Killed { label, timeout } => {
                write!(f, "{label} did not finish within {timeout:?}; killed it")
            }
            Error::NotListening { label, .. } => {
                write!(f, "{label}'s first line should be `listening on <addr>`")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn { source, .. } | Error::Io { source, .. } => Some(source),
            Error::NotListening { source, .. } => Some(source),
            Error::Timeout { .. } | Error::Ended { .. } | Error::Killed { .. } => None,
        }
    }
}

/// `error: cause: cause`, for a panic message (anyhow's `{:#}` does the
/// same for a tool).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
