//! The benchmark behind `unidb vector bench`: build an index over base
//! vectors, run queries at several search settings, measure recall and
//! speed per setting. The library prints nothing: [`run_with`] reports
//! progress and each row through [`Callbacks`]; the command-line arguments
//! and the output live in the `unidb-cli` crate.

use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use crate::collection::{Collection, CollectionConfig, SearchOptions};
use crate::data::clustered;
use crate::error::{Result, VectorError};
use crate::factory::{FactoryError, FactorySpec, IndexBuild};
use crate::hnsw::{HnswConfig, HnswIndex, HnswSearch};
use crate::index::VectorIndex;
use crate::io::{read_ivecs, read_vectors, Matrix};
use crate::ivf::{IvfConfig, IvfSearch};
use crate::params::Params;
use crate::storage::Storage;

/// Options of the benchmark. `unidb vector bench` takes its arguments and
/// their defaults from this type: [`Default`] is the one home of every
/// default.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOptions {
    /// Base vectors (.fvecs or .npy); generated clustered data when absent.
    pub base: Option<PathBuf>,
    /// Query vectors (.fvecs or .npy).
    pub query: Option<PathBuf>,
    /// Ground truth (.ivecs of base row numbers); computed exactly when absent.
    pub gt: Option<PathBuf>,
    /// The index and storage as a FAISS `index_factory` string (see
    /// [`crate::factory`]): `Flat`, `HNSW{M}[,Flat|,SQ8|,SQfp16|,PQ{M}x{nbits}]`,
    /// `IVF{n},(Flat|SQ8|SQfp16|PQ{M}x{nbits}|PQ{M}x4fs)`, or a bare
    /// encoding, each optionally followed by `,RFlat`. When given, it
    /// replaces `index`, `storage`, `m` and `nlist`.
    pub factory: Option<String>,
    /// Index plugin: flat, hnsw or ivf.
    pub index: String,
    /// Metric plugin.
    pub metric: String,
    /// How vectors are stored: f32, f16 or i8 (scalar-quantized; the
    /// quantizer is trained on every base vector, so none is refused as
    /// out of its range). Recall is
    /// always measured against the exact f32 neighbours.
    pub storage: Storage,
    /// HNSW M.
    pub m: usize,
    /// HNSW ef_construction.
    pub ef_construction: usize,
    /// HNSW ef values to measure.
    pub ef: Vec<usize>,
    /// IVF number of lists.
    pub nlist: usize,
    /// IVF nprobe values to measure.
    pub nprobe: Vec<usize>,
    /// Threads for build and queries (1: serial build, one query at a time).
    pub threads: usize,
    /// Neighbours per query (recall is measured at 10, or k if smaller).
    pub k: usize,
    /// Seed for the index and for generated data.
    pub seed: u64,
    /// Generated data: base vectors (without `base`).
    pub rows: usize,
    /// Generated data: query vectors (without `query`).
    pub queries: usize,
    /// Generated data: dimension (without `base`).
    pub dim: usize,
    /// With a factory string ending in `RFlat`: candidates fetched per
    /// result before the exact re-score (FAISS's `k_factor_rf`, at least
    /// 1; `None` is 1).
    pub k_factor: Option<f32>,
}

impl Default for BenchOptions {
    /// The HNSW `m` and `ef_construction` and the IVF `nlist` are the
    /// indexes' own defaults ([`HnswConfig`], [`IvfConfig`]).
    fn default() -> Self {
        let (hnsw, ivf) = (HnswConfig::default(), IvfConfig::default());
        BenchOptions {
            base: None,
            query: None,
            gt: None,
            factory: None,
            index: "hnsw".into(),
            metric: "l2".into(),
            storage: Storage::F32,
            m: hnsw.m,
            ef_construction: hnsw.ef_construction,
            ef: vec![10, 20, 40, 80, 160],
            nlist: ivf.nlist,
            nprobe: vec![1, 2, 4, 8, 16],
            threads: 1,
            k: 10,
            seed: 42,
            rows: 10_000,
            queries: 200,
            dim: 64,
            k_factor: None,
        }
    }
}

impl BenchOptions {
    /// Checks every option a run relies on: the counts and sizes (`m`,
    /// `ef_construction`, each `ef`, `nlist`, each `nprobe`, `threads`, `k`,
    /// `rows`, `queries`, `dim`) must be at least 1, and the `ef` and
    /// `nprobe` lists of the index measured must not be empty; a
    /// `factory` string must parse and be one this build constructs.
    ///
    /// # Errors
    /// [`VectorError::InvalidConfig`] naming the first option that is not;
    /// [`VectorError::Factory`] for a factory string that does not parse
    /// or holds parts not built yet.
    pub fn validate(&self) -> Result<()> {
        self.spec()?;
        let positive = |name: &str, v: usize| {
            if v == 0 {
                Err(VectorError::InvalidConfig(format!(
                    "bench option {name} must be at least 1, got 0"
                )))
            } else {
                Ok(())
            }
        };
        let list = |name: &str, v: &[usize]| {
            if v.is_empty() {
                return Err(VectorError::InvalidConfig(format!(
                    "bench option {name} needs at least one value"
                )));
            }
            v.iter().try_for_each(|&x| positive(name, x))
        };
        positive("m", self.m)?;
        positive("ef_construction", self.ef_construction)?;
        positive("nlist", self.nlist)?;
        positive("threads", self.threads)?;
        positive("k", self.k)?;
        positive("rows", self.rows)?;
        positive("queries", self.queries)?;
        positive("dim", self.dim)?;
        list("ef", &self.ef)?;
        list("nprobe", &self.nprobe)?;
        match self.k_factor {
            Some(f) if !(f.is_finite() && f >= 1.0) => Err(VectorError::InvalidConfig(format!(
                "bench option k_factor must be a finite number of at least 1, got {f}"
            ))),
            _ => Ok(()),
        }
    }

    /// The run as a factory spec: the `factory` string parsed (refused
    /// when it holds parts this build does not construct), or the spec of
    /// `index`, `storage`, `m` and `nlist` (`None` for an index plugin
    /// FAISS has no name for).
    ///
    /// # Errors
    /// [`VectorError::Factory`].
    pub fn spec(&self) -> Result<Option<FactorySpec>> {
        let Some(text) = &self.factory else {
            return Ok(FactorySpec::of_index(
                &self.index,
                self.storage,
                self.m,
                self.nlist,
            ));
        };
        let spec: FactorySpec = text.parse()?;
        let parts = spec.unsupported_parts();
        if !parts.is_empty() {
            return Err(FactoryError::Unsupported {
                spec: spec.to_string(),
                parts,
            }
            .into());
        }
        Ok(Some(spec))
    }

    /// These options with `index`, `storage`, `m` and `nlist` taken from
    /// the factory string, when there is one, checked against the
    /// dimension.
    fn resolve(&self, dim: usize) -> Result<BenchOptions> {
        let mut opts = self.clone();
        let Some(spec) = self.factory.as_ref().and(self.spec()?) else {
            return Ok(opts);
        };
        let (config, index) = spec.build(dim, &self.metric)?;
        opts.storage = config.storage;
        opts.index = index.plugin().to_owned();
        match index {
            IndexBuild::Hnsw(c) => opts.m = c.m,
            IndexBuild::Ivf(c) => opts.nlist = c.nlist,
            _ => {}
        }
        Ok(opts)
    }
}

/// One measured setting; [`serde::Serialize`] gives the JSON object
/// `unidb vector bench --json` prints per line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BenchRow {
    /// The index and storage as a FAISS `index_factory` string in
    /// canonical form (e.g. `HNSW16,Flat`; `None` for an index plugin
    /// FAISS has no name for).
    pub factory: Option<String>,
    /// Index name.
    pub index: String,
    /// Vector storage (`f32`, `f16`, `i8`).
    #[serde(serialize_with = "storage_name")]
    pub storage: Storage,
    /// Bytes of stored vector data per vector (indexes not included; with
    /// `RFlat`, the kept f32 originals included).
    pub vector_bytes: f64,
    /// Bytes per vector of its encoding in the index (codes only: the
    /// originals `RFlat` keeps for re-scoring are not counted).
    pub bytes_per_vector: f64,
    /// Seconds spent training the quantizer (i8 ranges, PQ codebooks) and
    /// encoding the base vectors with it; 0 for f32 and f16. IVF's
    /// coarse k-means is part of `build_s`.
    pub train_s: f64,
    /// The `RFlat` re-score depth factor (`None` without `RFlat`).
    pub k_factor: Option<f32>,
    /// HNSW ef (None for other indexes).
    pub ef: Option<usize>,
    /// IVF nprobe (None for other indexes).
    pub nprobe: Option<usize>,
    /// Mean recall@10 against the ground truth.
    pub recall_at_10: f64,
    /// Queries per second of the fastest timed pass over the query set
    /// (after one untimed warm-up pass).
    pub qps: f64,
    /// Index build time in seconds.
    pub build_s: f64,
    /// Threads used.
    pub threads: usize,
}

/// Writes a [`Storage`] as its name (`"f32"`, `"f16"`, `"i8"`).
fn storage_name<S: serde::Serializer>(storage: &Storage, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(storage.name())
}

impl BenchRow {
    /// The row as one JSON object (no line break).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a row of numbers and names always serialises")
    }
}

/// Base vectors, queries and optional ground truth.
type Loaded = (Matrix<f32>, Matrix<f32>, Option<Matrix<i32>>);

fn load(opts: &BenchOptions) -> Result<Loaded> {
    match (&opts.base, &opts.query) {
        (Some(b), Some(q)) => {
            let base = read_vectors(b)?;
            let query = read_vectors(q)?;
            if base.dim != query.dim {
                return Err(VectorError::WrongDimension {
                    expected: base.dim,
                    got: query.dim,
                });
            }
            let gt = opts.gt.as_deref().map(read_ivecs).transpose()?;
            Ok((base, query, gt))
        }
        (None, None) => {
            let (n, nq, dim) = (opts.rows, opts.queries, opts.dim);
            let all = clustered(n + nq, dim, 64, 0.15, opts.seed);
            let base = Matrix {
                data: all[..n * dim].to_vec(),
                rows: n,
                dim,
            };
            let query = Matrix {
                data: all[n * dim..].to_vec(),
                rows: nq,
                dim,
            };
            Ok((base, query, None))
        }
        _ => Err(VectorError::InvalidConfig(
            "give both --base and --query, or neither".into(),
        )),
    }
}

/// The part of a run a [`Progress`] report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Inserting the base vectors into the collection (counted in vectors).
    Insert,
    /// Computing the exact neighbours of the queries, when no ground truth
    /// file is given (counted in queries).
    GroundTruth,
    /// Building the index (counted in vectors linked).
    Build,
    /// Measuring the search settings (counted in settings).
    Search,
}

impl Stage {
    /// A short label, e.g. `"building index"`.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Insert => "inserting",
            Stage::GroundTruth => "exact neighbours",
            Stage::Build => "building index",
            Stage::Search => "searching",
        }
    }
}

/// How far a run has come: `done` of `total` units of `stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// What is being done.
    pub stage: Stage,
    /// Units done so far.
    pub done: usize,
    /// Units in the stage.
    pub total: usize,
}

/// What a run reports while it goes: progress (from any thread, the
/// index-building ones included) and each measured row as soon as it is
/// measured. The library prints nothing; the `unidb` tool draws progress
/// bars and prints rows from these. [`Default`] ignores both.
#[allow(clippy::type_complexity)]
pub struct Callbacks<'a> {
    progress: Box<dyn Fn(Progress) + Sync + 'a>,
    row: Box<dyn FnMut(&BenchRow) -> std::io::Result<()> + 'a>,
}

impl Default for Callbacks<'_> {
    fn default() -> Self {
        Callbacks {
            progress: Box::new(|_| {}),
            row: Box::new(|_| Ok(())),
        }
    }
}

impl std::fmt::Debug for Callbacks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks").finish_non_exhaustive()
    }
}

impl<'a> Callbacks<'a> {
    /// Callbacks that ignore everything (as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `f` with progress reports, now and then, from any thread.
    pub fn on_progress(mut self, f: impl Fn(Progress) + Sync + 'a) -> Self {
        self.progress = Box::new(f);
        self
    }

    /// Calls `f` with each row as soon as it is measured. An error from
    /// `f` (such as a closed output) stops the run, which returns it as
    /// [`VectorError::Io`].
    pub fn on_row(mut self, f: impl FnMut(&BenchRow) -> std::io::Result<()> + 'a) -> Self {
        self.row = Box::new(f);
        self
    }

    fn progress(&self, stage: Stage, done: usize, total: usize) {
        (self.progress)(Progress { stage, done, total });
    }
}

/// Runs the benchmark and returns one row per search setting.
///
/// # Errors
/// Bad files or options (see [`BenchOptions::validate`]).
pub fn run(opts: &BenchOptions) -> Result<Vec<BenchRow>> {
    run_with(opts, Callbacks::default())
}

/// [`run`], reporting progress and each row through `callbacks` as it
/// goes.
///
/// # Errors
/// As [`run`], and the error of the row callback, which stops the run.
pub fn run_with(opts: &BenchOptions, mut callbacks: Callbacks<'_>) -> Result<Vec<BenchRow>> {
    opts.validate()?;
    let threads = opts.threads;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| VectorError::InvalidConfig(format!("thread pool: {e}")))?;
    run_in_pool(opts, threads, &pool, &mut callbacks)
}

fn run_in_pool(
    opts: &BenchOptions,
    threads: usize,
    pool: &rayon::ThreadPool,
    callbacks: &mut Callbacks<'_>,
) -> Result<Vec<BenchRow>> {
    let (base, query, gt) = load(opts)?;
    let opts = &opts.resolve(base.dim)?;
    let spec = opts.spec()?;
    let factory = spec.as_ref().map(|s| s.to_string());
    // The collection the factory string describes (its pq shape and
    // RFlat), or one of `storage`.
    let built = match (&opts.factory, &spec) {
        (Some(_), Some(spec)) => Some(spec.build(base.dim, &opts.metric)?.0),
        _ => None,
    };
    let mut train_s = 0.0;
    let mut fill = |storage: Storage, report: bool| -> Result<Collection> {
        let config = match &built {
            Some(c) if storage == c.storage => c.clone(),
            _ => CollectionConfig::new(base.dim, &opts.metric).with_storage(storage),
        };
        let mut coll = Collection::new(config)?;
        if storage.is_trained() {
            let started = Instant::now();
            coll.train(&base.data)?;
            if report {
                train_s = started.elapsed().as_secs_f64();
            }
        }
        for i in 0..base.rows {
            coll.insert(i as u64, base.row(i), None)?;
            if report && ((i + 1).is_multiple_of(4096) || i + 1 == base.rows) {
                callbacks.progress(Stage::Insert, i + 1, base.rows);
            }
        }
        Ok(coll)
    };
    let mut coll = fill(opts.storage, true)?;
    let refine = coll.config().refine;
    let k_factor = opts.k_factor.filter(|_| refine);
    let k = opts.k;
    let at = k.min(10);
    let truth: Vec<Vec<u32>> = match &gt {
        Some(g) => {
            if g.rows < query.rows || g.dim < at {
                return Err(VectorError::InvalidConfig(format!(
                    "ground truth has {} rows of {}, need {} rows of at least {at}",
                    g.rows, g.dim, query.rows
                )));
            }
            (0..query.rows)
                .map(|i| g.row(i)[..at].iter().map(|&v| v as u32).collect())
                .collect()
        }
        // Exact neighbours of the f32 vectors, whatever the storage.
        None => {
            callbacks.progress(Stage::GroundTruth, 0, query.rows);
            let exact = match opts.storage {
                Storage::F32 => coll.search_exact_batch(&query.data, at, None)?,
                _ => fill(Storage::F32, false)?.search_exact_batch(&query.data, at, None)?,
            };
            callbacks.progress(Stage::GroundTruth, query.rows, query.rows);
            exact
                .into_iter()
                .map(|hits| {
                    hits.into_iter()
                        .map(|h| match h.id {
                            crate::Id::Num(n) => n as u32,
                            crate::Id::Str(_) => u32::MAX,
                        })
                        .collect()
                })
                .collect()
        }
    };
    let total = coll.len();
    callbacks.progress(Stage::Build, 0, total);
    let started = Instant::now();
    let index = {
        let report = &*callbacks.progress;
        let progress = |done| {
            report(Progress {
                stage: Stage::Build,
                done,
                total,
            })
        };
        pool.install(|| build_index(opts, threads, &coll, &progress))?
    };
    callbacks.progress(Stage::Build, total, total);
    let build_s = started.elapsed().as_secs_f64();
    let kind = index.kind();
    coll.attach_built_index("bench", index);
    let settings: Vec<(Option<usize>, Option<usize>)> = match kind {
        "hnsw" => opts.ef.iter().map(|&e| (Some(e), None)).collect(),
        "ivf" => opts.nprobe.iter().map(|&p| (None, Some(p))).collect(),
        _ => vec![(None, None)],
    };
    let mut rows = Vec::new();
    callbacks.progress(Stage::Search, 0, settings.len());
    for (done, &(ef, nprobe)) in settings.iter().enumerate() {
        let (hnsw, ivf) = (HnswSearch { ef }, IvfSearch { nprobe });
        let o = SearchOptions {
            index: Some("bench"),
            params: match kind {
                "hnsw" => Params::typed(&hnsw),
                "ivf" => Params::typed(&ivf),
                _ => Params::defaults(),
            },
            filter: None,
            k_factor,
        };
        let run_one = |i: usize| -> Result<Vec<u32>> {
            Ok(coll
                .search_slots(query.row(i), k, &o)?
                .into_iter()
                .map(|n| n.slot)
                .collect())
        };
        let pass = || -> Result<Vec<Vec<u32>>> {
            if kind == "flat" && !refine {
                // Exact search runs the whole query set as one blocked batch.
                let found =
                    pool.install(|| crate::flat::knn_batch(&coll.data(), &query.data, k, None));
                Ok(found
                    .into_iter()
                    .map(|f| f.into_iter().map(|n| n.slot).collect())
                    .collect())
            } else if threads > 1 {
                pool.install(|| (0..query.rows).into_par_iter().map(run_one).collect())
            } else {
                (0..query.rows).map(run_one).collect()
            }
        };
        // One untimed warm-up pass (it also gives the results scored for
        // recall), then timed passes for at least 0.25 s (3 at least),
        // keeping the fastest: on a shared machine the best pass is the one
        // least disturbed by other load, as the peers' scripts measure.
        let found = pass()?;
        let started = Instant::now();
        let mut best = f64::INFINITY;
        let mut passes = 0;
        while (passes < 3 || started.elapsed().as_secs_f64() < 0.25) && passes < 1000 {
            let t = Instant::now();
            pass()?;
            best = best.min(t.elapsed().as_secs_f64());
            passes += 1;
        }
        let secs = best.max(1e-9);
        let hit: usize = found
            .iter()
            .zip(&truth)
            .map(|(f, t)| f.iter().take(at).filter(|s| t.contains(s)).count())
            .sum();
        let row = BenchRow {
            factory: factory.clone(),
            index: kind.to_owned(),
            storage: opts.storage,
            vector_bytes: (coll.vector_bytes() + coll.refine_bytes()) as f64
                / base.rows.max(1) as f64,
            bytes_per_vector: coll.bytes_per_vector() as f64,
            train_s,
            k_factor,
            ef,
            nprobe,
            recall_at_10: hit as f64 / (at * query.rows.max(1)) as f64,
            qps: query.rows as f64 / secs,
            build_s,
            threads,
        };
        (callbacks.row)(&row)
            .map_err(|e| VectorError::io(std::path::Path::new("<bench output>"), e))?;
        rows.push(row);
        callbacks.progress(Stage::Search, done + 1, settings.len());
    }
    Ok(rows)
}

fn build_index(
    opts: &BenchOptions,
    threads: usize,
    coll: &Collection,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Box<dyn VectorIndex>> {
    Ok(match opts.index.to_ascii_lowercase().as_str() {
        "hnsw" => {
            let mut h = HnswIndex::new(HnswConfig {
                m: opts.m,
                ef_construction: opts.ef_construction,
                seed: opts.seed,
                parallel: threads > 1,
                ..HnswConfig::default()
            })?;
            h.build_with_progress(&coll.data(), progress)?;
            Box::new(h)
        }
        other => {
            let plugin =
                <crate::IndexPlugin as unidb_registry::PluginKind>::registry().get(other)?;
            let ivf = IvfConfig {
                nlist: opts.nlist,
                seed: opts.seed,
                ..IvfConfig::default()
            };
            let params = match plugin.info.name {
                "ivf" => Params::typed(&ivf),
                _ => Params::defaults(),
            };
            let mut idx = (plugin.create)(params)?;
            idx.build(&coll.data())?;
            idx
        }
    })
}
