//! What the load generators send, and how they check what comes back.
//!
//! Every request carries a payload derived from (stream, sequence number),
//! so an echo server that answered with a stale buffer, another client's
//! bytes or a previous request would be caught, not counted as a fast reply.

/// Fills `buf` with bytes that depend on `stream` and `seq` (xorshift64*,
/// seeded through splitmix64 so neighbouring seeds give unrelated bytes).
pub fn fill(buf: &mut [u8], stream: u64, seq: u64) {
    let mut x = (stream.rotate_left(32) ^ seq).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let mut state = (x ^ (x >> 31)) | 1;
    for chunk in buf.chunks_mut(8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// Where `got` first differs from `expected`, if it does.
pub fn first_mismatch(got: &[u8], expected: &[u8]) -> Option<usize> {
    if got == expected {
        return None;
    }
    let same = got.iter().zip(expected).take_while(|(a, b)| a == b).count();
    Some(same)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_differ_per_stream_and_sequence_even_when_short() {
        let payload = |len, stream, seq| {
            let mut buf = vec![0; len];
            fill(&mut buf, stream, seq);
            buf
        };
        assert_ne!(payload(64, 1, 7), payload(64, 1, 8));
        assert_ne!(payload(64, 1, 7), payload(64, 2, 7));
        assert_eq!(
            payload(64, 1, 7),
            payload(64, 1, 7),
            "the same seed, the same bytes"
        );
        assert_ne!(payload(3, 0, 0), payload(3, 0, 1));
        assert_eq!(first_mismatch(b"abc", b"abc"), None);
        assert_eq!(first_mismatch(b"abX", b"abc"), Some(2));
        assert_eq!(first_mismatch(b"ab", b"abc"), Some(2));
    }
}
