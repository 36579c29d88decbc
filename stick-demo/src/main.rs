//! `stick-demo`: the four programs of the Go tutorial's sticky-packet
//! chapter, one subcommand each, named after their Go directories. Each
//! subcommand's code reads beside its Go file: see the modules of the
//! library (`src/lib.rs` says where to start).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edges::console::Console;
use stick_demo::{client, framed_server, raw_server};

/// TCP "sticky packets": see the problem, then the fix.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The unchanged tcp/server: prints every read exactly as it arrived.
    Server(raw_server::Args),
    /// socket_stick/client: writes the message 20 times, no framing.
    Client(client::RawArgs),
    /// socket_stick/server2: decodes length-prefixed frames, one line per message.
    Server2(framed_server::Args),
    /// socket_stick/client2: writes the message 20 times as proto frames.
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
