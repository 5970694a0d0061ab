//! `unidb vector`: the vector database's commands. The benchmark itself is
//! `unidb_vectordb::bench`; this module holds its command-line arguments
//! and prints its rows, as a table or (with `--json`) one JSON object per
//! line, with a progress bar per stage on a terminal.

use std::fmt::Write as _;
use std::path::PathBuf;

use unidb_vectordb::bench::{run_with, BenchOptions, BenchRow, Callbacks};
use unidb_vectordb::Storage;

use crate::at_least_one;
use crate::output::{emit, progress_enabled, sig3, StageBars};

pub mod batch;

/// The `unidb vector` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum VectorCommand {
    /// Build an index over base vectors and report recall@10, QPS and build
    /// time per search setting: a table, or one JSON object per line with
    /// `--json`.
    Bench(VectorBenchArgs),
    /// Build an index file from a base file larger than memory if need
    /// be: train on a sample, add in chunks, save atomically.
    Build(batch::VectorBuildArgs),
    /// Score a file of queries against an index in parallel batches;
    /// write ids and distances, report recall with ground truth.
    Search(batch::VectorSearchArgs),
}

impl VectorCommand {
    /// Runs the subcommand, printing each row to standard output as it is
    /// measured (a table, or JSON lines with `json`), with progress bars on
    /// standard error when it is a terminal and `json` is off.
    ///
    /// # Errors
    /// As `unidb_vectordb::bench::run` and `unidb_vectordb::batch`; a
    /// failed write to standard output stops the run.
    pub fn run(&self, json: bool) -> std::result::Result<(), unidb_common::Error> {
        match self {
            VectorCommand::Build(args) => batch::run_build(args, json),
            VectorCommand::Search(args) => batch::run_search(args, json),
            VectorCommand::Bench(args) => {
                let bars = StageBars::new(progress_enabled(json));
                let mut header = !json;
                let callbacks = Callbacks::new()
                    .on_progress(|p| bars.update(p.stage.label(), p.done as u64, p.total as u64))
                    .on_row(|row| {
                        let mut text = String::new();
                        if std::mem::take(&mut header) {
                            text.push_str(&table_header());
                        }
                        text.push_str(&format_row(row, json));
                        bars.suspend(|| emit(&text))
                    });
                run_with(&BenchOptions::from(args.clone()), callbacks)?;
                Ok(())
            }
        }
    }
}

/// The header of the human table of `unidb vector bench`.
pub fn table_header() -> String {
    format!(
        "{:<24} {:<6} {:<7} {:>7} {:>7} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}\n",
        "factory",
        "index",
        "storage",
        "ef",
        "nprobe",
        "kf",
        "recall@10",
        "qps",
        "train s",
        "build s",
        "B/vector",
        "vec bytes",
        "threads"
    )
}

/// One row: a line of the human table (figures to 3 significant digits),
/// or its JSON object and a line break.
pub fn format_row(row: &BenchRow, json: bool) -> String {
    if json {
        return format!("{}\n", row.to_json());
    }
    let opt = |v: Option<usize>| v.map_or("-".to_owned(), |v| v.to_string());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<6} {:<7} {:>7} {:>7} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        row.factory.as_deref().unwrap_or("-"),
        row.index,
        row.storage.name(),
        opt(row.ef),
        opt(row.nprobe),
        row.k_factor.map_or("-".to_owned(), |v| v.to_string()),
        sig3(row.recall_at_10),
        sig3(row.qps),
        sig3(row.train_s),
        sig3(row.build_s),
        sig3(row.bytes_per_vector),
        sig3(row.vector_bytes),
        row.threads
    );
    out
}

/// The arguments of `unidb vector bench`: the fields of [`BenchOptions`],
/// with its [`Default`] as their defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct VectorBenchArgs {
    /// Base vectors (.fvecs or .npy); generated clustered data when absent.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Query vectors (.fvecs or .npy).
    #[arg(long)]
    pub query: Option<PathBuf>,
    /// Ground truth (.ivecs of base row numbers); computed exactly when absent.
    #[arg(long)]
    pub gt: Option<PathBuf>,
    /// The index and storage as a FAISS index_factory string: Flat,
    /// HNSW{M}[,Flat|,SQ8|,SQfp16], IVF{n},(Flat|SQ8|SQfp16), SQ8 or
    /// SQfp16 (`--index`, `--storage`, `--m` and `--nlist` are shorthands
    /// for these and cannot be given with it).
    #[arg(long, conflicts_with_all = ["index", "storage", "m", "nlist"])]
    pub factory: Option<String>,
    /// Index plugin: flat, hnsw or ivf.
    #[arg(long, default_value_t = BenchOptions::default().index)]
    pub index: String,
    /// Metric plugin.
    #[arg(long, default_value_t = BenchOptions::default().metric)]
    pub metric: String,
    /// How vectors are stored: f32, f16 or i8 (scalar-quantized; the
    /// quantizer is trained on every base vector). Recall is
    /// always measured against the exact f32 neighbours.
    #[arg(long, default_value_t = BenchOptions::default().storage)]
    pub storage: Storage,
    /// HNSW M.
    #[arg(long, value_parser = at_least_one::<usize>, default_value_t = BenchOptions::default().m)]
    pub m: usize,
    /// HNSW ef_construction.
    #[arg(long, value_parser = at_least_one::<usize>, default_value_t = BenchOptions::default().ef_construction)]
    pub ef_construction: usize,
    /// HNSW ef values to measure, separated by commas or spaces
    /// (`--ef 10,20,40` or `--ef 10 20 40`).
    #[arg(long, num_args = 1.., value_delimiter = ',', value_parser = at_least_one::<usize>, default_values_t = BenchOptions::default().ef)]
    pub ef: Vec<usize>,
    /// IVF number of lists.
    #[arg(long, value_parser = at_least_one::<usize>, default_value_t = BenchOptions::default().nlist)]
    pub nlist: usize,
    /// IVF nprobe values to measure, separated by commas or spaces
    /// (`--nprobe 1,2,4` or `--nprobe 1 2 4`).
    #[arg(long, num_args = 1.., value_delimiter = ',', value_parser = at_least_one::<usize>, default_values_t = BenchOptions::default().nprobe)]
    pub nprobe: Vec<usize>,
    /// Threads for build and queries (1: serial build, one query at a time).
    #[arg(long, value_parser = at_least_one::<usize>, default_value_t = BenchOptions::default().threads)]
    pub threads: usize,
    /// Neighbours per query (recall is measured at 10, or k if smaller).
    #[arg(long, value_parser = at_least_one::<usize>, default_value_t = BenchOptions::default().k)]
    pub k: usize,
    /// Seed for the index and for generated data.
    #[arg(long, default_value_t = BenchOptions::default().seed)]
    pub seed: u64,
    /// Generated data (without --base): base vectors.
    #[arg(long, value_parser = at_least_one::<usize>, default_value_t = BenchOptions::default().rows)]
    pub rows: usize,
    /// Generated data (without --query): query vectors.
    #[arg(long, value_parser = at_least_one::<usize>, default_value_t = BenchOptions::default().queries)]
    pub queries: usize,
    /// Generated data (without --base): dimension.
    #[arg(long, value_parser = at_least_one::<usize>, default_value_t = BenchOptions::default().dim)]
    pub dim: usize,
    /// With a factory string ending in RFlat: fetch k * N candidates and
    /// re-score them exactly on the original vectors (FAISS's
    /// k_factor_rf; at least 1).
    #[arg(long = "k-factor", value_parser = k_factor_value)]
    pub k_factor: Option<f32>,
}

/// Parses `--k-factor`: a finite number of at least 1.
pub(crate) fn k_factor_value(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 1.0 => Ok(v),
        _ => Err(format!("{s:?} is not a finite number of at least 1")),
    }
}

impl From<VectorBenchArgs> for BenchOptions {
    fn from(args: VectorBenchArgs) -> Self {
        // Destructured in full, and `BenchOptions` built without `..`: a
        // field added to either side fails to compile until it is mapped.
        let VectorBenchArgs {
            base,
            query,
            gt,
            factory,
            index,
            metric,
            storage,
            m,
            ef_construction,
            ef,
            nlist,
            nprobe,
            threads,
            k,
            seed,
            rows,
            queries,
            dim,
            k_factor,
        } = args;
        BenchOptions {
            base,
            query,
            gt,
            factory,
            index,
            metric,
            storage,
            m,
            ef_construction,
            ef,
            nlist,
            nprobe,
            threads,
            k,
            seed,
            rows,
            queries,
            dim,
            k_factor,
        }
    }
}
