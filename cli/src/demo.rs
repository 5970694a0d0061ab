//! What `unidb` prints without a command (`cargo run --release`): a
//! few-second tour of the shared core and both databases, then the
//! commands to go further.
//!
//! 1. The CPU, its kernel paths and the active one.
//! 2. One kernel (`l2sq_f32` at dimension 768) on the active path against
//!    the scalar reference.
//! 3. The vector database: an HNSW index over 5000 generated vectors,
//!    searched with recall@10 measured against brute force.
//! 4. The sync database: three replicas and a server writing offline and
//!    syncing over a network that drops, duplicates and reorders messages;
//!    they must converge, or the demo fails.

use std::fmt::Write as _;
use std::time::Duration;

use clap::CommandFactory as _;
use serde_json::json;
use unidb_kernels::{Isa, Kernels};
use unidb_syncdb::sim::{simulate, SimConfig, SimReport};
use unidb_vectordb::bench::{BenchOptions, BenchRow};

use crate::bench::{kernel_cases, run_cases, BenchError, Cell};
use crate::output::{sig3, Spinner};

/// The demo's vector search: base vectors, queries and their dimension.
pub const VECTOR_ROWS: usize = 5000;
/// Queries of the demo's vector search.
pub const VECTOR_QUERIES: usize = 200;
/// Dimension of the demo's vectors.
pub const VECTOR_DIM: usize = 64;
/// Client replicas of the demo's sync (a server is added).
pub const SYNC_REPLICAS: usize = 3;

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The kernel part failed (an invalid `UNIDB_ISA`, or a path that
    /// disagrees with the scalar reference).
    #[error(transparent)]
    Kernels(#[from] BenchError),
    /// The vector database failed.
    #[error(transparent)]
    Vector(#[from] unidb_vectordb::VectorError),
    /// The sync database failed.
    #[error(transparent)]
    Sync(#[from] unidb_syncdb::SyncError),
    /// The replicas did not converge; the demo's report so far.
    #[error("the replicas did not converge:\n{0}")]
    Diverged(String),
}

impl DemoError {
    /// The project-wide category: each library's error its own kind,
    /// replicas that diverged [`Conflict`](unidb_common::ErrorKind::Conflict).
    pub fn kind(&self) -> unidb_common::ErrorKind {
        match self {
            DemoError::Kernels(e) => e.kind(),
            DemoError::Vector(e) => e.kind(),
            DemoError::Sync(e) => e.kind(),
            DemoError::Diverged(_) => unidb_common::ErrorKind::Conflict,
        }
    }
}

impl From<DemoError> for unidb_common::Error {
    fn from(e: DemoError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The CPU and kernel-path report (`unidb info`'s first part).
    pub isa_summary: String,
    /// `l2sq_f32` at dimension 768: the scalar cell, then the active
    /// path's (when it is not scalar).
    pub kernel: Vec<Cell>,
    /// The HNSW search over generated vectors.
    pub vector: BenchRow,
    /// The three-replica sync.
    pub sync: SimReport,
    /// The subcommands, with their one-line help.
    pub commands: Vec<(String, String)>,
}

impl Demo {
    /// Whether the replicas converged to the reference state without
    /// losing an acknowledged write.
    pub fn converged(&self) -> bool {
        self.sync.converged && self.sync.matches_reference && self.sync.lost_acked_writes == 0
    }

    /// The human report, figures to 3 significant digits.
    pub fn text(&self) -> String {
        let mut out = self.isa_summary.clone();
        let _ = writeln!(
            out,
            "\nkernel: squared L2 distance of two 768-float vectors"
        );
        for c in &self.kernel {
            let vs = c
                .vs_scalar
                .filter(|_| c.isa != Isa::Scalar)
                .map_or(String::new(), |r| format!(", {}x scalar", sig3(r)));
            let _ = writeln!(
                out,
                "  {:<8} {} GB/s{vs}",
                c.isa.name(),
                sig3(c.bytes_per_sec / 1e9)
            );
        }
        let v = &self.vector;
        let _ = writeln!(
            out,
            "\nvector database: HNSW over {VECTOR_ROWS} generated vectors of dimension {VECTOR_DIM}, {VECTOR_QUERIES} queries"
        );
        let _ = writeln!(
            out,
            "  built in {} s; ef {}: recall@10 {} against brute force, {} queries/s ({} threads)",
            sig3(v.build_s),
            v.ef.unwrap_or_default(),
            sig3(v.recall_at_10),
            sig3(v.qps),
            v.threads
        );
        let s = &self.sync;
        let _ = writeln!(
            out,
            "\nsync database: {} replicas and a server, {} offline writes, a network that drops, duplicates and reorders",
            s.replicas, s.committed
        );
        let _ = writeln!(
            out,
            "  {} messages ({} bytes), {} dropped, {} duplicated; converged: {}, matches the reference model: {}, lost acknowledged writes: {}",
            s.messages,
            s.bytes,
            s.dropped,
            s.duplicated,
            s.converged,
            s.matches_reference,
            s.lost_acked_writes
        );
        let _ = writeln!(
            out,
            "\ncommands (`unidb <command> --help`, `--json` for JSON):"
        );
        let width = self
            .commands
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(0);
        for (name, about) in &self.commands {
            let _ = writeln!(out, "  unidb {name:width$}  {about}");
        }
        out
    }

    /// The report as one JSON object: `isa` (as `unidb info --json`'s),
    /// `kernel` (cells as `bench kernels --json`'s), `vector` (a row as
    /// `vector bench --json`'s, with `rows`, `queries`, `dim`), `sync`
    /// (as `sync simulate --json`'s) and `commands`.
    pub fn json(&self) -> serde_json::Value {
        let isa = crate::info::info_json()
            .map(|v| v["isa"].clone())
            .unwrap_or_default();
        json!({
            "isa": isa,
            "kernel": self.kernel,
            "vector": {
                "rows": VECTOR_ROWS,
                "queries": VECTOR_QUERIES,
                "dim": VECTOR_DIM,
                "result": self.vector,
            },
            "sync": self.sync,
            "commands": self
                .commands
                .iter()
                .map(|(name, about)| json!({"name": name, "about": about}))
                .collect::<Vec<_>>(),
        })
    }
}

/// Every subcommand path (`bench kernels`, `sync simulate`, ...) with its
/// one-line help.
fn commands() -> Vec<(String, String)> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, String)>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{prefix}{}", sub.get_name());
            if sub.has_subcommands() {
                walk(sub, &format!("{name} "), out);
            } else {
                let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
                let first = about.lines().next().unwrap_or_default().to_owned();
                out.push((name, first));
            }
        }
    }
    let mut out = Vec::new();
    walk(&crate::Cli::command(), "", &mut out);
    out
}

/// Runs the demo's measurements, with spinners on standard error when
/// `progress` is set.
///
/// # Errors
/// A library error, or [`DemoError::Diverged`] when the replicas do not
/// converge.
pub fn measure(progress: bool) -> Result<Demo, DemoError> {
    let isa_summary = crate::info::isa_summary().map_err(BenchError::from)?;
    let kernel = {
        let _s = Spinner::new(progress, "kernels");
        let mut cases: Vec<_> = kernel_cases(&[768], 0)
            .into_iter()
            .filter(|c| c.kernel == "l2sq_f32")
            .collect();
        let mut isas = vec![
            Isa::Scalar,
            Kernels::try_active().map_err(BenchError::from)?.isa(),
        ];
        isas.dedup();
        run_cases(&mut cases, &isas, Duration::from_millis(40), &|_, _| {})?
    };
    let vector = {
        let _s = Spinner::new(progress, "vector search");
        let opts = BenchOptions {
            rows: VECTOR_ROWS,
            queries: VECTOR_QUERIES,
            dim: VECTOR_DIM,
            ef: vec![64],
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ..BenchOptions::default()
        };
        unidb_vectordb::bench::run(&opts)?
            .pop()
            .ok_or_else(|| unidb_vectordb::VectorError::InvalidConfig("no search row".into()))?
    };
    let sync = {
        let _s = Spinner::new(progress, "sync");
        simulate(&SimConfig {
            replicas: SYNC_REPLICAS,
            ops: 300,
            ..SimConfig::default()
        })?
    };
    let demo = Demo {
        isa_summary,
        kernel,
        vector,
        sync,
        commands: commands(),
    };
    if demo.converged() {
        Ok(demo)
    } else {
        Err(DemoError::Diverged(demo.text()))
    }
}

/// Runs the demo and returns its report: text, or one JSON object with
/// `json`.
///
/// # Errors
/// As [`measure`].
pub fn run(json: bool) -> Result<String, DemoError> {
    let demo = measure(crate::output::progress_enabled(json))?;
    Ok(if json {
        format!("{:#}\n", demo.json())
    } else {
        demo.text()
    })
}

#[cfg(test)]
mod tests;
