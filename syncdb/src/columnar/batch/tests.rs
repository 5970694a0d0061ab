//! A session's [`BatchEncoder`]: every batch decodes to its changes
//! whatever the cache remembers, the bytes are a function of the input
//! sequence, and the sizes stay near those of a full search.

use super::*;
use crate::change::ChangeOp;
use crate::columnar::tests::change;
use crate::columnar::{decode_changes, encode_changes, FLAG_ROWS};
use crate::sim::row_workload_changes;
use proptest::prelude::*;
use unidb_common::id::ReplicaId;
use unidb_common::rng::SplitMix64;
use unidb_common::time::HlcTimestamp;
use unidb_common::value::Value;

/// A batch of `n` changes of replica 1 from `seq` on: set changes of
/// table 0 whose value column `column` holds values of `shape` (0 one
/// constant, 1 random integers, 2 text from a small vocabulary, 3 random
/// text, 4 a mix of types and nulls), on rows of a small key space, each
/// row a few followers long (as transactions write them).
fn batch(rng: &mut SplitMix64, seq: u64, n: usize, shape: u8) -> Vec<Change> {
    (0..n as u64)
        .map(|i| {
            let value = match shape {
                0 => Value::I64(42),
                1 => Value::I64(rng.below(1 << 50) as i64 - (1 << 49)),
                2 => Value::Text(format!("name {}", rng.below(12))),
                3 => Value::Text(format!("{:x}", rng.next_u64())),
                _ => match rng.below(5) {
                    0 => Value::Null,
                    1 => Value::F64(rng.below(1000) as f64 / 8.0),
                    2 => Value::Text("x".repeat(rng.below(4) as usize)),
                    3 => Value::Bool(rng.chance(0.5)),
                    _ => Value::I64(rng.below(100) as i64),
                },
            };
            Change {
                origin: ReplicaId::from_u64(1),
                seq: seq + i,
                ts: HlcTimestamp::from_u64((1 << 40) + seq + i + rng.below(3)),
                table: 0,
                key: Value::I64(((seq + i) / 4) as i64 % 64),
                cl: 1,
                op: ChangeOp::Set {
                    column: 1 + ((seq + i) % 4) as u32,
                    value,
                },
            }
        })
        .collect()
}

/// Batches whose value columns switch from constant to random integers
/// to text-like values to mixed types, with sizes from tiny to large.
fn switching(seed: u64) -> Vec<Vec<Change>> {
    let mut rng = SplitMix64::new(seed);
    let mut seq = 1;
    let mut out = Vec::new();
    for shape in [0u8, 1, 2, 3, 4, 0, 2] {
        for n in [40usize, 120, 7, 300, 60, 60, 33, 1000] {
            out.push(batch(&mut rng, seq, n, shape));
            seq += n as u64;
        }
    }
    out
}

#[test]
fn every_batch_of_a_caching_encoder_decodes_to_its_changes() {
    let mut enc = BatchEncoder::new();
    let mut columnar = 0;
    for (i, changes) in switching(1).iter().enumerate() {
        for effort in [Effort::Max, Effort::Fast] {
            let bytes = enc.encode(changes, effort);
            // The oracle: the changes themselves.
            assert_eq!(&decode_changes(&bytes).unwrap(), changes, "batch {i}");
            columnar += usize::from(bytes.get(1).is_some_and(|f| f & FLAG_ROWS == 0));
        }
    }
    let s = enc.stats();
    // The cache was exercised: reused, dropped, searched, and tiny.
    assert!(columnar > 10, "{columnar} {s:?}");
    let c = s.cascades;
    assert!(
        c.reuses > c.searches && c.dropped > 0 && c.tiny > 0,
        "{s:?}"
    );
}

#[test]
fn a_caching_encoder_writes_the_same_bytes_for_the_same_batches() {
    let run = || {
        let mut enc = BatchEncoder::new();
        switching(2)
            .iter()
            .map(|b| enc.encode(b, Effort::Max))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn cached_batches_stay_near_a_full_search() {
    // The row workload in sync batches of 50: within 10% of the bytes of
    // searching every column of every batch (measured: about 1.0x).
    let changes = row_workload_changes(400, 600, 9).unwrap();
    let mut enc = BatchEncoder::new();
    let (mut cached, mut searched) = (0usize, 0usize);
    for b in changes.chunks(50) {
        let bytes = enc.encode(b, Effort::Max);
        assert_eq!(decode_changes(&bytes).unwrap(), b);
        cached += bytes.len();
        searched += encode_changes(b, Effort::Max).len();
    }
    assert!(
        cached * 10 <= searched * 11,
        "cached {cached} bytes, searched {searched}"
    );
    assert!(enc.stats().cascades.reuses > 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random batches (any ids, types, order) through one encoder.
    #[test]
    fn random_batches_round_trip_through_one_encoder(
        batches in proptest::collection::vec(
            proptest::collection::vec(change(), 0..80), 1..6)
    ) {
        let mut enc = BatchEncoder::new();
        for b in &batches {
            prop_assert_eq!(&decode_changes(&enc.encode(b, Effort::Max)).unwrap(), b);
        }
    }
}
