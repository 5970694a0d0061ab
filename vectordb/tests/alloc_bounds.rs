//! Peak heap use of decoding a saved collection, measured with a counting
//! global allocator: opening never allocates more than a small constant per
//! input byte (plus a fixed allowance), whether the file is valid, damaged
//! with its checksum recomputed, or crafted to declare huge counts.
//!
//! One test function runs every case in turn, so no other thread of this
//! binary allocates while a case is measured.

use unidb_common::alloc::PeakAlloc;

use unidb_vectordb::data::{clustered, Rng};
use unidb_vectordb::hnsw::HnswConfig;
use unidb_vectordb::ivf::IvfConfig;
use unidb_vectordb::{persist, Collection, CollectionConfig, Params, Storage};

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc::new();

/// Bytes allocated at peak, above what was live before, while decoding.
fn peak_of_decode(file: &[u8]) -> (usize, bool) {
    let (ok, peak) = ALLOC.peak_of(|| persist::from_bytes(file).is_ok());
    (peak, ok)
}

/// The bound every decode must respect: 8 bytes per input byte plus
/// 64 KiB. Measured peaks stay near 4 bytes per input byte (one-dimensional
/// vectors with numeric ids, where 15 input bytes per slot become an id, a
/// hash map entry, liveness, metadata and the indexes' per-node state).
fn bound(len: usize) -> usize {
    8 * len + (64 << 10)
}

fn collection(n: usize, dim: usize, storage: Storage, m: usize) -> Collection {
    let data = clustered(n, dim, 4, 0.3, n as u64);
    let mut c = Collection::new(CollectionConfig::new(dim, "l2").with_storage(storage)).unwrap();
    if storage == Storage::I8 {
        c.train_quantizer(&data).unwrap();
    }
    for (i, r) in data.chunks_exact(dim).enumerate() {
        if i % 3 == 0 {
            c.insert(format!("id-{i}"), r, None).unwrap();
        } else {
            c.insert(i as u64, r, None).unwrap();
        }
    }
    let hnsw = HnswConfig {
        m,
        ef_construction: 16,
        ..HnswConfig::default()
    };
    let ivf = IvfConfig {
        nlist: 8,
        iterations: 2,
        ..IvfConfig::default()
    };
    c.create_index("g", "hnsw", Params::typed(&hnsw)).unwrap();
    c.create_index("i", "ivf", Params::typed(&ivf)).unwrap();
    c
}

fn patch_crc(buf: &mut [u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&buf[..12]);
    h.update(&buf[16..]);
    let sum = h.finalize();
    buf[12..16].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn decoding_allocates_a_small_constant_per_input_byte() {
    let mut worst = 0.0f64;
    let mut check = |what: &str, file: &[u8]| {
        let (peak, ok) = peak_of_decode(file);
        assert!(
            peak <= bound(file.len()),
            "{what}: {peak} bytes at peak for a {}-byte file (ok={ok})",
            file.len()
        );
        worst = worst.max(peak as f64 / file.len() as f64);
        ok
    };
    // Valid files: every storage, small and larger, dimension 1 (the most
    // slots per byte) and a usual one.
    let mut templates = Vec::new();
    for (n, dim, storage, m) in [
        (2000, 1, Storage::F32, 2),
        (2000, 1, Storage::I8, 2),
        (600, 16, Storage::F16, 8),
        (300, 64, Storage::F32, 16),
    ] {
        let file = persist::to_bytes(&collection(n, dim, storage, m));
        assert!(check(&format!("valid n={n} dim={dim} {storage}"), &file));
        templates.push(file);
    }
    // Damaged with the checksum recomputed: random bytes of the metadata
    // and index sections, and words set to huge counts at random offsets.
    let mut rng = Rng::new(0xa11c);
    for (t, file) in templates.iter().enumerate() {
        let meta_off = u64::from_le_bytes(file[40..48].try_into().unwrap()) as usize;
        for case in 0..400 {
            let mut f = file.clone();
            let span = f.len() - meta_off;
            if case % 2 == 0 {
                for _ in 0..1 + rng.index(4) {
                    let at = meta_off + rng.index(span);
                    f[at] = rng.index(256) as u8;
                }
            } else {
                let at = meta_off + rng.index(span - 8);
                let huge = [u64::MAX, 1 << 40, 1 << 32, u32::MAX as u64, 1 << 20];
                let v = huge[rng.index(huge.len())];
                f[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            patch_crc(&mut f);
            check(&format!("template {t} case {case}"), &f);
        }
    }
    eprintln!("largest peak per input byte: {worst:.1}");
}
