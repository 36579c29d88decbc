//! Decoding throughput: ours against tokio-util's `LengthDelimitedCodec`
//! configured for the same wire format, on the same stream, in one run.
//!
//! `cargo bench -p proto`. Each group decodes one buffer holding many frames;
//! throughput is in frames. The buffer is copied into a fresh `BytesMut`
//! outside the timed part (`iter_batched`), so only decoding is measured.

// `criterion_group!` declares a public function it gives no doc comment.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use proto::{DEFAULT_MAX_FRAME_LEN, FrameCodec};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

fn stream(frame_len: usize, count: usize) -> BytesMut {
    let message = vec![b'x'; frame_len];
    let mut out = BytesMut::new();
    for _ in 0..count {
        proto::encode_into(&message, &mut out).unwrap();
    }
    out
}

/// Times one streaming decoder over a fresh copy of `data` (the copy is made
/// outside the timed part), checking that all `payload_len` bytes came out.
/// Each decoder returns its own frame type, so neither pays for a conversion.
fn bench_streaming<F: AsRef<[u8]>>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    data: &BytesMut,
    payload_len: usize,
    mut decode: impl FnMut(&mut BytesMut) -> Option<F>,
) {
    group.bench_function(name, |b| {
        b.iter_batched(
            || data.clone(),
            |mut buf| {
                let mut n = 0usize;
                while let Some(frame) = decode(&mut buf) {
                    n += frame.as_ref().len();
                    black_box(frame);
                }
                assert_eq!(n, payload_len);
            },
            BatchSize::LargeInput,
        )
    });
}

fn bench_group(c: &mut Criterion, name: &str, frame_len: usize, count: usize) {
    let data = stream(frame_len, count);
    let payload_len = frame_len * count;
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(count as u64));

    let codec = FrameCodec::new();
    bench_streaming(
        &mut group,
        "ours: FrameCodec::decode",
        &data,
        payload_len,
        |buf| codec.decode(buf).unwrap(),
    );

    group.bench_function("ours: frames() iterator", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for frame in proto::frames(black_box(&data)) {
                let frame = frame.unwrap();
                n += frame.len();
                black_box(frame);
            }
            assert_eq!(n, payload_len);
        })
    });

    let mut codec = LengthDelimitedCodec::builder()
        .little_endian()
        .length_field_length(4)
        .max_frame_length(DEFAULT_MAX_FRAME_LEN)
        .new_codec();
    bench_streaming(
        &mut group,
        "tokio-util: LengthDelimitedCodec",
        &data,
        payload_len,
        |buf| codec.decode(buf).unwrap(),
    );
    group.finish();
}

fn decode(c: &mut Criterion) {
    // 26 bytes: the demo's "Hello, Hello. How are you?".
    bench_group(c, "decode 26-byte frames", 26, 10_000);
    bench_group(c, "decode 64 KiB frames", 64 * 1024, 64);
}

criterion_group!(benches, decode);
criterion_main!(benches);
