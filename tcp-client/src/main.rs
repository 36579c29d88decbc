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
//! reading. Here one thread writes the line while this one reads its echo.
//!
//! A refused or reset connection is one line on stderr and exit status 1; a
//! mistyped flag, one line naming the expected form and exit status 2.

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use edges::Escaped;
use edges::cli::ServerAddr;

/// Sends each line you type (or pipe in) to a TCP echo server and prints
/// its echo; `Q` (any case) or end of input quits.
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
    /// Address of the echo server. A host name is resolved, and each of its
    /// addresses is tried in turn, as Go's net.Dial does.
    #[arg(long, default_value = "127.0.0.1:20000", value_name = "HOST:PORT", value_parser = edges::cli::resolve_all)]
    addr: ServerAddr,

    /// Seconds to wait for the server: to accept the connection, and for
    /// more of an echo (or to take more of a line) before giving up on that
    /// line. A short echo is printed as far as it came, with one line on
    /// stderr saying what is missing; then the next line is sent.
    #[arg(long, default_value = "3", value_name = "SECONDS", value_parser = edges::cli::seconds)]
    timeout: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, like Go's `fmt.Println("err :", err)`.
            eprintln!("tcp-client: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let server = &args.addr;
    // conn, err := net.Dial("tcp", "127.0.0.1:20000")
    let conn = server
        .connect(args.timeout)
        .with_context(|| format!("cannot connect to {server} (is tcp-server running?)"))?;
    // Each line is one small request: send it now, do not let Nagle wait.
    // The timeouts bound each read and write: a silent server is reported,
    // not waited for.
    conn.set_nodelay(true)
        .and_then(|()| conn.set_read_timeout(Some(args.timeout)))
        .and_then(|()| conn.set_write_timeout(Some(args.timeout)))
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
                    timeout: args.timeout,
                }
            );
        }
    }
}

/// Sends `line` and reads its echo into `echo`; returns how many bytes of
/// the line the server took.
///
/// An echo server answers each byte with the same byte, so the client knows
/// exactly how much to wait for: `line.len()` bytes, however the network
/// splits them. An empty line is zero bytes; TCP has no way to send "an
/// empty message", so nothing is written and nothing will come back: its
/// echo is empty and known without a round trip.
///
/// The echo comes back while the line is still being sent, so it is read
/// *while* the line is written, by a second thread: a client that wrote
/// everything first would stop reading exactly when the server, unable to
/// send, stops reading too. Both ends give up after the socket's timeout
/// with no progress, so the echo may come back short (`echo.len()` less
/// than `line.len()`). Bytes that arrive later are read as the start of the
/// next line's echo: a stream has no boundaries to tell them apart.
fn echo_line(conn: &TcpStream, line: &[u8], echo: &mut Vec<u8>) -> io::Result<usize> {
    echo.clear();
    if line.is_empty() {
        return Ok(0);
    }
    thread::scope(|scope| {
        // _, err = conn.Write([]byte(inputInfo)), on its own thread.
        let writer = scope.spawn(|| write_until_stalled(conn, line));
        let read = read_until_stalled(conn, line.len(), echo);
        let sent = writer.join().expect("writing a line does not panic");
        read?;
        sent
    })
}

/// Writes as much of `line` as the server takes before the write timeout
/// passes with no progress; returns how much that was.
fn write_until_stalled(mut conn: &TcpStream, line: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < line.len() {
        match conn.write(&line[sent..]) {
            Ok(n) => sent += n,
            Err(e) if is_timeout(&e) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

/// Reads up to `len` bytes into `echo`, stopping early when the read
/// timeout passes with nothing new. The end of the stream before `len`
/// bytes is an error: the server has gone.
fn read_until_stalled(mut conn: &TcpStream, len: usize, echo: &mut Vec<u8>) -> io::Result<()> {
    echo.resize(len, 0);
    let mut received = 0;
    let result = loop {
        if received == len {
            break Ok(());
        }
        match conn.read(&mut echo[received..]) {
            Ok(0) => break Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => received += n,
            Err(e) if is_timeout(&e) => break Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    echo.truncate(received);
    result
}

/// A socket timeout: std reports it as WouldBlock on Unix and TimedOut on
/// Windows.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The one line on stderr for a line whose echo came back short: how much
/// is missing, and the likely cause.
struct Incomplete {
    line: usize,
    sent: usize,
    echoed: usize,
    timeout: Duration,
}

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Incomplete {
            line,
            sent,
            echoed,
            timeout,
        } = self;
        let secs = timeout.as_secs_f64();
        write!(
            f,
            "echo incomplete: {echoed} of {line} bytes after {secs} s"
        )?;
        if sent < line {
            write!(
                f,
                " — the server took only {sent} of the {line} bytes and then stopped reading"
            )
        } else if *echoed == 0 {
            write!(
                f,
                " — the server may not echo (stick-demo server does not) or may be stalled"
            )
        } else {
            write!(
                f,
                " — the server may have lost data (the Go tutorial's server keeps only \
                 128 bytes of each read)"
            )
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
