//! `tcp/client/main.go`: send each line of input to the echo server and
//! print the echo, read beside the Go program.
//!
//! ```go
//! conn, err := net.Dial("tcp", "127.0.0.1:20000")
//! inputReader := bufio.NewReader(os.Stdin)
//! for {
//!     input, _ := inputReader.ReadString('\n')
//!     inputInfo := strings.Trim(input, "\r\n")
//!     if strings.ToUpper(inputInfo) == "Q" { return }
//!     _, err = conn.Write([]byte(inputInfo))
//!     buf := [512]byte{}
//!     n, err := conn.Read(buf[:])
//!     fmt.Println(string(buf[:n]))
//! }
//! ```
//!
//! Three defects of the Go client are fixed here:
//!
//! * It does **one** 512-byte `Read`, but TCP keeps no message boundaries:
//!   a long line's echo arrives in pieces, and the rest is printed after the
//!   *next* line. Here the client reads until the whole echo has arrived:
//!   an echo server returns exactly as many bytes as it was sent.
//! * An empty line writes nothing, then `Read` waits for ever for an echo
//!   that cannot come. Here the echo of nothing is printed at once (see
//!   [`echo_line`]). End of input quits, as `Q` does, instead of looping.
//! * It waits for ever when the echo comes back short, as it does from the
//!   Go tutorial's own server (which keeps only 128 bytes of each read) or
//!   from a server that does not echo. Here, once nothing has arrived for
//!   `--timeout` seconds, what did arrive is printed, one line on stderr
//!   says what is missing and why it may be, and the next line is sent.
//!
//! And one that Go's version shares with every "write it all, then read"
//! client: a line longer than what the two sockets' buffers and the
//! server's pending output hold together (16 MiB on loopback) deadlocks,
//! the client blocked writing while the server, its output unread, stops
//! reading. Here one thread writes the line while this one reads its echo
//! (`src/echo.rs`).
//!
//! A refused or reset connection is one line on stderr and exit status 1; a
//! mistyped flag, one line naming the expected form and exit status 2.

mod echo;

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use edges::Escaped;
use edges::cli::{ClientFlags, Program, ServerAddr};

use echo::{Incomplete, echo_line};

/// Sends each line you type (or pipe in) to a TCP echo server and prints
/// its echo; `Q` (any case) or end of input quits.
///
/// It waits --timeout seconds for the server to accept, and for more of an
/// echo (or to take more of a line); then it prints the echo as far as it
/// came, says on stderr what is missing, and sends the next line.
///
/// A line typed at a terminal is limited by the terminal itself, not by
/// this client: its line editing (canonical mode) keeps at most 4095 bytes
/// of a line on Linux (about 1 KiB on macOS) and drops the rest before any
/// program reads it, here as for the Go client. Piped input has no such limit:
/// `head -c 100000 /dev/zero | tr '\0' x | tcp-client` sends one line of
/// 100000 bytes.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    client: ClientFlags<TcpClient>,
}

/// The Go client's server, and this client's patience with it.
#[derive(Debug)]
struct TcpClient;

impl Program for TcpClient {
    const ADDR: &'static str = "127.0.0.1:20000";
    const TIMEOUT: &'static str = "3";
}

fn main() -> ExitCode {
    edges::program::main(run)
}

fn run(args: Args) -> anyhow::Result<()> {
    let (server, timeout) = (&args.client.addr, args.client.timeout);
    // conn, err := net.Dial("tcp", "127.0.0.1:20000")
    let conn = server
        .connect(timeout)
        .with_context(|| format!("cannot connect to {server} (is tcp-server running?)"))?;
    // Each line is one small request: send it now, do not let Nagle wait.
    // The timeouts bound each read and write: a silent server is reported,
    // not waited for.
    conn.set_nodelay(true)
        .and_then(|()| conn.set_read_timeout(Some(timeout)))
        .and_then(|()| conn.set_write_timeout(Some(timeout)))
        .with_context(|| format!("cannot configure the connection to {server}"))?;

    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut input = Vec::new();
    let mut echo = Vec::new();
    loop {
        // input, _ := inputReader.ReadString('\n'); read as bytes, so a
        // non-UTF-8 line is sent as typed rather than rejected.
        input.clear();
        let n = stdin
            .read_until(b'\n', &mut input)
            .context("cannot read standard input")?;
        if n == 0 {
            return Ok(()); // end of input: quit like Q
        }
        let line = trim_cr_lf(&input);
        if line.eq_ignore_ascii_case(b"q") {
            return Ok(());
        }
        let sent = echo_line(&conn, line, &mut echo).map_err(|e| describe(server, e))?;
        // fmt.Println(string(buf[:n])), with the server's bytes escaped.
        if writeln!(stdout, "{}", Escaped(&echo))
            .and_then(|()| stdout.flush())
            .is_err()
        {
            // Whoever read our output has gone (e.g. `| head`): stop quietly.
            return Ok(());
        }
        if echo.len() < line.len() {
            eprintln!(
                "tcp-client: {}",
                Incomplete {
                    line: line.len(),
                    sent,
                    echoed: echo.len(),
                    timeout,
                }
            );
        }
    }
}

/// `strings.Trim(input, "\r\n")`: strips CR and LF from both ends.
fn trim_cr_lf(mut line: &[u8]) -> &[u8] {
    while let [b'\r' | b'\n', rest @ ..] = line {
        line = rest;
    }
    while let [rest @ .., b'\r' | b'\n'] = line {
        line = rest;
    }
    line
}

/// One line saying what happened to the connection, in words a user knows.
fn describe(server: &ServerAddr, err: io::Error) -> anyhow::Error {
    match err.kind() {
        io::ErrorKind::UnexpectedEof => {
            anyhow::anyhow!("{server} closed the connection before echoing the whole line")
        }
        _ => anyhow::Error::new(err).context(format!("connection to {server} failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::trim_cr_lf;

    #[test]
    fn trims_cr_and_lf_at_both_ends_like_go_strings_trim() {
        assert_eq!(trim_cr_lf(b"hi\r\n"), b"hi");
        assert_eq!(trim_cr_lf(b"\r\nhi\n\n"), b"hi");
        assert_eq!(trim_cr_lf(b"a\rb\n"), b"a\rb");
        assert_eq!(trim_cr_lf(b"\r\n"), b"");
    }
}
