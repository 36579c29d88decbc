//! How this workspace starts its own programs as child processes: `cargo
//! xtask demo`, `compare` and `bench` run the servers and clients this way,
//! and so does every integration test. The crate mirrors no Go file; it is
//! the one place that knows how a child is started, watched and stopped.
//!
//! Every program here keeps one contract: a server's first stdout line is
//! `listening on <addr>`, and SIGTERM stops it with a `summary:` line. So a
//! child is ready when that line arrives ([`Program::announced_addr`] reads
//! it), and no caller ever sleeps to wait for it. (A server that announces
//! nothing, the Go tutorial's, is found in the kernel's tables: [`ports`].)
//!
//! Three layers make sure no child outlives the program that started it:
//!
//! 1. Dropping a [`Program`] kills the child's whole process group and
//!    reaps it, so an early return, a failed check or a panicking test
//!    cleans up on the way out.
//! 2. Each child leads a process group of its own ([`group`]): a Ctrl-C in
//!    the terminal reaches the parent only, and [`install_interrupt_handler`]
//!    then kills every live group and exits. (In the terminal's group, the
//!    servers would print their summaries over the parent's last lines and
//!    the clients would die mid-step.) One `killpg` also stops whatever the
//!    child started itself (cargo's rustc processes, a shell's children).
//! 3. On Linux, `PR_SET_PDEATHSIG` asks the kernel to SIGKILL each child if
//!    the parent dies without running any of the above (`kill -9`). The
//!    kernel sends it when the *thread* that started the child ends, so start
//!    a child on the thread that keeps it (the main thread, or a test's own).
//!
//! On Windows the same three layers are a job object per child (killed
//! when dropped, on Ctrl-C, and by Windows itself when the parent dies) and
//! a console process group of its own; SIGTERM becomes Ctrl-Break. The
//! difference lives in `sys/unix.rs` and `sys/windows.rs` only.
//!
//! Every wait has a deadline, so a hung child fails its caller instead of
//! stalling it. Output is read by one thread per stream ([`output`]), so a
//! chatty child never blocks on a full pipe while the caller waits for
//! something else; lines are kept, bounded in number and length (a runaway
//! child, like the Go server2 looping on a split frame, cannot exhaust our
//! memory), and, if asked, handed at once to a function that shows them
//! with the child's label in front ([`Echo`]: how the demo narrates).
//!
//! One child type, [`Program`], with a tool's face (each failure an
//! `io::Error` naming the child and what was waited for) and a test's (each
//! failure a panic that names the program and what it printed, [`DEADLINE`]
//! on every wait); [`run_to_end`] for a program fed its stdin and waited
//! for; [`example`] for the path of an example program (the Go servers in
//! one file), built first.

mod example;
pub mod group;
pub mod output;
pub mod ports;
mod program;
/// The one place that differs by OS: process groups and signals on Unix,
/// job objects and console events on Windows.
#[cfg_attr(unix, path = "sys/unix.rs")]
#[cfg_attr(windows, path = "sys/windows.rs")]
mod sys;

pub use example::example;
pub use group::{install_interrupt_handler, reaped, spawn_in_own_group};
pub use output::{Echo, MAX_LINE_LEN, MAX_LINES, ShowLine, Stream};
pub use program::{
    DEADLINE, Finished, Program, assert_lines_in_order, connect, exit_words, run_to_end,
};
