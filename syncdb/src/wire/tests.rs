use std::sync::Arc;

use super::*;
use proptest::prelude::*;
use unidb_common::time::ManualClock;

use crate::columnar::tests::{change, value};
use crate::{sync_pair, Database, Session, SyncConfig};

fn column() -> impl Strategy<Value = ColumnDef> {
    (
        "[a-z]{1,4}",
        1u8..=6,
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(value()),
        "[a-z]{1,4}",
    )
        .prop_map(
            |(name, t, nullable, indexed, default, resolver)| ColumnDef {
                name,
                ty: ColumnType::from_tag(t).unwrap(),
                nullable,
                default,
                resolver,
                indexed,
            },
        )
}

fn migration() -> impl Strategy<Value = Migration> {
    prop_oneof![
        (
            "[a-z]{1,4}",
            column(),
            proptest::collection::vec(column(), 0..3)
        )
            .prop_map(
                |(name, primary_key, columns)| Migration::AddTable(TableDef {
                    name,
                    primary_key,
                    columns
                })
            ),
        ("[a-z]{1,4}", column()).prop_map(|(table, column)| Migration::AddColumn { table, column }),
        ("[a-z]{1,4}", "[a-z]{1,4}")
            .prop_map(|(table, column)| Migration::DropColumn { table, column }),
        ("[a-z]{1,4}", "[a-z]{1,4}", "[a-z]{0,4}")
            .prop_map(|(table, from, to)| Migration::RenameColumn { table, from, to }),
    ]
}

fn vv() -> impl Strategy<Value = VersionVector> {
    proptest::collection::vec((any::<u64>(), any::<u64>()), 0..4).prop_map(|v| {
        v.into_iter()
            .map(|(r, s)| (ReplicaId::from_u64(r), s))
            .collect()
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            any::<u64>(),
            any::<u32>(),
            vv(),
            vv(),
            any::<Option<u64>>(),
            proptest::collection::btree_set("[a-z_]{1,6}", 0..4)
        )
            .prop_map(|(r, schema_version, known, gc, schema_digest, codecs)| {
                Message::Hello {
                    replica: ReplicaId::from_u64(r),
                    schema_version,
                    known,
                    gc,
                    schema_digest,
                    codecs: codecs.into_iter().collect(),
                }
            }),
        (any::<u32>(), proptest::collection::vec(migration(), 0..3)).prop_map(
            |(from_version, migrations)| Message::Migrations {
                from_version,
                migrations
            }
        ),
        (
            any::<u64>(),
            any::<u32>(),
            proptest::collection::vec(change(), 0..5),
            proptest::collection::vec((any::<u64>(), any::<u64>(), any::<u64>()), 0..3),
        )
            .prop_map(|(s, schema_version, changes, col)| Message::Changes {
                sender: ReplicaId::from_u64(s),
                schema_version,
                changes,
                collected: col
                    .into_iter()
                    .map(|(o, first, last)| Collected {
                        origin: ReplicaId::from_u64(o),
                        first,
                        last
                    })
                    .collect(),
            }),
        (any::<u64>(), vv(), vv()).prop_map(|(r, known, gc)| Message::Ack {
            replica: ReplicaId::from_u64(r),
            known,
            gc,
        }),
    ]
}

proptest! {
    #[test]
    fn roundtrip_and_every_truncation_fails(m in message()) {
        let bytes = m.encode();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
        for cut in 0..bytes.len() {
            let is_decode_err = matches!(Message::decode(&bytes[..cut]), Err(SyncError::Decode { .. }));
            prop_assert!(is_decode_err);
        }
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(Message::decode(&longer).is_err());
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut with_header = b"US\x02".to_vec();
        with_header.extend_from_slice(&bytes);
        // A change batch with a valid checksum, so the body is decoded.
        let mut batch = b"US\x02\x03".to_vec();
        batch.extend_from_slice(&bytes);
        let crc = crc32fast::hash(&batch);
        batch.extend_from_slice(&crc.to_le_bytes());
        for input in [&bytes, &with_header, &batch] {
            // Accepted input means what it decodes to: it survives re-encoding.
            if let Ok(m) = Message::decode(input) {
                prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m);
            }
        }
    }

    #[test]
    fn change_length_is_the_encoded_length(c in change()) {
        let mut out = Vec::new();
        put_change(&mut out, &c);
        prop_assert_eq!(encoded_change_len(&c), out.len());
    }

    #[test]
    fn batches_are_bounded_and_complete(changes in proptest::collection::vec(change(), 0..40), max in 40usize..400) {
        let msgs = batches(ReplicaId::from_u64(1), 2, changes.clone(), max);
        let mut all = Vec::new();
        for m in msgs {
            let len = m.encode().len();
            let Message::Changes { changes: part, .. } = m else { panic!("not a batch") };
            prop_assert!(len <= max || part.len() == 1, "{} bytes > {}", len, max);
            all.extend(part);
        }
        prop_assert_eq!(all, changes);
    }
}

/// A change batch message around `body`, with a valid checksum.
fn batch_message(body: &[u8]) -> Vec<u8> {
    let mut m = b"US\x02\x03\x01\x01\x00".to_vec(); // sender 1, schema 1, no collected
    m.extend_from_slice(body);
    let crc = crc32fast::hash(&m);
    m.extend_from_slice(&crc.to_le_bytes());
    m
}

#[test]
fn hostile_inputs_are_typed_errors() {
    let mut huge_vv = b"US\x02\x04\x01".to_vec();
    varint::encode_u64(1 << 40, &mut huge_vv);
    let mut huge = Vec::new();
    varint::encode_u64(u64::MAX, &mut huge); // change count
                                             // Per-change form (flags 3): one change, origin 1 seq 1 ts 1 table 1, then key...
    let row = |rest: &[u8]| {
        let mut b = b"\x01\x03\x01\x01\x01\x01".to_vec();
        b.extend_from_slice(rest);
        batch_message(&b)
    };
    let mut huge_text = b"\x03".to_vec();
    varint::encode_u64(1 << 50, &mut huge_text);
    let valid = Message::Changes {
        sender: ReplicaId::from_u64(1),
        schema_version: 1,
        changes: Vec::new(),
        collected: Vec::new(),
    }
    .encode();
    let mut flipped = valid.clone();
    flipped[5] ^= 0x10;
    let mut v1 = valid.clone();
    v1[2] = 1;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"XX\x02\x01".to_vec(), "magic"),
        (b"US\x09\x01".to_vec(), "version"),
        (v1, "version 1"),
        (b"US\x02\x09".to_vec(), "tag"),
        (huge_vv, "count"),
        (
            b"US\x02\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01".to_vec(),
            "varint",
        ),
        (
            b"US\x02\x01\x01\xff\xff\xff\xff\x1f\x00".to_vec(),
            "32 bits",
        ),
        (
            b"US\x02\x04\x01\x02\x05\x01\x03\x01".to_vec(),
            "strictly increasing",
        ),
        (b"US\x02\x02\x00\x01\x07\x00\x00".to_vec(), "migration tag"),
        (b"US\x02\x03\x01".to_vec(), "truncated"),
        (flipped, "checksum"),
        (batch_message(&huge), "change count"),
        (batch_message(b"\x00\x09\x00"), "flags"),
        (row(&huge_text), "count"),
        (row(b"\x09\x01\x00"), "value tag"),
        (row(b"\x01\x02\x01\x07"), "op tag"),
        (row(b"\x04\x02\x01\x00"), "bool byte"),
        // Columnar: one replica, one group of an unknown kind.
        (
            batch_message(b"\x01\x01\x01\x01\x01\x00\x03\x00\x01"),
            "op kind",
        ),
        // Two groups out of order.
        (
            batch_message(b"\x02\x01\x01\x01\x02\x00\x01\x02\x01\x00\x00\x00\x01"),
            "strictly increasing",
        ),
        // A group column that is not an encoded column.
        (
            batch_message(b"\x01\x01\x01\x01\x01\x00\x00\x00\x01\x00\x02XX"),
            "not an encoded",
        ),
        (
            batch_message(b"\x01\x01\x01\x01\x01\x00\x00\x00\x01\x07"),
            "integer transform",
        ),
    ];
    for (bytes, needle) in cases {
        match Message::decode(&bytes) {
            Err(SyncError::Decode { reason, offset }) => {
                assert!(reason.contains(needle), "{needle}: {reason} at {offset}");
                assert!(offset <= bytes.len());
            }
            other => panic!("{needle}: {other:?}"),
        }
    }
}

// The per-change form against the columnar one, on a world of sessions.

fn schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("t", "id", ColumnType::I64)
            .column(ColumnDef::new("v", ColumnType::Text).default_value(""))
            .column(ColumnDef::new("n", ColumnType::I64).resolver("counter")),
    )]
}

fn node(id: u64, clock: &ManualClock) -> Arc<Database> {
    Arc::new(Database::open(ReplicaId::from_u64(id), Arc::new(clock.clone()), &schema()).unwrap())
}

/// Three clients and a server making random inserts, updates, deletes and
/// increments with syncs and garbage collection in between (so the logs
/// hold collected ranges and tombstones).
fn random_world(
    seed: u64,
    ops: usize,
) -> (ManualClock, Vec<Arc<Database>>, Vec<(Session, Session)>) {
    let mut rng = unidb_common::rng::SplitMix64::new(seed);
    let clock = ManualClock::new(5_000);
    let server = node(100, &clock);
    let clients: Vec<Arc<Database>> = (1..=3).map(|i| node(i, &clock)).collect();
    let mut pairs: Vec<(Session, Session)> = clients
        .iter()
        .map(|c| {
            let cfg = SyncConfig {
                max_batch_bytes: 300,
                ..SyncConfig::default()
            };
            (
                Session::new(c.clone(), cfg.clone()),
                Session::new(server.clone(), cfg),
            )
        })
        .collect();
    for step in 0..ops {
        let c = &clients[rng.below(3) as usize];
        let key = rng.below(12) as i64;
        clock.advance(rng.below(3));
        let _ = match rng.below(5) {
            0 | 1 => c.insert(
                "t",
                [
                    ("id", Value::I64(key)),
                    ("v", format!("v{}", rng.below(50)).into()),
                ],
            ),
            2 => c.update("t", key, [("v", Value::from(format!("u{step}")))]),
            3 => c.delete("t", key),
            _ => c.increment("t", key, "n", rng.below(7) as i64 - 3),
        };
        if rng.chance(0.1) {
            let i = rng.below(3) as usize;
            let (a, b) = &mut pairs[i];
            sync_pair(a, b).unwrap();
            server.collect_garbage();
            clients[i].collect_garbage();
        }
    }
    let mut all = clients;
    all.push(server);
    (clock, all, pairs)
}

#[test]
fn changes_merge_the_same_in_per_change_and_columnar_form() {
    for seed in 0..8 {
        let (clock, dbs, mut pairs) = random_world(seed, 300);
        for _ in 0..2 {
            for (a, b) in pairs.iter_mut() {
                sync_pair(a, b).unwrap();
            }
        }
        let server = &dbs[3];
        let mut changes = server.changes_since(&VersionVector::new());
        // Shuffled, in batches of a few changes: order must not matter.
        let mut rng = unidb_common::rng::SplitMix64::new(seed);
        for i in (1..changes.len()).rev() {
            changes.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let (rows, cols) = (node(7, &clock), node(8, &clock));
        for part in changes.chunks(17) {
            let mut per_change = Vec::new();
            for c in part {
                crate::wire::put_change(&mut per_change, c);
            }
            let (via_rows, used) = crate::wire::read_changes(&per_change, part.len(), 0).unwrap();
            assert_eq!(used, per_change.len());
            let via_cols = crate::columnar::decode_changes(&crate::columnar::encode_changes(
                part,
                unidb_codec::Effort::Max,
            ))
            .unwrap();
            rows.apply_changes(1, &via_rows).unwrap();
            cols.apply_changes(1, &via_cols).unwrap();
        }
        let model = crate::sim::reference_model(&server.schema(), &changes);
        let dump = rows.read().dump();
        assert_eq!(cols.read().dump(), dump, "seed {seed}");
        assert_eq!(dump.get("t"), model.get("t"), "seed {seed}");
        // Collected changes are absent here, and so are the rows they wrote
        // (tombstones stay tombstones): the server shows the same rows.
        assert_eq!(server.read().dump(), dump, "seed {seed}");
    }
}
