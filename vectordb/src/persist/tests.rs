//! Files whose checksum is valid but whose content is not (crafted index
//! bytes, written with the crate's own codec and swapped in for an
//! attached index), and version 1 files (only this crate writes them).

use super::*;
use crate::data::clustered;
use crate::hnsw::HnswConfig;
use crate::index::{VectorData, VectorIndex};
use crate::ivf::IvfConfig;
use crate::params::Params;
use crate::topk::Neighbor;
use crate::SearchOptions;

// ---------- helpers ----------

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
        _: Params<'_>,
        _: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<Neighbor>> {
        Ok(Vec::new())
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
        let hits = o.search(&[0.0; 4], 3).unwrap();
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
        (
            "nprobe 0",
            Box::new(|p| p.params[1] = 0),
            "parameter \"nprobe\": 0 is outside",
        ),
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

fn filled(data: &[f32], dim: usize) -> Collection {
    let mut c = Collection::new(CollectionConfig::new(dim, "l2")).unwrap();
    for (i, r) in data.chunks_exact(dim).enumerate() {
        c.insert(i as u64, r, None).unwrap();
    }
    c
}

// ---------- version 1 files ----------

#[test]
fn version_1_files_are_still_read() {
    let data = clustered(30, 4, 2, 0.3, 1);
    let mut c = filled(&data, 4);
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    let v1 = to_bytes_version(&c, 1);
    assert_eq!(&v1[8..12], &1u32.to_le_bytes());
    let o = from_bytes(&v1).unwrap();
    same_results_f32(&c, &o);
    let path = std::env::temp_dir().join(format!("unidb-vectordb-{}-v1", std::process::id()));
    std::fs::write(&path, &v1).unwrap();
    let m = Collection::open(&path).unwrap();
    assert!(m.is_mapped());
    same_results_f32(&c, &m);
    std::fs::remove_file(&path).unwrap();
}

fn same_results_f32(a: &Collection, b: &Collection) {
    assert_eq!(b.storage(), Storage::F32);
    for (x, y) in a.iter().zip(b.iter()) {
        assert_eq!(x, y);
    }
    let q = [0.2f32; 4];
    let o = SearchOptions::default();
    assert_eq!(
        a.search_with(&q, 5, &o).unwrap(),
        b.search_with(&q, 5, &o).unwrap()
    );
}

// ---------- i8: per-dimension ranges, training, version 2 files ----------

/// An i8 collection over data whose dimensions are centred far apart,
/// trained on all of it (or awaiting training for 1000 rows).
fn i8_collection(train_rows: usize, metric: &str) -> Collection {
    let dim = 4;
    let mut data = clustered(40, dim, 2, 0.3, 3);
    for (i, v) in data.iter_mut().enumerate() {
        *v += 100.0 * (i % dim) as f32;
    }
    let config = CollectionConfig::new(dim, metric)
        .with_storage(Storage::I8)
        .with_i8_train_rows(train_rows);
    let mut c = Collection::new(config).unwrap();
    if train_rows < 40 {
        c.train_quantizer(&data).unwrap();
    }
    for (i, r) in data.chunks_exact(dim).enumerate() {
        c.insert(i as u64, r, None).unwrap();
    }
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    c
}

fn same_i8(a: &Collection, b: &Collection) {
    assert_eq!(a.config(), b.config());
    assert_eq!(a.quantizer(), b.quantizer());
    assert_eq!(a.is_awaiting_training(), b.is_awaiting_training());
    assert_eq!(a.vector_bytes(), b.vector_bytes());
    for (x, y) in a.iter().zip(b.iter()) {
        assert_eq!(x, y);
    }
    let queries: Vec<Vec<f32>> = a
        .iter()
        .take(2)
        .map(|r| r.vector.iter().map(|x| x + 0.1).collect())
        .collect();
    for q in &queries {
        let o = SearchOptions::default();
        assert_eq!(
            a.search_with(q, 5, &o).unwrap(),
            b.search_with(q, 5, &o).unwrap()
        );
    }
}

#[test]
fn i8_per_dimension_quantizers_and_waiting_rows_round_trip() {
    // Trained (per-dimension offsets differ) and awaiting training (f32
    // rows in an i8 collection), through bytes and through a mapped file.
    for train_rows in [10, 1000] {
        let c = i8_collection(train_rows, "l2");
        assert_eq!(c.is_awaiting_training(), train_rows == 1000);
        if let Some(q) = c.quantizer() {
            assert!(q.offsets.windows(2).all(|w| w[1] - w[0] > 90.0), "{q:?}");
        }
        let bytes = to_bytes(&c);
        assert_eq!(&bytes[8..12], &VERSION.to_le_bytes());
        let o = from_bytes(&bytes).unwrap();
        same_i8(&c, &o);
        let path = std::env::temp_dir().join(format!(
            "unidb-vectordb-{}-i8-{train_rows}",
            std::process::id()
        ));
        std::fs::write(&path, &bytes).unwrap();
        let mut m = Collection::open(&path).unwrap();
        same_i8(&c, &m);
        std::fs::remove_file(&path).unwrap();
        // The reopened collection goes on training and refusing as before.
        let mut live = c;
        for col in [&mut live, &mut m] {
            if col.is_awaiting_training() {
                col.train_quantizer(&[]).unwrap();
            }
            assert!(matches!(
                col.insert(99u64, &[0.0, 100.0, 200.0, 1e6], None),
                Err(VectorError::OutOfRange { position: 3, .. })
            ));
        }
        same_i8(&live, &m);
    }
}

#[test]
fn version_2_i8_files_are_still_read() {
    // Version 2 held one offset for every dimension.
    let mut c = Collection::new(
        CollectionConfig::new(3, "l2")
            .with_storage(Storage::I8)
            .with_i8_range(-2.0, 6.0),
    )
    .unwrap();
    for (i, r) in clustered(30, 3, 2, 0.3, 5).chunks_exact(3).enumerate() {
        c.insert(i as u64, r, None).unwrap();
    }
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    let v2 = to_bytes_version(&c, 2);
    assert_eq!(&v2[8..12], &2u32.to_le_bytes());
    let o = from_bytes(&v2).unwrap();
    assert_eq!(o.quantizer().unwrap().offsets, vec![2.0; 3]);
    same_i8(&c, &o);
    // A trained version 2 file without a configured range.
    let mut t = Collection::new(CollectionConfig::new(2, "ip").with_storage(Storage::I8)).unwrap();
    // (Version 2 has one step: both dimensions span ±3.)
    t.train_quantizer(&[3.0, -3.0]).unwrap();
    t.insert(1u64, &[0.5, 0.5], None).unwrap();
    let o = from_bytes(&to_bytes_version(&t, 2)).unwrap();
    assert_eq!(o.quantizer(), t.quantizer());
    assert_eq!(o.get(1u64).unwrap(), t.get(1u64).unwrap());
}

#[test]
fn crafted_i8_quantizers_are_refused() {
    let base = i8_collection(10, "l2");
    let q = base.quantizer().unwrap().clone();
    let cases: Vec<(&str, Quantizer, &str)> = vec![
        (
            "NaN offset",
            Quantizer {
                offsets: vec![0.0, f32::NAN, 0.0, 0.0],
                ..q.clone()
            },
            "invalid i8 quantizer",
        ),
        (
            "zero scale",
            Quantizer {
                scales: vec![0.1, 0.0, 0.1, 0.1],
                ..q.clone()
            },
            "invalid i8 quantizer",
        ),
        (
            "range beyond f32",
            Quantizer {
                offsets: vec![0.0; 4],
                scales: vec![f32::MAX / 100.0; 4],
            },
            "invalid i8 quantizer",
        ),
        (
            "infinite scale",
            Quantizer {
                scales: vec![0.1, 0.1, f32::INFINITY, 0.1],
                ..q.clone()
            },
            "invalid i8 quantizer",
        ),
    ];
    for (what, bad, expect) in cases {
        let mut c = i8_collection(10, "l2");
        c.quantizer = Some(bad);
        let msg = corrupt_message(&to_bytes(&c));
        assert!(msg.contains(expect), "{what}: {msg}");
    }
    // Offsets away from zero under an angle metric.
    let mut ip = i8_collection(10, "ip");
    ip.quantizer = Some(q.clone());
    assert!(corrupt_message(&to_bytes(&ip)).contains("invalid i8 quantizer"));
    // An i8 collection with stored rows but no quantizer, written in
    // version 2 (which has no waiting rows).
    let waiting = i8_collection(1000, "l2");
    let msg = corrupt_message(&to_bytes_version(&waiting, 2));
    assert!(msg.contains("storage differs"), "{msg}");
}

// ---------- version 6 files (before sq4) ----------

/// A version 6 file (pq codes with refine originals, and an i8 one) still
/// opens: the same quantizer, configuration and answers; saving it again
/// writes the current version.
#[test]
fn version_6_files_are_still_read() {
    let dim = 8;
    let data = clustered(300, dim, 4, 0.2, 5);
    let config = CollectionConfig::new(dim, "l2")
        .with_pq(crate::quant::pq::PqConfig {
            m: 4,
            nbits: 4,
            iterations: 5,
            ..Default::default()
        })
        .with_refine(true)
        .with_i8_train_rows(300);
    let mut c = Collection::new(config).unwrap();
    c.insert_rows(0..300u64, &data).unwrap();
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    let v6 = to_bytes_version(&c, VERSION_NO_SQ4);
    assert_eq!(&v6[8..12], &6u32.to_le_bytes());
    let o = from_bytes(&v6).unwrap();
    assert_eq!(o.config(), c.config());
    assert_eq!(o.product_quantizer(), c.product_quantizer());
    let opts = crate::SearchOptions {
        k_factor: Some(4.0),
        ..Default::default()
    };
    for q in data.chunks_exact(dim).step_by(37) {
        assert_eq!(
            o.search_with(q, 5, &opts).unwrap(),
            c.search_with(q, 5, &opts).unwrap()
        );
    }
    assert_eq!(to_bytes(&o), to_bytes(&c));
    let i8 = i8_collection(10, "ip");
    let o = from_bytes(&to_bytes_version(&i8, VERSION_NO_SQ4)).unwrap();
    same_i8(&i8, &o);
}
