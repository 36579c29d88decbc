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
//! Two defects of the Go client are fixed here:
//!
//! * It does **one** 512-byte `Read`, but TCP keeps no message boundaries:
//!   a long line's echo arrives in pieces, and the rest is printed after the
//!   *next* line. Here the client reads until the whole echo has arrived:
//!   an echo server returns exactly as many bytes as it was sent.
//! * An empty line writes nothing, then `Read` waits for ever for an echo
//!   that cannot come. Here the echo of nothing is printed at once (see
//!   [`echo_line`]). End of input quits, as `Q` does, instead of looping.
//!
//! A refused or reset connection is one line on stderr and exit status 1.

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use netpoll::Escaped;

/// Sends each line of standard input to a TCP echo server and prints the echo.
/// `Q` (any case) or end of input quits.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Address of the echo server (a host name is resolved).
    #[arg(long, default_value = "127.0.0.1:20000", value_name = "HOST:PORT", value_parser = netpoll::cli::resolve)]
    addr: SocketAddr,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args.addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, like Go's `fmt.Println("err :", err)`.
            eprintln!("tcp-client: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(server: SocketAddr) -> anyhow::Result<()> {
    // conn, err := net.Dial("tcp", "127.0.0.1:20000")
    let mut conn = TcpStream::connect(server)
        .with_context(|| format!("cannot connect to {server} (is tcp-server running?)"))?;
    // Each line is one small request: send it now, do not let Nagle wait.
    conn.set_nodelay(true)
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
        echo_line(&mut conn, line, &mut echo).map_err(|e| describe(server, e))?;
        // fmt.Println(string(buf[:n])), with the server's bytes escaped.
        if writeln!(stdout, "{}", Escaped(&echo))
            .and_then(|()| stdout.flush())
            .is_err()
        {
            // Whoever read our output has gone (e.g. `| head`): stop quietly.
            return Ok(());
        }
    }
}

/// Sends `line` and reads its whole echo into `echo`.
///
/// An echo server answers each byte with the same byte, so the client knows
/// exactly how much to wait for: `line.len()` bytes, however the network
/// splits them. An empty line is zero bytes; TCP has no way to send "an
/// empty message", so nothing is written and nothing will come back: its
/// echo is empty and known without a round trip.
fn echo_line(conn: &mut TcpStream, line: &[u8], echo: &mut Vec<u8>) -> io::Result<()> {
    echo.clear();
    if line.is_empty() {
        return Ok(());
    }
    conn.write_all(line)?;
    echo.resize(line.len(), 0);
    conn.read_exact(echo)
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
fn describe(server: SocketAddr, err: io::Error) -> anyhow::Error {
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
