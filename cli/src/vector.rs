//! `unidb vector`: the vector database's commands. The benchmark itself is
//! `unidb_vectordb::bench`; this module holds its command-line arguments.

use std::io::Write;
use std::path::PathBuf;

use unidb_vectordb::bench::{run_with_progress, BenchOptions, ProgressFn};
use unidb_vectordb::{Result, Storage};

/// The `unidb vector` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum VectorCommand {
    /// Build an index over base vectors and print recall@10, QPS and build
    /// time per search setting, one JSON object per line.
    Bench(VectorBenchArgs),
}

impl VectorCommand {
    /// Runs the subcommand, writing its report to `out`.
    ///
    /// # Errors
    /// As `unidb_vectordb::bench::run`.
    pub fn run(&self, out: &mut dyn Write) -> Result<()> {
        self.run_with_progress(out, &|_, _, _| {})
    }

    /// [`run`](Self::run), reporting the index build's progress to
    /// `progress` ([`progress_bar`] draws it).
    ///
    /// # Errors
    /// As `unidb_vectordb::bench::run`.
    pub fn run_with_progress(&self, out: &mut dyn Write, progress: ProgressFn<'_>) -> Result<()> {
        match self {
            VectorCommand::Bench(args) => {
                run_with_progress(&BenchOptions::from(args.clone()), out, progress).map(|_| ())
            }
        }
    }
}

/// Draws `label [#####     ] done/total (pct%)` on standard error, on one
/// line redrawn in place: the bar `unidb vector bench` shows on a terminal
/// (the library only reports progress).
pub fn progress_bar(label: &str, done: usize, total: usize) {
    let pct = (done * 100 / total.max(1)).min(100);
    let bar = "#".repeat(pct / 4) + &" ".repeat(25 - pct / 4);
    eprint!("\r{label} [{bar}] {done}/{total} ({pct}%)");
    if done >= total {
        eprintln!();
    }
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
    /// Index plugin: flat, hnsw or ivf.
    #[arg(long, default_value_t = BenchOptions::default().index)]
    pub index: String,
    /// Metric plugin.
    #[arg(long, default_value_t = BenchOptions::default().metric)]
    pub metric: String,
    /// How vectors are stored: f32, f16 or i8 (scalar-quantized; the
    /// quantizer is trained on the first 10 000 base vectors). Recall is
    /// always measured against the exact f32 neighbours.
    #[arg(long, default_value_t = BenchOptions::default().storage)]
    pub storage: Storage,
    /// HNSW M.
    #[arg(long, default_value_t = BenchOptions::default().m)]
    pub m: usize,
    /// HNSW ef_construction.
    #[arg(long, default_value_t = BenchOptions::default().ef_construction)]
    pub ef_construction: usize,
    /// HNSW ef values to measure.
    #[arg(long, value_delimiter = ',', default_values_t = BenchOptions::default().ef)]
    pub ef: Vec<usize>,
    /// IVF number of lists.
    #[arg(long, default_value_t = BenchOptions::default().nlist)]
    pub nlist: usize,
    /// IVF nprobe values to measure.
    #[arg(long, value_delimiter = ',', default_values_t = BenchOptions::default().nprobe)]
    pub nprobe: Vec<usize>,
    /// Threads for build and queries (1: serial build, one query at a time).
    #[arg(long, default_value_t = BenchOptions::default().threads)]
    pub threads: usize,
    /// Neighbours per query (recall is measured at 10, or k if smaller).
    #[arg(long, default_value_t = BenchOptions::default().k)]
    pub k: usize,
    /// Seed for the index and for generated data.
    #[arg(long, default_value_t = BenchOptions::default().seed)]
    pub seed: u64,
}

impl From<VectorBenchArgs> for BenchOptions {
    fn from(args: VectorBenchArgs) -> Self {
        // Destructured in full, and `BenchOptions` built without `..`: a
        // field added to either side fails to compile until it is mapped.
        let VectorBenchArgs {
            base,
            query,
            gt,
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
        } = args;
        BenchOptions {
            base,
            query,
            gt,
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
        }
    }
}
