use super::*;

#[test]
fn lengths_are_limited_and_satisfy_kraft() {
    // Fibonacci frequencies force a deep tree without the limit.
    let mut fib = vec![1u64, 1];
    while fib.len() < 40 {
        let n = fib[fib.len() - 1] + fib[fib.len() - 2];
        fib.push(n);
    }
    let lens = code_lengths(&fib);
    assert!(lens.iter().all(|&l| (1..=MAX_LEN as u8).contains(&l)));
    assert!(canonical(&lens).is_some());
    // Two equal symbols: one bit each.
    assert_eq!(code_lengths(&[5, 0, 5]), [1, 0, 1]);
    // Over-subscribed lengths are refused.
    assert!(canonical(&[1, 1, 1]).is_none());
}

/// `x` encoded by `huff` alone decodes to itself.
fn round_trips(x: Vec<i64>) {
    let n = x.len();
    let mut out = vec![4u8];
    out.extend_from_slice(b"huff");
    let mut ctx = crate::EncodeCtx::new(1, crate::Effort::Max);
    assert!(huff_enc(&Values::Int(x.clone()), &mut ctx, &mut out).unwrap());
    let back = crate::decode_values(&out, DataKind::Int, n).unwrap();
    assert_eq!(back, Values::Int(x), "n={n}");
}

#[test]
fn every_length_round_trips_across_the_four_streams() {
    for n in 2..70usize {
        let x: Vec<i64> = (0..n).map(|i| ((i * 7) % 5) as i64 * 3 - 4).collect();
        round_trips(x);
    }
}

#[test]
fn long_streams_round_trip_through_the_lockstep_loop() {
    let mut r = unidb_common::rng::SplitMix64::new(5);
    for n in (1000..1012).chain([4096, 4099]) {
        // Skewed: many short codes, a few long ones.
        let x: Vec<i64> = (0..n)
            .map(|_| {
                let v = r.next_u64();
                if v.is_multiple_of(3) {
                    (v >> 56) as i64 - 100
                } else {
                    (v % 4) as i64 - 100
                }
            })
            .collect();
        round_trips(x);
    }
}

#[test]
fn bits_that_are_no_code_are_refused() {
    // Lengths 1 and 2 for symbols 0 and 1 leave the codes `11` unused
    // (bit-reversed: both low bits set); a stream of ones hits them.
    let mut b = vec![4u8];
    b.extend_from_slice(b"huff");
    put_zigzag(&mut b, 0);
    put_varint(&mut b, 2);
    b.extend_from_slice(&[1, 2]);
    for _ in 0..STREAMS {
        put_varint(&mut b, 16);
    }
    b.extend(std::iter::repeat_n(0xffu8, 2 * STREAMS));
    let err = crate::decode_values(&b, DataKind::Int, 8 * STREAMS).unwrap_err();
    assert!(matches!(err, CodecError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("no code"), "{err}");
}

#[test]
fn skewed_values_cost_their_entropy() {
    // p = 1/2, 1/4, 1/8, 1/8: entropy 1.75 bits.
    let x: Vec<i64> = (0..8000)
        .map(|i| [0, 0, 0, 0, 1, 1, 2, 3][i % 8] + 7)
        .collect();
    let mut out = Vec::new();
    let mut ctx = crate::EncodeCtx::new(1, crate::Effort::Max);
    assert!(huff_enc(&Values::Int(x.clone()), &mut ctx, &mut out).unwrap());
    assert!(out.len() <= 8000 * 7 / 32 + 20, "{}", out.len());
    let back = crate::decode_values(
        &[&[4u8][..], b"huff", &out].concat(),
        DataKind::Int,
        x.len(),
    )
    .unwrap();
    assert_eq!(back, Values::Int(x));
}
