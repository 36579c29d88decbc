//! Property tests: the decoder is judged on every way a stream can be cut up.

use bytes::BytesMut;
use proptest::prelude::*;
use proto::{FrameCodec, encode_into, frames};

/// Encodes `messages` back to back, as a sender writing them in a loop would.
fn stream_of(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for m in messages {
        encode_into(m, &mut out).unwrap();
    }
    out.to_vec()
}

/// Cuts `data` at the given (sorted, deduplicated) offsets, the way TCP may
/// deliver it: any number of reads of any sizes.
fn cut(data: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
    cuts.iter_mut().for_each(|c| *c %= data.len() + 1);
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        pieces.push(&data[start..c]);
        start = c;
    }
    pieces
}

/// A length header as a hostile or careless peer writes it, biased so that
/// each kind comes up often: small lengths that later bytes can complete
/// (four random bytes almost never make one), lengths at the maximum's
/// edge, negative ones, and anything at all.
fn header() -> impl Strategy<Value = [u8; 4]> {
    prop_oneof![
        4 => 0i32..64,
        1 => 4090i32..4100,
        1 => i32::MIN..0,
        1 => any::<i32>(),
    ]
    .prop_map(i32::to_le_bytes)
}

/// Bytes that are mostly frames, some whole, some cut short, some lying
/// about their length: each piece a [`header`] and up to 100 bytes.
fn mostly_frames() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        (header(), prop::collection::vec(any::<u8>(), 0..100)),
        0..20,
    )
    .prop_map(|pieces| {
        pieces
            .into_iter()
            .flat_map(|(header, bytes)| header.into_iter().chain(bytes))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_messages_cut_anywhere_decode_to_the_same_messages(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let data = stream_of(&messages);
        let codec = FrameCodec::new();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for piece in cut(&data, cuts) {
            buf.extend_from_slice(piece);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                decoded.push(frame.to_vec());
            }
        }
        prop_assert_eq!(codec.decode_eof(&mut buf), Ok(None));
        prop_assert_eq!(&decoded, &messages);
    }

    #[test]
    fn the_borrowed_iterator_agrees_with_the_streaming_decoder(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20),
    ) {
        let data = stream_of(&messages);
        let mut it = frames(&data);
        let got: Vec<Vec<u8>> = it.by_ref().map(|f| f.unwrap().to_vec()).collect();
        prop_assert_eq!(got, messages);
        prop_assert!(it.remainder().is_empty());
    }

    #[test]
    fn arbitrary_bytes_yield_frames_or_an_error_never_a_panic(
        data in prop_oneof![mostly_frames(), prop::collection::vec(any::<u8>(), 0..2048)],
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        max in 0usize..4096,
    ) {
        let codec = FrameCodec::with_max_frame_len(max);
        let mut buf = BytesMut::new();
        let mut consumed = 0;
        'feed: for piece in cut(&data, cuts) {
            buf.extend_from_slice(piece);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        prop_assert!(frame.len() <= max);
                        consumed += 4 + frame.len();
                    }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
        // However the bytes were cut, the streaming decoder stops exactly
        // where the one-shot iterator over the whole input stops.
        let iter_consumed: usize = codec.frames(&data).map_while(Result::ok).map(|f| 4 + f.len()).sum();
        prop_assert_eq!(consumed, iter_consumed);
    }
}
