//! `unidb vector build` and `unidb vector search`: the batch jobs of
//! `unidb_vectordb::batch`, with a progress bar per stage, Ctrl-C as
//! their cancellation, and a summary (human, or one JSON object).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

use unidb_vectordb::batch::{
    self, BuildOptions, BuildReport, CancelToken, Hooks, SearchJob, SearchReport,
};

use crate::at_least_one;
use crate::output::{emit, progress_enabled, sig3, StageBars};

/// The arguments of `unidb vector build`.
#[derive(Debug, Clone, clap::Args)]
pub struct VectorBuildArgs {
    /// Base vectors: .fvecs, .bvecs or .npy (read in chunks).
    #[arg(long)]
    pub base: PathBuf,
    /// The index as a FAISS index_factory string (e.g. IVF1024,PQ16x8).
    #[arg(long)]
    pub factory: String,
    /// The index file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Memory the build may use: bytes, or with a unit (512MiB, 2GiB,
    /// 1GB). The build is refused when its estimate does not fit.
    #[arg(long, value_parser = batch::parse_bytes)]
    pub memory_limit: Option<u64>,
    /// Rows sampled (seeded) to train the quantizer on.
    #[arg(long, value_parser = at_least_one::<usize>, default_value_t = BuildOptions::default().train_size)]
    pub train_size: usize,
    /// Metric plugin: l2, ip, cosine, ...
    #[arg(long, default_value_t = BuildOptions::default().metric)]
    pub metric: String,
    /// Seed of the training sample.
    #[arg(long, default_value_t = BuildOptions::default().seed)]
    pub seed: u64,
}

impl From<&VectorBuildArgs> for BuildOptions {
    fn from(a: &VectorBuildArgs) -> Self {
        BuildOptions {
            factory: a.factory.clone(),
            metric: a.metric.clone(),
            memory_limit: a.memory_limit,
            train_size: a.train_size,
            seed: a.seed,
            chunk_rows: None,
        }
    }
}

/// The arguments of `unidb vector search`.
#[derive(Debug, Clone, clap::Args)]
pub struct VectorSearchArgs {
    /// The index file (from `unidb vector build` or `Collection::save`).
    #[arg(long)]
    pub index: PathBuf,
    /// Query vectors: .fvecs, .bvecs or .npy.
    #[arg(long)]
    pub queries: PathBuf,
    /// Neighbours per query.
    #[arg(long, value_parser = at_least_one::<usize>, default_value_t = SearchJob::default().k)]
    pub k: usize,
    /// Results: .ivecs (ids) or .npy (ids and distances), written atomically.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Ground truth (.ivecs of base row numbers): recall@k is reported.
    #[arg(long)]
    pub gt: Option<PathBuf>,
    /// IVF lists probed.
    #[arg(long, value_parser = at_least_one::<usize>)]
    pub nprobe: Option<usize>,
    /// HNSW candidate list size.
    #[arg(long = "ef-search", value_parser = at_least_one::<usize>)]
    pub ef_search: Option<usize>,
    /// With RFlat: re-score k * N candidates exactly (at least 1).
    #[arg(long = "k-factor", value_parser = super::k_factor_value)]
    pub k_factor: Option<f32>,
}

impl From<&VectorSearchArgs> for SearchJob {
    fn from(a: &VectorSearchArgs) -> Self {
        SearchJob {
            k: a.k,
            out: a.out.clone(),
            gt: a.gt.clone(),
            nprobe: a.nprobe,
            ef_search: a.ef_search,
            k_factor: a.k_factor,
            ..SearchJob::default()
        }
    }
}

/// The token Ctrl-C (and SIGTERM) cancels: the handler is installed once
/// per process. A second Ctrl-C while a job finishes a step it cannot
/// interrupt exits at once (status 130); temporary files a killed save
/// leaves are removed by the next save of the same file.
fn interrupt_token() -> CancelToken {
    static TOKEN: OnceLock<CancelToken> = OnceLock::new();
    TOKEN
        .get_or_init(|| {
            let token = CancelToken::new();
            let handler = token.clone();
            // Best effort: without a handler Ctrl-C kills the process,
            // which also leaves no output file (only a temporary one).
            let _ = ctrlc::set_handler(move || {
                if handler.is_cancelled() {
                    std::process::exit(130);
                }
                handler.cancel();
            });
            token
        })
        .clone()
}

fn opt_bytes(v: Option<u64>) -> String {
    v.map_or("-".to_owned(), |b| {
        format!("{} MiB", sig3(b as f64 / f64::from(1 << 20)))
    })
}

/// The summary of a build: a human line, or its JSON object.
pub fn format_build(report: &BuildReport, out: &std::path::Path, json: bool) -> String {
    if json {
        let v = serde_json::json!({
            "rows": report.rows,
            "dim": report.dim,
            "factory": report.factory,
            "train_s": report.train_s,
            "add_s": report.add_s,
            "rows_s": report.rows_s,
            "bytes": report.bytes,
            "bytes_per_vector": report.bytes_per_vector,
            "peak_rss_bytes": report.peak_rss_bytes,
            "out": out,
        });
        return format!("{v}\n");
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "built {}: {} rows of dim {} as {}\n  train {} s, add {} s ({} rows/s)\n  file {} bytes, {} bytes/vector, peak RSS {}",
        out.display(),
        report.rows,
        report.dim,
        report.factory,
        sig3(report.train_s),
        sig3(report.add_s),
        sig3(report.rows_s),
        report.bytes,
        report.bytes_per_vector,
        opt_bytes(report.peak_rss_bytes),
    );
    s
}

/// The summary of a search: a human line, or its JSON object.
pub fn format_search(report: &SearchReport, json: bool) -> String {
    if json {
        let v = serde_json::json!({
            "queries": report.queries,
            "k": report.k,
            "qps": report.qps,
            "recall": report.recall,
            "peak_rss_bytes": report.peak_rss_bytes,
            "out": report.out,
        });
        return format!("{v}\n");
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "searched {} queries, k {}: {} queries/s, recall@{} {}, peak RSS {}{}",
        report.queries,
        report.k,
        sig3(report.qps),
        report.k,
        report.recall.map_or("-".to_owned(), sig3),
        opt_bytes(report.peak_rss_bytes),
        report
            .out
            .as_ref()
            .map_or(String::new(), |p| format!(", results in {}", p.display())),
    );
    s
}

/// Runs `unidb vector build`.
///
/// # Errors
/// The job's error (a cancellation is `BatchError::Cancelled`), or a
/// failed write to standard output.
pub fn run_build(args: &VectorBuildArgs, json: bool) -> Result<(), unidb_common::Error> {
    let bars = StageBars::new(progress_enabled(json));
    let progress = |stage: &str, done: u64, total: u64| bars.update(stage, done, total);
    let hooks = Hooks::new()
        .with_progress(&progress)
        .with_cancel(interrupt_token());
    let report = batch::build(&args.base, &args.out, &BuildOptions::from(args), &hooks)?;
    drop(bars);
    emit(&format_build(&report, &args.out, json)).map_err(crate::output_error)
}

/// Runs `unidb vector search`.
///
/// # Errors
/// As [`run_build`].
pub fn run_search(args: &VectorSearchArgs, json: bool) -> Result<(), unidb_common::Error> {
    let bars = StageBars::new(progress_enabled(json));
    let progress = |stage: &str, done: u64, total: u64| bars.update(stage, done, total);
    let hooks = Hooks::new()
        .with_progress(&progress)
        .with_cancel(interrupt_token());
    let report = batch::search(&args.index, &args.queries, &SearchJob::from(args), &hooks)?;
    drop(bars);
    emit(&format_search(&report, json)).map_err(crate::output_error)
}
