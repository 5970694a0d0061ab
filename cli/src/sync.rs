//! `unidb sync`: the convergence simulation, the row workload and the
//! power simulation of syncdb.

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use unidb_syncdb::power::sim::{power_sim, PowerSimConfig, PowerSimReport};
use unidb_syncdb::power::{PowerProfile, PowerProfiles};
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
    /// A simulated day of one phone syncing with a server under each
    /// power profile (and an always-connected baseline): radio wakes,
    /// bytes, staleness and battery use from a documented energy model.
    PowerSim(PowerSimArgs),
}

/// Arguments of `unidb sync power-sim`: the [`PowerSimConfig`] fields a
/// user sets, with [`PowerSimConfig::default`] as their defaults.
#[derive(Debug, Clone, Args)]
pub struct PowerSimArgs {
    /// A profile name (`realtime`, `balanced`, `battery_saver`,
    /// `background`, `auto`), or `all` for every built-in profile. The
    /// `always_connected` baseline is always added.
    #[arg(long, default_value = "all")]
    pub profile: String,
    /// Simulated hours (the day repeats past 24).
    #[arg(long, value_parser = crate::at_least_one::<u32>, default_value_t = PowerSimConfig::default().hours)]
    pub hours: u32,
    /// Seed of every random choice.
    #[arg(long, default_value_t = PowerSimConfig::default().seed)]
    pub seed: u64,
}

impl PowerSimArgs {
    /// The simulation these arguments ask for.
    pub fn config(&self) -> PowerSimConfig {
        PowerSimConfig {
            hours: self.hours,
            seed: self.seed,
            ..PowerSimConfig::default()
        }
    }

    /// The modes to run: the profile (or every built-in), then the
    /// baseline.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = if self.profile == "all" {
            PowerProfile::BUILTIN
                .iter()
                .map(|&n| n.to_owned())
                .collect()
        } else {
            vec![self.profile.clone()]
        };
        if !names.iter().any(|n| n == "always_connected") {
            names.push("always_connected".into());
        }
        names
    }
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
    /// An unknown power profile.
    #[error("unknown profile --profile {0:?}: one of realtime, balanced, battery_saver, background, auto, always_connected, all")]
    UnknownProfile(String),
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
            SyncCliError::UnknownProfile(_) => ErrorKind::NotFound,
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
            SyncCommand::PowerSim(args) => run_power_sim(args, json, progress),
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

fn run_power_sim(args: &PowerSimArgs, json: bool, progress: bool) -> Result<String, SyncCliError> {
    if args.hours == 0 {
        return Err(SyncCliError::InvalidArgument {
            name: "hours",
            reason: "at least 1",
        });
    }
    let profiles = PowerProfiles::builtin();
    let names = args.names();
    for n in &names {
        if unidb_syncdb::power::sim::Mode::named(n, &profiles).is_err() {
            return Err(SyncCliError::UnknownProfile(n.clone()));
        }
    }
    let config = args.config();
    let bars = crate::output::StageBars::new(progress);
    let mut reports: Vec<PowerSimReport> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        bars.update("simulating", i as u64, names.len() as u64);
        let run = power_sim(&config, std::slice::from_ref(name), &profiles)?;
        reports.extend(run.into_iter().map(|r| r.report));
    }
    bars.update("simulating", names.len() as u64, names.len() as u64);
    drop(bars);
    let diverged: Vec<&str> = reports
        .iter()
        .filter(|r| !r.converged || r.lost_writes > 0)
        .map(|r| r.profile.as_str())
        .collect();
    let text = if json {
        format!("{}\n", serde_json::to_string(&reports)?)
    } else {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} simulated hour(s), seed {}: one phone, one server, another device (energy model: syncdb::power::energy)",
            args.hours, args.seed
        );
        let _ = writeln!(
            out,
            "{:<17} {:>7} {:>8} {:>10} {:>10} {:>6} {:>9} {:>9} {:>5} {:>9} {:>8}",
            "profile",
            "wakes",
            "wakes/h",
            "bytes up",
            "bytes down",
            "writes",
            "p95 stale",
            "max stale",
            "lost",
            "converged",
            "battery"
        );
        for r in &reports {
            let _ = writeln!(
                out,
                "{:<17} {:>7} {:>8} {:>10} {:>10} {:>6} {:>8}s {:>8}s {:>5} {:>9} {:>7}%",
                r.profile,
                r.radio_wakes,
                sig3(r.wakes_per_hour),
                r.bytes_up,
                r.bytes_down,
                r.writes,
                sig3(r.p95_staleness_s),
                sig3(r.max_staleness_s),
                r.lost_writes,
                if r.converged { "yes" } else { "NO" },
                sig3(r.battery_used_pct)
            );
        }
        out
    };
    if diverged.is_empty() {
        Ok(text)
    } else {
        Err(SyncCliError::Diverged(text))
    }
}

#[cfg(test)]
mod tests;
