//! `stick-demo`: the four programs of the Go tutorial's sticky-packet
//! chapter, one subcommand each, named after their Go directories. Each
//! subcommand's code reads beside its Go file: see the modules of the
//! library (`src/lib.rs` says where to start).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    ///
    /// A peer is not trusted: a negative length, or one over --max-frame,
    /// closes its connection before anything is buffered for it, and with
    /// --idle-timeout a peer that sends part of a frame and stops cannot
    /// hold its buffer for ever.
    Server2(framed_server::Args),
    /// Sends a message 20 times, each after its length, to `server2`
    /// (socket_stick/client2).
    Client2(client::FramedArgs),
}

fn main() -> ExitCode {
    // Errors and warnings are named `stick-demo server2: …`, after the
    // subcommand (a rejected peer, a truncated frame: part of the lesson).
    edges::program::main(|cli: Cli| match cli.command {
        Command::Server(args) => raw_server::run(args),
        Command::Client(args) => client::run_raw(args),
        Command::Server2(args) => framed_server::run(args),
        Command::Client2(args) => client::run_framed(args),
    })
}
