//! The persisted vector-collection loader (`persist::from_bytes`) on
//! arbitrary bytes: never panics, and whatever loads is usable — every
//! record has the collection's dimension, searches (k = 1..3, through every
//! attached index) return at most `k` live hits, and saving it again gives
//! a file that loads.
//!
//! The first input byte picks how the rest is turned into a file:
//! - 0: as is (exercises the magic, length and checksum checks);
//! - 1: the header's length and CRC-32 are patched to match, so the
//!   section parsers see fuzzed bytes;
//! - 2: the bytes overwrite part of a valid file (flat, HNSW and IVF
//!   indexes, metadata, a deleted slot) at an offset given by the next two
//!   bytes, then length and CRC-32 are patched.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use unidb_vectordb::index::{HnswConfig, IndexConfig, IvfConfig};
use unidb_vectordb::{persist, Collection, CollectionConfig, SearchOptions, Value};

/// Header fields (see the format table in `vectordb/src/persist.rs`).
const CRC_AT: usize = 12;
const LEN_AT: usize = 16;
const LEN_END: usize = 24;

/// Makes the header's length and CRC-32 (over every byte but the CRC
/// itself) agree with `buf`.
fn patch_header(buf: &mut [u8]) {
    if buf.len() < LEN_END {
        return;
    }
    let len = buf.len() as u64;
    buf[LEN_AT..LEN_END].copy_from_slice(&len.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&buf[..CRC_AT]);
    h.update(&buf[CRC_AT + 4..]);
    let sum = h.finalize();
    buf[CRC_AT..CRC_AT + 4].copy_from_slice(&sum.to_le_bytes());
}

/// A small valid file with every built-in index kind.
fn template() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let mut c = Collection::new(CollectionConfig::new(3, "l2")).expect("l2 metric exists");
        for i in 0..24u64 {
            let x = i as f32;
            let mut meta = BTreeMap::new();
            meta.insert("i".to_owned(), Value::Int(i as i64));
            if i % 3 == 0 {
                meta.insert("s".to_owned(), Value::Str(format!("v{i}")));
            }
            c.insert(i, &[x, (x * 0.7).sin(), 1.0 - x], Some(meta))
                .expect("valid vector");
        }
        c.delete(5u64).expect("id 5 exists");
        let config = IndexConfig {
            hnsw: HnswConfig {
                m: 4,
                ef_construction: 16,
                ..HnswConfig::default()
            },
            ivf: IvfConfig {
                nlist: 4,
                nprobe: 2,
                iterations: 3,
                ..IvfConfig::default()
            },
        };
        for kind in ["flat", "hnsw", "ivf"] {
            c.create_index(kind, kind, &config).expect("built-in index");
        }
        persist::to_bytes(&c)
    })
}

fn exercise(c: &Collection) {
    let dim = c.dim();
    for r in c.iter() {
        assert_eq!(r.vector.len(), dim);
    }
    let query = match c.iter().next() {
        Some(r) => r.vector.iter().map(|v| v + 0.25).collect::<Vec<f32>>(),
        // No vector bounds `dim` by the input size; do not build a huge query.
        None if dim <= 1 << 12 => vec![0.5; dim],
        None => return,
    };
    let names = c.index_names();
    let indexes = std::iter::once(None).chain(names.iter().map(|n| Some(n.as_str())));
    for index in indexes {
        let options = SearchOptions {
            index,
            ..SearchOptions::default()
        };
        for k in 1..=3 {
            if let Ok(hits) = c.search(&query, k, &options) {
                assert!(
                    hits.len() <= k.min(c.len()),
                    "{} hits for k={k}",
                    hits.len()
                );
                for h in &hits {
                    assert!(c.contains(h.id.clone()), "hit {:?} is not live", h.id);
                }
            }
        }
    }
    let again = persist::to_bytes(c);
    let back = persist::from_bytes(&again).expect("a loaded collection saves to a loadable file");
    assert_eq!((back.dim(), back.len()), (dim, c.len()));
    assert_eq!(back.index_names(), names);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let file = match mode % 3 {
        0 => body.to_vec(),
        1 => {
            let mut buf = body.to_vec();
            patch_header(&mut buf);
            buf
        }
        _ => {
            let Some((at, patch)) = body.split_first_chunk::<2>() else {
                return;
            };
            let mut buf = template().to_vec();
            let at = usize::from(u16::from_le_bytes(*at)) % (buf.len() + 1);
            let end = at + patch.len();
            if end > buf.len() {
                buf.resize(end, 0);
            }
            buf[at..end].copy_from_slice(patch);
            patch_header(&mut buf);
            buf
        }
    };
    if let Ok(c) = persist::from_bytes(&file) {
        exercise(&c);
    }
});
