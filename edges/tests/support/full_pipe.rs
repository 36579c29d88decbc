//! A stream nobody reads, for a server under test: its stderr (or stdout)
//! becomes a pipe whose reader never reads, as with `server 2>&1 | less`
//! left on its first page or a supervisor that stopped reading. A write
//! to it blocks for good; a server must go on serving, and stop, anyway.
//!
//! Shared by the server crates' integration tests (included with
//! `#[path]`); Unix only, as it builds the pipe with `pipe(2)` and puts it
//! in place between fork and exec.
//!
//! The test keeps the read end and never reads it (or, for stdout, reads
//! the `listening on` line only), so the pipe stays full for as long as
//! the test runs; the harness's own pipe for that stream sees end of file
//! at once, as the child no longer holds it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::mpsc;
use std::thread;

/// The read end of a pipe the test never reads: held until dropped.
pub struct Unread(#[allow(dead_code)] OwnedFd);

/// Makes the child's stderr a pipe that is already full: the first write
/// the child makes to stderr blocks, for as long as the test runs.
pub fn full_stderr(command: &mut Command) -> Unread {
    let (read, write) = pipe();
    fill(&write);
    become_fd(command, write, libc::STDERR_FILENO);
    Unread(read)
}

/// Makes the child's stdout a pipe whose reader takes the first line,
/// returned here (`listening on <addr>`: a server's first line), and
/// then reads no more, so the pipe fills with whatever follows.
#[allow(dead_code)] // not every crate that includes this file needs it
pub fn stdout_read_once(command: &mut Command) -> (Unread, impl FnOnce() -> String + use<>) {
    let (read, write) = pipe();
    become_fd(command, write, libc::STDOUT_FILENO);
    let (sender, first_line) = mpsc::channel();
    let reader = File::from(read.try_clone().expect("dup the read end"));
    thread::spawn(move || {
        // One byte at a time, so that nothing past the first line is
        // taken out of the pipe.
        let mut line = Vec::new();
        let _ = BufReader::with_capacity(1, reader).read_until(b'\n', &mut line);
        let _ = sender.send(String::from_utf8_lossy(&line).trim_end().to_owned());
    });
    let first = move || {
        first_line
            .recv_timeout(harness::DEADLINE)
            .expect("the first stdout line")
    };
    (Unread(read), first)
}

/// A pipe whose ends are closed in any other child that starts meanwhile.
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) writes two descriptors into the array we pass.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    for fd in fds {
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: both descriptors are fresh and ours alone.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Writes into `write` until the pipe is full, then leaves the descriptor
/// blocking again (the flag is shared with the child's copy, and the child
/// must block, as on a real full pipe, not be told `EAGAIN`).
fn fill(write: &OwnedFd) {
    let fd = write.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: the same descriptor, its flags only.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    let mut pipe = File::from(write.try_clone().expect("dup the write end"));
    let chunk = [b'.'; 4096];
    loop {
        match pipe.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the pipe: {e}"),
        }
    }
    // SAFETY: the same descriptor, its flags as they were.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
}

/// Puts `write` in place of the child's descriptor `target`, after the
/// harness has set up its own pipes (`pre_exec` runs after std's stdio
/// set-up, just before exec).
fn become_fd(command: &mut Command, write: OwnedFd, target: libc::c_int) {
    // SAFETY: dup2 is async-signal-safe and touches no memory; the
    // closure owns `write`, which stays open until the command is dropped.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(write.as_raw_fd(), target) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
