//! `vectordb::batch`: chunked builds equal in-memory builds, batch
//! searches equal per-query searches, recall against brute force,
//! cancellation and bad input leave no output.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use unidb_vectordb::batch::{self, BatchError, BuildOptions, CancelToken, Hooks, SearchJob};
use unidb_vectordb::data::clustered;
use unidb_vectordb::io::{read_ivecs, to_fvecs, VectorFile};
use unidb_vectordb::ivf::IvfSearch;
use unidb_vectordb::{persist, Collection, Id, Params, SearchOptions, VectorError};

use crate::util::{brute_force, l2_f64};

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

static DIRS: AtomicU64 = AtomicU64::new(0);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "unidb-vectordb-batch-{}-{test}-{}",
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
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `rows` as a `.npy` file (2-D little-endian f32), written by hand.
fn to_npy(rows: &[f32], dim: usize) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}",
        rows.len() / dim
    );
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    for v in rows {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The same collection built in memory: from the factory, trained on
/// the rows `sample_rows` picks, every row inserted at once, IVF lists
/// built.
fn in_memory(data: &[f32], dim: usize, factory: &str, train: usize, seed: u64) -> Collection {
    let mut c = Collection::from_factory(dim, "l2", factory).unwrap();
    if c.is_awaiting_training() {
        let picks = batch::sample_rows(data.len() / dim, train, seed);
        let sample: Vec<f32> = picks
            .iter()
            .flat_map(|&p| data[p * dim..(p + 1) * dim].iter().copied())
            .collect();
        c.train(&sample).unwrap();
    }
    c.insert_rows(0..(data.len() / dim) as u64, data).unwrap();
    if c.index_names() == ["ivf"] {
        c.rebuild_index("ivf").unwrap();
    }
    c
}

const N: usize = 3000;
const DIM: usize = 16;

fn base() -> Vec<f32> {
    clustered(N, DIM, 20, 0.3, 11)
}

fn queries() -> Vec<f32> {
    clustered(50, DIM, 20, 0.3, 12)
}

#[test]
fn chunked_build_from_files_equals_the_in_memory_build() {
    let dir = TempDir::new("equal");
    let data = base();
    fs::write(dir.path("base.fvecs"), to_fvecs(&data, DIM)).unwrap();
    fs::write(dir.path("base.npy"), to_npy(&data, DIM)).unwrap();
    let q = queries();
    for factory in [
        "IVF16,PQ8x8",
        "IVF16,Flat",
        "HNSW8,SQfp16",
        "IVF8,PQ4x4,RFlat",
        "Flat",
    ] {
        let mem = in_memory(&data, DIM, factory, 1000, 42);
        // Chunks of 700 rows: the sample and the adds cross chunks; of 50
        // rows: pq rows are encoded one by one, not in parallel.
        for (file, chunk) in [("base.fvecs", 700), ("base.npy", 700), ("base.fvecs", 50)] {
            let out = dir.path(&format!("{factory}-{file}-{chunk}.unidb"));
            let options = BuildOptions::new(factory)
                .with_train_size(1000)
                .with_chunk_rows(chunk);
            let report = batch::build(dir.path(file), &out, &options, &Hooks::new()).unwrap();
            assert_eq!((report.rows, report.dim), (N, DIM), "{factory}");
            assert_eq!(report.bytes, fs::metadata(&out).unwrap().len());
            let built = Collection::open(&out).unwrap();
            assert_eq!(
                persist::to_bytes(&built),
                persist::to_bytes(&mem),
                "{factory} from {file}: the saved file differs from the in-memory build's"
            );
            for qv in q.chunks_exact(DIM) {
                assert_eq!(
                    built.search(qv, 10).unwrap(),
                    mem.search(qv, 10).unwrap(),
                    "{factory}"
                );
            }
        }
    }
}

/// Reads the structured `.npy` of a search: (ids, distances).
fn read_results_npy(bytes: &[u8]) -> (String, Vec<i64>, Vec<f32>) {
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8(bytes[10..10 + hlen].to_vec()).unwrap();
    assert_eq!((10 + hlen) % 64, 0, "data aligned");
    let (mut ids, mut dists) = (Vec::new(), Vec::new());
    for rec in bytes[10 + hlen..].chunks_exact(12) {
        ids.push(i64::from_le_bytes(rec[..8].try_into().unwrap()));
        dists.push(f32::from_le_bytes(rec[8..].try_into().unwrap()));
    }
    (header, ids, dists)
}

#[test]
fn batch_search_equals_per_query_search_and_measures_recall() {
    let dir = TempDir::new("search");
    let data = base();
    let q = queries();
    let nq = q.len() / DIM;
    fs::write(dir.path("base.fvecs"), to_fvecs(&data, DIM)).unwrap();
    fs::write(dir.path("q.fvecs"), to_fvecs(&q, DIM)).unwrap();
    // Ground truth by f64 brute force, 20 per query.
    let live = vec![true; N];
    let mut gt = Vec::new();
    let mut exact = Vec::new();
    for qv in q.chunks_exact(DIM) {
        let nn = brute_force(&data, DIM, &live, qv, 20);
        gt.extend_from_slice(&20i32.to_le_bytes());
        for (_, s) in &nn {
            gt.extend_from_slice(&(*s as i32).to_le_bytes());
        }
        exact.push(nn);
    }
    fs::write(dir.path("gt.ivecs"), gt).unwrap();
    let index = dir.path("index.unidb");
    let options = BuildOptions::new("IVF16,PQ8x8,RFlat").with_train_size(2000);
    batch::build(dir.path("base.fvecs"), &index, &options, &Hooks::new()).unwrap();
    let c = Collection::open(&index).unwrap();
    let k = 10;
    for (out, nprobe) in [("ids.ivecs", 2), ("res.npy", 4)] {
        let job = SearchJob {
            k,
            out: Some(dir.path(out)),
            gt: Some(dir.path("gt.ivecs")),
            nprobe: Some(nprobe),
            k_factor: Some(4.0),
            chunk_rows: 7,
            ..SearchJob::default()
        };
        let report = batch::search(&index, dir.path("q.fvecs"), &job, &Hooks::new()).unwrap();
        assert_eq!((report.queries, report.k), (nq, k));
        // Per-query searches with the same parameters are the oracle.
        let params = IvfSearch {
            nprobe: Some(nprobe),
        };
        let opts = SearchOptions {
            params: Params::typed(&params),
            k_factor: Some(4.0),
            ..SearchOptions::default()
        };
        let want: Vec<Vec<(i64, f32)>> = q
            .chunks_exact(DIM)
            .map(|qv| {
                c.search_with(qv, k, &opts)
                    .unwrap()
                    .into_iter()
                    .map(|h| match h.id {
                        Id::Num(n) => (n as i64, h.distance),
                        Id::Str(_) => unreachable!(),
                    })
                    .collect()
            })
            .collect();
        let got: Vec<Vec<(i64, f32)>> = if out.ends_with(".ivecs") {
            let m = read_ivecs(dir.path(out)).unwrap();
            assert_eq!((m.rows, m.dim), (nq, k));
            (0..nq)
                .map(|i| {
                    m.row(i)
                        .iter()
                        .zip(&want[i])
                        .map(|(&id, w)| (i64::from(id), w.1))
                        .collect()
                })
                .collect()
        } else {
            let (header, ids, dists) = read_results_npy(&fs::read(dir.path(out)).unwrap());
            assert!(
                header.contains(&format!("'shape': ({nq}, {k})")),
                "{header}"
            );
            assert!(
                header.contains("('id', '<i8'), ('distance', '<f4')"),
                "{header}"
            );
            ids.chunks_exact(k)
                .zip(dists.chunks_exact(k))
                .map(|(i, d)| i.iter().copied().zip(d.iter().copied()).collect())
                .collect()
        };
        assert_eq!(got, want, "{out}");
        // Recall counted here from the output against the brute force.
        let hits: usize = got
            .iter()
            .zip(&exact)
            .map(|(g, e)| {
                g.iter()
                    .filter(|(id, _)| e[..k].iter().any(|x| i64::from(x.1 as i32) == *id))
                    .count()
            })
            .sum();
        let recall = hits as f64 / (k * nq) as f64;
        assert_eq!(report.recall, Some(recall), "{out}");
        assert!(recall > 0.8, "recall {recall} with nprobe {nprobe}");
    }
    // Exact search reaches recall 1 against the brute force.
    let flat = dir.path("flat.unidb");
    batch::build(
        dir.path("base.fvecs"),
        &flat,
        &BuildOptions::new("Flat"),
        &Hooks::new(),
    )
    .unwrap();
    let job = SearchJob {
        gt: Some(dir.path("gt.ivecs")),
        ..SearchJob::default()
    };
    let report = batch::search(&flat, dir.path("q.fvecs"), &job, &Hooks::new()).unwrap();
    assert_eq!(report.recall, Some(1.0));
    // The distances are the exact ones.
    let c = Collection::open(&flat).unwrap();
    let hits = c.search(&q[..DIM], 3).unwrap();
    let d = l2_f64(&q[..DIM], &data[exact[0][0].1 as usize * DIM..][..DIM]);
    assert!((f64::from(hits[0].distance) - d).abs() <= 1e-4 * d.max(1.0));
    // Parameters the index does not have are refused by name.
    let job = SearchJob {
        ef_search: Some(10),
        ..SearchJob::default()
    };
    let err = batch::search(&index, dir.path("q.fvecs"), &job, &Hooks::new()).unwrap_err();
    assert!(
        matches!(
            err,
            BatchError::Invalid {
                name: "ef_search",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn cancellation_leaves_no_output_file() {
    let dir = TempDir::new("cancel");
    let data = base();
    fs::write(dir.path("base.fvecs"), to_fvecs(&data, DIM)).unwrap();
    let token = CancelToken::new();
    let stop = token.clone();
    let cancel_on = |stage: &'static str| {
        let stop = stop.clone();
        move |s: &str, done: u64, _total: u64| {
            if s == stage && done > 0 {
                stop.cancel();
            }
        }
    };
    let on_add = cancel_on("add");
    let hooks = Hooks::new()
        .with_progress(&on_add)
        .with_cancel(token.clone());
    let options = BuildOptions::new("IVF16,PQ8x8")
        .with_train_size(500)
        .with_chunk_rows(500);
    let err = batch::build(
        dir.path("base.fvecs"),
        dir.path("index.unidb"),
        &options,
        &hooks,
    )
    .unwrap_err();
    assert!(matches!(err, BatchError::Cancelled), "{err}");
    assert_eq!(dir.entries(), ["base.fvecs"]);

    // A search cancelled mid-way leaves neither the output nor a temporary file.
    let index = dir.path("index.unidb");
    batch::build(dir.path("base.fvecs"), &index, &options, &Hooks::new()).unwrap();
    let token = CancelToken::new();
    let stop = token.clone();
    let on_search = move |s: &str, done: u64, _: u64| {
        if s == "search" && done > 0 {
            stop.cancel();
        }
    };
    let hooks = Hooks::new().with_progress(&on_search).with_cancel(token);
    let job = SearchJob {
        out: Some(dir.path("out.npy")),
        chunk_rows: 100,
        ..SearchJob::default()
    };
    let err = batch::search(&index, dir.path("base.fvecs"), &job, &hooks).unwrap_err();
    assert!(matches!(err, BatchError::Cancelled), "{err}");
    assert_eq!(dir.entries(), ["base.fvecs", "index.unidb"]);
}

/// The file and offset a `BadVectorFile` names.
fn bad_at(err: &BatchError) -> (String, u64) {
    match err {
        BatchError::Vector(VectorError::BadVectorFile { path, offset, .. }) => {
            (path.clone(), *offset)
        }
        e => panic!("not a bad vector file: {e:?}"),
    }
}

#[test]
fn corrupt_and_truncated_inputs_name_the_file_and_offset() {
    let dir = TempDir::new("corrupt");
    let data = base();
    let record = 4 + 4 * DIM;
    let mut bytes = to_fvecs(&data, DIM);
    let whole = bytes.clone();
    // Truncated last row: refused on open, at the last row's offset.
    bytes.truncate(bytes.len() - 3);
    fs::write(dir.path("cut.fvecs"), &bytes).unwrap();
    let err = batch::build(
        dir.path("cut.fvecs"),
        dir.path("o.unidb"),
        &BuildOptions::default(),
        &Hooks::new(),
    )
    .unwrap_err();
    let (path, at) = bad_at(&err);
    assert!(path.ends_with("cut.fvecs"), "{path}");
    assert_eq!(at, ((N - 1) * record) as u64);
    // A row whose dimension header differs, deep in the file: found when
    // its chunk is read, at its offset.
    let mut bytes = whole.clone();
    let row = 2345;
    bytes[row * record..row * record + 4].copy_from_slice(&(DIM as i32 + 1).to_le_bytes());
    fs::write(dir.path("dims.fvecs"), &bytes).unwrap();
    let err = batch::build(
        dir.path("dims.fvecs"),
        dir.path("o.unidb"),
        &BuildOptions::default(),
        &Hooks::new(),
    )
    .unwrap_err();
    let (path, at) = bad_at(&err);
    assert!(path.ends_with("dims.fvecs"), "{path}");
    assert_eq!(at, (row * record) as u64);
    assert!(err.to_string().contains("row 2345"), "{err}");
    // A bad .npy header and a short .npy body.
    let mut npy = to_npy(&data, DIM);
    npy[0] = b'X';
    fs::write(dir.path("magic.npy"), &npy).unwrap();
    let err = VectorFile::open(dir.path("magic.npy")).unwrap_err();
    assert!(
        matches!(err, VectorError::BadVectorFile { offset: 0, .. }),
        "{err}"
    );
    let mut npy = to_npy(&data, DIM);
    npy.truncate(npy.len() - 4);
    fs::write(dir.path("short.npy"), &npy).unwrap();
    let err = VectorFile::open(dir.path("short.npy")).unwrap_err();
    assert!(
        matches!(err, VectorError::BadVectorFile { offset: 128, .. }),
        "{err}"
    );
    // Another extension, an empty file.
    fs::write(dir.path("base.txt"), &whole).unwrap();
    assert!(VectorFile::open(dir.path("base.txt")).is_err());
    fs::write(dir.path("empty.fvecs"), b"").unwrap();
    let err = batch::build(
        dir.path("empty.fvecs"),
        dir.path("o.unidb"),
        &BuildOptions::default(),
        &Hooks::new(),
    )
    .unwrap_err();
    assert!(
        matches!(err, BatchError::Invalid { name: "base", .. }),
        "{err}"
    );
    assert!(!dir.path("o.unidb").exists());
}

#[test]
fn bvecs_rows_read_as_their_byte_values() {
    let dir = TempDir::new("bvecs");
    let (rows, dim) = (37, 5);
    let mut bytes = Vec::new();
    let mut want = Vec::new();
    for r in 0..rows {
        bytes.extend_from_slice(&(dim as i32).to_le_bytes());
        for j in 0..dim {
            let b = ((r * 31 + j * 7) % 256) as u8;
            bytes.push(b);
            want.push(f32::from(b));
        }
    }
    fs::write(dir.path("b.bvecs"), &bytes).unwrap();
    let f = VectorFile::open(dir.path("b.bvecs")).unwrap();
    assert_eq!((f.rows(), f.dim(), f.row_bytes()), (rows, dim, 4 + dim));
    let mut got = Vec::new();
    f.read_f32(3, 30, &mut got).unwrap();
    assert_eq!(got, want[3 * dim..33 * dim]);
    assert!(f.read_f32(30, 8, &mut got).is_err(), "past the end");
}

#[test]
fn a_build_that_cannot_fit_the_memory_limit_is_refused_up_front() {
    let dir = TempDir::new("limit");
    let data = base();
    fs::write(dir.path("base.fvecs"), to_fvecs(&data, DIM)).unwrap();
    // f32 rows with RFlat originals: 3000 rows need far more than 1 MiB.
    for factory in ["Flat", "IVF16,PQ8x8,RFlat"] {
        let options = BuildOptions::new(factory).with_memory_limit(1 << 20);
        let err = batch::build(
            dir.path("base.fvecs"),
            dir.path("o.unidb"),
            &options,
            &Hooks::new(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                BatchError::MemoryLimit {
                    limit: 1_048_576,
                    ..
                }
            ),
            "{err}"
        );
    }
    // Within the limit the chunks shrink to fit what is left.
    let options = BuildOptions::new("IVF16,PQ8x8")
        .with_train_size(1000)
        .with_memory_limit((32 << 20) + 3 * (1 << 20));
    let report = batch::build(
        dir.path("base.fvecs"),
        dir.path("o.unidb"),
        &options,
        &Hooks::new(),
    )
    .unwrap();
    assert!(
        report.chunk_rows < BuildOptions::DEFAULT_CHUNK_ROWS,
        "{}",
        report.chunk_rows
    );
    assert_eq!(dir.entries(), ["base.fvecs", "o.unidb"]);
}
