//! The decode budget: whatever the encoder writes decodes, and crafted
//! inputs cannot make the decoder produce more than the budget allows.

use super::*;

fn col(kind: ColumnKind, values: Values) -> Column {
    Column::new(kind, values).expect("valid column")
}

/// Columns that compress far better than [`Budget::FACTOR`]: identical long
/// strings and bytes, long runs, one huge value, lines on a grid.
fn repetitive_columns() -> Vec<(&'static str, Column)> {
    let long = "x".repeat(999) + "y";
    let mut words = String::new();
    while words.len() < 4 << 20 {
        words.push_str("the same few words again and again ");
    }
    vec![
        (
            "2000 identical 1000-byte strings",
            col(ColumnKind::Text, Values::Text(vec![long.clone(); 2000])),
        ),
        (
            "20000 identical 1000-byte strings",
            col(ColumnKind::Text, Values::Text(vec![long.clone(); 20_000])),
        ),
        (
            "two strings alternating",
            col(
                ColumnKind::Text,
                Values::Text(
                    (0..30_000)
                        .map(|i| {
                            if i % 2 == 0 {
                                long.clone()
                            } else {
                                "z".repeat(700)
                            }
                        })
                        .collect(),
                ),
            ),
        ),
        (
            "identical byte strings",
            col(
                ColumnKind::Bytes,
                Values::Bytes(vec![vec![7u8; 4096]; 3000]),
            ),
        ),
        (
            "one huge repetitive value",
            col(ColumnKind::Text, Values::Text(vec![words])),
        ),
        (
            "one huge zero byte string",
            col(ColumnKind::Bytes, Values::Bytes(vec![vec![0u8; 3 << 20]])),
        ),
        (
            "a million equal integers",
            col(ColumnKind::Int, Values::Int(vec![-5; 1 << 20])),
        ),
        (
            "a million timestamps on a grid",
            col(
                ColumnKind::Timestamp,
                Values::Int((0..1 << 20).map(|i| 1_700_000_000_000 + i * 1000).collect()),
            ),
        ),
        (
            "long runs of floats",
            col(
                ColumnKind::Float,
                Values::Float((0..600_000).map(|i| f64::from(i / 100_000)).collect()),
            ),
        ),
        (
            "a million equal booleans",
            col(ColumnKind::Bool, Values::Bool(vec![true; 1 << 20])),
        ),
    ]
}

#[test]
fn repetitive_columns_decode_as_encoded() {
    for (name, c) in repetitive_columns() {
        for effort in [Effort::Fast, Effort::Max] {
            let enc = encode_column(&c, effort).unwrap();
            let cost = decode_cost(&enc.bytes).unwrap();
            // The encoding is padded exactly as far as its budget needs.
            assert!(
                cost <= Budget::limit_for(enc.bytes.len()),
                "{name}: cost {cost} over the budget of {} bytes",
                enc.bytes.len()
            );
            if enc.bytes[2] == VERSION_PADDED {
                assert!(
                    enc.bytes.len() <= Budget::input_for(cost) + 16,
                    "{name}: {} bytes padded for a cost of {cost}",
                    enc.bytes.len()
                );
            }
            let back = decode_column(&enc.bytes)
                .unwrap_or_else(|e| panic!("{name} ({effort:?}, {:?}): {e}", enc.cascades));
            assert_eq!(back, c, "{name}");
            if c.kind() == ColumnKind::Text {
                let flat = decode_text_column(&enc.bytes).unwrap();
                let Values::Text(v) = c.values() else {
                    unreachable!()
                };
                assert_eq!(flat.len(), v.len(), "{name}");
                assert!(flat.iter().zip(v).all(|(a, b)| a == Some(b.as_str())));
            }
        }
    }
}

#[test]
fn repetitive_columns_with_nulls_decode_as_encoded() {
    let rows = 150_000;
    let mask: Vec<bool> = (0..rows).map(|i| i % 3 != 0).collect();
    let present = mask.iter().filter(|&&m| m).count();
    let c = Column::with_validity(
        ColumnKind::Text,
        Values::Text(vec!["n".repeat(300); present]),
        Some(mask),
    )
    .unwrap();
    let enc = encode_column(&c, Effort::Fast).unwrap();
    assert_eq!(decode_column(&enc.bytes).unwrap(), c);
}

/// A column of `blocks` blocks, each holding `BLOCK_VALUES` copies of one
/// integer in a `one` node (11 bytes per block).
fn constant_int_blocks(blocks: usize) -> Vec<u8> {
    let mut b = b"UC\x01\x00".to_vec();
    io::put_varint(&mut b, (blocks * BLOCK_VALUES) as u64);
    io::put_varint(&mut b, blocks as u64);
    for _ in 0..blocks {
        io::put_varint(&mut b, BLOCK_VALUES as u64);
        b.push(0);
        b.extend_from_slice(b"\x03one");
        b.extend_from_slice(&7i64.to_le_bytes());
    }
    b
}

#[test]
fn integer_blocks_are_charged_before_they_are_decoded() {
    // One block: 512 KiB of values from 20 bytes, within the allowance.
    let one = constant_int_blocks(1);
    assert_eq!(decode_column(&one).unwrap().rows(), BLOCK_VALUES);
    assert_eq!(decode_cost(&one).unwrap(), BLOCK_VALUES * 8);
    // A hundred such blocks claim 50 MiB from 1.6 KB: refused.
    let many = constant_int_blocks(100);
    assert!(many.len() < 2000);
    assert!(matches!(
        decode_column(&many),
        Err(CodecError::OutputTooLarge { .. })
    ));
    // A child stream claiming a block of integers is charged too.
    let mut node = b"\x05delta".to_vec();
    io::put_zigzag(&mut node, 1);
    node.extend_from_slice(b"\x03one");
    node.extend_from_slice(&1i64.to_le_bytes());
    let mut budget = Budget::with_limit(1000);
    let mut ctx = DecodeCtx::new(budget.clone());
    let res = ctx.child(&mut Reader::new(&node), DataKind::Int, BLOCK_VALUES);
    assert!(matches!(res, Err(CodecError::OutputTooLarge { .. })));
    budget = ctx.budget;
    assert!(budget.used() <= 1000);
}

#[test]
fn a_shared_budget_bounds_several_columns() {
    let c = col(ColumnKind::Int, Values::Int(vec![3; 60_000]));
    let enc = encode_column(&c, Effort::Fast).unwrap();
    let cost = decode_cost(&enc.bytes).unwrap();
    assert!(cost >= 60_000 * 8);
    let mut budget = Budget::with_limit(cost * 2);
    for _ in 0..2 {
        assert_eq!(
            decode_column_with_budget(&enc.bytes, &mut budget).unwrap(),
            c
        );
    }
    assert_eq!(budget.left(), 0);
    assert!(matches!(
        decode_column_with_budget(&enc.bytes, &mut budget),
        Err(CodecError::OutputTooLarge { .. })
    ));
}

#[test]
fn padding_must_be_zero_and_is_checked() {
    let c = col(ColumnKind::Text, Values::Text(vec!["q".repeat(1000); 5000]));
    let mut enc = encode_column(&c, Effort::Fast).unwrap().bytes;
    assert_eq!(enc[2], VERSION_PADDED);
    let last = enc.len() - 1;
    enc[last] = 1;
    assert!(matches!(
        decode_column(&enc),
        Err(CodecError::Corrupt { .. })
    ));
}

fn arb_values() -> impl Strategy<Value = Values> {
    let text = prop::collection::vec("[a-c ]{0,12}", 0..200);
    prop_oneof![
        prop::collection::vec(any::<i64>(), 0..300).prop_map(Values::Int),
        prop::collection::vec(0i64..4, 0..300).prop_map(Values::Int),
        prop::collection::vec(any::<f64>(), 0..300).prop_map(Values::Float),
        prop::collection::vec(any::<bool>(), 0..300).prop_map(Values::Bool),
        text.prop_map(Values::Text),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..100)
            .prop_map(Values::Bytes),
    ]
}

fn kind_of(v: &Values) -> ColumnKind {
    match v.kind() {
        DataKind::Int => ColumnKind::Int,
        DataKind::Float => ColumnKind::Float,
        DataKind::Text => ColumnKind::Text,
        DataKind::Bool => ColumnKind::Bool,
        DataKind::Bytes => ColumnKind::Bytes,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Small columns are not measured by the encoder: what they charge
    /// stays within `COST_MARGIN` times their values' size. Repeating a
    /// column many times (runs of it) must still decode.
    #[test]
    fn columns_charge_within_the_margin_and_decode(values in arb_values(), repeat in 1usize..400) {
        let c = col(kind_of(&values), values.clone());
        for effort in [Effort::Fast, Effort::Max] {
            let enc = encode_column(&c, effort).unwrap();
            let cost = decode_cost(&enc.bytes).unwrap();
            prop_assert!(cost <= COST_MARGIN * raw_cost(&c) + 64,
                "cost {} for values of {} bytes ({:?})", cost, raw_cost(&c), enc.cascades);
            prop_assert_eq!(decode_column(&enc.bytes).unwrap(), c.clone());
        }
        // The same values, each repeated `repeat` times in a row.
        let n = values.len();
        let idx: Vec<usize> = (0..n * repeat).map(|i| i / repeat).collect();
        let long = match &values {
            Values::Int(v) => Values::Int(idx.iter().map(|&i| v[i]).collect()),
            Values::Float(v) => Values::Float(idx.iter().map(|&i| v[i]).collect()),
            Values::Bool(v) => Values::Bool(idx.iter().map(|&i| v[i]).collect()),
            Values::Text(v) => Values::Text(idx.iter().map(|&i| v[i].repeat(20)).collect()),
            Values::Bytes(v) => Values::Bytes(idx.iter().map(|&i| v[i].repeat(20)).collect()),
        };
        let c = col(kind_of(&long), long);
        let enc = encode_column(&c, Effort::Fast).unwrap();
        prop_assert_eq!(decode_column(&enc.bytes).unwrap(), c);
    }
}
