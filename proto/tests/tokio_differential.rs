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

/// A length header, biased so that every answer comes up often: lengths
/// the `extra` bytes complete or nearly complete (a frame, a wait for
/// more), lengths at the maximum's edge, and anything at all (mostly
/// over the maximum or negative, an error). Four random bytes alone
/// would almost never make a complete frame.
fn header() -> impl Strategy<Value = [u8; 4]> {
    let max = DEFAULT_MAX_FRAME_LEN as u32;
    prop_oneof![
        4 => 0u32..80,
        1 => max - 2..=max + 2,
        1 => any::<u32>(),
    ]
    .prop_map(u32::to_le_bytes)
}

/// Every small length and every amount of payload, not left to chance: the
/// region where the answers change, from a wait for more to a frame.
#[test]
fn both_agree_on_every_small_length_and_payload() {
    for len in 0u32..80 {
        for extra in 0..80 {
            let mut ours_buf = BytesMut::from(&len.to_le_bytes()[..]);
            ours_buf.extend_from_slice(&vec![0xab; extra]);
            let mut theirs_buf = ours_buf.clone();
            let ours = FrameCodec::new().decode(&mut ours_buf).unwrap();
            let theirs = tokio_codec().decode(&mut theirs_buf).unwrap();
            let complete = ours.is_some();
            assert_eq!(
                ours,
                theirs.map(BytesMut::freeze),
                "length {len}, {extra} bytes"
            );
            // After a frame both leave the same bytes. (While waiting for
            // more they differ by design: tokio-util has taken the header
            // into its state, ours leaves it in the buffer.)
            if complete {
                assert_eq!(ours_buf, theirs_buf, "length {len}, {extra} bytes");
            }
        }
    }
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
    fn both_accept_and_reject_the_same_headers(header in header(), extra in 0usize..64) {
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
