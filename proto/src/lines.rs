//! Lines: the wire format of the line servers beyond the tutorial
//! (`worker-pool`, `chat`), and of anything typed into `nc`.
//!
//! ```text
//! +----------------------------+----+----+
//! | line: up to 65 536 bytes   | \r | \n |     the \r is optional, and dropped
//! +----------------------------+----+----+
//!
//!   "sleep 20\n"    ->  "sleep 20"
//!   "sleep 20\r\n"  ->  "sleep 20"
//!   "\n"            ->  ""
//! ```
//!
//! A line is bytes, not text: bytes that are not UTF-8 are passed through
//! as they came (a server never panics on them; printing them safely is
//! the printer's business). The newline is the only boundary, so a peer
//! that never sends one would make a naive reader buffer for ever: a line
//! longer than the maximum is refused as soon as that many bytes have
//! arrived without a newline, before any more is kept.

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::Decoder;

/// The longest line accepted unless configured otherwise, without its
/// newline: 64 KiB, as the protocols of `worker-pool` and `chat` say.
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;

/// A streaming decoder of `\n`-terminated lines, each at most
/// [`max_line_len`](Self::max_line_len) bytes (a `\r` before the `\n` is
/// dropped, and not counted).
///
/// It remembers how far it has already looked for a newline, so a long
/// line arriving a byte at a time is searched once, not once per byte.
///
/// ```
/// use bytes::BytesMut;
/// use proto::{Decoder, LineCodec, LineError};
///
/// let mut lines = LineCodec::with_max_line_len(4);
/// let mut src = BytesMut::from(&b"spin\nsleep"[..]);
/// assert_eq!(lines.decode(&mut src).unwrap().unwrap(), "spin");
/// assert_eq!(lines.decode(&mut src), Err(LineError::TooLong { max: 4 }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineCodec {
    max_line_len: usize,
    /// Bytes at the front of the buffer already known to hold no newline.
    searched: usize,
}

impl Default for LineCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl LineCodec {
    /// A decoder of lines up to [`DEFAULT_MAX_LINE_LEN`] bytes.
    pub const fn new() -> Self {
        Self::with_max_line_len(DEFAULT_MAX_LINE_LEN)
    }

    /// A decoder of lines up to `max_line_len` bytes, without their newline.
    pub const fn with_max_line_len(max_line_len: usize) -> Self {
        LineCodec {
            max_line_len,
            searched: 0,
        }
    }

    /// The longest line accepted, without its newline.
    pub const fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// The line that ends at the newline `newline` bytes into `src`, taken
    /// off the front of it, without its `\r\n` or `\n`.
    fn take_line(&mut self, src: &mut BytesMut, newline: usize) -> Result<Bytes, LineError> {
        let len = if newline > 0 && src[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        if len > self.max_line_len {
            return Err(self.too_long());
        }
        self.searched = 0;
        let mut line = src.split_to(newline + 1);
        line.truncate(len);
        Ok(line.freeze())
    }

    fn too_long(&self) -> LineError {
        LineError::TooLong {
            max: self.max_line_len,
        }
    }
}

impl Decoder for LineCodec {
    type Item = Bytes;
    type Error = LineError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        // A buffer shorter than what was searched was not appended to, but
        // replaced: search it from the start.
        let from = self.searched.min(src.len());
        if let Some(at) = src[from..].iter().position(|&b| b == b'\n') {
            return self.take_line(src, from + at).map(Some);
        }
        self.searched = src.len();
        // No newline yet. A `\r` at the very end may still be dropped, if
        // the `\n` comes next; every other byte is part of the line.
        let at_least = src.len() - usize::from(src.last() == Some(&b'\r'));
        if at_least > self.max_line_len {
            return Err(self.too_long());
        }
        Ok(None)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        match self.decode(src)? {
            Some(line) => Ok(Some(line)),
            None if src.is_empty() => Ok(None),
            None => Err(LineError::Unterminated {
                received: src.len(),
            }),
        }
    }
}

/// Why a stream of lines cannot be decoded further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// More than `max` bytes arrived without a newline.
    TooLong {
        /// The longest line accepted.
        max: usize,
    },
    /// The stream ended inside a line: `received` bytes came after the
    /// last newline.
    Unterminated {
        /// The bytes of the unfinished line.
        received: usize,
    },
}

impl fmt::Display for LineError {
    /// `line longer than 65536 bytes`: the words the line servers' refusal
    /// puts after `error: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong { max } => write!(f, "line longer than {max} bytes"),
            LineError::Unterminated { received } => write!(
                f,
                "stream ended inside a line: {received} bytes without a newline"
            ),
        }
    }
}

impl std::error::Error for LineError {}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    fn buf(bytes: &[u8]) -> BytesMut {
        BytesMut::from(bytes)
    }

    #[test]
    fn a_newline_ends_a_line_and_a_carriage_return_before_it_is_dropped() {
        let mut lines = LineCodec::new();
        let mut src = buf(b"sleep 20\nspin 5\r\n\n\r\r\n");
        let mut got = Vec::new();
        while let Some(line) = lines.decode(&mut src).unwrap() {
            got.push(line);
        }
        assert_eq!(got, ["sleep 20", "spin 5", "", "\r"]);
        assert!(src.is_empty());
    }

    #[test]
    fn a_line_split_across_reads_waits_for_its_newline() {
        let mut lines = LineCodec::new();
        let mut src = BytesMut::new();
        for (i, &byte) in b"hello\r".iter().enumerate() {
            src.put_u8(byte);
            assert_eq!(lines.decode(&mut src), Ok(None), "after {} bytes", i + 1);
            assert_eq!(src.len(), i + 1, "a partial line must not be consumed");
        }
        src.put_u8(b'\n');
        assert_eq!(lines.decode(&mut src).unwrap().unwrap(), "hello");
    }

    #[test]
    fn bytes_that_are_not_utf8_pass_through() {
        let mut lines = LineCodec::new();
        let mut src = buf(b"\xff\xfe\x00x\n");
        assert_eq!(
            &lines.decode(&mut src).unwrap().unwrap()[..],
            b"\xff\xfe\x00x"
        );
    }

    #[test]
    fn a_line_of_the_maximum_is_accepted_and_one_byte_more_is_not() {
        let max = 8;
        let exact = [b'x'; 8];
        for ending in [&b"\n"[..], b"\r\n"] {
            let mut src = buf(&exact);
            src.extend_from_slice(ending);
            let mut lines = LineCodec::with_max_line_len(max);
            assert_eq!(lines.decode(&mut src).unwrap().unwrap(), &exact[..]);
        }
        let mut src = buf(&[b'x'; 9]);
        src.put_u8(b'\n');
        assert_eq!(
            LineCodec::with_max_line_len(max).decode(&mut src),
            Err(LineError::TooLong { max })
        );
    }

    #[test]
    fn a_line_too_long_is_refused_before_its_newline_arrives() {
        let mut lines = LineCodec::with_max_line_len(8);
        // The maximum and a `\r` that may yet be dropped: not refused yet.
        let mut src = buf(b"xxxxxxxx\r");
        assert_eq!(lines.decode(&mut src), Ok(None));
        // One byte of the line more than the maximum: refused at once.
        src.put_u8(b'y');
        assert_eq!(lines.decode(&mut src), Err(LineError::TooLong { max: 8 }));
        assert_eq!(
            LineError::TooLong {
                max: DEFAULT_MAX_LINE_LEN
            }
            .to_string(),
            "line longer than 65536 bytes"
        );
    }

    #[test]
    fn a_long_line_arriving_a_byte_at_a_time_is_searched_once() {
        // The decoder's memory of where it looked is what keeps this
        // linear; checked through its state, not a clock.
        let mut lines = LineCodec::new();
        let mut src = BytesMut::new();
        for _ in 0..1000 {
            src.put_u8(b'x');
            assert_eq!(lines.decode(&mut src), Ok(None));
            assert_eq!(lines.searched, src.len());
        }
        src.put_u8(b'\n');
        assert_eq!(lines.decode(&mut src).unwrap().unwrap().len(), 1000);
        assert_eq!(lines.searched, 0);
    }

    #[test]
    fn the_end_of_the_stream_inside_a_line_says_how_much_was_cut() {
        let mut lines = LineCodec::new();
        let mut src = buf(b"whole\ncut");
        assert_eq!(lines.decode_eof(&mut src).unwrap().unwrap(), "whole");
        assert_eq!(
            lines.decode_eof(&mut src),
            Err(LineError::Unterminated { received: 3 })
        );
        assert_eq!(src, "cut", "left as it was, as after every error");
    }
}
