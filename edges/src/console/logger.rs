//! `log` records, from any thread, through stderr's [`Console`]: how a
//! warning of a loop (a refusal at `--max-conns`, an accept error, the
//! stop's "waiting up to 5 s…", a rejected frame) and each `--trace` line
//! reach the terminal without ever blocking the loop on a stderr nobody
//! reads.
//!
//! env_logger does what it always does (reads `RUST_LOG`, filters, formats
//! the record as every Rust program's log lines look), and writes the
//! finished record into its `Target::Pipe`, which here is the stderr
//! queue instead of the stream itself. Its filter syntax and its format
//! stay the ones users know. Around it, `ProgramLogger` treats apart the
//! two kinds of record of `netpoll`'s loops that are not messages:
//!
//! - **`--trace` lines** (target [`TRACE_TARGET`]): a loop makes them only
//!   when the program asked for a trace (`.trace(true)` on its server),
//!   already formatted, one record a line. They are shown as they are, in
//!   the same queue as the warnings, so the two appear in the order they
//!   happened, whatever `RUST_LOG` says: the user asked with `--trace`.
//!   Why records and not a sink of the loop's own: `netpoll` then needs no
//!   output of its own, and any program on it, with any logger, gets the
//!   lines by turning the target on.
//! - **answers to Ctrl-C** (target [`SIGNAL_TARGET`]: "waiting up to 5 s
//!   for 2 connections…", "signal 2 again: stopping now…"): on a terminal,
//!   they start on a line of their own, not after the `^C` the terminal
//!   echoed where the cursor was.
//!
//! The cost on a loop's hot path is nil when nothing is logged: `log`'s
//! macros first compare the record's level with a static maximum (set
//! from the filter), so a `debug!` under the default `warn` is one
//! comparison, and nothing is formatted; a loop without `--trace` makes no
//! trace record at all. A record that is logged costs its formatting and
//! one short-held lock, never a write.
//!
//! A program sets this up once, first thing in `main`, and keeps the
//! returned [`StderrGuard`] until `main` returns: dropping it writes out
//! what is still queued, with the count of anything stderr did not take,
//! waiting only while stderr makes progress.

use std::io::{self, IsTerminal, Write};

use log::{Level, Log, Metadata, Record};

use super::{Console, STDERR};

/// The target of the `--trace` lines of `netpoll`'s loops.
pub const TRACE_TARGET: &str = netpoll::trace::TARGET;

/// The target of what `netpoll`'s loops say in answer to SIGINT/SIGTERM.
pub const SIGNAL_TARGET: &str = netpoll::SIGNAL_TARGET;

/// Sends every `log` record into [`Console::stderr`], filtered by
/// `RUST_LOG` (default: warnings and errors), and `--trace` lines as they
/// are. Each message is one line that names the program, as its errors
/// do: `tcp-server: warning: …` (a `debug` or `trace` record also names
/// the module that made it, for whoever reads the code). Returns the guard
/// that writes out stderr's last lines when `main` ends; keep it alive
/// until then (`let _stderr = …`). A second call changes nothing.
pub fn init(program: &str) -> StderrGuard {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"));
    builder.target(env_logger::Target::Pipe(Box::new(IntoStderrQueue)));
    let program = program.to_owned();
    builder.format(move |line, record| {
        let style = line.default_level_style(record.level());
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        write!(line, "{program}: {style}{level}{style:#}")?;
        if record.level() >= Level::Debug {
            write!(line, " ({})", record.target())?;
        }
        writeln!(line, ": {}", record.args())
    });
    // env_logger colours a pipe only when told to; a terminal behind the
    // queue still deserves colours, unless the user said otherwise. (Unix
    // only: a Windows console needs its own calls to show them.)
    let told = ["RUST_LOG_STYLE", "NO_COLOR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if cfg!(unix) && !told && io::stderr().is_terminal() {
        builder.write_style(env_logger::WriteStyle::Always);
    }
    let messages = builder.build();
    let max_level = messages.filter();
    // Already set up (a second call): the first logger stays.
    if log::set_boxed_logger(Box::new(ProgramLogger { messages })).is_ok() {
        log::set_max_level(max_level);
    }
    // Started now, while descriptors are plenty: its writer takes a copy
    // of stderr's, which a server out of them (EMFILE) could not make.
    Console::stderr();
    StderrGuard { _private: () }
}

/// The logger of every program: env_logger for messages, and the two
/// kinds of record that are not messages treated apart (see the module
/// doc).
struct ProgramLogger {
    /// Filters and formats messages; writes them into stderr's queue.
    messages: env_logger::Logger,
}

impl Log for ProgramLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == TRACE_TARGET || self.messages.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if record.target() == TRACE_TARGET {
            Console::stderr().line(*record.args());
            return;
        }
        if record.target() == SIGNAL_TARGET && self.messages.matches(record) {
            super::end_line_after_ctrl_c();
        }
        self.messages.log(record);
    }

    fn flush(&self) {}
}

/// Writes out what stderr's console still holds when dropped: the lines
/// queued, then, if stderr dropped any, how many. Waits only while stderr
/// makes progress ([`super::FINISH_PATIENCE`]), so a stuck stderr delays
/// the exit by that much and no more.
#[must_use = "stderr's last lines are written when the guard drops; keep it until main returns"]
pub struct StderrGuard {
    _private: (),
}

impl Drop for StderrGuard {
    fn drop(&mut self) {
        // Only if anything ever used stderr's console.
        if let Some(console) = STDERR.get() {
            console.finish_with_drop_count();
        }
    }
}

/// env_logger's target: each finished record (env_logger writes one
/// record per `write_all`) becomes one entry of stderr's queue.
struct IntoStderrQueue;

impl Write for IntoStderrQueue {
    fn write(&mut self, record: &[u8]) -> io::Result<usize> {
        Console::stderr().text(&String::from_utf8_lossy(record));
        Ok(record.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
