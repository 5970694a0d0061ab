use super::*;
use crate::{decode_column, decode_values, encode_column, encode_with};
use crate::{Column, ColumnKind, Effort};
use proptest::prelude::*;

fn round_trip(x: &[f64]) -> Option<usize> {
    let v = Values::Float(x.to_vec());
    let bytes = encode_with("decimal_ulp", &v, Effort::Max).unwrap()?;
    assert_eq!(decode_values(&bytes, DataKind::Float, x.len()).unwrap(), v);
    Some(bytes.len())
}

#[test]
fn rounding_noise_costs_less_than_exceptions() {
    // Nine decimals, one value in six computed with float noise.
    let x: Vec<f64> = (0..6000)
        .map(|i| {
            let v = 3.0 + f64::from(i % 977) * 0.001_234_567;
            let v = (v * 1e9).round() / 1e9;
            if i % 6 == 0 {
                v * 3.0 / 3.0 + 1e-16 * v
            } else {
                v
            }
        })
        .collect();
    let ours = round_trip(&x).unwrap();
    let plain_decimal = encode_with("decimal", &Values::Float(x.clone()), Effort::Max)
        .unwrap()
        .map_or(usize::MAX, |b| b.len());
    assert!(ours < plain_decimal, "{ours} vs decimal {plain_decimal}");
}

#[test]
fn specials_and_extremes_are_exact() {
    let x = [
        0.1,
        0.2,
        0.30000000000000004,
        f64::NAN,
        f64::from_bits(0xFFF8_0000_0000_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        1e300,
        -1e-300,
        5e-324,
        f64::MAX,
    ];
    let x: Vec<f64> = x.iter().cycle().take(120).copied().collect();
    assert!(round_trip(&x).is_some());
    let col = Column::new(ColumnKind::Float, Values::Float(x)).unwrap();
    let e = encode_column(&col, Effort::Max).unwrap();
    assert_eq!(decode_column(&e.bytes).unwrap(), col);
}

#[test]
fn truncation_and_bad_exponent_are_errors() {
    let x: Vec<f64> = (0..300).map(|i| f64::from(i) * 0.01 + 1e-17).collect();
    let v = Values::Float(x.clone());
    let bytes = encode_with("decimal_ulp", &v, Effort::Max)
        .unwrap()
        .unwrap();
    for cut in 0..bytes.len() {
        assert!(decode_values(&bytes[..cut], DataKind::Float, x.len()).is_err());
    }
    let mut bad = bytes.clone();
    bad[12] = 19; // the exponent, after the 12-byte name node header
    assert!(matches!(
        decode_values(&bad, DataKind::Float, x.len()),
        Err(CodecError::Corrupt { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_floats_round_trip(
        x in prop::collection::vec(
            prop_oneof![
                3 => (-100_000i64..100_000).prop_map(|k| k as f64 / 100.0),
                1 => any::<f64>(),
                1 => any::<u64>().prop_map(f64::from_bits),
            ],
            1..300,
        )
    ) {
        round_trip(&x);
        let col = Column::new(ColumnKind::Float, Values::Float(x)).unwrap();
        let e = encode_column(&col, Effort::Max).unwrap();
        prop_assert_eq!(decode_column(&e.bytes).unwrap(), col);
    }
}
