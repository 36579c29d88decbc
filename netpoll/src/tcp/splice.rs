//! Echoing inside the kernel with `splice(2)` (Linux): socket → pipe → the
//! same socket, so a streaming peer's bytes never cross into user space. This
//! is what Go's `io.Copy` does between two TCP connections; a handler asks
//! for it with [`Handler::echo_in_kernel`](super::Handler::echo_in_kernel).
//!
//! `splice(2)` and `F_SETPIPE_SZ` exist only on Linux, so this file is the
//! one place that knows it: elsewhere (macOS, the BSDs, Windows)
//! [`SplicePipe::new`] says `Unsupported`, the loop never asks again, and an
//! echo handler's stream goes through the same user-space path as every
//! other handler's: `read` into the loop's scratch buffer, `on_data`, `send`.
//! Nothing else changes, and no byte is handled differently: the kernel
//! path is only a shortcut for what `on_data` would have done.
//!
//! When a connection splices is its own decision (`connection.rs`); the
//! pipe it splices through is its loop's, a [`KernelEcho`].

use std::io;

use super::output::PendingOutput;

#[cfg(target_os = "linux")]
pub(super) use linux::SplicePipe;
#[cfg(not(target_os = "linux"))]
pub(super) use portable::SplicePipe;

/// One loop's way of echoing inside the kernel: one pipe for all its
/// connections, made the first time one of them streams (so servers that
/// never splice hold no extra descriptors), and given up for good when the
/// kernel cannot splice.
#[derive(Default)]
pub(super) struct KernelEcho {
    pipe: Option<SplicePipe>,
    /// The kernel cannot splice: echo through user space from now on.
    failed: bool,
}

impl KernelEcho {
    /// Whether a streaming connection may still ask for a pipe.
    pub(super) fn may_try(&self) -> bool {
        !self.failed
    }

    /// Makes the pipe if there is none yet; whether there is one now.
    pub(super) fn prepare(&mut self) -> bool {
        if self.pipe.is_none() {
            match SplicePipe::new() {
                Ok(pipe) => self.pipe = Some(pipe),
                // No splice(2) on this OS: user space from now on, never
                // asked again.
                Err(e) if e.kind() == io::ErrorKind::Unsupported => self.failed = true,
                // Out of descriptors, typically: echo via user space for
                // now, try again on a later stream.
                Err(e) => log::debug!("no pipe for splice yet: {e}"),
            }
        }
        self.pipe.is_some()
    }

    /// The pipe to splice through, if there is one.
    pub(super) fn pipe(&mut self) -> Option<&mut SplicePipe> {
        self.pipe.as_mut()
    }

    /// The kernel cannot splice (a splice said `Unsupported`, taking
    /// nothing): echo through user space from now on.
    pub(super) fn give_up(&mut self, error: &io::Error) {
        // Once per loop (splicing is off from then on).
        log::warn!("cannot splice, echoing via user space: {error}");
        self.pipe = None;
        self.failed = true;
    }

    /// A read or splice failed with `error`, closing its connection: if the
    /// pipe can no longer be trusted to be empty, it is dropped, so one
    /// connection's bytes can never reach another's echo.
    pub(super) fn after_failure(&mut self, error: &io::Error) {
        if self.pipe.as_ref().is_some_and(|pipe| pipe.broken) {
            // Once per loop, as in `give_up`.
            log::error!("splice pipe unusable, echoing via user space: {error}");
            self.pipe = None;
            self.failed = true;
        }
    }
}

/// Elsewhere than Linux: no pipe can ever be made, so none is ever used.
#[cfg(not(target_os = "linux"))]
mod portable {
    use std::convert::Infallible;
    use std::io;

    use mio::net::TcpStream;

    use super::PendingOutput;

    /// Never built: [`SplicePipe::new`] always fails, so the loop's
    /// `Option<SplicePipe>` stays `None` and `echo` cannot be reached.
    pub(in super::super) struct SplicePipe {
        never: Infallible,
        /// As on Linux; read by the loop, never set here.
        pub(in super::super) broken: bool,
    }

    impl SplicePipe {
        /// `Unsupported`: this kernel has no `splice(2)`.
        pub(in super::super) fn new() -> io::Result<Self> {
            Err(io::ErrorKind::Unsupported.into())
        }

        pub(in super::super) fn echo(
            &mut self,
            _stream: &TcpStream,
            _output: &mut PendingOutput,
            _scratch: &mut [u8],
            _bytes_written: &mut u64,
        ) -> io::Result<usize> {
            match self.never {}
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::io::{self, Read};
    use std::os::fd::{AsRawFd, FromRawFd, RawFd};
    use std::ptr;

    use mio::net::TcpStream;

    use super::PendingOutput;
    use crate::os::{interrupted, would_block};

    /// The pipe through which one loop's connections echo inside the kernel.
    ///
    /// `splice(2)` moves data between a socket and a pipe by passing page
    /// references, not by copying; socket → pipe → same socket is an echo that
    /// never copies the bytes into our memory. One pipe serves every connection
    /// of the loop because it is always left empty: what the socket does not
    /// take at once is read out of the pipe into the connection's pending
    /// output, and the connection falls back to plain reads until that drains.
    pub(in super::super) struct SplicePipe {
        read: File,
        write: File,
        /// The pipe may hold stray bytes or cannot splice: never use it again.
        pub(in super::super) broken: bool,
    }

    impl SplicePipe {
        pub(in super::super) fn new() -> io::Result<Self> {
            let mut fds = [0; 2];
            // SAFETY: pipe2 writes two descriptors into the array we pass.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: both descriptors are new and owned by nobody else.
            let (read, write) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
            // A pipe has one slot per page reference. With small socket
            // buffers each slot may hold little, so ask for 1 MiB of slots (the
            // default unprivileged maximum); the default 64 KiB also works.
            // SAFETY: fcntl on a descriptor we own.
            unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, 1024 * 1024) };
            Ok(SplicePipe {
                read,
                write,
                broken: false,
            })
        }

        /// Moves up to `scratch.len()` bytes from the socket back to it through the
        /// pipe. Returns the number of bytes taken from the socket (0 at
        /// end-of-file); those the socket did not take back are in `output`.
        ///
        /// On a socket error the pipe is emptied. If even that fails, or the
        /// kernel cannot splice at all, the pipe is marked `broken` and the
        /// caller drops it, so one connection's bytes can never leak into
        /// another's echo. `ErrorKind::Unsupported` means nothing was taken.
        pub(in super::super) fn echo(
            &mut self,
            stream: &TcpStream,
            output: &mut PendingOutput,
            scratch: &mut [u8],
            bytes_written: &mut u64,
        ) -> io::Result<usize> {
            let want = scratch.len();
            let socket = stream.as_raw_fd();
            let taken = match splice(socket, self.write.as_raw_fd(), want) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL | libc::ENOSYS | libc::EPERM)
                    ) =>
                {
                    self.broken = true;
                    return Err(io::Error::new(io::ErrorKind::Unsupported, e));
                }
                Err(e) => return Err(e),
            };
            let mut moved = 0;
            while moved < taken {
                match splice(self.read.as_raw_fd(), socket, taken - moved) {
                    Ok(n) => moved += n,
                    // The send buffer is full: keep the rest as pending output.
                    Err(ref e) if would_block(e) => break,
                    Err(ref e) if interrupted(e) => continue,
                    Err(e) => {
                        *bytes_written += moved as u64;
                        if self.empty(scratch, taken - moved).is_err() {
                            self.broken = true;
                        }
                        return Err(e);
                    }
                }
            }
            *bytes_written += moved as u64;
            // Copy what the socket did not take into pending output, leaving
            // the pipe empty for the next connection.
            let mut left = taken - moved;
            while left > 0 {
                let chunk = left.min(scratch.len());
                match (&self.read).read(&mut scratch[..chunk]) {
                    Ok(0) => {
                        self.broken = true;
                        return Err(pipe_lost_data());
                    }
                    Ok(n) => {
                        output.keep(&scratch[..n]);
                        left -= n;
                    }
                    Err(ref e) if interrupted(e) => continue,
                    Err(e) => {
                        self.broken = true;
                        return Err(e);
                    }
                }
            }
            Ok(taken)
        }

        /// Throws away `left` bytes still in the pipe.
        fn empty(&mut self, scratch: &mut [u8], mut left: usize) -> io::Result<()> {
            while left > 0 {
                let chunk = left.min(scratch.len());
                match (&self.read).read(&mut scratch[..chunk]) {
                    Ok(0) => return Err(pipe_lost_data()),
                    Ok(n) => left -= n,
                    Err(ref e) if interrupted(e) => continue,
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
    }

    fn pipe_lost_data() -> io::Error {
        io::Error::other("splice pipe returned fewer bytes than it holds")
    }

    /// One non-blocking `splice(2)` call from `from` to `to`.
    fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
        let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
        // SAFETY: plain descriptors, no offsets (both ends are not files).
        let n = unsafe { libc::splice(from, ptr::null_mut(), to, ptr::null_mut(), len, flags) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}
