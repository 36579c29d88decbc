//! What each pair of `compare` must show, on what both sides printed. The
//! rules are the demo's (`demo/check.rs`), with what a Go server is known to
//! do wrong (`docs/pitfalls.md`) taken as a note, not a failure, where the
//! tutorial's own program does it.

use std::time::Duration;

use anyhow::{Result, bail};
use harness::{Program, Stream};

use super::Side;
use crate::demo::{
    STICK_COUNT, STICK_MESSAGE,
    check::{glued_equals_repeated, payload, payloads, pieces_of_repeated, plural, received_texts},
};

/// How long a server may take to print what it received.
const OUTPUT: Duration = Duration::from_secs(5);

const TCP_PREFIX: &str = "received client Data sent from terminal: ";
const STICK_PREFIX: &str = "received client Data sent: ";

/// How a chapter's pair is checked.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// A typed line comes back, and the server printed it.
    Echo,
    /// The chapter's unframed messages: every byte, for our server.
    Unframed,
    /// The framed messages: exactly 20, each the text.
    Framed,
    /// One datagram and its reply.
    Datagram,
}

impl Check {
    /// What the client is fed on stdin.
    pub fn stdin(self, client: Side) -> Option<Vec<u8>> {
        matches!(self, Check::Echo).then(|| format!("{}\nQ\n", typed(client)).into_bytes())
    }

    /// Checks the pair's output; `Ok` holds notes on a Go defect seen.
    pub fn run(self, client: Side, server: Side, s: &Program, c: &Program) -> Result<Vec<String>> {
        match (self, server) {
            (Check::Echo, _) => {
                let line = typed(client);
                s.wait_for_line(Stream::Stdout, &format!("{line:?}"), OUTPUT, |l| {
                    payload(l, TCP_PREFIX) == Some(&line)
                })?;
                let echoes = c.lines(Stream::Stdout);
                if echoes.first() != Some(&line) {
                    bail!(
                        "the client printed {:?}, not the echo {line:?}",
                        echoes.first()
                    );
                }
                Ok(Vec::new())
            }
            (Check::Unframed, _) => {
                // Ours draws the reads when the client has gone; the Go
                // server, and its one-file twin, print a failed read.
                let (what, end): (&str, fn(&str) -> bool) = match server {
                    Side::Rust => ("the `reads` picture", |l| l.contains(": reads ")),
                    _ => ("`read from client failed`", |l| {
                        l.starts_with("read from client failed")
                    }),
                };
                s.wait_for_line(Stream::Stdout, what, OUTPUT, end)?;
                let lines = s.lines(Stream::Stdout);
                let reads = received_texts(&lines);
                let printed: usize = reads.iter().map(|r| r.len()).sum();
                let read_in = plural(reads.len(), "read");
                if server != Side::Go {
                    // Ours, in one file or full, lose nothing.
                    glued_equals_repeated(&reads, STICK_MESSAGE, STICK_COUNT)
                        .map_err(anyhow::Error::msg)?;
                    return Ok(vec![format!("520 bytes arrived in {read_in}")]);
                }
                if printed == 0 || !pieces_of_repeated(&reads, STICK_MESSAGE) {
                    bail!(
                        "the Go server printed {printed} bytes that are not the client's messages"
                    );
                }
                let mut notes = vec![format!("{printed} of 520 bytes printed in {read_in}")];
                if printed < STICK_MESSAGE.len() * STICK_COUNT {
                    notes.push(
                        "the Go server lost the rest: it reads 128 bytes through a new \
                         bufio.Reader each time and drops what that reader buffered \
                         (docs/pitfalls.md)"
                            .to_owned(),
                    );
                }
                Ok(notes)
            }
            (Check::Framed, _) => {
                if server == Side::Rust {
                    s.wait_for_line(Stream::Stdout, "the `decoded` line", OUTPUT, |l| {
                        l.contains(": decoded ")
                    })?;
                } else {
                    // server2 says nothing at end of stream; wait for the
                    // messages, or for the empty-message loop of its Decode.
                    let mut messages = 0;
                    s.lines_until(Stream::Stdout, "20 messages", OUTPUT, |line| {
                        messages += usize::from(payload(line, STICK_PREFIX).is_some());
                        messages == STICK_COUNT
                    })?;
                }
                let lines = s.lines(Stream::Stdout);
                let messages = payloads(&lines, STICK_PREFIX);
                let empty = messages.iter().filter(|m| m.is_empty()).count();
                if empty > 0 {
                    bail!(
                        "the server printed {empty} or more empty messages: the Go Decode returns \
                         \"\" when a frame has not fully arrived, and never reads more \
                         (docs/pitfalls.md)"
                    );
                }
                let right = messages.iter().filter(|m| **m == STICK_MESSAGE).count();
                if (messages.len(), right) != (STICK_COUNT, STICK_COUNT) {
                    bail!(
                        "{} printed, {right} of them the text, expected {STICK_COUNT}",
                        plural(messages.len(), "message")
                    );
                }
                Ok(Vec::new())
            }
            (Check::Datagram, _) => {
                s.wait_for_line(
                    Stream::Stdout,
                    "`data:Hello server … count:12`",
                    OUTPUT,
                    |l| l.starts_with("data:Hello server addr:") && l.ends_with(" count:12"),
                )?;
                let lines = c.lines(Stream::Stdout);
                let reply = lines.first().map_or("", String::as_str);
                if !(reply.starts_with("recv:Hello server addr:127.0.0.1:")
                    && reply.ends_with(" count:12"))
                {
                    bail!("the client printed {reply:?}, not `recv:Hello server … count:12`");
                }
                Ok(Vec::new())
            }
        }
    }
}

/// The line a TCP client types.
fn typed(client: Side) -> String {
    format!("hello from the {} client", client.name())
}
