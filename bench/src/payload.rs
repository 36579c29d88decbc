//! What the load generators send, and how they check what comes back.
//!
//! Every request carries a payload derived from (connection, sequence number),
//! so an echo server that answered with a stale buffer, another client's bytes
//! or a previous request would be caught, not counted as a fast reply.

/// Fills `buf` with bytes that depend on `stream` and `seq` (xorshift64*, seeded
/// through splitmix64 so neighbouring seeds give unrelated bytes).
pub fn fill(buf: &mut [u8], stream: u64, seq: u64) {
    let mut state = splitmix64(stream.rotate_left(32) ^ seq) | 1;
    for chunk in buf.chunks_mut(8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Where `got` first differs from `expected`, if it does.
pub fn first_mismatch(got: &[u8], expected: &[u8]) -> Option<usize> {
    if got == expected {
        return None;
    }
    Some(
        got.iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(expected.len())),
    )
}

/// A position-sensitive checksum of a byte stream (Fletcher's scheme over
/// 64-bit little-endian words, wrapping), independent of how the stream was cut
/// into reads and writes: the sender sums what it wrote, the receiver what it
/// read, and the two must agree. Unlike a plain sum, it changes when bytes are
/// reordered, not only when they are lost or altered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamChecksum {
    sum: u64,
    sum_of_sums: u64,
    tail: [u8; 8],
    tail_len: usize,
    len: u64,
}

impl StreamChecksum {
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < 8 {
                return;
            }
            self.add_word(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let words = data.chunks_exact(8);
        let rest = words.remainder();
        for word in words {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(word);
            self.add_word(u64::from_le_bytes(bytes));
        }
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    fn add_word(&mut self, word: u64) {
        self.sum = self.sum.wrapping_add(word);
        self.sum_of_sums = self.sum_of_sums.wrapping_add(self.sum);
    }

    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The checksum of everything seen so far (a partial last word is padded
    /// with zeros), as one number for the report.
    pub fn value(&self) -> u64 {
        let mut copy = self.clone();
        if copy.tail_len > 0 {
            copy.tail[copy.tail_len..].fill(0);
            copy.add_word(u64::from_le_bytes(copy.tail));
        }
        copy.sum ^ copy.sum_of_sums.rotate_left(32) ^ copy.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_differ_per_stream_and_sequence() {
        let mut a = [0; 64];
        let mut b = [0; 64];
        fill(&mut a, 1, 7);
        fill(&mut b, 1, 8);
        assert_ne!(a, b);
        fill(&mut b, 2, 7);
        assert_ne!(a, b);
        fill(&mut b, 1, 7);
        assert_eq!(a, b, "the same seed must give the same bytes");
    }

    #[test]
    fn short_payloads_still_differ() {
        let (mut a, mut b) = ([0; 3], [0; 3]);
        fill(&mut a, 0, 0);
        fill(&mut b, 0, 1);
        assert_ne!(a, b);
    }

    #[test]
    fn mismatch_reports_the_first_differing_byte() {
        assert_eq!(first_mismatch(b"abc", b"abc"), None);
        assert_eq!(first_mismatch(b"abX", b"abc"), Some(2));
        assert_eq!(first_mismatch(b"ab", b"abc"), Some(2));
    }

    #[test]
    fn checksum_does_not_depend_on_how_the_stream_was_split() {
        let mut data = vec![0; 10_007];
        fill(&mut data, 3, 3);
        let mut whole = StreamChecksum::default();
        whole.update(&data);
        let mut pieces = StreamChecksum::default();
        for piece in data.chunks(13).flat_map(|c| c.chunks(5)) {
            pieces.update(piece);
        }
        assert_eq!(whole.value(), pieces.value());
        assert_eq!(pieces.len(), 10_007);
    }

    #[test]
    fn checksum_catches_reordered_lost_and_altered_bytes() {
        let mut data = vec![0; 4096];
        fill(&mut data, 9, 9);
        let sum = |bytes: &[u8]| {
            let mut c = StreamChecksum::default();
            c.update(bytes);
            c.value()
        };
        let original = sum(&data);
        let mut swapped = data.clone();
        swapped[..2048].rotate_left(8);
        assert_ne!(sum(&swapped), original, "reordered words");
        assert_ne!(sum(&data[8..]), original, "a lost word");
        let mut altered = data.clone();
        altered[100] ^= 1;
        assert_ne!(sum(&altered), original, "one flipped bit");
    }
}
