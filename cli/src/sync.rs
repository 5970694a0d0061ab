//! `unidb sync`: the convergence simulation and the row workload of syncdb.

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use unidb_syncdb::sim::{row_workload, simulate, SimConfig};

use crate::output::sig3;

/// `unidb sync ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Replicas and a server write offline, then sync over a network that
    /// drops, duplicates and reorders messages; checks convergence.
    Simulate(SimulateArgs),
    /// The 100k-row workload: insert and update throughput, bytes per
    /// column write, and the merge of two replicas.
    Bench(SyncBenchArgs),
    /// Run the sync server: WebSocket sync, durable log, tokens and
    /// partitions, `/health` and `/metrics` over HTTP.
    Serve(crate::serve::ServeArgs),
    /// Manage the server's auth file: `new`, `add`, `remove`, `token`.
    Auth {
        /// What to do with the file.
        #[command(subcommand)]
        command: crate::serve::AuthCommand,
    },
    /// Load generator: N clients writing M rows each over the network,
    /// then a check that they converged and nothing acknowledged was lost.
    Load(crate::serve::LoadArgs),
}

/// Arguments of `unidb sync simulate`: the [`SimConfig`] fields a user
/// sets, with [`SimConfig::default`] as their defaults.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Client replicas (a server is added).
    #[arg(long, value_parser = crate::at_least_one::<usize>, default_value_t = SimConfig::default().replicas)]
    pub replicas: usize,
    /// Local write attempts spread over the clients.
    #[arg(long, default_value_t = SimConfig::default().ops)]
    pub ops: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = SimConfig::default().seed)]
    pub seed: u64,
    /// Probability that a message is dropped.
    #[arg(long, default_value_t = SimConfig::default().drop)]
    pub drop: f64,
    /// Probability that a message is delivered twice.
    #[arg(long, default_value_t = SimConfig::default().duplicate)]
    pub duplicate: f64,
    /// Probability that a message is delayed (reordered).
    #[arg(long, default_value_t = SimConfig::default().reorder)]
    pub reorder: f64,
}

impl SimulateArgs {
    /// The simulation these arguments ask for: their fields over
    /// [`SimConfig::default`].
    ///
    /// # Errors
    /// [`SyncCliError::InvalidArgument`] for no replicas or a probability
    /// outside [0, 1).
    pub fn config(&self) -> Result<SimConfig, SyncCliError> {
        if self.replicas == 0 {
            return Err(SyncCliError::InvalidArgument {
                name: "replicas",
                reason: "at least 1",
            });
        }
        Ok(SimConfig {
            replicas: self.replicas,
            ops: self.ops,
            seed: self.seed,
            drop: probability("drop", self.drop)?,
            duplicate: probability("duplicate", self.duplicate)?,
            reorder: probability("reorder", self.reorder)?,
            ..SimConfig::default()
        })
    }
}

/// Arguments of `unidb sync bench`.
#[derive(Debug, Clone, Args)]
pub struct SyncBenchArgs {
    /// Rows inserted.
    #[arg(long, value_parser = crate::at_least_one::<usize>, default_value_t = 100_000)]
    pub rows: usize,
    /// Random single-column updates.
    #[arg(long, default_value_t = 100_000)]
    pub updates: usize,
    /// Rows or updates per transaction.
    #[arg(long, value_parser = crate::at_least_one::<usize>, default_value_t = 1000)]
    pub batch: usize,
    /// Seed of the workload.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Errors of `unidb sync`.
#[derive(Debug, thiserror::Error)]
pub enum SyncCliError {
    /// An argument outside its range.
    #[error("invalid argument --{name}: {reason}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// What is allowed.
        reason: &'static str,
    },
    /// The database reported an error.
    #[error(transparent)]
    Sync(#[from] unidb_syncdb::SyncError),
    /// The server, its auth file or the load generator reported an error.
    #[error(transparent)]
    Server(#[from] unidb_server::ServerError),
    /// The report could not be serialised.
    #[error("cannot write the report: {0}")]
    Json(#[from] serde_json::Error),
    /// The simulation ended with replicas that disagree.
    #[error("replicas diverged or lost acknowledged writes:\n{0}")]
    Diverged(String),
}

impl SyncCliError {
    /// The project-wide category: a bad argument
    /// [`Validation`](unidb_common::ErrorKind::Validation), a database
    /// error its own kind, a report that cannot be written JSON's kind,
    /// replicas that diverged [`Conflict`](unidb_common::ErrorKind::Conflict).
    pub fn kind(&self) -> unidb_common::ErrorKind {
        use unidb_common::ErrorKind;
        match self {
            SyncCliError::InvalidArgument { .. } => ErrorKind::Validation,
            SyncCliError::Sync(e) => e.kind(),
            SyncCliError::Server(e) => e.kind(),
            SyncCliError::Json(e) if e.is_io() => ErrorKind::Io,
            SyncCliError::Json(_) => ErrorKind::Serialization,
            SyncCliError::Diverged(_) => ErrorKind::Conflict,
        }
    }
}

impl From<SyncCliError> for unidb_common::Error {
    fn from(e: SyncCliError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}

fn probability(name: &'static str, p: f64) -> Result<f64, SyncCliError> {
    if (0.0..1.0).contains(&p) {
        Ok(p)
    } else {
        Err(SyncCliError::InvalidArgument {
            name,
            reason: "a probability in [0, 1)",
        })
    }
}

impl SyncCommand {
    /// Runs the subcommand and returns what to print: text with figures
    /// to 3 significant digits, or one JSON object when `json` is set. On a
    /// terminal (and without `json`) a spinner shows on standard error
    /// while it runs.
    ///
    /// # Errors
    /// Invalid arguments, a database error, or (for `simulate`) replicas
    /// that did not converge; the error then carries the report.
    pub fn run(&self, json: bool) -> Result<String, SyncCliError> {
        let progress = crate::output::progress_enabled(json);
        match self {
            SyncCommand::Simulate(args) => {
                let _spinner = crate::output::Spinner::new(progress, "simulating");
                run_simulate(args, json)
            }
            SyncCommand::Bench(args) => {
                let _spinner = crate::output::Spinner::new(progress, "running the row workload");
                run_bench(args, json)
            }
            SyncCommand::Serve(args) => Ok(crate::serve::serve(args, json)?),
            SyncCommand::Auth { command } => Ok(crate::serve::auth(command, json)?),
            SyncCommand::Load(args) => Ok(crate::serve::load(args, json)?),
        }
    }
}

fn run_simulate(args: &SimulateArgs, json: bool) -> Result<String, SyncCliError> {
    let report = simulate(&args.config()?)?;
    let text = if json {
        format!("{}\n", serde_json::to_string(&report)?)
    } else {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "replicas {} (+ server), ops {}, committed {}, changes {}",
            report.replicas, report.ops, report.committed, report.changes
        );
        let _ = writeln!(
            out,
            "messages {} ({} bytes), dropped {}, duplicated {}, refused {}",
            report.messages, report.bytes, report.dropped, report.duplicated, report.refused
        );
        let _ = writeln!(
            out,
            "converged: {}, matches reference: {}, lost acknowledged writes: {}",
            report.converged, report.matches_reference, report.lost_acked_writes
        );
        out
    };
    if report.converged && report.matches_reference && report.lost_acked_writes == 0 {
        Ok(text)
    } else {
        Err(SyncCliError::Diverged(text))
    }
}

fn run_bench(args: &SyncBenchArgs, json: bool) -> Result<String, SyncCliError> {
    for (name, v) in [("rows", args.rows), ("batch", args.batch)] {
        if v == 0 {
            return Err(SyncCliError::InvalidArgument {
                name,
                reason: "at least 1",
            });
        }
    }
    let report = row_workload(args.rows, args.updates, args.batch, args.seed)?;
    if json {
        return Ok(format!("{}\n", serde_json::to_string(&report)?));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rows {}, updates {}: inserts {}/s, updates {}/s, {} bytes per column write",
        report.rows,
        report.updates,
        sig3(report.insert_ops_s),
        sig3(report.update_ops_s),
        sig3(report.bytes_per_op)
    );
    let _ = writeln!(
        out,
        "column writes encoded column by column: {} bytes each in sync batches, {} in a stored snapshot ({} in the per-change form)",
        sig3(report.bytes_per_op),
        sig3(report.snapshot_bytes_per_op),
        sig3(report.per_change_bytes_per_op)
    );
    let _ = writeln!(
        out,
        "sync batches of {} changes encoded by a session: {} us each (mean of {}, after warm-up; median {} us), {} bytes per change ({}x the size with every column searched)",
        unidb_syncdb::sim::ENCODE_BATCH,
        sig3(report.encode_us_per_batch),
        report.encode_batches,
        sig3(report.encode_us_per_batch_median),
        sig3(report.encode_bytes_per_change),
        sig3(report.encode_bytes_vs_search)
    );
    let _ = writeln!(
        out,
        "merge of two replicas with {} concurrent edits each: {} s ({} changes/s), converged: {}",
        report.updates / 2,
        sig3(report.merge_s),
        sig3(report.merge_changes_s),
        report.converged
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unidb_common::ErrorKind;

    #[test]
    fn errors_convert_with_their_kind_and_source_chain() {
        let bad = SyncCommand::Bench(SyncBenchArgs {
            rows: 1,
            updates: 1,
            batch: 0,
            seed: 1,
        })
        .run(false)
        .unwrap_err();
        assert_eq!(unidb_common::Error::from(bad).kind(), ErrorKind::Validation);
        let decode = SyncCliError::from(unidb_syncdb::SyncError::Decode {
            offset: 3,
            reason: "r".into(),
        });
        assert_eq!(
            unidb_common::Error::from(decode).kind(),
            ErrorKind::CorruptData
        );
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no");
        let e = unidb_common::Error::from(SyncCliError::from(unidb_syncdb::SyncError::Io {
            op: "read snapshot file",
            path: "s".into(),
            source: io,
        }));
        assert_eq!(e.kind(), ErrorKind::Io);
        let mut next = std::error::Error::source(&e);
        let mut found = false;
        while let Some(s) = next {
            found |= s.downcast_ref::<std::io::Error>().is_some();
            next = s.source();
        }
        assert!(found, "the io::Error is in the chain");
        let diverged = SyncCliError::Diverged("x".into());
        assert_eq!(
            unidb_common::Error::from(diverged).kind(),
            ErrorKind::Conflict
        );
    }
}
