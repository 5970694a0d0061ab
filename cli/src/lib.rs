//! The `unidb` command-line tool: argument parsing, every command's code,
//! and [`main`], which the `unidb` binary calls.
//!
//! Commands run library code with the libraries' own option types
//! (`unidb_vectordb::bench::BenchOptions`, `unidb_syncdb::sim::SimConfig`,
//! [`compress::Options`], [`bench::KernelBenchArgs`]). Each default lives
//! once, in that type's `Default` impl; the clap arguments take theirs from
//! it (`default_value_t = Type::default().field`), so `--help` shows them
//! and the bare command line runs with exactly `Default::default()`, which
//! the tests check for every command.
//!
//! Every command prints a human report by default (figures rounded to 3
//! significant digits, [`output::sig3`]) and JSON with the global
//! `--json`; progress bars go to standard error, only on a terminal and
//! never with `--json`. Every command's error converts into
//! [`unidb_common::Error`] keeping its kind.
//!
//! ```
//! let report = unidb_cli::info().unwrap();
//! assert!(report.contains("active path:"));
//! ```

use std::process::ExitCode;
use std::str::FromStr;

use clap::{Parser, Subcommand};

pub mod bench;
pub mod compress;
pub mod demo;
pub mod experiment;
pub mod features;
pub mod info;
pub mod output;
pub mod serve;
pub mod sync;
pub mod vector;

pub use info::{info, info_json, isa_summary};

/// unidb: vector database and offline-first sync database on one SIMD core.
///
/// Without a command: a few-second demo of the kernels and both databases.
#[derive(Debug, Parser)]
#[command(name = "unidb", version, about)]
struct Cli {
    /// Print JSON instead of the human report: one object, or one object
    /// per line for `bench kernels`, `vector bench` and `compress`.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// CPU features, kernel paths, the active path, and every registered
    /// plugin by kind.
    Info,
    /// Quick benchmarks (see `unidb bench kernels --help`).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Compress the columns of a CSV file with the syncdb codecs and report
    /// the codec chosen, ratio and speed per column.
    Compress(compress::CompressArgs),
    /// Sync database tools: the convergence simulation, the row workload,
    /// the power simulation, the network server, its auth file and its
    /// load generator.
    Sync {
        #[command(subcommand)]
        command: sync::SyncCommand,
    },
    /// Vector database tools.
    Vector {
        #[command(subcommand)]
        command: vector::VectorCommand,
    },
    /// Feature store tools: the point-in-time join of CSV files, the benchmark.
    Features {
        #[command(subcommand)]
        command: features::FeaturesCommand,
    },
    /// A/B experiments: GrowthBook-compatible assignment and analysis.
    Experiment {
        #[command(subcommand)]
        command: experiment::ExperimentCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Throughput of every kernel on every available path, with the ratio to scalar.
    Kernels(bench::KernelBenchArgs),
}

/// Parses a count that must be at least 1 (clap's parser for `--k`,
/// `--threads`, `--ef`, `--rows`, ...), so `0` is refused with a message.
fn at_least_one<T>(s: &str) -> Result<T, String>
where
    T: FromStr + PartialEq + From<u8>,
    T::Err: std::fmt::Display,
{
    let v: T = s.trim().parse().map_err(|e| format!("{e}"))?;
    if v == T::from(0) {
        Err("must be at least 1".to_owned())
    } else {
        Ok(v)
    }
}

/// Runs the `unidb` command line of this process: parses the arguments
/// (printing help, the version or a usage error and exiting as clap does),
/// runs the command and prints its report to standard output, or the error
/// to standard error with a failure status. A closed standard output
/// (`unidb ... | head -1`) ends the command quietly with success.
///
/// Without a command it runs the demo ([`demo::run`]). An invalid
/// `UNIDB_ISA` is refused before any command runs.
pub fn main() -> ExitCode {
    run(Cli::parse())
}

fn run(cli: Cli) -> ExitCode {
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `err` or any error in its source chain is a closed pipe.
fn is_broken_pipe(err: &unidb_common::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// The error of a failed write to standard output.
fn output_error(e: std::io::Error) -> unidb_common::Error {
    unidb_common::Error::new(
        unidb_common::ErrorKind::of_io(e.kind()),
        format!("cannot write the output: {e}"),
    )
    .with_source(e)
}

fn execute(cli: Cli) -> Result<(), unidb_common::Error> {
    // An invalid UNIDB_ISA is refused here, once, for every command.
    unidb_kernels::Kernels::try_active()?;
    let json = cli.json;
    let text = match cli.command {
        None => demo::run(json)?,
        Some(Command::Info) if json => format!("{:#}\n", info::info_json()?),
        Some(Command::Info) => info::info()?,
        Some(Command::Bench {
            what: BenchCommand::Kernels(args),
        }) => bench::bench_kernels(&args, json)?,
        Some(Command::Compress(args)) => compress::run(&args, json)?,
        Some(Command::Sync { command }) => command.run(json)?,
        Some(Command::Experiment { command }) => command.run(json)?,
        Some(Command::Vector { command }) => {
            // Rows are printed as they are measured.
            command.run(json)?;
            return Ok(());
        }
        Some(Command::Features { command }) => {
            // Rows are written as they are joined.
            return command.run(json);
        }
    };
    output::emit(&text).map_err(output_error)
}

#[cfg(test)]
mod tests;
