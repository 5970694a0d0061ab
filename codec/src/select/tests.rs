use super::*;

#[test]
fn the_medium_penalty_is_capped_at_half_a_bit_per_value() {
    // 12% of the size while that is under half a bit per value...
    assert_eq!(weighted(1000, Cost::Medium, 1_000_000), 1120);
    // ...else half a bit per value (n / 16 bytes, rounded up).
    assert_eq!(weighted(1000, Cost::Medium, 800), 1050);
    assert_eq!(weighted(1000, Cost::Medium, 801), 1051);
    assert_eq!(weighted(1000, Cost::Fast, 10), 1000);
    assert_eq!(weighted(1000, Cost::Slow, 10), 1250);
}

#[test]
fn a_table_is_counted_at_the_share_of_the_stream_the_sample_is() {
    // Sizes of the form fixed + per value: 300 + 2 v on 640 values, 300 +
    // 2 v on 320; the whole stream is 100 times the sample.
    let (full, half) = (300 + 2 * 640, 300 + 2 * 320);
    assert_eq!(extrapolated(full, half, 100.0), 2 * 640 + 3);
    // A sample that is the whole stream keeps its size.
    assert_eq!(extrapolated(full, half, 1.0), full);
    // Sizes that grow faster than the values (no fixed part) stay.
    assert_eq!(extrapolated(1000, 400, 100.0), 1000);
}

#[test]
fn an_entropy_cascade_is_found_though_its_table_outweighs_the_sample() {
    // 60 000 values of a skewed distribution over 200 values spread
    // 1000 apart: an entropy coder needs about 3 bits a value plus a table
    // of some hundred bytes, bit-packing 18 bits a value.
    let mut r = unidb_common::rng::SplitMix64::new(3);
    let x: Vec<i64> = (0..60_000)
        .map(|_| {
            let u = r.next_u64();
            // Geometric: symbol k with probability 2^-(k+1), capped.
            let k = (u.trailing_zeros() as i64).min(199);
            k * 1000 + 7
        })
        .collect();
    let values = Values::Int(x);
    let mut out = Vec::new();
    let (cascade, _) = encode_node(&values, 4, Effort::Max, None, &mut out).unwrap();
    let mut all = Vec::new();
    cascade.codec_names(&mut all);
    assert!(
        all.iter().any(|n| matches!(*n, "ans" | "huff")),
        "{cascade}: {} bytes",
        out.len()
    );
    // About the entropy (2 bits a value for this distribution).
    assert!(
        out.len() < 60_000 * 2 / 8 + 1000,
        "{cascade}: {} bytes",
        out.len()
    );
}
