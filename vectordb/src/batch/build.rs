//! Building a saved collection from a base file, in chunks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{peak_rss_bytes, sample_rows, BatchError, Hooks};
use crate::collection::{Collection, CollectionConfig};
use crate::error::VectorError;
use crate::factory::{FactorySpec, IndexBuild};
use crate::io::VectorFile;
use crate::storage::Storage;

/// What [`build`] does: the factory string, metric, training sample and
/// memory limit.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildOptions {
    /// A FAISS `index_factory` string ([`Collection::from_factory`]).
    pub factory: String,
    /// The metric plugin (`l2`, `ip`, `cosine`, ...).
    pub metric: String,
    /// Bytes the job may use (see [`memory_estimate`]); `None`: no limit,
    /// chunks of [`BuildOptions::DEFAULT_CHUNK_ROWS`].
    pub memory_limit: Option<u64>,
    /// Rows sampled (seeded, uniform, [`sample_rows`]) to train the i8 or
    /// pq quantizer on; unused by encodings without training.
    pub train_size: usize,
    /// The sample's seed.
    pub seed: u64,
    /// Rows read and added per chunk; `None` chooses from the memory
    /// limit.
    pub chunk_rows: Option<usize>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            factory: "Flat".to_owned(),
            metric: "l2".to_owned(),
            memory_limit: None,
            train_size: 65_536,
            seed: 42,
            chunk_rows: None,
        }
    }
}

impl BuildOptions {
    /// Rows per chunk without a memory limit, and the most with one.
    pub const DEFAULT_CHUNK_ROWS: usize = 16_384;

    /// The defaults with this factory string.
    pub fn new(factory: &str) -> Self {
        BuildOptions {
            factory: factory.to_owned(),
            ..Self::default()
        }
    }

    /// The same options with another training sample size.
    pub fn with_train_size(mut self, rows: usize) -> Self {
        self.train_size = rows;
        self
    }

    /// The same options with another metric.
    pub fn with_metric(mut self, metric: &str) -> Self {
        self.metric = metric.to_owned();
        self
    }

    /// The same options with a memory limit in bytes.
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// The same options with a fixed chunk size.
    pub fn with_chunk_rows(mut self, rows: usize) -> Self {
        self.chunk_rows = Some(rows);
        self
    }
}

/// What [`build`] did.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BuildReport {
    /// Rows added.
    pub rows: usize,
    /// Their dimension.
    pub dim: usize,
    /// The factory string, canonical.
    pub factory: String,
    /// Seconds reading the sample and training the quantizer, plus
    /// training the IVF lists and assigning the rows to them.
    pub train_s: f64,
    /// Seconds reading, encoding and adding the rows.
    pub add_s: f64,
    /// Rows added per second of `add_s`.
    pub rows_s: f64,
    /// Bytes of the saved file (0 from [`build_collection`]).
    pub bytes: u64,
    /// Bytes of one encoded row ([`Collection::bytes_per_vector`]).
    pub bytes_per_vector: usize,
    /// Rows per chunk used.
    pub chunk_rows: usize,
    /// Peak resident memory of the process at the end, if known.
    pub peak_rss_bytes: Option<u64>,
}

/// The memory a build of `rows` rows is expected to hold, in bytes: what
/// the collection keeps per row, the saved image built at the end, the
/// training sample and a fixed allowance, plus per row of a chunk. The
/// sum for one-row chunks must fit a memory limit, and what is left
/// sizes the chunks.
///
/// What holds for which factory strings: the collection keeps every
/// row in its encoding (4, 2 or 1 bytes per value for `Flat`, `SQfp16`,
/// `SQ8`; the code bytes for `PQ{M}x{nbits}`), with `RFlat` also the f32
/// originals, an IVF index a copy of the encoded row and its slot, an
/// HNSW graph its links, and every row its id and bookkeeping
/// ([`MemoryEstimate::SLOT_BYTES`]). So only encodings without `RFlat`
/// (`IVF…,PQ…`, `IVF…,SQ8`, `HNSW…,PQ…`, ...) build from files much
/// larger than the limit: for `IVF{n},PQ{M}x8` about `2·M + 150` bytes
/// per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MemoryEstimate {
    /// Held by the built collection.
    pub collection: u64,
    /// The saved image, built in memory before it is written.
    pub image: u64,
    /// The training sample and the trainer's copy of it.
    pub sample: u64,
    /// Code, threads and allocator slack.
    pub fixed: u64,
    /// Per row of a chunk: the f32 rows read, the mapped file bytes and
    /// the codes.
    pub per_chunk_row: u64,
}

impl MemoryEstimate {
    /// Bytes per row beside its vector: the id and its hash-map entry,
    /// metadata slot, liveness, a list assignment while the index builds.
    pub const SLOT_BYTES: u64 = 128;
    /// The fixed allowance.
    pub const FIXED_BYTES: u64 = 32 << 20;

    /// The estimate without the chunks.
    pub fn base(&self) -> u64 {
        self.collection + self.image + self.sample + self.fixed
    }
}

/// Estimates the memory of building `rows` rows of dimension `dim`
/// (file bytes per row `row_bytes`) with `config` and `index`, training
/// on `train_rows` rows (see [`MemoryEstimate`]).
pub fn memory_estimate(
    config: &CollectionConfig,
    index: &IndexBuild,
    rows: usize,
    dim: usize,
    row_bytes: usize,
    train_rows: usize,
) -> MemoryEstimate {
    let dim64 = dim as u64;
    let code = match (config.storage, &config.pq) {
        (Storage::Pq, Some(pq)) => (pq.m as u64 * u64::from(pq.nbits)).div_ceil(8),
        (storage, _) => dim64 * storage.bytes_per_value() as u64,
    };
    let refine = if config.refine { dim64 * 4 } else { 0 };
    let index_row = match index {
        IndexBuild::Flat => 0,
        IndexBuild::Ivf(c) => 4 + if c.copy_rows { code } else { 0 },
        IndexBuild::Hnsw(c) => 4 * 2 * c.m as u64 + 4 * c.m as u64 / 2 + 32,
    };
    let rows = rows as u64;
    let trains = matches!(config.storage, Storage::Pq | Storage::I8);
    let sample_rows = if trains {
        train_rows.min(rows as usize) as u64
    } else {
        0
    };
    MemoryEstimate {
        collection: rows * (code + refine + index_row + MemoryEstimate::SLOT_BYTES),
        image: rows * (code + refine + index_row + 16),
        sample: sample_rows * dim64 * 4 * 2,
        fixed: MemoryEstimate::FIXED_BYTES,
        per_chunk_row: dim64 * 4 + row_bytes as u64 + code,
    }
}

/// The chunk size for `estimate` under `limit`.
fn chunk_rows(
    options: &BuildOptions,
    estimate: &MemoryEstimate,
    spec: &str,
) -> Result<usize, BatchError> {
    if let Some(rows) = options.chunk_rows {
        if rows == 0 {
            return Err(BatchError::Invalid {
                name: "chunk_rows",
                reason: "must be at least 1".into(),
            });
        }
    }
    let Some(limit) = options.memory_limit else {
        return Ok(options
            .chunk_rows
            .unwrap_or(BuildOptions::DEFAULT_CHUNK_ROWS));
    };
    let least = estimate.base() + estimate.per_chunk_row;
    if least > limit {
        return Err(BatchError::MemoryLimit {
            what: format!("building {spec}"),
            needed: least,
            limit,
        });
    }
    // A quarter of what is left, at most: the rest is slack for the
    // allocator and the estimate's error.
    let fit = ((limit - estimate.base()) / 4 / estimate.per_chunk_row).max(1) as usize;
    Ok(options
        .chunk_rows
        .unwrap_or(BuildOptions::DEFAULT_CHUNK_ROWS)
        .min(fit))
}

/// Builds a collection from the rows of `base` (ids `0..rows`, the row
/// numbers) as [`build`] does, without saving it: the collection of
/// [`Collection::from_factory`], its quantizer trained on a seeded
/// sample of [`BuildOptions::train_size`] rows ([`sample_rows`]), every
/// row added in chunks (pq codes encoded in parallel), then its IVF
/// lists trained and filled ([`Collection::rebuild_index`]). The same
/// calls on the whole file in memory give the same collection.
///
/// # Errors
/// [`BatchError::Cancelled`] when `hooks.cancel` is set (checked between
/// chunks); [`BatchError::MemoryLimit`] when the estimate
/// ([`memory_estimate`]) exceeds the limit; [`BatchError::Invalid`] for an
/// empty file or a zero chunk size; [`BatchError::Vector`] for a bad
/// factory string, a bad row (naming the file and byte offset) or a
/// training error.
pub fn build_collection(
    base: &VectorFile,
    options: &BuildOptions,
    hooks: &Hooks<'_>,
) -> Result<(Collection, BuildReport), BatchError> {
    let (rows, dim) = (base.rows(), base.dim());
    if rows == 0 {
        return Err(BatchError::Invalid {
            name: "base",
            reason: format!("{} holds no vectors", base.path().display()),
        });
    }
    let spec: FactorySpec = options.factory.parse().map_err(VectorError::Factory)?;
    let (config, index) = spec
        .build(dim, &options.metric)
        .map_err(VectorError::Factory)?;
    let estimate = memory_estimate(
        &config,
        &index,
        rows,
        dim,
        base.row_bytes(),
        options.train_size,
    );
    let chunk = chunk_rows(options, &estimate, &spec.to_string())?;
    let mut c = Collection::from_factory(dim, &options.metric, &options.factory)?;
    let mut buf = Vec::new();

    let started = Instant::now();
    if c.is_awaiting_training() {
        let picks = sample_rows(rows, options.train_size, options.seed);
        let mut sample = Vec::with_capacity(picks.len() * dim);
        let mut next = 0;
        for start in (0..rows).step_by(chunk) {
            hooks.cancel.check()?;
            let count = chunk.min(rows - start);
            let end = start + count;
            if picks.get(next).is_some_and(|&p| p < end) {
                base.read_f32(start, count, &mut buf)?;
                while let Some(&p) = picks.get(next).filter(|&&p| p < end) {
                    sample.extend_from_slice(&buf[(p - start) * dim..(p - start + 1) * dim]);
                    next += 1;
                }
            }
            hooks.report("sample", end, rows);
        }
        hooks.cancel.check()?;
        hooks.report("train", 0, 1);
        c.train(&sample)?;
        hooks.report("train", 1, 1);
    }
    let mut train_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    for start in (0..rows).step_by(chunk) {
        hooks.cancel.check()?;
        let count = chunk.min(rows - start);
        base.read_f32(start, count, &mut buf)?;
        c.insert_rows(start as u64..(start + count) as u64, &buf)?;
        hooks.report("add", start + count, rows);
    }
    let add_s = started.elapsed().as_secs_f64();
    drop(buf);

    let started = Instant::now();
    if let IndexBuild::Ivf(_) = index {
        hooks.cancel.check()?;
        hooks.report("index", 0, 1);
        c.rebuild_index(index.plugin())?;
        hooks.report("index", 1, 1);
    }
    train_s += started.elapsed().as_secs_f64();
    let report = BuildReport {
        rows,
        dim,
        factory: spec.to_string(),
        train_s,
        add_s,
        rows_s: rows as f64 / add_s.max(1e-9),
        bytes: 0,
        bytes_per_vector: c.bytes_per_vector(),
        chunk_rows: chunk,
        peak_rss_bytes: peak_rss_bytes(),
    };
    Ok((c, report))
}

/// Builds an index from the base file `base` (`.fvecs`, `.bvecs` or
/// `.npy`, read in chunks through memory maps) as
/// [`build_collection`] does, and saves it to `out` atomically
/// ([`Collection::save`]): an error or a cancellation leaves `out` as it
/// was and no temporary file.
///
/// Memory: with [`BuildOptions::memory_limit`], the build is refused up
/// front when [`memory_estimate`] does not fit, and chunks are sized to
/// what is left; see [`MemoryEstimate`] for which factory strings build
/// from files larger than the limit.
///
/// # Errors
/// As [`build_collection`], and [`BatchError::Vector`] for a file that
/// cannot be opened or saved.
pub fn build(
    base: impl AsRef<Path>,
    out: impl AsRef<Path>,
    options: &BuildOptions,
    hooks: &Hooks<'_>,
) -> Result<BuildReport, BatchError> {
    let base = VectorFile::open(base)?;
    let out: PathBuf = out.as_ref().to_path_buf();
    let (c, mut report) = build_collection(&base, options, hooks)?;
    hooks.cancel.check()?;
    hooks.report("save", 0, 1);
    c.save(&out)?;
    hooks.report("save", 1, 1);
    drop(c);
    report.bytes = std::fs::metadata(&out)
        .map_err(|e| VectorError::io(&out, e))?
        .len();
    report.peak_rss_bytes = peak_rss_bytes();
    Ok(report)
}
