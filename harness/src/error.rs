//! What can go wrong with a child, as a value: a tool decides what a
//! failure means (a failed check, a skipped pair); a test's face of
//! [`crate::Program`] turns each into a panic.

use std::{fmt, io};

/// Why a [`crate::Program`] call failed; the message names the child and
/// what was waited for.
#[derive(Debug)]
pub struct Error {
    message: String,
    /// The child outlived its deadline and was killed.
    killed: bool,
    /// The system call that failed, if one did.
    source: Option<io::Error>,
}

impl Error {
    pub(crate) fn new(message: String) -> Error {
        Error {
            message,
            killed: false,
            source: None,
        }
    }

    pub(crate) fn io(message: String, source: io::Error) -> Error {
        Error {
            message,
            killed: false,
            source: Some(source),
        }
    }

    pub(crate) fn killed(message: String) -> Error {
        Error {
            message,
            killed: true,
            source: None,
        }
    }

    /// Whether the child outlived the deadline of a wait, and was killed.
    pub fn was_killed(&self) -> bool {
        self.killed
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
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
