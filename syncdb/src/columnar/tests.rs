use proptest::prelude::*;
use unidb_common::id::ReplicaId;
use unidb_common::time::HlcTimestamp;

use super::encode::{encode_columnar, encode_columnar_with};
use super::pad::finish;
use super::*;
use crate::error::SyncError;

pub(crate) fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::I64),
        (-1000i64..1000).prop_map(Value::I64),
        any::<f64>().prop_map(Value::F64),
        (0u32..400).prop_map(|c| Value::F64(f64::from(c) / 4.0)),
        ".{0,8}".prop_map(Value::Text),
        "[ab]{0,3}".prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
        any::<i64>().prop_map(Value::Timestamp),
    ]
}

/// Mostly a few columns (so groups form), sometimes any id.
fn column() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..4, 1 => any::<u32>()]
}

fn op() -> impl Strategy<Value = ChangeOp> {
    prop_oneof![
        Just(ChangeOp::Row),
        (column(), value()).prop_map(|(column, value)| ChangeOp::Set { column, value }),
        (column(), any::<u64>(), prop_oneof![0u64..10, any::<u64>()])
            .prop_map(|(column, inc, dec)| ChangeOp::Count { column, inc, dec }),
    ]
}

/// Random changes: a few replicas, tables and keys (so groups and
/// followers occur), extreme ids, sequence numbers and timestamps too
/// (also the wire format's round-trip strategy).
pub(crate) fn change() -> impl Strategy<Value = Change> {
    (
        prop_oneof![0u64..4, any::<u64>()],
        prop_oneof![1u64..50, any::<u64>()],
        prop_oneof![0u64..100, any::<u64>()],
        prop_oneof![4 => 0u32..3, 1 => any::<u32>()],
        prop_oneof![(0i64..5).prop_map(Value::I64), value()],
        prop_oneof![1u64..4, any::<u64>()],
        op(),
    )
        .prop_map(|(o, seq, ts, table, key, cl, op)| Change {
            origin: ReplicaId::from_u64(o),
            seq,
            ts: HlcTimestamp::from_u64(ts),
            table,
            key,
            cl,
            op,
        })
}

/// Random batches, half of them sorted by (origin, seq) as a database
/// sends them.
fn batch(max: usize) -> impl Strategy<Value = Vec<Change>> {
    (proptest::collection::vec(change(), 0..max), any::<bool>()).prop_map(|(mut v, sort)| {
        if sort {
            v.sort_by_key(|c| (c.origin, c.seq));
            v.dedup_by_key(|c| (c.origin, c.seq));
        }
        v
    })
}

/// Every position below `len`, or 100 spread evenly over it.
fn positions(len: usize) -> impl Iterator<Item = usize> {
    let step = len.div_ceil(100).max(1);
    (0..len).step_by(step)
}

/// The columnar form, even where the per-change form is smaller.
fn columnar(changes: &[Change]) -> Vec<u8> {
    let (body, _) = encode_columnar(changes, Effort::Max, false).unwrap();
    finish(body, changes)
}

proptest! {
    #[test]
    fn roundtrip_is_exact(changes in batch(60)) {
        let auto = encode_changes(&changes, Effort::Max);
        prop_assert_eq!(decode_changes(&auto).unwrap(), changes.clone());
        let cols = columnar(&changes);
        prop_assert_eq!(cols[1] & FLAG_ROWS, 0);
        prop_assert_eq!(decode_changes(&cols).unwrap(), changes.clone());
        prop_assert!(auto.len() <= cols.len());
        let fast = encode_changes(&changes, Effort::Fast);
        prop_assert_eq!(decode_changes(&fast).unwrap(), changes.clone());
        // Integer columns stored as zigzag deltas, as earlier encoders did.
        let (body, _) = encode_columnar_with(&changes, Effort::Max, false, true, None, None).unwrap();
        prop_assert_eq!(decode_changes(&finish(body, &changes)).unwrap(), changes);
    }

    #[test]
    fn truncations_and_corruptions_never_panic(changes in batch(24), seed in any::<u64>()) {
        let cols = columnar(&changes);
        for cut in positions(cols.len()) {
            prop_assert!(decode_changes(&cols[..cut]).is_err(), "prefix of {} bytes accepted", cut);
        }
        let mut rng = unidb_common::rng::SplitMix64::new(seed);
        for i in positions(cols.len()) {
            let mut bad = cols.clone();
            bad[i] ^= 1 + rng.below(255) as u8;
            // The body alone has no checksum: a corrupt byte may decode to
            // other changes, but never panics...
            let _ = decode_changes(&bad);
        }
        // ...while in a message, the checksum refuses every one.
        let msg = crate::Message::Changes {
            sender: ReplicaId::from_u64(9),
            schema_version: 1,
            changes: changes.clone(),
            collected: Vec::new(),
        }
        .encode();
        for i in positions(msg.len()) {
            let mut bad = msg.clone();
            bad[i] ^= 1 + rng.below(255) as u8;
            let refused = matches!(crate::Message::decode(&bad), Err(SyncError::Decode { .. }));
            prop_assert!(refused, "corruption at byte {} accepted", i);
        }
        for cut in positions(msg.len()) {
            prop_assert!(crate::Message::decode(&msg[..cut]).is_err());
        }
    }
}

#[test]
fn empty_and_single_batches() {
    for changes in [
        Vec::new(),
        vec![Change {
            origin: ReplicaId::from_u64(3),
            seq: 1,
            ts: HlcTimestamp::from_u64(5),
            table: 0,
            key: Value::Text("k".into()),
            cl: 1,
            op: ChangeOp::Set {
                column: 2,
                value: Value::Null,
            },
        }],
    ] {
        for bytes in [encode_changes(&changes, Effort::Max), columnar(&changes)] {
            assert_eq!(decode_changes(&bytes).unwrap(), changes);
        }
    }
}

#[test]
fn huge_counts_are_refused_before_allocating() {
    // 2^40 changes claimed by a few bytes.
    let mut b = Vec::new();
    varint::encode_u64(1 << 40, &mut b);
    b.push(FLAG_SORTED);
    let err = decode_changes(&b).unwrap_err();
    assert!(err.to_string().contains("change count"), "{err}");
    // A column claiming more rows than its group.
    let changes: Vec<Change> = (1..=3)
        .map(|seq| Change {
            origin: ReplicaId::from_u64(1),
            seq,
            ts: HlcTimestamp::from_u64(seq),
            table: 0,
            key: Value::I64(seq as i64),
            cl: 1,
            op: ChangeOp::Row,
        })
        .collect();
    let mut more = changes.clone();
    more.push(Change {
        seq: 4,
        ..changes[0].clone()
    });
    let three = columnar(&changes);
    let four = columnar(&more);
    // Splice the 4-row seq column into the 3-change batch.
    let head = 9; // count flags replicas id groups table kind column count
    assert_eq!(&three[..3], &[3, FLAG_SORTED, 1]);
    assert_eq!(three[head], INT_CONST, "one origin: a constant");
    let at = head + 2;
    let col_len = |b: &[u8]| 1 + 1 + b[at + 1] as usize;
    let mut spliced = three[..at].to_vec();
    spliced.extend_from_slice(&four[at..at + col_len(&four)]);
    spliced.extend_from_slice(&three[at + col_len(&three)..]);
    let err = decode_changes(&spliced).unwrap_err();
    assert!(err.to_string().contains("rows"), "{err}");
}
