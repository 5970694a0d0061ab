//! Peak memory of decoding crafted and legitimate inputs, measured with a
//! counting global allocator, against the input size.
//!
//! The guarantee (see `codec::Budget`): decoding `n` bytes charges at most
//! `1024 n + 1 MiB` before allocating, and allocates at most a small
//! multiple of what it charged; this binary asserts
//! `peak ≤ PEAK_FACTOR · (1024 n + 1 MiB)`. Every case runs in the one test
//! below, one after the other, so that no other test's allocations mix in.

use std::sync::Arc;

use unidb_codec::{
    decode_column, decode_text_column, encode_column, Budget, Column, ColumnKind, Effort, Values,
    BLOCK_VALUES,
};
use unidb_common::alloc::PeakAlloc;
use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_kernels::varint;
use unidb_syncdb::columnar::{decode_changes, encode_changes};
use unidb_syncdb::*;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc::new();

/// Peak memory is at most this multiple of the decode budget.
const PEAK_FACTOR: usize = 4;

/// The bytes allocated at the peak of `f` beyond what was live before it
/// (what `f` returns is dropped inside).
fn peak_of<T>(f: impl FnOnce() -> T) -> usize {
    ALLOC.peak_of(|| drop(f())).1
}

fn check(name: &str, input: usize, peak: usize) {
    let bound = PEAK_FACTOR * Budget::limit_for(input);
    println!("{name}: {input} bytes in, peak {peak} bytes, bound {bound}");
    assert!(
        peak <= bound,
        "{name}: {input} input bytes allocated {peak} bytes at the peak, over {bound}"
    );
}

fn put(out: &mut Vec<u8>, v: u64) {
    varint::encode_u64(v, out);
}

/// A change batch of `len` bytes claiming as many changes as the change
/// count limit allows (65 536 + 128 per byte), one row group whose every
/// column is a constant: the old decoder built all of them.
fn crafted_batch(len: usize) -> Vec<u8> {
    let n = (BLOCK_VALUES + 128 * len) as u64;
    let mut b = Vec::new();
    put(&mut b, n);
    b.push(0); // unsorted
    put(&mut b, 1); // one replica
    put(&mut b, 7);
    put(&mut b, 1); // one group: table 0, row changes
    put(&mut b, 0);
    b.push(0);
    put(&mut b, 0);
    put(&mut b, n);
    for v in [0u64, 2, 2, 2] {
        // origin index, seq, ts - seq, cl: constants
        b.push(2);
        put(&mut b, v);
    }
    b.push(2); // key type tags: all I64
    put(&mut b, varint::zigzag_encode_i64(1));
    b.push(2); // keys: constant
    put(&mut b, 4);
    b.push(2); // order: constant group 0
    put(&mut b, 0);
    let pad = len.saturating_sub(b.len() + 3);
    put(&mut b, pad as u64);
    b.resize(b.len() + pad, 0);
    b
}

fn changes_message(batch: &[u8]) -> Vec<u8> {
    let mut m = b"US\x02\x03".to_vec();
    put(&mut m, 9); // sender
    put(&mut m, 1); // schema version
    put(&mut m, 0); // collected
    m.extend_from_slice(batch);
    let crc = crc32fast::hash(&m);
    m.extend_from_slice(&crc.to_le_bytes());
    m
}

fn snapshot_with(batch: &[u8]) -> Vec<u8> {
    let mut s = b"USNP\x01".to_vec();
    put(&mut s, 7); // replica
    put(&mut s, 1000); // max drift
    put(&mut s, 1); // hlc
    put(&mut s, 0); // migrations
    put(&mut s, 0); // origins
    put(&mut s, 0); // acks
    s.push(0); // no epoch
    put(&mut s, 0); // gc frontier
    put(&mut s, batch.len() as u64);
    s.extend_from_slice(batch);
    let crc = crc32fast::hash(&s);
    s.extend_from_slice(&crc.to_le_bytes());
    s
}

/// A column of `blocks` blocks of `BLOCK_VALUES` copies of one integer.
fn constant_int_blocks(blocks: usize) -> Vec<u8> {
    let mut b = b"UC\x01\x00".to_vec();
    put(&mut b, (blocks * BLOCK_VALUES) as u64);
    put(&mut b, blocks as u64);
    for _ in 0..blocks {
        put(&mut b, BLOCK_VALUES as u64);
        b.push(0);
        b.extend_from_slice(b"\x03one");
        b.extend_from_slice(&7i64.to_le_bytes());
    }
    b
}

/// A text column of `blocks` blocks, each `BLOCK_VALUES` references to one
/// dictionary entry of `len` bytes.
fn dict_text_blocks(blocks: usize, len: usize) -> Vec<u8> {
    let mut b = b"UC\x01\x03".to_vec();
    put(&mut b, (blocks * BLOCK_VALUES) as u64);
    put(&mut b, blocks as u64);
    for _ in 0..blocks {
        put(&mut b, BLOCK_VALUES as u64);
        b.push(0);
        b.extend_from_slice(b"\x04dict");
        put(&mut b, 1);
        b.extend_from_slice(b"\x05plain");
        put(&mut b, len as u64);
        b.resize(b.len() + len, b'a');
        b.extend_from_slice(b"\x03one");
        b.extend_from_slice(&0i64.to_le_bytes());
    }
    b
}

fn repetitive_changes(rows: i64) -> (ManualClock, Database) {
    let schema = [Migration::AddTable(
        TableDef::new("t", "id", ColumnType::I64)
            .column(ColumnDef::new("note", ColumnType::Text).default_value("")),
    )];
    let clock = ManualClock::new(1_000);
    let db = Database::open(ReplicaId::from_u64(1), Arc::new(clock.clone()), &schema).unwrap();
    let note = "z".repeat(1000);
    let mut tx = db.transaction();
    for i in 0..rows {
        tx.insert(
            "t",
            [("id", Value::I64(i)), ("note", Value::Text(note.clone()))],
        );
    }
    tx.commit().unwrap();
    (clock, db)
}

#[test]
fn decoding_allocates_a_bounded_multiple_of_the_input() {
    // Crafted change batches, sync messages and snapshots: refused before
    // the changes are built (the old decoder took 43 MiB for 1 KiB).
    for len in [1 << 10, 64 << 10, 1 << 20] {
        let batch = crafted_batch(len);
        let peak = peak_of(|| assert!(decode_changes(&batch).is_err()));
        check(&format!("crafted batch of {len}"), batch.len(), peak);
        let msg = changes_message(&batch);
        let peak = peak_of(|| assert!(Message::decode(&msg).is_err()));
        check(&format!("crafted sync message of {len}"), msg.len(), peak);
        let snap = snapshot_with(&batch);
        let clock: Arc<ManualClock> = Arc::new(ManualClock::new(1));
        let peak = peak_of(|| assert!(Database::load_snapshot(&snap, clock.clone()).is_err()));
        check(&format!("crafted snapshot of {len}"), snap.len(), peak);
    }

    // Integer blocks of one value each (11 bytes for 65 536 values) and
    // dictionary blocks of one 1000-byte string referenced 65 536 times.
    for blocks in [1, 10, 100, 1000] {
        let col = constant_int_blocks(blocks);
        let peak = peak_of(|| decode_column(&col));
        check(
            &format!("{blocks} constant integer blocks"),
            col.len(),
            peak,
        );
        if blocks > 100 {
            // Accepted, and a gigabyte at the peak: too heavy for the suite.
            continue;
        }
        let col = dict_text_blocks(blocks, 1000);
        let peak = peak_of(|| decode_column(&col));
        check(&format!("{blocks} dictionary text blocks"), col.len(), peak);
        let peak = peak_of(|| decode_text_column(&col));
        check(
            &format!("{blocks} flat dictionary text blocks"),
            col.len(),
            peak,
        );
    }

    // Legitimate inputs that compress as far as the encoder pads them: the
    // bound holds for what is accepted, too.
    for rows in [2000usize, 60_000] {
        let c = Column::new(ColumnKind::Text, Values::Text(vec!["q".repeat(1000); rows])).unwrap();
        let enc = encode_column(&c, Effort::Fast).unwrap().bytes;
        let peak = peak_of(|| decode_column(&enc).unwrap());
        check(&format!("{rows} identical strings"), enc.len(), peak);
        let c = Column::new(ColumnKind::Int, Values::Int(vec![5; rows * 10])).unwrap();
        let enc = encode_column(&c, Effort::Fast).unwrap().bytes;
        let peak = peak_of(|| decode_column(&enc).unwrap());
        check(&format!("{} equal integers", rows * 10), enc.len(), peak);
    }
    let (clock, db) = repetitive_changes(5000);
    let changes = db.changes_since(&VersionVector::default());
    let batch = encode_changes(&changes, Effort::Fast);
    let peak = peak_of(|| decode_changes(&batch).unwrap());
    check("batch of 5000 identical notes", batch.len(), peak);
    let snap = db.save_snapshot();
    let clock: Arc<ManualClock> = Arc::new(clock);
    let peak = peak_of(|| Database::load_snapshot(&snap, clock.clone()).unwrap());
    check("snapshot of 5000 identical notes", snap.len(), peak);
}
