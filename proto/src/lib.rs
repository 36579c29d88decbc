//! The wire format of the Go tutorial's `socket_stick/proto` package, done
//! right; and, beside it, the lines the programs beyond the tutorial speak.
//!
//! TCP is a byte stream: it keeps no boundaries between the writes of the
//! sender, so the receiver sees several messages "stuck" together or one
//! message split across reads. The tutorial's fix is to put a fixed-size
//! header in front of every message that says how long the message is.
//!
//! # The frame, byte for byte as the Go program writes it
//!
//! ```text
//! +----------------+--------------------------------+
//! | length: i32 LE |  payload: `length` bytes       |
//! |    4 bytes     |                                |
//! +----------------+--------------------------------+
//!
//!   "Hello"  ->  05 00 00 00  48 65 6c 6c 6f
//!   ""       ->  00 00 00 00
//! ```
//!
//! Go writes the length with `binary.Write(pkg, binary.LittleEndian, int32(len(message)))`;
//! Rust writes it with [`BufMut::put_i32_le`]. The length is *signed*, so a
//! peer can send a negative one, and it is chosen by the peer, so it can be
//! anything up to 2 GiB. Both are errors here, reported as soon as the four
//! header bytes have arrived.
//!
//! # Where to start reading
//!
//! * [`encode`] / [`encode_into`]: the Go `Encode`.
//! * [`FrameCodec::decode`]: the Go `Decode`, as a streaming decoder over a
//!   [`BytesMut`] that grows as bytes arrive from the socket.
//! * [`frames`]: an allocation-free iterator over a complete `&[u8]`.
//! * [`Decoder`] (`decoder.rs`): what a reader of any format here needs,
//!   implemented by [`FrameCodec`] and by [`LineCodec`] (`lines.rs`), the
//!   `\n`-terminated lines of the line servers beyond the tutorial
//!   (`worker-pool`, `chat`), drawn there as the frame is drawn here.
//!
//! # The four defects of the Go `Decode`, and the tests that prove them absent
//!
//! | Go defect | what goes wrong | test |
//! |---|---|---|
//! | 1. split frame | when the header has arrived but not the whole payload, `Decode` returns `""` with a nil error; the server prints an empty message and calls `Decode` again, whose `Peek(4)` is satisfied from the buffer without reading the socket, so it prints empty messages for ever and never sees the rest | `go_defect_1_split_frame_waits_for_the_rest` |
//! | 2. frame > 4096 bytes | `bufio.Reader` holds at most 4096 bytes, so `Buffered() < length+4` stays true for ever | `go_defect_2_frame_larger_than_4096_bytes_decodes` |
//! | 3. negative length | `make([]byte, int(4+length))` (or the slice `pack[4:]`) panics, and an unrecovered panic in any goroutine ends the whole server | `go_defect_3_negative_length_is_an_error_not_a_panic` |
//! | 4. ~2 GiB length | nothing checks the length against a limit: at 2³¹−1 the `int32` sum `length+4` overflows and `make` panics, just below it `Decode` loops as in defect 1, and the obvious repair (`io.ReadFull` into `make([]byte, length)`) allocates whatever the peer claims | `go_defect_4_huge_length_is_rejected_before_buffering` |
//!
//! This decoder never reserves memory for a length the peer merely claims:
//! the buffer grows only with bytes that actually arrived, and a frame is
//! checked against [`FrameCodec::max_frame_len`] (default 8 MiB, as
//! tokio-util's `LengthDelimitedCodec`) before any of its payload is kept.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

mod decoder;
mod lines;

pub use decoder::Decoder;
pub use lines::{DEFAULT_MAX_LINE_LEN, LineCodec, LineError};

/// Size of the length prefix: an `int32` in the Go program.
pub const HEADER_LEN: usize = 4;

/// Largest frame accepted unless configured otherwise; the same default as
/// tokio-util's `LengthDelimitedCodec`, large enough for any demo message and
/// small enough that a hostile length costs nothing.
pub const DEFAULT_MAX_FRAME_LEN: usize = 8 * 1024 * 1024;

/// Encodes `message` as one frame, checked against [`DEFAULT_MAX_FRAME_LEN`].
///
/// ```
/// let frame = proto::encode(b"Hello").unwrap();
/// assert_eq!(&frame[..], b"\x05\x00\x00\x00Hello");
/// ```
pub fn encode(message: &[u8]) -> Result<Bytes, EncodeError> {
    FrameCodec::new().encode(message)
}

/// Appends one frame for `message` to `dst`, checked against [`DEFAULT_MAX_FRAME_LEN`].
///
/// Appending lets a sender batch many frames into one buffer and one `write`.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// proto::encode_into(b"a", &mut out).unwrap();
/// proto::encode_into(b"", &mut out).unwrap();
/// assert_eq!(&out[..], b"\x01\x00\x00\x00a\x00\x00\x00\x00");
/// ```
pub fn encode_into(message: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
    FrameCodec::new().encode_into(message, dst)
}

/// Iterates over the frames of a complete buffer, with [`DEFAULT_MAX_FRAME_LEN`].
///
/// ```
/// let data = b"\x02\x00\x00\x00hi\x00\x00\x00\x00\x05\x00";
/// let mut it = proto::frames(data);
/// assert_eq!(it.next(), Some(Ok(&b"hi"[..])));
/// assert_eq!(it.next(), Some(Ok(&b""[..])));
/// assert_eq!(it.next(), None); // an incomplete header is left over
/// assert_eq!(it.remainder(), b"\x05\x00");
/// ```
pub fn frames(data: &[u8]) -> Frames<'_> {
    FrameCodec::new().frames(data)
}

/// Encoder and streaming decoder for length-prefixed frames.
///
/// It holds only its configuration: the decoder peeks at the header each
/// time instead of remembering it, so a partly received frame is never taken
/// out of the caller's buffer and the buffer alone is the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCodec {
    max_frame_len: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameCodec {
    /// A codec accepting frames of up to [`DEFAULT_MAX_FRAME_LEN`] bytes.
    pub const fn new() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }

    /// A codec accepting payloads of up to `max_frame_len` bytes.
    ///
    /// Values above `i32::MAX` are clamped: the header cannot say more.
    ///
    /// ```
    /// let codec = proto::FrameCodec::with_max_frame_len(4);
    /// assert!(codec.encode(b"12345").is_err());
    /// ```
    pub const fn with_max_frame_len(max_frame_len: usize) -> Self {
        let max_frame_len = if max_frame_len > i32::MAX as usize {
            i32::MAX as usize
        } else {
            max_frame_len
        };
        Self { max_frame_len }
    }

    /// The largest payload this codec encodes or accepts.
    pub const fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Encodes `message` into a new buffer of exactly one frame.
    pub fn encode(&self, message: &[u8]) -> Result<Bytes, EncodeError> {
        let mut dst = BytesMut::new();
        self.encode_into(message, &mut dst)?;
        Ok(dst.freeze())
    }

    /// Appends one frame for `message` to `dst`.
    ///
    /// The Go `Encode` casts `len(message)` to `int32` without a check, so a
    /// message over 2 GiB would get a wrapped, wrong length; here it is an error.
    pub fn encode_into(&self, message: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
        let len = message.len();
        if len > self.max_frame_len {
            return Err(EncodeError::TooLong {
                length: len,
                max: self.max_frame_len,
            });
        }
        // Cannot fail: `max_frame_len` is clamped to i32::MAX.
        let header = i32::try_from(len).map_err(|_| EncodeError::TooLong {
            length: len,
            max: self.max_frame_len,
        })?;
        dst.reserve(HEADER_LEN + len);
        dst.put_i32_le(header);
        dst.extend_from_slice(message);
        Ok(())
    }

    /// Takes one complete frame's payload off the front of `src`.
    ///
    /// Returns `Ok(None)` when `src` does not yet hold a whole frame; `src` is
    /// then left untouched, so the caller appends what the socket reads next
    /// and calls again. The payload is split off `src` without copying.
    ///
    /// An error means the stream cannot be trusted any more (there is no way
    /// to find the next frame boundary): close the connection. `src` is left
    /// as it was, so the offending header can still be inspected.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// let codec = proto::FrameCodec::new();
    /// let mut buf = BytesMut::from(&b"\x05\x00\x00\x00Hel"[..]);
    /// assert_eq!(codec.decode(&mut buf), Ok(None)); // wait for the rest
    /// buf.extend_from_slice(b"lo");
    /// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "Hello");
    /// assert!(buf.is_empty());
    /// ```
    #[inline]
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        let Some(header) = src.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = self.payload_len(*header)?;
        if src.len() - HEADER_LEN < len {
            return Ok(None);
        }
        let mut frame = src.split_to(HEADER_LEN + len);
        frame.advance(HEADER_LEN);
        Ok(Some(frame.freeze()))
    }

    /// Like [`decode`](Self::decode), for when the peer has closed the stream:
    /// bytes left over that do not form a whole frame are an error saying how
    /// much of which frame was missing (the Go server prints only
    /// `unexpected EOF`).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// let codec = proto::FrameCodec::new();
    /// let mut buf = BytesMut::from(&b"\x1a\x00\x00\x00Hello"[..]);
    /// let err = codec.decode_eof(&mut buf).unwrap_err();
    /// assert_eq!(err, proto::DecodeError::Truncated { frame_len: Some(26), received: 5 });
    /// ```
    pub fn decode_eof(&self, src: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(truncated(src, self)),
        }
    }

    /// Iterates over the frames of a complete `&[u8]` without allocating.
    pub fn frames<'a>(&self, data: &'a [u8]) -> Frames<'a> {
        Frames {
            rest: data,
            codec: *self,
            failed: false,
        }
    }

    /// Validates a header and returns the payload length it announces.
    #[inline]
    fn payload_len(&self, header: [u8; HEADER_LEN]) -> Result<usize, DecodeError> {
        let length = i32::from_le_bytes(header);
        // `usize::try_from` fails exactly for negative lengths.
        let len =
            usize::try_from(length).map_err(|_| DecodeError::NegativeLength { length, header })?;
        if len > self.max_frame_len {
            return Err(DecodeError::TooLong {
                length: len,
                max: self.max_frame_len,
                header,
            });
        }
        Ok(len)
    }
}

/// Describes the incomplete frame at the front of `src`.
fn truncated(src: &[u8], codec: &FrameCodec) -> DecodeError {
    match src.first_chunk::<HEADER_LEN>() {
        None => DecodeError::Truncated {
            frame_len: None,
            received: src.len(),
        },
        Some(header) => match codec.payload_len(*header) {
            Ok(len) => DecodeError::Truncated {
                frame_len: Some(len),
                received: src.len() - HEADER_LEN,
            },
            Err(e) => e,
        },
    }
}

/// Borrowed iterator over the frames of a complete buffer; see [`frames`].
///
/// Yields each payload as a sub-slice of the input. It stops at the first
/// incomplete frame (see [`remainder`](Self::remainder)) or after yielding
/// the first error.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    rest: &'a [u8],
    codec: FrameCodec,
    failed: bool,
}

impl<'a> Frames<'a> {
    /// The bytes not yet yielded: an incomplete last frame, or the frame
    /// whose header was rejected.
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }

    /// Turns a non-empty remainder into the error that end-of-stream means
    /// for it, as [`FrameCodec::decode_eof`] does.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(truncated(self.rest, &self.codec))
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let (header, body) = self.rest.split_first_chunk::<HEADER_LEN>()?;
        let len = match self.codec.payload_len(*header) {
            Ok(len) => len,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let (payload, rest) = body.split_at_checked(len)?;
        self.rest = rest;
        Some(Ok(payload))
    }
}

impl std::iter::FusedIterator for Frames<'_> {}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The message is longer than the codec's maximum (at most `i32::MAX`).
    TooLong {
        /// The message's length in bytes.
        length: usize,
        /// The codec's maximum frame length.
        max: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLong { length, max } => write!(
                f,
                "message of {length} bytes is longer than the maximum frame length of {max} bytes"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why a stream could not be decoded. Every variant is the peer's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The header holds a negative `int32` (Go defect 3: `make` panics on it).
    NegativeLength {
        /// The length the header announces.
        length: i32,
        /// The header as it came, to show what the peer sent.
        header: [u8; HEADER_LEN],
    },
    /// The header announces more than the maximum frame length (Go defect 4:
    /// no limit at all).
    TooLong {
        /// The length the header announces.
        length: usize,
        /// The codec's maximum frame length.
        max: usize,
        /// The header as it came, to show what the peer sent.
        header: [u8; HEADER_LEN],
    },
    /// The stream ended inside a frame: `frame_len` is `None` if it ended
    /// inside the header, and `received` counts the bytes of the header or of
    /// the payload that did arrive.
    Truncated {
        /// The length the header announced, if the header was whole.
        frame_len: Option<usize>,
        /// The bytes of the header, or of the payload, that did arrive.
        received: usize,
    },
}

impl DecodeError {
    /// Whether the rejected header is printable ASCII, as when somebody types
    /// into `nc`: "Hell" read as a length is 1 819 043 144.
    pub fn header_looks_like_text(&self) -> bool {
        let header = match self {
            DecodeError::NegativeLength { header, .. } | DecodeError::TooLong { header, .. } => {
                header
            }
            DecodeError::Truncated { .. } => return false,
        };
        header
            .iter()
            .all(|&b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NegativeLength { length, .. } => {
                write!(f, "frame header announces a negative length ({length})")?
            }
            DecodeError::TooLong { length, max, .. } => write!(
                f,
                "frame header announces {length} bytes, more than the maximum frame length of {max} bytes"
            )?,
            DecodeError::Truncated {
                frame_len: None,
                received,
            } => {
                return write!(
                    f,
                    "stream ended inside a frame header: {received} of {HEADER_LEN} header bytes arrived"
                );
            }
            DecodeError::Truncated {
                frame_len: Some(len),
                received,
            } => {
                return write!(
                    f,
                    "stream ended inside a {len}-byte frame: {received} bytes arrived, {} missing",
                    len - received
                );
            }
        }
        if self.header_looks_like_text() {
            let (DecodeError::NegativeLength { header, .. } | DecodeError::TooLong { header, .. }) =
                self
            else {
                unreachable!("only header errors look like text")
            };
            write!(
                f,
                "; the header bytes {:?} look like ASCII text: is the peer sending plain text instead of length-prefixed frames?",
                String::from_utf8_lossy(header)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &[u8] = b"Hello, Hello. How are you?";

    fn buf(bytes: &[u8]) -> BytesMut {
        BytesMut::from(bytes)
    }

    #[test]
    fn golden_hello() {
        assert_eq!(
            &encode(b"Hello").unwrap()[..],
            [0x05, 0x00, 0x00, 0x00, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
    }

    #[test]
    fn golden_empty_message() {
        assert_eq!(&encode(b"").unwrap()[..], [0, 0, 0, 0]);
        let mut src = buf(&[0, 0, 0, 0]);
        assert_eq!(FrameCodec::new().decode(&mut src), Ok(Some(Bytes::new())));
        assert!(src.is_empty());
    }

    #[test]
    fn golden_demo_message_is_26_bytes_after_a_header_of_26() {
        let frame = encode(DEMO).unwrap();
        assert_eq!(&frame[..4], [26, 0, 0, 0]);
        assert_eq!(&frame[4..], DEMO);
    }

    #[test]
    fn decodes_frames_stuck_together_one_at_a_time() {
        let mut src = BytesMut::new();
        for _ in 0..3 {
            encode_into(DEMO, &mut src).unwrap();
        }
        let codec = FrameCodec::new();
        for _ in 0..3 {
            assert_eq!(codec.decode(&mut src).unwrap().unwrap(), DEMO);
        }
        assert_eq!(codec.decode(&mut src), Ok(None));
    }

    #[test]
    fn go_defect_1_split_frame_waits_for_the_rest() {
        // Header and part of the payload: Go returns "" with a nil error here.
        let codec = FrameCodec::new();
        let frame = encode(DEMO).unwrap();
        let mut src = BytesMut::new();
        for (i, byte) in frame.iter().enumerate() {
            assert_eq!(codec.decode(&mut src), Ok(None), "after {i} bytes");
            assert_eq!(src.len(), i, "a partial frame must not be consumed");
            src.put_u8(*byte);
        }
        assert_eq!(codec.decode(&mut src).unwrap().unwrap(), DEMO);
    }

    #[test]
    fn go_defect_2_frame_larger_than_4096_bytes_decodes() {
        let message = vec![b'x'; 100_000];
        let mut src = BytesMut::new();
        encode_into(&message, &mut src).unwrap();
        let got = FrameCodec::new().decode(&mut src).unwrap().unwrap();
        assert_eq!(got.len(), 100_000);
        assert_eq!(got, message);
    }

    #[test]
    fn go_defect_3_negative_length_is_an_error_not_a_panic() {
        let mut src = buf(&(-1i32).to_le_bytes());
        let err = FrameCodec::new().decode(&mut src).unwrap_err();
        assert_eq!(
            err,
            DecodeError::NegativeLength {
                length: -1,
                header: [0xff; 4]
            }
        );
        assert_eq!(
            err.to_string(),
            "frame header announces a negative length (-1)"
        );
        assert_eq!(src.len(), 4, "the bad header is left for inspection");
    }

    #[test]
    fn go_defect_4_huge_length_is_rejected_before_buffering() {
        let mut src = BytesMut::with_capacity(64);
        src.extend_from_slice(&i32::MAX.to_le_bytes());
        let capacity = src.capacity();
        let err = FrameCodec::new().decode(&mut src).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::TooLong {
                length: 2_147_483_647,
                max: DEFAULT_MAX_FRAME_LEN,
                ..
            }
        ));
        assert!(err.to_string().contains("2147483647"), "{err}");
        assert_eq!(
            src.capacity(),
            capacity,
            "nothing reserved for the claimed length"
        );
    }

    #[test]
    fn payload_up_to_the_maximum_is_accepted_and_one_more_byte_is_not() {
        let codec = FrameCodec::with_max_frame_len(3);
        let mut src = BytesMut::new();
        codec.encode_into(b"abc", &mut src).unwrap();
        assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "abc");
        assert_eq!(
            codec.encode(b"abcd"),
            Err(EncodeError::TooLong { length: 4, max: 3 })
        );
        let mut src = buf(&[4, 0, 0, 0]);
        assert!(matches!(
            codec.decode(&mut src),
            Err(DecodeError::TooLong {
                length: 4,
                max: 3,
                ..
            })
        ));
    }

    #[test]
    fn maximum_is_clamped_to_what_an_i32_header_can_say() {
        assert_eq!(
            FrameCodec::with_max_frame_len(usize::MAX).max_frame_len(),
            i32::MAX as usize
        );
    }

    #[test]
    fn encode_error_names_the_length() {
        let err = FrameCodec::with_max_frame_len(2)
            .encode(b"abc")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "message of 3 bytes is longer than the maximum frame length of 2 bytes"
        );
    }

    #[test]
    fn plain_text_header_is_explained() {
        let mut src = buf(b"Hello, server\n");
        let err = FrameCodec::new().decode(&mut src).unwrap_err();
        assert!(err.header_looks_like_text());
        let text = err.to_string();
        assert!(text.contains("1819043144"), "{text}");
        assert!(text.contains("\"Hell\""), "{text}");
        assert!(text.contains("plain text"), "{text}");
    }

    #[test]
    fn binary_header_is_not_called_text() {
        let mut src = buf(&[0, 0, 0, 0x40]);
        let err = FrameCodec::new().decode(&mut src).unwrap_err();
        assert!(!err.header_looks_like_text());
        assert!(!err.to_string().contains("plain text"));
    }

    #[test]
    fn eof_inside_a_payload_says_how_much_was_missing() {
        let mut src = buf(b"\x1a\x00\x00\x00Hello");
        let err = FrameCodec::new().decode_eof(&mut src).unwrap_err();
        assert_eq!(
            err.to_string(),
            "stream ended inside a 26-byte frame: 5 bytes arrived, 21 missing"
        );
    }

    #[test]
    fn eof_inside_a_header_says_so() {
        let mut src = buf(b"\x1a\x00");
        let err = FrameCodec::new().decode_eof(&mut src).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                frame_len: None,
                received: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "stream ended inside a frame header: 2 of 4 header bytes arrived"
        );
    }

    #[test]
    fn eof_on_a_frame_boundary_is_clean() {
        let mut src = BytesMut::new();
        encode_into(b"x", &mut src).unwrap();
        let codec = FrameCodec::new();
        assert_eq!(codec.decode_eof(&mut src).unwrap().unwrap(), "x");
        assert_eq!(codec.decode_eof(&mut src), Ok(None));
    }

    #[test]
    fn frames_iterator_yields_borrowed_payloads() {
        let mut src = BytesMut::new();
        for m in [&b"one"[..], b"", b"three"] {
            encode_into(m, &mut src).unwrap();
        }
        let got: Vec<&[u8]> = frames(&src).map(Result::unwrap).collect();
        assert_eq!(got, [&b"one"[..], b"", b"three"]);
        // Borrowed: each payload points into the input.
        let first = frames(&src).next().unwrap().unwrap();
        assert_eq!(first.as_ptr(), src[4..].as_ptr());
    }

    #[test]
    fn frames_iterator_stops_at_an_incomplete_frame() {
        let data = b"\x01\x00\x00\x00a\x03\x00\x00\x00bc";
        let mut it = frames(data);
        assert_eq!(it.next(), Some(Ok(&b"a"[..])));
        assert_eq!(it.next(), None);
        assert_eq!(it.remainder(), b"\x03\x00\x00\x00bc");
        assert_eq!(
            it.finish(),
            Err(DecodeError::Truncated {
                frame_len: Some(3),
                received: 2
            })
        );
    }

    #[test]
    fn frames_iterator_yields_an_error_once_then_stops() {
        let data = b"\x01\x00\x00\x00a\xff\xff\xff\xff\x01\x00\x00\x00b";
        let mut it = frames(data);
        assert_eq!(it.next(), Some(Ok(&b"a"[..])));
        assert!(matches!(
            it.next(),
            Some(Err(DecodeError::NegativeLength { length: -1, .. }))
        ));
        assert_eq!(it.next(), None);
        assert_eq!(it.remainder(), &data[5..]);
    }
}
