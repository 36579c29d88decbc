//! `stick-demo`: the four programs of the Go tutorial's sticky-packet
//! chapter, one subcommand each, named after their Go directories. Each
//! subcommand's code reads beside its Go file: see the modules of the
//! library (`src/lib.rs` says where to start).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edges::console::Console;
use stick_demo::{client, framed_server, raw_server};

/// The Go tutorial's sticky-packet chapter: see TCP merge and split
/// messages, then fix it by sending each message's length first.
///
/// Run a server in one terminal and its client in another: `server` with
/// `client` shows the problem, `server2` with `client2` the fix.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Prints every read exactly as it arrived, so you see where messages
    /// stuck together or split (the chapter's server; it does not echo).
    Server(raw_server::Args),
    /// Sends a message 20 times, bare, to `server` (socket_stick/client).
    Client(client::RawArgs),
    /// Cuts the stream into messages by their length prefix and prints one
    /// line per message (socket_stick/server2).
    Server2(framed_server::Args),
    /// Sends a message 20 times, each after its length, to `server2`
    /// (socket_stick/client2).
    Client2(client::FramedArgs),
}

fn main() -> ExitCode {
    // Warnings (a rejected peer, a truncated frame) are part of the lesson.
    // They, and trace lines, go through one bounded stderr queue, so a
    // stderr nobody reads never stops a loop; `_stderr` writes out what is
    // left in it as `main` returns.
    let _stderr = edges::console::logger::init();
    let cli = Cli::parse();
    let (name, result) = match cli.command {
        Command::Server(args) => ("server", raw_server::run(args)),
        Command::Client(args) => ("client", client::run_raw(args)),
        Command::Server2(args) => ("server2", framed_server::run(args)),
        Command::Client2(args) => ("client2", client::run_framed(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, like Go's `fmt.Println("dial failed, err", err)`.
            Console::stderr().line(format_args!("stick-demo {name}: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
