//! Fuzzes the streaming decoder with hostile input cut into hostile pieces.
//!
//! Run (only a stable toolchain here, so bootstrap its nightly features):
//! `cd proto/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decode -- -runs=10000000`
//!
//! The first input byte chooses the maximum frame length and the next ones
//! the read sizes; the rest is the stream. Checked on every input: no panic,
//! every frame within the maximum, the streaming decoder and the borrowed
//! iterator agree, and re-encoding the frames gives back the consumed bytes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use proto::FrameCodec;

fuzz_target!(|input: &[u8]| {
    let Some((&max_sel, rest)) = input.split_first() else {
        return;
    };
    let Some((&read_sel, data)) = rest.split_first() else {
        return;
    };
    let max = match max_sel % 4 {
        0 => 0,
        1 => 16,
        2 => 4096,
        _ => proto::DEFAULT_MAX_FRAME_LEN,
    };
    let read_size = usize::from(read_sel % 32) + 1;
    let codec = FrameCodec::with_max_frame_len(max);

    let mut buf = BytesMut::new();
    let mut decoded = Vec::new();
    let mut error = None;
    'feed: for chunk in data.chunks(read_size) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max);
                    decoded.push(frame);
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    if error.is_none() {
        // Whatever is left is an incomplete frame; end of stream says so.
        match codec.decode_eof(&mut buf) {
            Ok(None) => assert!(buf.is_empty()),
            Ok(Some(_)) => panic!("decode_eof found a frame decode missed"),
            Err(e) => assert!(!buf.is_empty(), "{e}"),
        }
    }

    let mut iter = codec.frames(data);
    let borrowed: Vec<&[u8]> = iter.by_ref().map_while(Result::ok).collect();
    assert_eq!(borrowed.len(), decoded.len());
    let mut reencoded = BytesMut::new();
    for (a, b) in borrowed.iter().zip(&decoded) {
        assert_eq!(*a, &b[..]);
        codec.encode_into(a, &mut reencoded).unwrap();
    }
    assert_eq!(&reencoded[..], &data[..reencoded.len()]);
});
