//! Change batches in the columnar form: padding to the count bound, and
//! the row workload's size.

use unidb_codec::{Effort, BLOCK_VALUES};
use unidb_common::id::ReplicaId;
use unidb_common::time::HlcTimestamp;
use unidb_syncdb::columnar::*;
use unidb_syncdb::{Change, ChangeOp, Value};

#[test]
fn very_compressible_batches_are_padded_to_the_count_bound() {
    let n = BLOCK_VALUES + 40_000;
    let changes: Vec<Change> = (1..=n as u64)
        .map(|seq| Change {
            origin: ReplicaId::from_u64(1),
            seq,
            ts: HlcTimestamp::from_u64(seq + 10),
            table: 0,
            key: Value::I64(seq as i64),
            cl: 2,
            op: ChangeOp::Row,
        })
        .collect();
    let bytes = encode_changes(&changes, Effort::Fast);
    assert!(bytes.len() * MAX_CHANGES_PER_BYTE + BLOCK_VALUES >= n);
    assert_eq!(decode_changes(&bytes).unwrap(), changes);
}

#[test]
fn the_row_workload_takes_under_two_bytes_per_column_write() {
    let rows = 3000;
    let changes = workload(rows, rows);
    let bytes = encode_changes(&changes, Effort::Max);
    let per_write = bytes.len() as f64 / (rows * 5) as f64;
    let old: usize = changes
        .iter()
        .map(unidb_syncdb::wire::encoded_change_len)
        .sum();
    assert!(per_write < 2.0, "{per_write} bytes per column write");
    assert!(
        bytes.len() * 8 < old,
        "{} vs {old} bytes per change",
        bytes.len()
    );
    assert_eq!(decode_changes(&bytes).unwrap(), changes);
}

/// The change set of the row workload (`sim::row_workload`).
fn workload(rows: usize, updates: usize) -> Vec<Change> {
    unidb_syncdb::sim::row_workload_changes(rows, updates, 42).unwrap()
}

#[test]
#[ignore = "prints the per-column sizes of the row workload"]
fn workload_breakdown() {
    let rows: usize = std::env::var("ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let changes = workload(rows, rows);
    let writes = rows * 5;
    let effort: Effort = std::env::var("EFFORT")
        .unwrap_or("max".into())
        .parse()
        .unwrap();
    let stats = column_sizes(&changes, effort).unwrap();
    let total: usize = stats.iter().map(|s| s.bytes).sum();
    for s in &stats {
        println!(
            "{:>24} {:>9} {:.3} {}",
            s.name,
            s.bytes,
            s.bytes as f64 / writes as f64,
            s.codecs
        );
    }
    println!(
        "total {total} = {:.3} bytes per column write",
        total as f64 / writes as f64
    );
    assert_eq!(
        decode_changes(&encode_changes(&changes, Effort::Max)).unwrap(),
        changes
    );
}
