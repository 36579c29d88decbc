//! [`Decoder`]: what every wire format of this crate is to a reader: a way
//! to take whole messages off the front of the bytes received so far.
//!
//! TCP delivers a stream; a program wants messages. Whatever marks where a
//! message ends (a length in front, a newline after), a reader does the
//! same thing with it: append what a `read` returned to a buffer, take off
//! every whole message, keep the rest for the next read, and at the end of
//! the stream say whether something was left unfinished. That loop is
//! written once, by whoever reads (`netpoll::tcp::FrameReader` in this
//! workspace); a format only says where its messages end.
//!
//! Two formats implement it: [`FrameCodec`](crate::FrameCodec), the Go
//! tutorial's length prefix, and [`LineCodec`](crate::LineCodec), lines
//! ending in `\n`. tokio-util's `codec::Decoder` has the same shape, so
//! both read as tokio users expect.

use bytes::{Bytes, BytesMut};

use crate::{DecodeError, FrameCodec};

/// Takes whole messages off the front of a stream's bytes.
///
/// A decoder never reserves memory for what a peer merely announces: the
/// buffer grows only with bytes that arrived, and a message is checked
/// against the decoder's maximum before any more of it is kept.
///
/// ```
/// use bytes::BytesMut;
/// use proto::{Decoder, LineCodec};
///
/// let mut lines = LineCodec::new();
/// let mut received = BytesMut::from(&b"sleep 20\r\nspin"[..]);
/// assert_eq!(lines.decode(&mut received).unwrap().unwrap(), "sleep 20");
/// assert_eq!(lines.decode(&mut received), Ok(None)); // "spin" waits for its newline
/// ```
pub trait Decoder {
    /// One message.
    type Item;
    /// Why the stream cannot be decoded past this point: the peer's fault,
    /// and a reason to close its connection.
    type Error;

    /// Takes one whole message off the front of `src`; `Ok(None)` when
    /// `src` does not hold one yet (it is then left as it was, to be
    /// appended to). After an error, `src` is left as it was too.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error>;

    /// Like [`decode`](Self::decode), once the peer has ended the stream:
    /// bytes left over that make no whole message are an error saying what
    /// was cut.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error>;
}

/// The tutorial's frames through the one reader's interface: the same
/// [`FrameCodec::decode`] and [`FrameCodec::decode_eof`].
impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        FrameCodec::decode(self, src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        FrameCodec::decode_eof(self, src)
    }
}
