//! Saving and opening: round trips, damaged files, files whose checksum
//! is valid but whose content is not, and atomic replacement (concurrent,
//! failing and killed saves).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use unidb_common::fs::{list_temps, remove_stale_temps};
use unidb_vectordb::data::{clustered, Rng};
use unidb_vectordb::hnsw::{HnswConfig, HnswSearch};
use unidb_vectordb::ivf::{IvfConfig, IvfSearch};
use unidb_vectordb::persist::{self, from_bytes, to_bytes};
use unidb_vectordb::*;

use crate::util::{cases, patch_crc, tmp_path};

// ---------- persistence ----------

fn small_saved() -> Collection {
    small_saved_with(Storage::F32)
}

fn small_saved_with(storage: Storage) -> Collection {
    let dim = 4;
    let data = clustered(40, dim, 3, 0.3, 8);
    let mut c = Collection::new(CollectionConfig::new(dim, "l2").with_storage(storage)).unwrap();
    for (i, r) in data.chunks_exact(dim).enumerate() {
        let mut m = Metadata::new();
        m.insert("i".into(), Value::I64(i as i64));
        m.insert("even".into(), Value::Bool(i % 2 == 0));
        m.insert("w".into(), Value::F64(i as f64 * 0.5));
        if i % 3 == 0 {
            c.insert(format!("s{i}"), r, Some(m)).unwrap();
        } else {
            c.insert(i as u64, r, None).unwrap();
        }
    }
    let hnsw = HnswConfig {
        m: 4,
        ..HnswConfig::default()
    };
    let ivf = IvfConfig {
        nlist: 4,
        ..IvfConfig::default()
    };
    c.create_index("g", "hnsw", Params::typed(&hnsw)).unwrap();
    c.create_index("i", "ivf", Params::typed(&ivf)).unwrap();
    c.create_index("f", "flat", Params::defaults()).unwrap();
    c.delete(5u64).unwrap();
    c
}

#[test]
fn save_open_round_trip_gives_identical_results() {
    let mut c = small_saved();
    let path = tmp_path("roundtrip");
    c.save(&path).unwrap();
    let mut o = Collection::open(&path).unwrap();
    assert!(o.is_mapped());
    assert_eq!(o.len(), c.len());
    assert_eq!(o.index_names(), c.index_names());
    for (a, b) in c.iter().zip(o.iter()) {
        assert_eq!(a, b);
    }
    let mut rng = Rng::new(2);
    let qs: Vec<f32> = (0..12).map(|_| rng.normal() as f32).collect();
    let opts = SearchOptions {
        index: Some("g"),
        ..SearchOptions::default()
    };
    let batch = o.search_batch(&qs, 4, &opts).unwrap();
    for (q, b) in qs.chunks_exact(4).zip(&batch) {
        assert_eq!(&c.search_with(q, 4, &opts).unwrap(), b);
    }
    assert!(o.search_batch(&qs[..5], 4, &opts).is_err());
    for _ in 0..10 {
        let q: Vec<f32> = (0..4).map(|_| rng.normal() as f32).collect();
        for index in ["g", "i", "f"] {
            let opts = SearchOptions {
                index: Some(index),
                ..SearchOptions::default()
            };
            assert_eq!(
                c.search_with(&q, 5, &opts).unwrap(),
                o.search_with(&q, 5, &opts).unwrap()
            );
        }
    }
    // Writes after opening copy the vectors out of the map and keep working.
    let v = [0.5f32, 0.5, 0.5, 0.5];
    o.insert(1000u64, &v, None).unwrap();
    c.insert(1000u64, &v, None).unwrap();
    assert!(!o.is_mapped());
    let opts = SearchOptions::default();
    assert_eq!(
        o.search_with(&v, 3, &opts).unwrap(),
        c.search_with(&v, 3, &opts).unwrap()
    );
    assert_eq!(persist::to_bytes(&o), persist::to_bytes(&c));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn every_single_byte_flip_and_truncation_is_detected() {
    let c = small_saved();
    let bytes = persist::to_bytes(&c);
    assert!(persist::from_bytes(&bytes).is_ok());
    let path = tmp_path("flip");
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        assert!(persist::from_bytes(&b).is_err(), "flip at {i} undetected");
        if i % 97 == 0 {
            // Also through the memory-mapped path.
            std::fs::write(&path, &b).unwrap();
            assert!(Collection::open(&path).is_err(), "mapped flip at {i}");
        }
    }
    for cut in 0..bytes.len() {
        assert!(
            persist::from_bytes(&bytes[..cut]).is_err(),
            "truncated to {cut}"
        );
    }
    assert!(matches!(
        persist::from_bytes(b"NOTUNIDB and more bytes"),
        Err(VectorError::BadMagic)
    ));
    let mut next = bytes.clone();
    next[8..12].copy_from_slice(&(persist::VERSION + 1).to_le_bytes());
    patch_crc(&mut next);
    assert!(matches!(
        persist::from_bytes(&next),
        Err(VectorError::UnsupportedVersion { found, supported })
            if found == persist::VERSION + 1 && supported == persist::VERSION
    ));
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        Collection::open(&path),
        Err(VectorError::Corrupt(_))
    ));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        Collection::open(&path),
        Err(VectorError::Io { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// Damage that the checksum cannot see (the checksum is recomputed):
    /// decoding returns an error or a collection, and never panics; a
    /// decoded collection can be searched.
    #[test]
    fn decoding_garbage_with_a_valid_checksum_never_panics(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        huge_ef in any::<bool>(),
        storage in prop_oneof![Just(Storage::F32), Just(Storage::F16), Just(Storage::I8)],
        retag in prop::option::of(0u8..4),
    ) {
        let c = small_saved_with(storage);
        let mut bytes = persist::to_bytes(&c);
        if let Some(tag) = retag {
            bytes[56] = tag;
        }
        let meta_off = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
        let meta_len = bytes.len() - meta_off;
        for (at, v) in &flips {
            let i = meta_off + at.index(meta_len);
            bytes[i] = *v;
        }
        patch_crc(&mut bytes);
        if let Ok(o) = persist::from_bytes(&bytes) {
            let q = [0.1f32; 4];
            for r in o.iter() {
                prop_assert_eq!(r.vector.len(), o.dim());
            }
            let _ = o.range_search(&q, 1.0, None);
            for name in o.index_names() {
                let hnsw = HnswSearch { ef: huge_ef.then_some(usize::MAX) };
                let ivf = IvfSearch { nprobe: huge_ef.then_some(usize::MAX) };
                let params = params_for(&o, Some(&name), &hnsw, &ivf);
                let _ = o.search_with(&q, 5, &SearchOptions { index: Some(&name), params, filter: None, k_factor: None });
            }
        }
    }
}

// ---------- helpers ----------

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

static DIRS: AtomicU64 = AtomicU64::new(0);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "unidb-vectordb-persist-{}-{test}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o755));
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `n` clustered vectors (ids 0..n) with an HNSW and an IVF index; slot
/// `dead` (if any) is deleted before the indexes are built, so it is
/// outside the graph.
fn collection(n: usize, dim: usize, storage: Storage, seed: u64, dead: Option<u64>) -> Collection {
    let data = clustered(n, dim, 4, 0.3, seed);
    let mut c = Collection::new(CollectionConfig::new(dim, "l2").with_storage(storage)).unwrap();
    for (i, r) in data.chunks_exact(dim).enumerate() {
        c.insert(i as u64, r, None).unwrap();
    }
    if let Some(d) = dead {
        c.delete(d).unwrap();
    }
    let hnsw = HnswConfig {
        m: 4,
        ef_construction: 32,
        ..HnswConfig::default()
    };
    let ivf = IvfConfig {
        nlist: 4,
        iterations: 4,
        ..IvfConfig::default()
    };
    c.create_index("g", "hnsw", Params::typed(&hnsw)).unwrap();
    c.create_index("i", "ivf", Params::typed(&ivf)).unwrap();
    c
}

fn index_bytes(c: &Collection, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    c.index(name).unwrap().save(&mut out);
    out
}

// ---------- atomic saves ----------

/// Under the old scheme the temporary file was the target with its
/// extension replaced by `unidb-tmp`: saving to `x.unidb-tmp` wrote the
/// target in place, and saving `x.v1` overwrote a collection stored as
/// `x.unidb-tmp`.
#[test]
fn saving_never_writes_in_place_or_over_a_sibling() {
    let dir = TempDir::new("weird");
    let a = collection(50, 8, Storage::F32, 1, None);
    let b = collection(30, 8, Storage::F32, 2, None);
    let weird = dir.path("x.unidb-tmp");
    a.save(&weird).unwrap();
    let held = fs::File::open(&weird).unwrap();
    b.save(dir.path("x.v1")).unwrap();
    assert_eq!(to_bytes(&Collection::open(&weird).unwrap()), to_bytes(&a));
    b.save(&weird).unwrap();
    assert_eq!(to_bytes(&Collection::open(&weird).unwrap()), to_bytes(&b));
    // The file opened before the save still holds the whole old collection.
    let mut old = Vec::new();
    std::io::Read::read_to_end(&mut &held, &mut old).unwrap();
    assert_eq!(old, to_bytes(&a));
    assert_eq!(dir.entries(), ["x.unidb-tmp", "x.v1"]);
}

/// Two threads saving A to `a.v1` and B to `a.v2` (one temporary file
/// `a.unidb-tmp` under the old scheme: failures and swapped contents).
#[test]
fn concurrent_saves_to_sibling_names_keep_their_own_content() {
    let dir = TempDir::new("siblings");
    let a = collection(60, 8, Storage::F32, 3, None);
    let b = collection(40, 8, Storage::F16, 4, None);
    let (pa, pb) = (dir.path("a.v1"), dir.path("a.v2"));
    std::thread::scope(|s| {
        for (c, p) in [(&a, &pa), (&b, &pb)] {
            s.spawn(move || {
                for _ in 0..40 {
                    c.save(p).unwrap();
                }
            });
        }
    });
    assert_eq!(to_bytes(&Collection::open(&pa).unwrap()), to_bytes(&a));
    assert_eq!(to_bytes(&Collection::open(&pb).unwrap()), to_bytes(&b));
    assert_eq!(dir.entries(), ["a.v1", "a.v2"]);
}

#[test]
fn failed_saves_leave_the_old_file_and_no_temporary_file() {
    let dir = TempDir::new("failing");
    let a = collection(20, 4, Storage::F32, 5, None);
    // The target is a directory: the rename fails.
    let sub = dir.path("sub");
    fs::create_dir(&sub).unwrap();
    let err = a.save(&sub).unwrap_err();
    assert!(
        matches!(&err, VectorError::Io { path, .. } if path.ends_with("sub")),
        "{err}"
    );
    assert!(
        err.to_string().contains("rename temporary file over"),
        "{err}"
    );
    assert_eq!(dir.entries(), ["sub"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path("c.v");
        a.save(&path).unwrap();
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o555)).unwrap();
        // Root may write anyway: then there is no failure to observe.
        if fs::write(dir.path("probe"), b"").is_err() {
            let b = collection(10, 4, Storage::F32, 6, None);
            let err = b.save(&path).unwrap_err();
            let VectorError::Io { source, .. } = &err else {
                panic!("{err}")
            };
            assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
            fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o755)).unwrap();
            assert_eq!(to_bytes(&Collection::open(&path).unwrap()), to_bytes(&a));
            assert_eq!(dir.entries(), ["c.v", "sub"]);
        }
    }
}

#[test]
fn opening_a_directory_is_a_typed_error() {
    let dir = TempDir::new("is-dir");
    let err = Collection::open(&dir.0).unwrap_err();
    let VectorError::Io { path, source } = &err else {
        panic!("{err}")
    };
    assert_eq!(Path::new(path), dir.0);
    assert_eq!(source.kind(), std::io::ErrorKind::IsADirectory);
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert_eq!(err.kind(), unidb_common::ErrorKind::Io);
}

#[cfg(target_os = "linux")]
#[test]
fn stale_temporary_files_are_removed_on_open_and_save() {
    let dir = TempDir::new("stale");
    let path = dir.path("c.v");
    let a = collection(20, 4, Storage::F32, 7, None);
    a.save(&path).unwrap();
    // A child that exited: its pid is gone.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--list")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = dir.path(&format!(".c.v.tmp-{dead}-3"));
    fs::write(&stale, b"half a file").unwrap();
    let o = Collection::open(&path).unwrap();
    assert!(!stale.exists());
    fs::write(&stale, b"half a file").unwrap();
    o.save(&path).unwrap();
    assert!(!stale.exists());
    assert_eq!(dir.entries(), ["c.v"]);
}

/// Environment variable naming the file the helper process saves to.
const SAVE_LOOP_ENV: &str = "UNIDB_VECTORDB_SAVE_LOOP";

fn kill_test_collections() -> (Collection, Collection) {
    let mk = |n: usize, seed: u64| {
        let data = clustered(n, 64, 4, 0.3, seed);
        let mut c = Collection::new(CollectionConfig::new(64, "l2")).unwrap();
        for (i, r) in data.chunks_exact(64).enumerate() {
            c.insert(i as u64, r, None).unwrap();
        }
        c
    };
    // A few MB each, so that kills often land inside the write.
    (mk(8_000, 11), mk(6_000, 12))
}

/// The helper process of [`killed_saves_leave_the_old_or_the_new_file`]:
/// saves two collections in turn to the file named by [`SAVE_LOOP_ENV`]
/// until killed, creating `<file>.ready` after the first save.
#[test]
#[ignore = "helper process of killed_saves_leave_the_old_or_the_new_file"]
fn save_loop_child() {
    let path = PathBuf::from(std::env::var_os(SAVE_LOOP_ENV).expect("run by the kill test"));
    let (a, b) = kill_test_collections();
    b.save(&path).unwrap();
    let mut ready = path.clone().into_os_string();
    ready.push(".ready");
    fs::write(&ready, b"").unwrap();
    for _ in 0..100_000 {
        a.save(&path).unwrap();
        b.save(&path).unwrap();
    }
}

/// SIGKILL a process saving in a loop at random moments: the target, named
/// like the old temporary file (13 of 30 kills left it empty then), always
/// opens as one of the two collections, and the killed saves' temporary
/// files are cleaned up.
#[cfg(unix)]
#[test]
fn killed_saves_leave_the_old_or_the_new_file() {
    let dir = TempDir::new("kill");
    let path = dir.path("weird.unidb-tmp");
    let ready = dir.path("weird.unidb-tmp.ready");
    let (a, b) = kill_test_collections();
    let (ba, bb) = (to_bytes(&a), to_bytes(&b));
    a.save(&path).unwrap();
    let mut rng = Rng::new(0x6b11);
    let mut left_behind = 0;
    for round in 0..20 {
        let _ = fs::remove_file(&ready);
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "persist::save_loop_child", "--ignored"])
            .arg("--test-threads=1")
            .env(SAVE_LOOP_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while !ready.exists() && start.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(ready.exists(), "round {round}: the helper never saved");
        std::thread::sleep(std::time::Duration::from_micros(rng.index(30_000) as u64));
        child.kill().unwrap();
        child.wait().unwrap();
        // At most the killed save's own temporary file: the earlier ones
        // were removed by this helper's first save (and by opening).
        let temps = list_temps(&path).unwrap().len();
        assert!(temps <= 1, "round {round}: {temps} temporary files");
        left_behind += temps;
        let now = to_bytes(&Collection::open(&path).unwrap());
        assert!(now == ba || now == bb, "round {round}: neither collection");
        assert!(list_temps(&path).unwrap().is_empty(), "open cleans up");
    }
    let _ = fs::remove_file(&ready);
    assert_eq!(remove_stale_temps(&path).unwrap(), 0);
    eprintln!("{left_behind} of 20 kills interrupted a save");
    assert_eq!(dir.entries(), ["weird.unidb-tmp"]);
}

/// The IVF limits hold for new indexes too, and the training sample size
/// is computed without overflow at the limits.
#[test]
fn ivf_parameters_have_documented_limits() {
    use unidb_vectordb::ivf::{IvfIndex, MAX_ITERATIONS, MAX_NLIST, MAX_SAMPLE_PER_LIST};
    let ok = IvfConfig {
        nlist: MAX_NLIST,
        nprobe: MAX_NLIST,
        iterations: MAX_ITERATIONS,
        sample_per_list: MAX_SAMPLE_PER_LIST,
        ..IvfConfig::default()
    };
    assert!(IvfIndex::new(ok).is_ok());
    for bump in 0..4 {
        let mut bad = ok;
        match bump {
            0 => bad.nlist += 1,
            1 => bad.nprobe += 1,
            2 => bad.iterations += 1,
            _ => bad.sample_per_list += 1,
        }
        let key = ["nlist", "nprobe", "iterations", "sample_per_list"][bump];
        assert!(
            matches!(IvfIndex::new(bad), Err(VectorError::InvalidParam { ref plugin, key: ref k, .. }) if plugin == "ivf" && k == key),
            "{bad:?}"
        );
        // The same limits by name, and through the collection.
        let mut c = collection(10, 4, Storage::F32, 12, None);
        let json = serde_json::to_value(bad).unwrap();
        assert!(matches!(
            c.create_index("x", "ivf", Params::json(&json)),
            Err(VectorError::InvalidParam { key: ref k, .. }) if k == key
        ));
    }
    // Training at the limits over a few vectors (nlist capped by them).
    let mut c = collection(30, 4, Storage::F32, 12, None);
    let ivf = IvfConfig {
        iterations: 2,
        ..ok
    };
    c.create_index("big", "ivf", Params::typed(&ivf)).unwrap();
    assert_eq!(c.search(&[0.0; 4], 3).unwrap().len(), 3);
}

/// The search parameters of `o`'s index `name` (the first when `None`):
/// `hnsw` for an HNSW index, `ivf` for an IVF index, else none.
fn params_for<'a>(
    o: &Collection,
    name: Option<&str>,
    hnsw: &'a HnswSearch,
    ivf: &'a IvfSearch,
) -> Params<'a> {
    let first = o.index_names().into_iter().next();
    let kind = name
        .map(str::to_owned)
        .or(first)
        .and_then(|n| o.index(&n).ok().map(|i| i.kind()));
    match kind {
        Some("hnsw") => Params::typed(hnsw),
        Some("ivf") => Params::typed(ivf),
        _ => Params::defaults(),
    }
}

/// Checks what every search must give, whatever the file held: at most
/// `k` hits, live, distinct, sorted, each at its exact distance.
fn check_searches(o: &Collection) -> std::result::Result<(), TestCaseError> {
    let dim = o.dim();
    let n = o.len();
    let exact: HashMap<Id, f32> = if n == 0 {
        HashMap::new()
    } else {
        o.search_exact_batch(&vec![0.1; dim], n, None).unwrap()[0]
            .iter()
            .map(|h| (h.id.clone(), h.distance))
            .collect()
    };
    let names = o.index_names();
    let indexes = std::iter::once(None).chain(names.iter().map(|s| Some(s.as_str())));
    for index in indexes {
        for (k, ef) in [(1, None), (5, None), (8, Some(usize::MAX))] {
            let (hnsw, ivf) = (HnswSearch { ef }, IvfSearch { nprobe: ef });
            let options = SearchOptions {
                index,
                params: params_for(o, index, &hnsw, &ivf),
                filter: None,
                k_factor: None,
            };
            let Ok(hits) = o.search_with(&vec![0.1; dim], k, &options) else {
                continue;
            };
            prop_assert!(hits.len() <= k.min(n), "{} hits for k={k}", hits.len());
            let ids: HashSet<&Id> = hits.iter().map(|h| &h.id).collect();
            prop_assert_eq!(ids.len(), hits.len(), "duplicate ids from {:?}", index);
            prop_assert!(
                hits.windows(2)
                    .all(|w| w[0].distance.total_cmp(&w[1].distance).is_le()),
                "unsorted from {:?}",
                index
            );
            for h in &hits {
                let want = exact.get(&h.id);
                prop_assert!(want.is_some(), "hit {} is not live", h.id);
                let want = *want.unwrap();
                // A flipped metric name may select a metric whose sums can
                // cancel: distances are compared for l2 only.
                if o.config().metric != "l2" {
                    continue;
                }
                let close = (h.distance - want).abs() <= 1e-4 * want.abs().max(1.0)
                    || (h.distance.is_nan() && want.is_nan());
                prop_assert!(close, "{}: {} vs exact {}", h.id, h.distance, want);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(48),
        ..ProptestConfig::default()
    })]

    /// Random bytes anywhere after the checksum changed and the checksum
    /// recomputed: opening fails with an error, or gives a collection whose
    /// searches (by every index, before and after `compact`) return at most
    /// `k` live, distinct hits, sorted, at their exact distances.
    #[test]
    fn flipped_bytes_with_a_valid_checksum_give_an_error_or_sound_searches(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..5),
        storage in prop_oneof![Just(Storage::F32), Just(Storage::F16), Just(Storage::I8)],
        in_indexes in any::<bool>(),
    ) {
        let c = collection(40, 4, storage, 13, Some(3));
        let mut bytes = to_bytes(&c);
        // Half the cases aim at the index section at the end of the file.
        let from = if in_indexes {
            bytes.len() - index_bytes(&c, "g").len() - index_bytes(&c, "i").len() - 40
        } else {
            24
        };
        for (at, v) in &flips {
            let i = from + at.index(bytes.len() - from);
            bytes[i] = *v;
        }
        patch_crc(&mut bytes);
        if let Ok(mut o) = from_bytes(&bytes) {
            check_searches(&o)?;
            o.compact().unwrap();
            check_searches(&o)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(12),
        ..ProptestConfig::default()
    })]

    /// Everything the encoder writes passes the loader's checks: graphs
    /// built in parallel or serially, then grown by inserts and upserts
    /// and thinned by deletes, with lists trained over the same data.
    #[test]
    fn every_saved_collection_opens(
        n in 20usize..300,
        extra in 0usize..100,
        m in 2usize..10,
        parallel in any::<bool>(),
        storage in prop_oneof![Just(Storage::F32), Just(Storage::F16), Just(Storage::I8)],
        seed in any::<u64>(),
    ) {
        let dim = 6;
        let data = clustered(n + extra, dim, 5, 0.2, seed);
        let mut c = Collection::new(CollectionConfig::new(dim, "l2").with_storage(storage)).unwrap();
        let mut rows = data.chunks_exact(dim);
        for i in 0..n {
            c.insert(i as u64, rows.next().unwrap(), None).unwrap();
        }
        let hnsw = HnswConfig {
            m,
            ef_construction: 24,
            parallel,
            ..HnswConfig::default()
        };
        let ivf = IvfConfig {
            nlist: 1 + (seed % 9) as usize,
            iterations: 3,
            ..IvfConfig::default()
        };
        c.create_index("g", "hnsw", Params::typed(&hnsw)).unwrap();
        c.create_index("i", "ivf", Params::typed(&ivf)).unwrap();
        let mut rng = Rng::new(seed);
        for (j, r) in rows.enumerate() {
            match rng.index(4) {
                0 => {
                    let _ = c.delete(rng.index(n + j) as u64);
                }
                1 => c.upsert(rng.index(n + j) as u64, r, None).unwrap(),
                _ => c.insert((n + j) as u64, r, None).unwrap(),
            }
        }
        let bytes = to_bytes(&c);
        let o = from_bytes(&bytes).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(to_bytes(&o), bytes);
    }
}

/// Every variant of the shared value vocabulary survives save and open,
/// compared with the values inserted (the first format's tags 0-3 and the
/// three added with common's `Value`).
#[test]
fn every_metadata_value_kind_round_trips() {
    let mut c = Collection::new(CollectionConfig::new(2, "l2")).unwrap();
    let mut m = Metadata::new();
    m.insert("b".into(), Value::Bool(true));
    m.insert("i".into(), Value::I64(i64::MIN));
    m.insert("f".into(), Value::F64(-0.0));
    m.insert("nan".into(), Value::F64(f64::NAN));
    m.insert("t".into(), Value::Text("é\u{0}x".into()));
    m.insert("null".into(), Value::Null);
    m.insert("bytes".into(), Value::Bytes(vec![0, 255, 7]));
    m.insert("ts".into(), Value::Timestamp(-1_700_000_000_000));
    c.insert(1u64, &[1.0, 2.0], Some(m.clone())).unwrap();
    let back = from_bytes(&to_bytes(&c)).unwrap();
    let got = back.get(1u64).unwrap().metadata.cloned().unwrap();
    assert_eq!(got, m);
    assert!(got["f"] == Value::F64(-0.0) && got["f"] != Value::F64(0.0));
}

/// Every path-taking function takes `impl AsRef<Path>`: `&str`, `String`,
/// `&Path` and `PathBuf` alike (main took `&Path` only).
#[test]
fn paths_are_taken_as_anything_path_like() {
    let c = small_saved();
    let buf: PathBuf = tmp_path("asref");
    let text: String = buf.to_str().unwrap().to_owned();
    c.save(text.as_str()).unwrap();
    let by_str = Collection::open(text.as_str()).unwrap();
    persist::save(&c, text.clone()).unwrap();
    let by_buf = persist::open(&buf).unwrap();
    let by_path = Collection::open(buf.as_path()).unwrap();
    for o in [&by_str, &by_buf, &by_path] {
        assert_eq!(to_bytes(o), to_bytes(&c));
    }
    fs::remove_file(&buf).unwrap();
    // fvecs/ivecs/npy readers: a 2 × 3 fvecs file.
    let mut fvecs = Vec::new();
    for row in [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]] {
        fvecs.extend_from_slice(&3u32.to_le_bytes());
        row.iter()
            .for_each(|v| fvecs.extend_from_slice(&v.to_le_bytes()));
    }
    fs::write(&buf, &fvecs).unwrap();
    let a = unidb_vectordb::io::read_fvecs(text.as_str()).unwrap();
    let b = unidb_vectordb::io::read_vectors(buf.clone()).unwrap();
    let i = unidb_vectordb::io::read_ivecs(&text).unwrap();
    assert_eq!(
        (a.rows, a.dim, &a.data[..]),
        (2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0][..])
    );
    assert_eq!(a.data, b.data);
    assert_eq!(i.data[0], 1.0f32.to_bits() as i32);
    assert!(unidb_vectordb::io::read_npy(&buf).is_err());
    fs::remove_file(&buf).unwrap();
}
