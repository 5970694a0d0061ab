//! Long jobs over vector files: build a saved index from a base file
//! larger than memory ([`build`]), and score a file of queries in
//! parallel batches ([`search`]), with the hooks an application drives
//! them by: a [`Progress`] receiving rows done of a total per stage, and
//! a [`CancelToken`] checked between chunks.
//!
//! Both write their output atomically: the file appears complete at the
//! end, or not at all (an error or a cancellation leaves no output and no
//! temporary file behind).
//!
//! ```
//! use unidb_vectordb::batch::{self, BuildOptions, Hooks, SearchJob};
//! use unidb_vectordb::{data, io};
//! # fn main() -> Result<(), batch::BatchError> {
//! let dir = std::env::temp_dir().join(format!("batch-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let base = dir.join("base.fvecs");
//! std::fs::write(&base, io::to_fvecs(&data::clustered(2000, 8, 10, 0.1, 1), 8)).unwrap();
//! let index = dir.join("index.unidb");
//! let options = BuildOptions::new("IVF16,PQ4x8").with_train_size(1000);
//! let built = batch::build(&base, &index, &options, &Hooks::new())?;
//! assert_eq!((built.rows, built.dim), (2000, 8));
//! let out = dir.join("ids.ivecs");
//! let job = SearchJob { k: 5, out: Some(out.clone()), ..SearchJob::default() };
//! let found = batch::search(&index, &base, &job, &Hooks::new())?;
//! assert_eq!(found.queries, 2000);
//! assert_eq!(io::read_ivecs(&out)?.dim, 5);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::VectorError;

mod build;
mod search;

pub use build::{
    build, build_collection, memory_estimate, BuildOptions, BuildReport, MemoryEstimate,
};
pub use search::{recall_at, search, SearchJob, SearchReport};

/// A flag shared between a job and whoever may stop it (a Ctrl-C
/// handler, another thread); jobs check it between chunks.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every job holding a clone of this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(BatchError::Cancelled)` once cancelled.
    ///
    /// # Errors
    /// [`BatchError::Cancelled`].
    pub fn check(&self) -> Result<(), BatchError> {
        if self.is_cancelled() {
            Err(BatchError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Receives a job's progress: `done` of `total` rows of the stage named
/// `stage` (build: `sample`, `train`, `add`, `index`, `save`; search:
/// `search`). Called from the job's thread, after each chunk.
pub trait Progress: Sync {
    /// Reports progress.
    fn update(&self, stage: &str, done: u64, total: u64);
}

impl<F: Fn(&str, u64, u64) + Sync> Progress for F {
    fn update(&self, stage: &str, done: u64, total: u64) {
        self(stage, done, total);
    }
}

/// The hooks of a job: progress reports (none by default) and a
/// cancellation token.
#[derive(Clone, Default)]
pub struct Hooks<'a> {
    /// Where progress goes.
    pub progress: Option<&'a dyn Progress>,
    /// Checked between chunks.
    pub cancel: CancelToken,
}

impl std::fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

impl<'a> Hooks<'a> {
    /// No progress reports, a fresh token.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same hooks reporting to `progress`.
    pub fn with_progress(mut self, progress: &'a dyn Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The same hooks checking `cancel`.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    pub(crate) fn report(&self, stage: &str, done: usize, total: usize) {
        if let Some(p) = self.progress {
            p.update(stage, done as u64, total as u64);
        }
    }
}

/// What went wrong in a batch job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Reading, building, searching or saving failed.
    #[error(transparent)]
    Vector(#[from] VectorError),
    /// The job was cancelled; no output was written.
    #[error("cancelled: no output written")]
    Cancelled,
    /// The job cannot run within the memory limit.
    #[error("{what} needs about {needed} bytes, more than the memory limit of {limit} bytes")]
    MemoryLimit {
        /// What needs the memory.
        what: String,
        /// Estimated bytes.
        needed: u64,
        /// The limit.
        limit: u64,
    },
    /// An argument of the job is invalid (named in the message).
    #[error("invalid {name}: {reason}")]
    Invalid {
        /// The argument.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

impl BatchError {
    /// The project-wide category of this error.
    pub fn kind(&self) -> unidb_common::ErrorKind {
        use unidb_common::ErrorKind as K;
        match self {
            BatchError::Vector(e) => e.kind(),
            BatchError::Cancelled => K::of_io(std::io::ErrorKind::Interrupted),
            BatchError::MemoryLimit { .. } | BatchError::Invalid { .. } => K::Configuration,
        }
    }
}

impl From<BatchError> for unidb_common::Error {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Vector(v) => v.into(),
            e => unidb_common::Error::new(e.kind(), e.to_string()).with_source(e),
        }
    }
}

/// The peak resident memory of this process so far, in bytes (`VmHWM`
/// of `/proc/self/status`); `None` where that is not available.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// Parses a byte count: an integer with an optional unit, `B`, `k`/`KB`
/// (1000), `KiB` (1024), `M`/`MB`, `MiB`, `G`/`GB`, `GiB`, `T`/`TB`,
/// `TiB` (case-insensitive; a space between number and unit allowed).
///
/// ```
/// use unidb_vectordb::batch::parse_bytes;
/// assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
/// assert_eq!(parse_bytes("512 MB"), Ok(512_000_000));
/// assert_eq!(parse_bytes("4096"), Ok(4096));
/// assert!(parse_bytes("2 GiBs").is_err());
/// ```
///
/// # Errors
/// A message naming the text for anything else, or an overflow.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count such as 1073741824, 512MiB or 2GiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        u => {
            return Err(format!(
                "unknown unit {u:?} in {text:?}: use B, KB, KiB, MB, MiB, GB, GiB, TB or TiB"
            ))
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// A seeded uniform sample of `k` of the row numbers `0..n` without
/// replacement, in increasing order (selection sampling, Knuth's
/// Algorithm S: one pass, so a file is read front to back); all rows
/// when `k >= n`. The training sample of [`build`].
///
/// ```
/// use unidb_vectordb::batch::sample_rows;
/// let s = sample_rows(1000, 10, 7);
/// assert_eq!(s.len(), 10);
/// assert!(s.windows(2).all(|w| w[0] < w[1]) && s[9] < 1000);
/// assert_eq!(s, sample_rows(1000, 10, 7));
/// assert_eq!(sample_rows(3, 10, 7), [0, 1, 2]);
/// ```
pub fn sample_rows(n: usize, k: usize, seed: u64) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut rng = unidb_common::rng::SplitMix64::new(seed);
    let mut out = Vec::with_capacity(k);
    for i in 0..n {
        let left = (n - i) as u64;
        let want = (k - out.len()) as u64;
        if want == 0 {
            break;
        }
        if rng.below(left) < want {
            out.push(i);
        }
    }
    out
}
