//! One line's echo, read whole: what `conn.Write` then one `conn.Read`
//! become in a client that knows how long an echo is.
//!
//! An echo server answers each byte with the same byte, so the client knows
//! exactly how much to wait for: as many bytes as the line, however the
//! network splits them. The echo comes back while the line is still being
//! sent, so it is read *while* the line is written, by a second thread: a
//! client that wrote everything first would stop reading exactly when the
//! server, unable to send, stops reading too, and both would wait for ever.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

/// Sends `line` and reads its echo into `echo`; returns how many bytes of
/// the line the server took.
///
/// An empty line is zero bytes; TCP has no way to send "an empty message",
/// so nothing is written and nothing will come back: its echo is empty and
/// known without a round trip. Both threads give up after the socket's
/// timeout with no progress, so the echo may come back short (`echo.len()`
/// less than `line.len()`). Bytes that arrive later are read as the start
/// of the next line's echo: a stream has no boundaries to tell them apart.
pub fn echo_line(conn: &TcpStream, line: &[u8], echo: &mut Vec<u8>) -> io::Result<usize> {
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
pub struct Incomplete {
    /// Bytes in the line.
    pub line: usize,
    /// Bytes of it the server took.
    pub sent: usize,
    /// Bytes of echo that came back.
    pub echoed: usize,
    /// How long nothing came before the client gave up.
    pub timeout: Duration,
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
