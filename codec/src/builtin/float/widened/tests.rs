use super::*;
use crate::{decode_column, decode_values, encode_column, encode_with};
use crate::{Column, ColumnKind, Effort};
use proptest::prelude::*;

fn enc_len(x: &[f64]) -> Option<usize> {
    let v = Values::Float(x.to_vec());
    let bytes = encode_with("f32", &v, Effort::Max).unwrap()?;
    assert_eq!(decode_values(&bytes, DataKind::Float, x.len()).unwrap(), v);
    Some(bytes.len())
}

/// `x` printed with `e` decimals and parsed back: the oracle for what
/// a CSV of `f32` values holds.
fn printed(x: f32, e: usize) -> f64 {
    format!("{:.*}", e, f64::from(x)).parse().unwrap()
}

/// Prices in cents made `f32`, printed with six decimals.
fn csv_prices() -> Vec<f64> {
    let mut c = 145_522i64;
    (0..4000)
        .map(|i| {
            c += (i * 7919 % 401) - 200;
            printed((c as f64 / 100.0) as f32, 6)
        })
        .collect()
}

#[test]
fn order_is_monotone_and_an_involution() {
    let xs = [
        f32::NEG_INFINITY,
        -1e30,
        -1.5,
        -1e-40,
        -0.0,
        0.0,
        1e-40,
        1.5,
        1e30,
        f32::INFINITY,
    ];
    for w in xs.windows(2) {
        let (a, b) = (w[0].to_bits() as i32, w[1].to_bits() as i32);
        assert!(order(a) < order(b), "{} {}", w[0], w[1]);
    }
    for x in xs {
        let i = x.to_bits() as i32;
        assert_eq!(order(order(i)), i);
    }
}

#[test]
fn rounding_matches_the_library_away_from_ties() {
    for t in [0.0, 0.4, 0.6, -0.4, -0.6, 2.5, -2.5, 1e15 + 0.7, -123.49] {
        assert_eq!(round(t), t.round(), "{t}");
    }
}

#[test]
fn printed_f32_prices_cost_their_cents() {
    let x = csv_prices();
    let ours = enc_len(&x).unwrap();
    // The decimal codec codes the six-decimal values (20+ bit deltas).
    let dec = encode_with("decimal", &Values::Float(x.clone()), Effort::Max)
        .unwrap()
        .unwrap()
        .len();
    assert!(ours * 3 < dec * 2, "f32 {ours} bytes, decimal {dec}");
    let col = Column::new(ColumnKind::Float, Values::Float(x)).unwrap();
    let e = encode_column(&col, Effort::Max).unwrap();
    assert_eq!(decode_column(&e.bytes).unwrap(), col);
    assert!(e.cascades[0].starts_with("f32"), "{:?}", e.cascades);
}

#[test]
fn widened_f32_bits_and_exceptions_round_trip() {
    // A random walk in f32, widened exactly; every 50th value an f64
    // that no f32 stands for.
    let mut w = 20.0f32;
    let x: Vec<f64> = (0..3000)
        .map(|i| {
            w += ((i * 37 % 101) as f32 - 50.0) * 0.013;
            if i % 50 == 0 {
                f64::from(w) + 1e-12
            } else {
                f64::from(w)
            }
        })
        .collect();
    assert!(enc_len(&x).unwrap() < x.len() * 4);
}

#[test]
fn plain_decimals_and_other_floats_are_refused() {
    let dec: Vec<f64> = (0..500).map(|i| f64::from(i) * 0.25 + 0.01).collect();
    assert_eq!(enc_len(&dec), None);
    let ints: Vec<f64> = (0..500).map(f64::from).collect();
    assert_eq!(enc_len(&ints), None);
    let noise: Vec<f64> = (0..500).map(|i| (f64::from(i) * 0.7).sin()).collect();
    assert_eq!(enc_len(&noise), None);
    assert_eq!(enc_len(&[1.5f32.into(); 10]), None);
}

#[test]
fn corrupt_modes_and_codes_are_errors() {
    let x = csv_prices();
    let bytes = encode_with("f32", &Values::Float(x.clone()), Effort::Max)
        .unwrap()
        .unwrap();
    for cut in 0..bytes.len() {
        assert!(decode_values(&bytes[..cut], DataKind::Float, x.len()).is_err());
    }
    // The outer mode byte follows the 4-byte name node header.
    let mut bad = bytes.clone();
    bad[4] = 19;
    assert!(matches!(
        decode_values(&bad, DataKind::Float, x.len()),
        Err(CodecError::Corrupt { .. })
    ));
    // Bits mode with a code outside i32.
    let mut b = vec![3u8];
    b.extend_from_slice(b"f32");
    b.extend_from_slice(&[EXACT, EXACT, 0, 5]);
    b.extend_from_slice(b"plain");
    b.extend_from_slice(&(1i64 << 40).to_le_bytes());
    assert!(matches!(
        decode_values(&b, DataKind::Float, 1),
        Err(CodecError::Corrupt { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_floats_round_trip(
        x in prop::collection::vec(
            prop_oneof![
                3 => (-100_000i32..100_000).prop_map(|k| printed(k as f32 / 100.0, 6)),
                2 => any::<f32>().prop_map(f64::from),
                1 => (-1000i32..1000).prop_map(|k| printed(k as f32 * 0.37, 4)),
                1 => any::<u64>().prop_map(f64::from_bits),
            ],
            1..300,
        )
    ) {
        enc_len(&x);
        let col = Column::new(ColumnKind::Float, Values::Float(x)).unwrap();
        let e = encode_column(&col, Effort::Max).unwrap();
        prop_assert_eq!(decode_column(&e.bytes).unwrap(), col);
    }
}
