//! The persisted vector-collection loader (`persist::from_bytes`) on
//! arbitrary bytes: never panics, and whatever loads is usable — every
//! record has the collection's dimension; searches (k = 1..4, through every
//! attached index and exactly, default and extreme `ef`/`nprobe`) return at
//! most `k` hits, live, without duplicate ids, sorted by distance, each at
//! the distance an exact search gives its id; `compact` (which retrains
//! IVF with the stored parameters) finishes and searches stay sound; and
//! saving it again gives a file that loads.
//!
//! A checksum only catches accidents: every mode but the first recomputes
//! the length and CRC-32 after mutating, so inputs reach the content checks
//! (structural invariants of the metadata and of each index). The first
//! input byte picks how the rest is turned into a file:
//! - 0: as is (exercises the magic, length and checksum checks);
//! - 1: the header's length and CRC-32 are patched to match, so the
//!   section parsers see fuzzed bytes;
//! - 2: the bytes overwrite part of a valid file (flat, HNSW and IVF
//!   indexes, metadata, a deleted slot; f32 rows, or with bit 2 of the
//!   mode byte set, 4-bit PQ codes with the originals kept for
//!   re-scoring, or with bit 3 set, 4-bit scalar (sq4) codes, cosine)
//!   at an offset given by the next two bytes, then length and CRC-32
//!   are patched;
//! - 3: the bytes are (offset: u16, value: u8) edits of single bytes of
//!   the valid file (of the same two; offsets past the vectors, where the metadata and the
//!   indexes are), then length and CRC-32 are patched.
#![no_main]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use unidb_vectordb::hnsw::{HnswConfig, HnswSearch};
use unidb_vectordb::ivf::{IvfConfig, IvfSearch};
use unidb_vectordb::quant::pq::PqConfig;
use unidb_vectordb::{
    persist, Collection, CollectionConfig, Id, Params, SearchOptions, Storage, Value,
};

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

/// A small valid file with every built-in index kind, by the mode byte:
/// f32 rows, (bit 2) 4-bit product-quantization codes with the originals
/// kept for re-scoring, or (bit 3) 4-bit scalar codes under cosine.
fn template(mode: u8) -> &'static [u8] {
    static FILES: [OnceLock<Vec<u8>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let kind = if mode & 8 != 0 {
        2
    } else {
        usize::from(mode & 4 != 0)
    };
    FILES[kind].get_or_init(|| {
        let config = if kind == 2 {
            CollectionConfig::new(3, "cosine")
                .with_storage(Storage::Sq4)
                .with_i8_train_rows(24)
        } else if kind == 1 {
            let pq = PqConfig {
                m: 3,
                nbits: 4,
                iterations: 3,
                ..PqConfig::default()
            };
            CollectionConfig::new(3, "l2")
                .with_pq(pq)
                .with_refine(true)
                .with_i8_train_rows(24)
        } else {
            CollectionConfig::new(3, "l2")
        };
        let mut c = Collection::new(config).expect("l2 metric exists");
        for i in 0..24u64 {
            let x = i as f32;
            let mut meta = BTreeMap::new();
            meta.insert("i".to_owned(), Value::I64(i as i64));
            if i % 3 == 0 {
                meta.insert("s".to_owned(), Value::Text(format!("v{i}")));
            }
            c.insert(i, &[x, (x * 0.7).sin(), 1.0 - x], Some(meta))
                .expect("valid vector");
        }
        c.delete(5u64).expect("id 5 exists");
        let hnsw = HnswConfig {
            m: 4,
            ef_construction: 16,
            ..HnswConfig::default()
        };
        let ivf = IvfConfig {
            nlist: 4,
            nprobe: 2,
            iterations: 3,
            ..IvfConfig::default()
        };
        c.create_index("flat", "flat", Params::defaults())
            .expect("built-in index");
        c.create_index("hnsw", "hnsw", Params::typed(&hnsw))
            .expect("built-in index");
        c.create_index("ivf", "ivf", Params::typed(&ivf))
            .expect("built-in index");
        persist::to_bytes(&c)
    })
}

/// Searches through every index (and exactly) and checks the results
/// against an exact search of all live vectors.
fn check_searches(c: &Collection, query: &[f32]) {
    let n = c.len();
    let exact: HashMap<Id, f32> = if n == 0 {
        HashMap::new()
    } else {
        c.search_exact_batch(query, n, None).expect("exact search")[0]
            .iter()
            .map(|h| (h.id.clone(), h.distance))
            .collect()
    };
    assert_eq!(
        exact.len(),
        n,
        "exact search returns every live vector once"
    );
    let names = c.index_names();
    let indexes = std::iter::once(None).chain(names.iter().map(|n| Some(n.as_str())));
    for index in indexes {
        // The index searched: the one named, else the first attached.
        let kind = index
            .or(names.first().map(String::as_str))
            .and_then(|n| c.index(n).ok())
            .map(|i| i.kind());
        for (k, knob) in [(1, None), (3, None), (4, Some(usize::MAX)), (2, Some(1))] {
            let (hnsw, ivf) = (HnswSearch { ef: knob }, IvfSearch { nprobe: knob });
            let params = match kind {
                Some("hnsw") => Params::typed(&hnsw),
                Some("ivf") => Params::typed(&ivf),
                _ => Params::defaults(),
            };
            let options = SearchOptions {
                index,
                params,
                ..SearchOptions::default()
            };
            let Ok(hits) = c.search_with(query, k, &options) else {
                continue;
            };
            assert!(hits.len() <= k.min(n), "{} hits for k={k}", hits.len());
            let ids: HashSet<&Id> = hits.iter().map(|h| &h.id).collect();
            assert_eq!(ids.len(), hits.len(), "duplicate ids from {index:?}");
            assert!(
                hits.windows(2)
                    .all(|w| w[0].distance.total_cmp(&w[1].distance).is_le()),
                "unsorted results from {index:?}"
            );
            for h in &hits {
                let want = *exact
                    .get(&h.id)
                    .unwrap_or_else(|| panic!("hit {:?} is not live", h.id));
                // Kernels sum in different orders: compare distances where
                // that cannot cancel (sums of squares).
                if c.config().metric != "l2" {
                    continue;
                }
                // Equal covers an overflow to infinity on both sides.
                let close = h.distance == want
                    || (h.distance - want).abs() <= 1e-3 * want.abs().max(1.0)
                    || (h.distance.is_nan() && want.is_nan());
                assert!(close, "{:?}: {} but exactly {want}", h.id, h.distance);
            }
        }
    }
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
    check_searches(c, &query);
    let names = c.index_names();
    let again = persist::to_bytes(c);
    let mut back =
        persist::from_bytes(&again).expect("a loaded collection saves to a loadable file");
    assert_eq!((back.dim(), back.len()), (dim, c.len()));
    assert_eq!(back.index_names(), names);
    // Rebuilding every index from the stored parameters is bounded (the
    // loader refuses parameters beyond their limits).
    if back.len() <= 256 {
        back.compact().expect("compact");
        check_searches(&back, &query);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let file = match mode % 4 {
        0 => body.to_vec(),
        1 => {
            let mut buf = body.to_vec();
            patch_header(&mut buf);
            buf
        }
        3 => {
            let mut buf = template(mode).to_vec();
            // The metadata and indexes follow the vectors (offset at 40).
            let meta_off = u64::from_le_bytes(buf[40..48].try_into().expect("8 bytes")) as usize;
            let span = buf.len() - meta_off;
            for edit in body.chunks_exact(3) {
                let at = meta_off + usize::from(u16::from_le_bytes([edit[0], edit[1]])) % span;
                buf[at] = edit[2];
            }
            patch_header(&mut buf);
            buf
        }
        _ => {
            let Some((at, patch)) = body.split_first_chunk::<2>() else {
                return;
            };
            let mut buf = template(mode).to_vec();
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
