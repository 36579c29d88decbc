//! Decoding throughput: ours against tokio-util's `LengthDelimitedCodec`
//! configured for the same wire format, on the same stream, in one run.
//!
//! `cargo bench -p proto`. Each group decodes one buffer holding many frames;
//! throughput is in frames. The buffer is copied into a fresh `BytesMut`
//! outside the timed part (`iter_batched`), so only decoding is measured.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
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

fn bench_group(c: &mut Criterion, name: &str, frame_len: usize, count: usize) {
    let data = stream(frame_len, count);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(count as u64));

    group.bench_function("ours: FrameCodec::decode", |b| {
        let codec = FrameCodec::new();
        b.iter_batched(
            || data.clone(),
            |mut buf| {
                let mut n = 0usize;
                while let Some(frame) = codec.decode(&mut buf).unwrap() {
                    n += frame.len();
                    black_box(frame);
                }
                assert_eq!(n, frame_len * count);
            },
            BatchSize::LargeInput,
        )
    });

    group.bench_function("ours: frames() iterator", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for frame in proto::frames(black_box(&data)) {
                let frame = frame.unwrap();
                n += frame.len();
                black_box(frame);
            }
            assert_eq!(n, frame_len * count);
        })
    });

    group.bench_function("tokio-util: LengthDelimitedCodec", |b| {
        let mut codec = LengthDelimitedCodec::builder()
            .little_endian()
            .length_field_length(4)
            .max_frame_length(DEFAULT_MAX_FRAME_LEN)
            .new_codec();
        b.iter_batched(
            || data.clone(),
            |mut buf| {
                let mut n = 0usize;
                while let Some(frame) = codec.decode(&mut buf).unwrap() {
                    n += frame.len();
                    black_box(frame);
                }
                assert_eq!(n, frame_len * count);
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    // 26 bytes: the demo's "Hello, Hello. How are you?".
    bench_group(c, "decode 26-byte frames", 26, 10_000);
    bench_group(c, "decode 64 KiB frames", 64 * 1024, 64);
}

criterion_group!(benches, decode);
criterion_main!(benches);
