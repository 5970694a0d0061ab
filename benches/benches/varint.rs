//! Integer codecs on 1M u32 of mixed magnitudes (70% < 2^7, 25% < 2^14, 5%
//! uniform): LEB128 bulk encode/decode against `prost` and
//! `integer-encoding`; stream-vbyte encode/decode on every decode path
//! against Lemire's C library (`streamvbyte` crate); the differential
//! variant on sorted ids. Throughput in values per second.
//!
//! Every setup checks that each decoder returns the input (and that both
//! encoders write the same bytes) before timing.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use unidb_benches::*;
use unidb_kernels::varint::{self, stream};
use unidb_kernels::Isa;

fn decoders() -> Vec<&'static stream::Decoder> {
    Isa::available()
        .into_iter()
        .filter_map(stream::Decoder::for_isa)
        .collect()
}

fn leb128(c: &mut Criterion) {
    let values = mixed_u32(VARINT_COUNT, 11);
    let n = values.len();
    let mut bytes = Vec::new();
    varint::encode_u32_slice(&values, &mut bytes);

    // Check: the three encoders agree byte for byte, the three decoders
    // return the input.
    let mut peer = Vec::new();
    prost_leb128::encode_all(&values, &mut peer);
    assert_eq!(peer, bytes, "prost and unidb encode differently");
    peer.clear();
    ie_leb128::encode_all(&values, &mut peer);
    assert_eq!(peer, bytes, "integer-encoding and unidb encode differently");
    let mut ours = Vec::with_capacity(n);
    let read = varint::decode_u32_slice_into(&bytes, n, &mut ours).expect("valid input");
    assert_eq!((read, &ours), (bytes.len(), &values), "unidb LEB128 decode");
    let mut out = vec![0u32; n];
    prost_leb128::decode_all(&bytes, &mut out).expect("valid input");
    assert_eq!(out, values, "prost decode");
    out.fill(0);
    ie_leb128::decode_all(&bytes, &mut out).expect("valid input");
    assert_eq!(out, values, "integer-encoding decode");

    let mut group = c.benchmark_group("leb128_decode_1M");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("unidb", |b| {
        b.iter(|| {
            ours.clear();
            varint::decode_u32_slice_into(black_box(&bytes), n, &mut ours)
        })
    });
    group.bench_function("prost", |b| {
        b.iter(|| prost_leb128::decode_all(black_box(&bytes), &mut out))
    });
    group.bench_function("integer-encoding", |b| {
        b.iter(|| ie_leb128::decode_all(black_box(&bytes), &mut out))
    });
    group.finish();

    let mut group = c.benchmark_group("leb128_encode_1M");
    group.throughput(Throughput::Elements(n as u64));
    let mut buf = Vec::with_capacity(bytes.len());
    group.bench_function("unidb", |b| {
        b.iter(|| {
            buf.clear();
            varint::encode_u32_slice(black_box(&values), &mut buf);
        })
    });
    group.bench_function("prost", |b| {
        b.iter(|| {
            buf.clear();
            prost_leb128::encode_all(black_box(&values), &mut buf);
        })
    });
    group.bench_function("integer-encoding", |b| {
        b.iter(|| {
            buf.clear();
            ie_leb128::encode_all(black_box(&values), &mut buf);
        })
    });
    group.finish();
}

/// Stream-vbyte, plain (`delta == false`, mixed values) or differential
/// (`delta == true`, sorted ids).
fn stream_vbyte(c: &mut Criterion, delta: bool) {
    let (values, label) = if delta {
        (sorted_ids(VARINT_COUNT, 12), "svb_delta")
    } else {
        (mixed_u32(VARINT_COUNT, 13), "svb")
    };
    let n = values.len();
    let initial = delta.then_some(0u32);
    let bytes = if delta {
        stream::encode_u32_delta(&values, 0)
    } else {
        stream::encode_u32(&values)
    };
    let c_bytes = if delta {
        c_streamvbyte::encode_delta(&values)
    } else {
        c_streamvbyte::encode(&values)
    };
    // Same layout as the C library: the encodings must be identical.
    assert_eq!(
        bytes, c_bytes,
        "{label}: unidb and the C library encode differently"
    );

    let mut ours = Vec::with_capacity(n);
    for d in decoders() {
        ours.clear();
        let used = d
            .decode_into(&bytes, n, initial, &mut ours)
            .expect("valid input");
        assert_eq!(
            (used, &ours),
            (bytes.len(), &values),
            "{label} decode on {}",
            d.isa()
        );
    }
    let mut out = vec![0u32; n];
    let c_decode = |input: &[u8], out: &mut [u32]| {
        if delta {
            c_streamvbyte::decode_delta(input, out)
        } else {
            c_streamvbyte::decode(input, out)
        }
    };
    assert_eq!(c_decode(&c_bytes, &mut out), c_bytes.len());
    assert_eq!(out, values, "{label} decode by the C library");

    let mut group = c.benchmark_group(format!("{label}_decode_1M"));
    group.throughput(Throughput::Elements(n as u64));
    for d in decoders() {
        group.bench_function(BenchmarkId::new("unidb", d.isa().name()), |b| {
            b.iter(|| {
                ours.clear();
                d.decode_into(black_box(&bytes), n, initial, &mut ours)
            })
        });
    }
    group.bench_function("c_streamvbyte", |b| {
        b.iter(|| c_decode(black_box(&c_bytes), &mut out))
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{label}_encode_1M"));
    group.throughput(Throughput::Elements(n as u64));
    let mut buf = Vec::with_capacity(stream::max_encoded_len(n) + 64);
    group.bench_function("unidb", |b| {
        b.iter(|| {
            buf.clear();
            stream::encode_into(black_box(&values), initial, &mut buf)
        })
    });
    group.bench_function("c_streamvbyte", |b| {
        b.iter(|| {
            if delta {
                c_streamvbyte::encode_delta_into(black_box(&values), &mut buf)
            } else {
                c_streamvbyte::encode_into(black_box(&values), &mut buf)
            }
        })
    });
    group.finish();
}

fn stream_plain(c: &mut Criterion) {
    stream_vbyte(c, false);
}

fn stream_delta(c: &mut Criterion) {
    stream_vbyte(c, true);
}

criterion_group!(benches, leb128, stream_plain, stream_delta);
criterion_main!(benches);
