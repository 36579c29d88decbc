//! [`FrameReader`]: whole messages out of a connection's reads, so that a
//! handler receives lines or frames instead of whatever one `read`
//! returned.
//!
//! A read may hold several messages (stuck together), part of one (split),
//! or both; that is TCP, and the sticky-packet chapter's whole lesson. Every
//! reader does the same with it: keep what arrived, take off each whole
//! message, keep the rest for the next read. Which bytes end a message is
//! the wire format's business, a [`proto::Decoder`] (the tutorial's
//! [`proto::FrameCodec`], or [`proto::LineCodec`]); the keeping is this
//! file's, written once for every handler.
//!
//! The reader is a part of the handler, not of the loop: a handler that
//! echoes needs none and pays nothing, and one that frames owns its buffer
//! like any other state. UDP needs none at all: a datagram is one message.
//!
//! **Proved by:** `a_frame_reader_hands_over_whole_lines_however_the_reads_fall`,
//! `a_large_frame_gives_its_memory_back_once_decoded`.

use bytes::BytesMut;
use proto::Decoder;

/// A buffer that grew past this much is given back once it holds no more:
/// an idle connection keeps at most this, not the largest message it ever got.
pub const KEEP_CAPACITY: usize = 64 * 1024;

/// One connection's bytes received and not yet decoded, and the decoder
/// that finds the messages in them: at most one partial message (already
/// checked against the decoder's maximum) plus one read. Its memory
/// follows what it holds now: after a large message, the large allocation
/// goes back.
///
/// ```
/// use netpoll::tcp::{Conn, FrameReader, Handler};
/// use proto::LineCodec;
///
/// /// Answers each whole line with its length, however the reads fall.
/// struct LineLengths(FrameReader<LineCodec>);
///
/// impl Handler for LineLengths {
///     fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
///         let fed = self.0.feed(data, |line| {
///             conn.send(format!("{}\n", line.len()).as_bytes());
///         });
///         if let Err(too_long) = fed {
///             conn.send(format!("error: {too_long}\n").as_bytes());
///             conn.close_after_sending();
///         }
///     }
/// }
/// # let _ = LineLengths(FrameReader::new(LineCodec::new()));
/// ```
#[derive(Debug)]
pub struct FrameReader<D> {
    decoder: D,
    buffer: BytesMut,
    /// The allocation grew past [`KEEP_CAPACITY`] since it was last settled.
    large: bool,
}

impl<D: Decoder> FrameReader<D> {
    /// A reader of `decoder`'s messages, with nothing buffered.
    pub fn new(decoder: D) -> Self {
        FrameReader {
            decoder,
            buffer: BytesMut::new(),
            large: false,
        }
    }

    /// Appends one read and hands every message it completes to
    /// `on_frame`, in order: none, one or many. An error means the stream
    /// cannot be decoded past it (the peer's fault: close its connection);
    /// what was buffered is dropped with it, since nothing more will be
    /// decoded.
    pub fn feed(&mut self, data: &[u8], on_frame: impl FnMut(D::Item)) -> Result<(), D::Error> {
        self.buffer.extend_from_slice(data);
        self.large |= self.buffer.capacity() > KEEP_CAPACITY;
        self.take_all(on_frame, D::decode)
    }

    /// At the end of the stream: hands over what whole messages are left,
    /// and says, as an error, what was cut (the decoder's
    /// [`decode_eof`](Decoder::decode_eof)).
    pub fn finish(&mut self, on_frame: impl FnMut(D::Item)) -> Result<(), D::Error> {
        self.take_all(on_frame, D::decode_eof)
    }

    /// Decodes with `decode` until it finds no more, then settles the
    /// buffer.
    fn take_all(
        &mut self,
        mut on_frame: impl FnMut(D::Item),
        decode: impl Fn(&mut D, &mut BytesMut) -> Result<Option<D::Item>, D::Error>,
    ) -> Result<(), D::Error> {
        let result = loop {
            match decode(&mut self.decoder, &mut self.buffer) {
                Ok(Some(frame)) => on_frame(frame),
                Ok(None) => break Ok(()),
                Err(e) => {
                    self.buffer = BytesMut::new();
                    break Err(e);
                }
            }
        };
        self.settle();
        result
    }

    /// Gives a large allocation back once what is left fits a small one.
    /// A decoded message is a view into the buffer's allocation, and so is
    /// what is left after it: without this, one 8 MiB frame would keep
    /// 8 MiB (or more, with growth) for the connection's whole life.
    fn settle(&mut self) {
        if self.large && self.buffer.len() <= KEEP_CAPACITY {
            self.buffer = BytesMut::from(&self.buffer[..]);
            self.large = false;
        }
    }

    /// The bytes of the message still incomplete (for a trace, or to say
    /// what a stop cut).
    pub fn buffered(&self) -> &[u8] {
        &self.buffer
    }

    /// The decoder, and its settings.
    pub fn decoder(&self) -> &D {
        &self.decoder
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proto::{FrameCodec, LineCodec, LineError};

    use super::*;

    /// Feeds `data` in reads of `read` bytes; the messages that came out.
    fn feed<D: Decoder>(reader: &mut FrameReader<D>, data: &[u8], read: usize) -> Vec<D::Item>
    where
        D::Error: std::fmt::Debug,
    {
        let mut messages = Vec::new();
        for chunk in data.chunks(read) {
            reader.feed(chunk, |m| messages.push(m)).unwrap();
        }
        messages
    }

    #[test]
    fn a_frame_reader_hands_over_whole_lines_however_the_reads_fall() {
        let stream = b"sleep 20\r\nspin 5\n\nhello there\n";
        for read in [1, 2, 3, 7, stream.len()] {
            let mut lines = FrameReader::new(LineCodec::new());
            let got = feed(&mut lines, stream, read);
            assert_eq!(
                got,
                ["sleep 20", "spin 5", "", "hello there"],
                "reads of {read}"
            );
            assert!(lines.buffered().is_empty());
        }
    }

    #[test]
    fn an_undecodable_stream_is_an_error_and_its_buffer_goes() {
        let mut lines = FrameReader::new(LineCodec::with_max_line_len(4));
        let mut got = Vec::new();
        let fed = lines.feed(b"ok\ntoo long", |line| got.push(line));
        assert_eq!(got, ["ok"]);
        assert_eq!(fed, Err(LineError::TooLong { max: 4 }));
        assert!(lines.buffered().is_empty());
        // At the end of a stream, what was cut is said.
        let mut lines = FrameReader::new(LineCodec::new());
        lines.feed(b"cut", |_| {}).unwrap();
        assert_eq!(
            lines.finish(|_| {}),
            Err(LineError::Unterminated { received: 3 })
        );
    }

    #[test]
    fn a_large_frame_gives_its_memory_back_once_decoded() {
        let codec = FrameCodec::new();
        let mut frames = FrameReader::new(codec);
        let big = vec![b'x'; proto::DEFAULT_MAX_FRAME_LEN];
        let mut stream = BytesMut::new();
        codec.encode_into(&big, &mut stream).unwrap();
        // The start of the next frame, left buffered: the connection is idle.
        stream.extend_from_slice(&[5, 0]);
        let messages: Vec<Bytes> = feed(&mut frames, &stream, 64 * 1024);
        assert_eq!(messages.len(), 1);
        assert_eq!(frames.buffered().len(), 2);
        // Once the message is dropped, nothing else may hold the large
        // allocation: the buffer keeps only what it holds now.
        let message = messages.into_iter().next().unwrap();
        assert!(
            message.is_unique(),
            "the connection's buffer still holds the 8 MiB frame's memory"
        );
        assert!(frames.buffer.capacity() <= KEEP_CAPACITY);
    }

    #[test]
    fn small_frames_keep_their_buffer() {
        let codec = FrameCodec::new();
        let mut frames = FrameReader::new(codec);
        let mut stream = BytesMut::new();
        for _ in 0..100 {
            codec
                .encode_into(b"Hello, Hello. How are you?", &mut stream)
                .unwrap();
        }
        assert_eq!(feed(&mut frames, &stream, 1024).len(), 100);
        assert!(frames.buffered().is_empty() && !frames.large);
    }
}
