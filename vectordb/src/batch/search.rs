//! Scoring a file of queries in parallel batches.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use super::{peak_rss_bytes, BatchError, Hooks};
use crate::collection::{Collection, SearchOptions};
use crate::error::VectorError;
use crate::hnsw::HnswSearch;
use crate::io::{VectorFile, VectorFormat};
use crate::ivf::IvfSearch;
use crate::params::Params;
use crate::topk::Neighbor;
use unidb_common::id::Id;

/// What [`search`] does: neighbours per query, the output file, the
/// ground truth, search parameters (FAISS's names: `nprobe`, `efSearch`,
/// `k_factor_rf`) and the batch size.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchJob {
    /// Neighbours per query.
    pub k: usize,
    /// Where the results go: `.ivecs` (ids, i32) or `.npy` (a structured
    /// array of shape `(queries, k)` with fields `id` (`<i8`) and
    /// `distance` (`<f4`)); a query with fewer than `k` neighbours is
    /// padded with id -1 and distance +inf. `None`: no output file.
    pub out: Option<PathBuf>,
    /// Ground truth (`.ivecs`, at least `k` base row numbers per query,
    /// nearest first): recall@k is reported.
    pub gt: Option<PathBuf>,
    /// IVF lists probed.
    pub nprobe: Option<usize>,
    /// HNSW candidate list size.
    pub ef_search: Option<usize>,
    /// With `RFlat`: candidates re-scored per neighbour.
    pub k_factor: Option<f32>,
    /// Queries per batch.
    pub chunk_rows: usize,
}

impl Default for SearchJob {
    fn default() -> Self {
        SearchJob {
            k: 10,
            out: None,
            gt: None,
            nprobe: None,
            ef_search: None,
            k_factor: None,
            chunk_rows: 8192,
        }
    }
}

/// What [`search`] did.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SearchReport {
    /// Queries answered.
    pub queries: usize,
    /// Neighbours per query.
    pub k: usize,
    /// Queries per second, reading and writing included.
    pub qps: f64,
    /// Seconds in all.
    pub search_s: f64,
    /// Mean recall@k against the ground truth, when given.
    pub recall: Option<f64>,
    /// Peak resident memory of the process at the end, if known.
    pub peak_rss_bytes: Option<u64>,
    /// The output file, when written.
    pub out: Option<PathBuf>,
}

/// Neighbours of `found` (`k` per query, -1 for none) that are among the
/// first `k` of the query's ground-truth row (`truth`, `truth_dim` per
/// query), summed over the queries: recall@k is this over `k` times the
/// queries.
///
/// ```
/// use unidb_vectordb::batch::recall_at;
/// // Two queries, k = 2; truth has 3 per query.
/// assert_eq!(recall_at(&[1, 2, 5, -1], &[2, 1, 9, 5, 6, 7], 2, 3), 3);
/// ```
pub fn recall_at(found: &[i64], truth: &[i32], k: usize, truth_dim: usize) -> usize {
    found
        .chunks_exact(k.max(1))
        .zip(truth.chunks_exact(truth_dim.max(1)))
        .map(|(f, t)| {
            let t = &t[..k.min(t.len())];
            f.iter()
                .filter(|&&id| id >= 0 && t.iter().any(|&g| i64::from(g) == id))
                .count()
        })
        .sum()
}

fn invalid(name: &'static str, reason: impl Into<String>) -> BatchError {
    BatchError::Invalid {
        name,
        reason: reason.into(),
    }
}

/// The search options for `c` from the job, checked against its index.
fn search_params(
    c: &Collection,
    job: &SearchJob,
) -> Result<(Option<IvfSearch>, Option<HnswSearch>), BatchError> {
    let kind = match c.index_names().first() {
        Some(name) => c.index(name)?.kind(),
        None => "exact",
    };
    let mut ivf = None;
    let mut hnsw = None;
    if let Some(n) = job.nprobe {
        if kind != "ivf" {
            return Err(invalid(
                "nprobe",
                format!("the index is {kind}; nprobe applies to ivf"),
            ));
        }
        ivf = Some(IvfSearch { nprobe: Some(n) });
    }
    if let Some(ef) = job.ef_search {
        if kind != "hnsw" {
            return Err(invalid(
                "ef_search",
                format!("the index is {kind}; efSearch applies to hnsw"),
            ));
        }
        hnsw = Some(HnswSearch { ef: Some(ef) });
    }
    if let Some(f) = job.k_factor {
        if !c.config().refine {
            return Err(invalid(
                "k_factor",
                "the index keeps no originals to re-score (no RFlat)",
            ));
        }
        if !(f.is_finite() && f >= 1.0) {
            return Err(invalid(
                "k_factor",
                format!("{f} is not a finite number of at least 1"),
            ));
        }
    }
    Ok((ivf, hnsw))
}

/// A hit's id as a number.
fn numeric(id: &Id) -> Result<i64, BatchError> {
    match id {
        Id::Num(n) => {
            i64::try_from(*n).map_err(|_| invalid("index", format!("id {n} does not fit in i64")))
        }
        Id::Str(s) => Err(invalid(
            "index",
            format!("id {s:?} is not a number; outputs hold numeric ids"),
        )),
    }
}

/// An output file's layout.
#[derive(Clone, Copy, PartialEq)]
enum OutFormat {
    Ivecs,
    Npy,
}

/// The `.npy` header of a `(rows, k)` array of `(id <i8, distance <f4)`.
fn npy_header(rows: usize, k: usize) -> Vec<u8> {
    let dict = format!(
        "{{'descr': [('id', '<i8'), ('distance', '<f4')], 'fortran_order': False, 'shape': ({rows}, {k}), }}"
    );
    // Magic, version 1.0, u16 length; the header ends in '\n' and pads the
    // data to a multiple of 64 bytes.
    let unpadded = 10 + dict.len() + 1;
    let hlen = dict.len() + 1 + (64 - unpadded % 64) % 64;
    let mut out = Vec::with_capacity(10 + hlen);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(hlen as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(10 + hlen - 1, b' ');
    out.push(b'\n');
    out
}

/// Where [`run`] hands each batch's ids and distances.
type Sink<'a> = dyn FnMut(&[i64], &[f32]) -> Result<(), BatchError> + 'a;

/// Scores every query of `queries` against `c` in parallel batches of
/// [`SearchJob::chunk_rows`], handing each batch's ids (`k` per query,
/// -1 padded) and distances (+inf padded) to `sink`; returns the
/// recall hits against `gt`.
fn run(
    c: &Collection,
    queries: &VectorFile,
    gt: Option<&VectorFile>,
    job: &SearchJob,
    hooks: &Hooks<'_>,
    sink: &mut Sink<'_>,
) -> Result<usize, BatchError> {
    let (ivf, hnsw) = search_params(c, job)?;
    let params = match (&ivf, &hnsw) {
        (Some(s), _) => Params::typed(s),
        (_, Some(s)) => Params::typed(s),
        _ => Params::defaults(),
    };
    let options = SearchOptions {
        params,
        k_factor: job.k_factor,
        ..SearchOptions::default()
    };
    let (n, k, dim) = (queries.rows(), job.k, queries.dim());
    let chunk = job.chunk_rows.max(1);
    let mut buf = Vec::new();
    let mut truth = Vec::new();
    let mut ids = Vec::new();
    let mut dists = Vec::new();
    let mut hits = 0;
    for start in (0..n).step_by(chunk) {
        hooks.cancel.check()?;
        let count = chunk.min(n - start);
        queries.read_f32(start, count, &mut buf)?;
        let found: Vec<Vec<Neighbor>> = buf
            .par_chunks_exact(dim)
            .map(|q| c.search_slots(q, k, &options))
            .collect::<Result<_, VectorError>>()?;
        ids.clear();
        dists.clear();
        for row in &found {
            for nb in row.iter().take(k) {
                let id = c
                    .id_of_slot(nb.slot)
                    .ok_or_else(|| invalid("index", format!("slot {} has no id", nb.slot)))?;
                ids.push(numeric(id)?);
                dists.push(nb.distance);
            }
            for _ in row.len()..k {
                ids.push(-1);
                dists.push(f32::INFINITY);
            }
        }
        if let Some(gt) = gt {
            gt.read_i32(start, count, &mut truth)?;
            hits += recall_at(&ids, &truth, k, gt.dim());
        }
        sink(&ids, &dists)?;
        hooks.report("search", start + count, n);
    }
    Ok(hits)
}

/// Opens the saved index `index` (memory-mapped) and scores every query
/// of `queries` (`.fvecs`, `.bvecs` or `.npy`, read in batches through
/// memory maps) in parallel (rayon), each batch as
/// [`Collection::search_with`] would answer its queries one by one.
/// With [`SearchJob::out`] the ids and distances are written atomically
/// (streamed to a temporary file beside it, renamed at the end: an error
/// or a cancellation leaves no output and no temporary file); with
/// [`SearchJob::gt`] recall@k is measured.
///
/// # Errors
/// [`BatchError::Cancelled`] when `hooks.cancel` is set (checked between
/// batches); [`BatchError::Invalid`] for `k` 0, an output extension other
/// than `.ivecs`/`.npy`, ground truth with another number of rows or
/// fewer than `k` per query, a search parameter the index does not have,
/// an id that does not fit the output; [`BatchError::Vector`] for files
/// that cannot be read (naming the file and byte offset), a query of
/// another dimension, or a failed write.
pub fn search(
    index: impl AsRef<Path>,
    queries: impl AsRef<Path>,
    job: &SearchJob,
    hooks: &Hooks<'_>,
) -> Result<SearchReport, BatchError> {
    if job.k == 0 {
        return Err(invalid("k", "must be at least 1"));
    }
    let out_format = match &job.out {
        None => None,
        Some(p) => match VectorFormat::of_path(p) {
            Ok(VectorFormat::Ivecs) => Some(OutFormat::Ivecs),
            Ok(VectorFormat::Npy) => Some(OutFormat::Npy),
            _ => {
                return Err(invalid(
                    "out",
                    format!("{}: results are written as .ivecs or .npy", p.display()),
                ))
            }
        },
    };
    let c = Collection::open(index)?;
    let queries = VectorFile::open(queries)?;
    if queries.rows() > 0 && queries.dim() != c.dim() {
        return Err(VectorError::WrongDimension {
            expected: c.dim(),
            got: queries.dim(),
        }
        .into());
    }
    let gt = match &job.gt {
        None => None,
        Some(p) => {
            let gt = VectorFile::open(p)?;
            if gt.format() != VectorFormat::Ivecs {
                return Err(invalid(
                    "gt",
                    format!("{}: ground truth is an .ivecs file", p.display()),
                ));
            }
            if gt.rows() != queries.rows() {
                return Err(invalid(
                    "gt",
                    format!(
                        "{} has {} rows for {} queries",
                        p.display(),
                        gt.rows(),
                        queries.rows()
                    ),
                ));
            }
            if gt.rows() > 0 && gt.dim() < job.k {
                return Err(invalid(
                    "gt",
                    format!(
                        "{} has {} neighbours per query, fewer than k = {}",
                        p.display(),
                        gt.dim(),
                        job.k
                    ),
                ));
            }
            Some(gt)
        }
    };
    let started = Instant::now();
    let (n, k) = (queries.rows(), job.k);
    let hits = match (&job.out, out_format) {
        (Some(path), Some(format)) => {
            let mut failure = None;
            let mut hits = 0;
            let written = unidb_common::fs::write_atomic_with(path, |w| {
                let header = match format {
                    OutFormat::Npy => w.write_all(&npy_header(n, k)),
                    OutFormat::Ivecs => Ok(()),
                };
                let mut sink = |ids: &[i64], dists: &[f32]| -> Result<(), BatchError> {
                    write_rows(w, format, k, ids, dists)
                        .map_err(|e| VectorError::io(path, e).into())
                };
                let result = header
                    .map_err(|e| VectorError::io(path, e).into())
                    .and_then(|()| run(&c, &queries, gt.as_ref(), job, hooks, &mut sink));
                match result {
                    Ok(h) => {
                        hits = h;
                        Ok(())
                    }
                    Err(e) => {
                        failure = Some(e);
                        Err(std::io::Error::other("the search stopped"))
                    }
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
            written.map_err(|e| VectorError::io(path, e.into()))?;
            hits
        }
        _ => run(&c, &queries, gt.as_ref(), job, hooks, &mut |_, _| Ok(()))?,
    };
    let search_s = started.elapsed().as_secs_f64();
    Ok(SearchReport {
        queries: n,
        k,
        qps: n as f64 / search_s.max(1e-9),
        search_s,
        recall: gt.map(|_| hits as f64 / (k * n).max(1) as f64),
        peak_rss_bytes: peak_rss_bytes(),
        out: job.out.clone(),
    })
}

/// Writes one batch of results.
fn write_rows(
    w: &mut dyn Write,
    format: OutFormat,
    k: usize,
    ids: &[i64],
    dists: &[f32],
) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(ids.len() * 12 + ids.len() / k.max(1) * 4);
    match format {
        OutFormat::Ivecs => {
            for row in ids.chunks_exact(k) {
                bytes.extend_from_slice(&(k as i32).to_le_bytes());
                for &id in row {
                    let id = i32::try_from(id).map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("id {id} does not fit in an .ivecs i32; write .npy"),
                        )
                    })?;
                    bytes.extend_from_slice(&id.to_le_bytes());
                }
            }
        }
        OutFormat::Npy => {
            for (id, d) in ids.iter().zip(dists) {
                bytes.extend_from_slice(&id.to_le_bytes());
                bytes.extend_from_slice(&d.to_le_bytes());
            }
        }
    }
    w.write_all(&bytes)
}
