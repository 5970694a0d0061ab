//! Saving (atomic replacement, concurrency, kills) and opening crafted
//! files whose checksum is valid but whose content is not.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use unidb_common::fs::{list_temps, remove_stale_temps};

use super::*;
use crate::data::{clustered, Rng};
use crate::index::{SearchParams, VectorData, VectorIndex};
use crate::topk::Neighbor;
use crate::{IndexConfig, SearchOptions};

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
    let mut config = IndexConfig::default();
    config.hnsw.m = 4;
    config.hnsw.ef_construction = 32;
    config.ivf.nlist = 4;
    config.ivf.iterations = 4;
    c.create_index("g", "hnsw", &config).unwrap();
    c.create_index("i", "ivf", &config).unwrap();
    c
}

/// An index that saves given bytes under a given kind: a file with
/// crafted index bytes and a checksum computed by the crate itself.
#[derive(Debug)]
struct Raw(&'static str, Vec<u8>);

impl VectorIndex for Raw {
    fn kind(&self) -> &'static str {
        self.0
    }
    fn build(&mut self, _: &VectorData<'_>) -> Result<()> {
        Ok(())
    }
    fn insert(&mut self, _: &VectorData<'_>, _: u32) -> Result<()> {
        Ok(())
    }
    fn search(
        &self,
        _: &VectorData<'_>,
        _: &[f32],
        _: usize,
        _: &SearchParams,
        _: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor> {
        Vec::new()
    }
    fn save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.1);
    }
}

fn index_bytes(c: &Collection, name: &str) -> Vec<u8> {
    let (_, index) = c.indexes.iter().find(|(n, _)| n == name).unwrap();
    let mut out = Vec::new();
    index.save(&mut out);
    out
}

/// The whole file of `c` with index `name` saved as `bytes`.
fn file_with_index(c: &mut Collection, name: &str, bytes: Vec<u8>) -> Vec<u8> {
    let pos = c.indexes.iter().position(|(n, _)| n == name).unwrap();
    let kind = c.indexes[pos].1.kind();
    let orig = std::mem::replace(&mut c.indexes[pos].1, Box::new(Raw(kind, bytes)));
    let file = to_bytes(c);
    c.indexes[pos].1 = orig;
    file
}

fn corrupt_message(file: &[u8]) -> String {
    match from_bytes(file) {
        Err(VectorError::Corrupt(m)) => m,
        Err(e) => panic!("expected a corrupt-file error, got {e}"),
        Ok(_) => panic!("a crafted file was accepted"),
    }
}

/// The HNSW index bytes, field by field (see `hnsw.rs` `save`).
#[derive(Clone)]
struct HnswParts {
    head: Vec<u8>,
    m: usize,
    entry: u64,
    levels: Vec<u8>,
    l0: Vec<u32>,
    /// Per slot; empty for nodes without upper levels.
    upper: Vec<Vec<u32>>,
}

const NO_LEVEL: u8 = u8::MAX;

impl HnswParts {
    fn parse(b: &[u8]) -> HnswParts {
        let mut r = Reader::new(b);
        let m = r.usize("m").unwrap();
        for _ in 0..3 {
            r.u64("").unwrap();
        }
        r.u8("").unwrap();
        r.f64("").unwrap();
        let head = b[..41].to_vec();
        let entry = r.u64("").unwrap();
        let levels = r.bytes("").unwrap().to_vec();
        let l0 = r.u32s("").unwrap();
        let upper = levels
            .iter()
            .map(|&l| {
                if l != NO_LEVEL && l > 0 {
                    r.u32s("").unwrap()
                } else {
                    Vec::new()
                }
            })
            .collect();
        r.finish("").unwrap();
        HnswParts {
            head,
            m,
            entry,
            levels,
            l0,
            upper,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = self.head.clone();
        let mut w = Writer(&mut out);
        w.u64(self.entry);
        w.bytes(&self.levels);
        w.u32s(&self.l0);
        for u in &self.upper {
            if !u.is_empty() {
                w.u32s(u);
            }
        }
        out
    }

    /// Slot `s`'s layer-0 list (count, then links).
    fn l0_of(&mut self, s: usize) -> &mut [u32] {
        let w = 2 * self.m + 1;
        &mut self.l0[s * w..(s + 1) * w]
    }

    fn entry_node(&self) -> usize {
        self.entry as u32 as usize
    }

    fn exact_below(&mut self, v: f64) {
        self.head[33..41].copy_from_slice(&v.to_le_bytes());
    }
}

/// The IVF index bytes, field by field (see `ivf.rs` `save`).
#[derive(Clone)]
struct IvfParts {
    params: [u64; 5],
    dim: u64,
    centroids: Vec<f32>,
    lists: Vec<Vec<u32>>,
    pending: Vec<u32>,
    copies: Option<(u8, Vec<Vec<u8>>)>,
}

impl IvfParts {
    fn parse(b: &[u8]) -> IvfParts {
        let mut r = Reader::new(b);
        let mut params = [0u64; 5];
        for p in &mut params {
            *p = r.u64("").unwrap();
        }
        let dim = r.u64("").unwrap();
        let centroids = r.f32s("").unwrap();
        let n = r.u64("").unwrap();
        let lists: Vec<Vec<u32>> = (0..n).map(|_| r.u32s("").unwrap()).collect();
        let pending = r.u32s("").unwrap();
        let copies = (r.u8("").unwrap() == 1).then(|| {
            let tag = r.u8("").unwrap();
            let rows = lists
                .iter()
                .map(|_| r.bytes("").unwrap().to_vec())
                .collect();
            (tag, rows)
        });
        r.finish("").unwrap();
        IvfParts {
            params,
            dim,
            centroids,
            lists,
            pending,
            copies,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer(&mut out);
        for p in self.params {
            w.u64(p);
        }
        w.u64(self.dim);
        w.f32s(&self.centroids);
        w.u64(self.lists.len() as u64);
        for l in &self.lists {
            w.u32s(l);
        }
        w.u32s(&self.pending);
        match &self.copies {
            None => w.u8(0),
            Some((tag, rows)) => {
                w.u8(1);
                w.u8(*tag);
                for r in rows {
                    w.bytes(r);
                }
            }
        }
        out
    }
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
    b.save(&dir.path("x.v1")).unwrap();
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
            .args(["--exact", "persist::tests::save_loop_child", "--ignored"])
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

// ---------- crafted files with a valid checksum ----------

#[test]
fn helpers_round_trip_the_index_bytes() {
    let mut c = collection(60, 4, Storage::F32, 8, Some(7));
    for name in ["g", "i"] {
        let bytes = index_bytes(&c, name);
        let again = if name == "g" {
            HnswParts::parse(&bytes).encode()
        } else {
            IvfParts::parse(&bytes).encode()
        };
        assert_eq!(again, bytes);
        assert_eq!(file_with_index(&mut c, name, again), to_bytes(&c));
    }
    assert!(from_bytes(&to_bytes(&c)).is_ok());
}

/// One HNSW invariant broken per case, under a valid checksum: each is a
/// typed error naming the problem (most were accepted before, and some
/// made searches panic).
#[test]
fn crafted_hnsw_graphs_are_refused() {
    let dead = 7usize;
    let mut c = collection(60, 4, Storage::F32, 9, Some(dead as u64));
    let base = HnswParts::parse(&index_bytes(&c, "g"));
    assert_eq!(base.levels[dead], NO_LEVEL);
    let top = base.levels[base.entry_node()];
    assert!(top > 0, "the test needs upper levels");
    let low = (0..60).find(|&s| base.levels[s] == 0).unwrap();
    let upper_node = (0..60)
        .find(|&s| base.levels[s] != NO_LEVEL && base.levels[s] > 0)
        .unwrap();
    let with_links = (0..60).find(|&s| base.l0[s * 9] >= 2).unwrap();
    type Case = (&'static str, Box<dyn Fn(&mut HnswParts)>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "entry on a slot outside the graph with level 255",
            Box::new(move |p| p.entry = (255 << 32) | dead as u64),
            "is not in the graph",
        ),
        (
            "entry beyond the slots",
            Box::new(|p| p.entry = 1270),
            "outside the 60 slots",
        ),
        (
            "entry level above its node's",
            Box::new(|p| p.entry += 1 << 32),
            "differs from slot",
        ),
        (
            "entry below the top level",
            Box::new(move |p| p.entry = low as u64),
            "below the top level",
        ),
        (
            "no entry in a non-empty graph",
            Box::new(|p| p.entry = u64::MAX),
            "no entry point",
        ),
        (
            "self link",
            Box::new(move |p| p.l0_of(with_links)[1] = with_links as u32),
            "links to itself",
        ),
        (
            "duplicate link",
            Box::new(move |p| {
                let l = p.l0_of(with_links);
                l[2] = l[1];
            }),
            "twice",
        ),
        (
            "link out of range",
            Box::new(move |p| p.l0_of(with_links)[1] = 60 + 7),
            "link out of range",
        ),
        (
            "link to a node outside the graph",
            Box::new(move |p| p.l0_of(with_links)[1] = dead as u32),
            "link out of range",
        ),
        (
            "upper link to a node without that level",
            Box::new(move |p| {
                let u = &mut p.upper[upper_node];
                u[0] = u[0].max(1);
                u[1] = low as u32;
            }),
            "link out of range",
        ),
        (
            "count above capacity",
            Box::new(move |p| p.l0_of(with_links)[0] = 9),
            "above 8",
        ),
        (
            "level above the maximum",
            Box::new(move |p| p.levels[low] = 31),
            "above 30",
        ),
        (
            "links on a node outside the graph",
            Box::new(move |p| p.l0_of(dead)[0] = 1),
            "outside the graph",
        ),
    ];
    for (what, mutate, expect) in cases {
        let mut p = base.clone();
        mutate(&mut p);
        let file = file_with_index(&mut c, "g", p.encode());
        let msg = corrupt_message(&file);
        assert!(
            msg.contains("hnsw") && msg.contains(expect),
            "{what}: {msg}"
        );
    }
}

/// What `HnswIndex::new` accepts loads: an `exact_below` of NaN or above
/// 1 only decides when filtered searches run exactly.
#[test]
fn unusual_but_valid_hnsw_parameters_load() {
    let mut c = collection(30, 4, Storage::F32, 14, None);
    let base = HnswParts::parse(&index_bytes(&c, "g"));
    for v in [f64::NAN, 7.0, -1.0, 0.0, 1.0] {
        let mut p = base.clone();
        p.exact_below(v);
        let file = file_with_index(&mut c, "g", p.encode());
        let o = from_bytes(&file).unwrap_or_else(|e| panic!("exact_below {v}: {e}"));
        let hits = o.search(&[0.0; 4], 3, &SearchOptions::default()).unwrap();
        assert_eq!(hits.len(), 3);
    }
}

/// One IVF invariant broken per case, under a valid checksum.
#[test]
fn crafted_ivf_indexes_are_refused() {
    let mut c = collection(60, 4, Storage::F32, 10, None);
    let base = IvfParts::parse(&index_bytes(&c, "i"));
    assert!(base.copies.is_some() && base.lists.len() == 4);
    assert!(base.lists.iter().all(|l| !l.is_empty()));
    type Case = (&'static str, Box<dyn Fn(&mut IvfParts)>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "dimension differs from the collection's",
            Box::new(|p| {
                p.dim = 5;
                p.centroids.resize(p.lists.len() * 5, 0.5);
                p.copies = None;
            }),
            "dimension 5 differs from the collection's 4",
        ),
        (
            "iterations 2^40",
            Box::new(|p| p.params[2] = 1 << 40),
            "iterations",
        ),
        (
            "nlist · sample_per_list overflows",
            Box::new(|p| {
                p.params[0] = 1 << 62;
                p.params[3] = 1 << 62;
            }),
            "nlist",
        ),
        (
            "sample_per_list above its limit",
            Box::new(|p| p.params[3] = 1 << 40),
            "sample_per_list",
        ),
        ("nprobe 0", Box::new(|p| p.params[1] = 0), "at least 1"),
        (
            "more lists than nlist",
            Box::new(|p| p.params[0] = 3),
            "more than the configured 3",
        ),
        (
            "a slot in two lists",
            Box::new(|p| {
                let s = p.lists[0][0];
                p.lists[1].push(s);
                p.copies = None;
            }),
            "listed twice",
        ),
        (
            "a slot in a list and pending",
            Box::new(|p| p.pending.push(p.lists[2][0])),
            "listed twice",
        ),
        (
            "a slot out of range",
            Box::new(|p| {
                p.lists[3].push(60);
                p.copies = None;
            }),
            "out of range",
        ),
        (
            "row copy differs from the row",
            Box::new(|p| p.copies.as_mut().unwrap().1[1][2] ^= 0x40),
            "differs from its row",
        ),
        (
            "row copies in another storage",
            Box::new(|p| {
                let (tag, rows) = p.copies.as_mut().unwrap();
                *tag = Storage::F16.tag();
                for r in rows {
                    r.truncate(r.len() / 2);
                }
            }),
            "row copies are f16",
        ),
    ];
    for (what, mutate, expect) in cases {
        let mut p = base.clone();
        mutate(&mut p);
        let file = file_with_index(&mut c, "i", p.encode());
        let msg = corrupt_message(&file);
        assert!(msg.contains("ivf") && msg.contains(expect), "{what}: {msg}");
    }
}

/// The IVF limits hold for new indexes too, and the training sample size
/// is computed without overflow at the limits.
#[test]
fn ivf_parameters_have_documented_limits() {
    use crate::ivf::{IvfIndex, MAX_ITERATIONS, MAX_NLIST, MAX_SAMPLE_PER_LIST};
    let ok = crate::IvfConfig {
        nlist: MAX_NLIST,
        nprobe: MAX_NLIST,
        iterations: MAX_ITERATIONS,
        sample_per_list: MAX_SAMPLE_PER_LIST,
        ..crate::IvfConfig::default()
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
        assert!(
            matches!(IvfIndex::new(bad), Err(VectorError::InvalidConfig(_))),
            "{bad:?}"
        );
    }
    // Training at the limits over a few vectors (nlist capped by them).
    let mut c = collection(30, 4, Storage::F32, 12, None);
    let config = IndexConfig {
        ivf: crate::IvfConfig {
            iterations: 2,
            ..ok
        },
        ..IndexConfig::default()
    };
    c.create_index("big", "ivf", &config).unwrap();
    assert_eq!(
        c.search(&[0.0; 4], 3, &SearchOptions::default())
            .unwrap()
            .len(),
        3
    );
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
            let options = SearchOptions {
                index,
                params: SearchParams { ef, nprobe: ef },
                filter: None,
            };
            let Ok(hits) = o.search(&vec![0.1; dim], k, &options) else {
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
        cases: crate::tests::cases(48),
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
        let sum = crc(&bytes);
        bytes[12..16].copy_from_slice(&sum.to_le_bytes());
        if let Ok(mut o) = from_bytes(&bytes) {
            check_searches(&o)?;
            o.compact().unwrap();
            check_searches(&o)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: crate::tests::cases(12),
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
        let mut config = IndexConfig::default();
        config.hnsw.m = m;
        config.hnsw.ef_construction = 24;
        config.hnsw.parallel = parallel;
        config.ivf.nlist = 1 + (seed % 9) as usize;
        config.ivf.iterations = 3;
        c.create_index("g", "hnsw", &config).unwrap();
        c.create_index("i", "ivf", &config).unwrap();
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
