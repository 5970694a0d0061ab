use super::*;
use crate::{decode_column, encode_column, ColumnKind};
use unidb_common::rng::SplitMix64;

fn int_col(v: Vec<i64>) -> Column {
    Column::new(ColumnKind::Int, Values::Int(v)).unwrap()
}

/// Batches of one stream whose shape switches: sequential ids,
/// random wide integers, runs of a few values, sequential again.
fn switching_batches() -> Vec<Column> {
    let mut rng = SplitMix64::new(11);
    let mut out = Vec::new();
    for b in 0..12i64 {
        out.push(int_col((0..200).map(|i| 1_000_000 + b * 200 + i).collect()));
    }
    for _ in 0..12 {
        out.push(int_col(
            (0..200).map(|_| rng.below(1 << 40) as i64).collect(),
        ));
    }
    for _ in 0..12 {
        out.push(int_col(
            (0..200).map(|i| [7i64, -3, 12][(i / 25) % 3]).collect(),
        ));
    }
    for b in 0..12i64 {
        out.push(int_col((0..200).map(|i| 5_000_000 + b * 200 + i).collect()));
    }
    out
}

#[test]
fn every_cached_encoding_decodes_to_its_input() {
    let mut cache = CascadeCache::new(8);
    let mut rng = SplitMix64::new(5);
    let texts = |rng: &mut SplitMix64, n: usize| -> Vec<String> {
        (0..n).map(|_| format!("item {}", rng.below(40))).collect()
    };
    let mut cols = switching_batches();
    for n in [3usize, 9, 60, 200] {
        cols.push(Column::new(ColumnKind::Text, Values::Text(texts(&mut rng, n))).unwrap());
        cols.push(
            Column::new(
                ColumnKind::Float,
                Values::Float((0..n).map(|i| i as f64 * 0.25).collect()),
            )
            .unwrap(),
        );
        cols.push(int_col(vec![4; n]));
    }
    for (i, col) in cols.iter().enumerate() {
        // One key for every shape and kind: the stream changes under it.
        for effort in [Effort::Fast, Effort::Max] {
            let enc = cache.encode_column("stream", col, effort).unwrap();
            assert_eq!(&decode_column(&enc.bytes).unwrap(), col, "batch {i}");
            let bytes = cache.encode_bytes("stream", col, effort).unwrap();
            assert_eq!(&decode_column(&bytes).unwrap(), col, "batch {i}");
        }
    }
    let s = cache.stats();
    assert!(
        s.reuses > 0 && s.searches > 0 && s.dropped > 0 && s.tiny > 0,
        "{s:?}"
    );
}

#[test]
fn a_cascade_that_stops_being_good_is_dropped() {
    // Stated bound: every cached encoding is within 5/4 of a fresh
    // search's size plus 2 * SLACK bytes, on each shape switch too.
    let mut cache = CascadeCache::new(8);
    let mut before = cache.stats();
    for (i, col) in switching_batches().iter().enumerate() {
        let cached = cache.encode_column(0u8, col, Effort::Max).unwrap();
        let fresh = encode_column(col, Effort::Max).unwrap();
        assert!(
            cached.bytes.len() <= fresh.bytes.len() * 5 / 4 + 2 * SLACK,
            "batch {i}: cached {} ({:?}) vs fresh {} ({:?})",
            cached.bytes.len(),
            cached.cascades,
            fresh.bytes.len(),
            fresh.cascades
        );
        let now = cache.stats();
        if i % 12 > 1 {
            // Within a shape it is reused.
            assert_eq!(now.reuses, before.reuses + 1, "batch {i}");
        }
        before = now;
    }
    assert!(before.dropped >= 1, "{before:?}");
}

#[test]
fn the_budget_forces_a_new_search() {
    let mut cache = CascadeCache::new(4);
    cache.set_reuses(3);
    let col = int_col((0..100).map(|i| i * 3).collect());
    for _ in 0..8 {
        cache.encode_column("k", &col, Effort::Max).unwrap();
    }
    // search, 3 reuses, expired + search, 3 reuses, expired + ...
    let s = cache.stats();
    assert_eq!((s.searches, s.reuses, s.expired), (2, 6, 1), "{s:?}");
    // Without reuses every block is searched, as encode_column does.
    let mut none = CascadeCache::new(4);
    none.set_reuses(0);
    for _ in 0..3 {
        let enc = none.encode_column("k", &col, Effort::Max).unwrap();
        assert_eq!(enc, encode_column(&col, Effort::Max).unwrap());
    }
    assert_eq!(none.stats().searches, 3);
}

#[test]
fn tiny_columns_are_never_larger_than_plain() {
    let mut rng = SplitMix64::new(3);
    let mut cache = CascadeCache::new(4);
    for n in 1..=TINY_ROWS {
        for shape in 0..4 {
            let v: Vec<i64> = (0..n)
                .map(|i| match shape {
                    0 => 5,
                    1 => i as i64,
                    2 => rng.below(u64::MAX) as i64,
                    _ => i64::MIN + i as i64,
                })
                .collect();
            let col = int_col(v.clone());
            let enc = cache.encode_column("t", &col, Effort::Max).unwrap();
            assert_eq!(decode_column(&enc.bytes).unwrap(), col);
            let plain = crate::encode_with("plain", &Values::Int(v), Effort::Max)
                .unwrap()
                .unwrap();
            // The column header, then at most a plain node.
            assert!(enc.bytes.len() <= plain.len() + 12, "{n} {shape}: {enc:?}");
        }
    }
    assert_eq!(cache.stats().searches, 0);
}

#[test]
fn the_estimate_follows_the_shape() {
    // Sequential values: deltas of one width; random: the full range.
    let seq = estimate(&Values::Int((0..1000).collect()));
    let wide = estimate(&Values::Int((0..1000).map(|i| i * 7919 % 1000).collect()));
    assert!(seq < 20 && wide > 1000, "{seq} {wide}");
    assert_eq!(estimate(&Values::Int(vec![])), 10);
    assert_eq!(
        estimate(&Values::Text(vec!["ab".into(), "c".into()])),
        10 + 5
    );
}
