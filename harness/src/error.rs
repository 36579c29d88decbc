//! What can go wrong with a child, as a value: a tool decides what a
//! failure means (a failed check, a skipped pair); a test's face of
//! [`crate::Program`] turns each into a panic.

use std::{fmt, io, time::Duration};

use crate::{MAX_LINES, Stream};

/// Why a [`crate::Program`] call failed. Each message names the child.
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
    /// No line of `stream` was `what` within `timeout`.
    Timeout {
        label: String,
        stream: Stream,
        what: String,
        timeout: Duration,
    },
    /// The child closed `stream` before printing `what`, or (`kept:
    /// false`) `what` would be past the lines the harness keeps.
    Ended {
        label: String,
        stream: Stream,
        what: String,
        kept: bool,
    },
    /// The child did not exit within `timeout`, so it was killed.
    Killed { label: String, timeout: Duration },
    /// The first line is not `listening on <addr>` with a port that is not 0.
    NotListening { label: String, line: String },
}

impl Error {
    pub(crate) fn ended(label: String, stream: Stream, what: String) -> Error {
        Error::Ended {
            label,
            stream,
            what,
            kept: true,
        }
    }

    pub(crate) fn not_kept(label: String, stream: Stream, what: String) -> Error {
        Error::Ended {
            label,
            stream,
            what,
            kept: false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spawn { command, .. } => write!(f, "cannot start {command}"),
            Error::Io { label, doing, .. } => write!(f, "{label}: cannot {doing}"),
            Error::Timeout {
                label,
                stream,
                what,
                timeout,
            } => {
                write!(f, "{label}: {what} not on {stream} within {timeout:?}")
            }
            Error::Ended {
                label,
                stream,
                what,
                kept: true,
            } => {
                write!(f, "{label}: {stream} closed before {what}")
            }
            Error::Ended {
                label,
                stream,
                what,
                kept: false,
            } => write!(
                f,
                "{label}: {what} not among the first {MAX_LINES} lines of {stream}, all the harness keeps"
            ),
            Error::Killed { label, timeout } => {
                write!(f, "{label}: still running after {timeout:?}; killed it")
            }
            Error::NotListening { label, line } => {
                write!(
                    f,
                    "{label}: first stdout line is not `listening on <addr>`: {line:?}"
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn { source, .. } | Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `error: cause: cause`, for a panic message (anyhow's `{:#}` does the
/// same for a tool).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}
