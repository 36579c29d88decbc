//! Differential test: tokio-util's `LengthDelimitedCodec`, configured for the
//! Go wire format (4-byte little-endian length, no adjustment), must agree
//! with ours in both directions.
//!
//! One difference is by design: tokio-util reads the length as unsigned, so a
//! negative `int32` is to it a length over 2 GiB. Both reject it, for
//! different stated reasons.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proto::{DEFAULT_MAX_FRAME_LEN, FrameCodec};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

fn tokio_codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .little_endian()
        .length_field_length(4)
        .max_frame_length(DEFAULT_MAX_FRAME_LEN)
        .new_codec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tokio_decodes_what_we_encode(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..16),
    ) {
        let mut wire = BytesMut::new();
        for m in &messages {
            proto::encode_into(m, &mut wire).unwrap();
        }
        let mut theirs = tokio_codec();
        let mut got = Vec::new();
        while let Some(frame) = theirs.decode(&mut wire).unwrap() {
            got.push(frame.to_vec());
        }
        prop_assert!(wire.is_empty());
        prop_assert_eq!(got, messages);
    }

    #[test]
    fn we_decode_what_tokio_encodes(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..16),
    ) {
        let mut wire = BytesMut::new();
        let mut theirs = tokio_codec();
        let mut ours_wire = BytesMut::new();
        for m in &messages {
            theirs.encode(Bytes::copy_from_slice(m), &mut wire).unwrap();
            proto::encode_into(m, &mut ours_wire).unwrap();
        }
        prop_assert_eq!(&wire, &ours_wire, "byte-identical encodings");
        let codec = FrameCodec::new();
        let mut got = Vec::new();
        while let Some(frame) = codec.decode(&mut wire).unwrap() {
            got.push(frame.to_vec());
        }
        prop_assert!(wire.is_empty());
        prop_assert_eq!(got, messages);
    }

    #[test]
    fn both_accept_and_reject_the_same_headers(header in any::<[u8; 4]>(), extra in 0usize..64) {
        // A header followed by `extra` payload bytes: both must agree on
        // whether it is an error, a complete frame, or a wait for more.
        let mut ours_buf = BytesMut::from(&header[..]);
        ours_buf.extend_from_slice(&vec![0xab; extra]);
        let mut theirs_buf = ours_buf.clone();
        let ours = FrameCodec::new().decode(&mut ours_buf);
        let theirs = tokio_codec().decode(&mut theirs_buf);
        match (ours, theirs) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b.map(BytesMut::freeze)),
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "ours {:?} vs tokio {:?}", a, b),
        }
    }
}
