use super::*;
use crate::{decode_column, decode_values, encode_column, encode_with};
use crate::{Column, ColumnKind, Effort};
use proptest::prelude::*;

#[test]
fn divisor_matches_euclid() {
    assert_eq!(gcd(0, 0), 0);
    assert_eq!(gcd(0, 12), 12);
    assert_eq!(gcd(18, 12), 6);
    assert_eq!(gcd(u64::MAX, 3), 3);
}

#[test]
fn hourly_timestamps_with_gaps_cost_their_quotients() {
    let mut t = 1_356_998_400_000i64;
    let ts: Vec<i64> = (0..20_000)
        .map(|i| {
            t += 3_600_000 * if i % 301 == 0 { 3 } else { 1 };
            t
        })
        .collect();
    let v = Values::Int(ts.clone());
    let bytes = encode_with("gcd", &v, Effort::Max).unwrap().unwrap();
    assert_eq!(decode_values(&bytes, DataKind::Int, ts.len()).unwrap(), v);
    let col = Column::new(ColumnKind::Timestamp, v).unwrap();
    let e = encode_column(&col, Effort::Max).unwrap();
    assert_eq!(decode_column(&e.bytes).unwrap(), col);
    // 20 000 values, 67 of them after a gap.
    assert!(
        e.bytes.len() < 400,
        "{} bytes {:?}",
        e.bytes.len(),
        e.cascades
    );
}

#[test]
fn off_grid_and_hostile_quotients_are_refused() {
    // Not on a grid: does not fit.
    assert!(encode_with("gcd", &Values::Int(vec![0, 2, 3]), Effort::Max)
        .unwrap()
        .is_none());
    // A quotient that wraps past 2^64: corrupt, not a silent wrap.
    let mut b = vec![3u8];
    b.extend_from_slice(b"gcd");
    put_zigzag(&mut b, 0);
    put_varint(&mut b, 1 << 40);
    b.push(5);
    b.extend_from_slice(b"plain");
    b.extend_from_slice(&(1i64 << 30).to_le_bytes());
    assert!(matches!(
        decode_values(&b, DataKind::Int, 1),
        Err(CodecError::Corrupt { .. })
    ));
    // Divisor below 2.
    let mut b = vec![3u8];
    b.extend_from_slice(b"gcd");
    put_zigzag(&mut b, 0);
    put_varint(&mut b, 1);
    b.push(5);
    b.extend_from_slice(b"plain");
    b.extend_from_slice(&7i64.to_le_bytes());
    assert!(decode_values(&b, DataKind::Int, 1).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn grids_round_trip(
        base in any::<i64>(),
        step in 2u64..1 << 40,
        q in prop::collection::vec(0u64..1000, 2..300),
    ) {
        let x: Vec<i64> = q
            .iter()
            .map(|&q| base.wrapping_add(q.wrapping_mul(step) as i64))
            .collect();
        let v = Values::Int(x.clone());
        if let Some(bytes) = encode_with("gcd", &v, Effort::Max).unwrap() {
            prop_assert_eq!(decode_values(&bytes, DataKind::Int, x.len()).unwrap(), v.clone());
            // Every truncation is an error.
            for cut in 0..bytes.len() {
                prop_assert!(decode_values(&bytes[..cut], DataKind::Int, x.len()).is_err());
            }
        }
        let col = Column::new(ColumnKind::Int, v).unwrap();
        let e = encode_column(&col, Effort::Max).unwrap();
        prop_assert_eq!(decode_column(&e.bytes).unwrap(), col);
    }
}
