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
//! ```
//! let report = unidb_cli::info().unwrap();
//! assert!(report.contains("active path:"));
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod bench;
pub mod compress;
pub mod info;
pub mod sync;
pub mod vector;

pub use info::{info, info_json, isa_summary};

/// unidb: vector database and offline-first sync database on one SIMD core.
#[derive(Debug, Parser)]
#[command(name = "unidb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// CPU features, kernel paths, the active path, and every registered
    /// plugin by kind.
    Info {
        /// Print one JSON object instead of the human report.
        #[arg(long)]
        json: bool,
    },
    /// Quick benchmarks (see `unidb bench kernels --help`).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Compress the columns of a CSV file with the syncdb codecs and report
    /// the codec chosen, ratio and speed per column.
    Compress(compress::CompressArgs),
    /// Sync database tools: the convergence simulation and the row workload.
    Sync {
        #[command(subcommand)]
        command: sync::SyncCommand,
    },
    /// Vector database tools.
    Vector {
        #[command(subcommand)]
        command: vector::VectorCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Throughput of every kernel on every available path, with the ratio to scalar.
    Kernels(bench::KernelBenchArgs),
}

/// Writes `text` to standard output. A closed pipe (`unidb info | head`)
/// ends the output quietly instead of panicking like `print!`.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Prints a report, or the error and a failure status.
fn print_report<E: std::fmt::Display>(report: Result<String, E>) -> ExitCode {
    match report {
        Ok(text) => {
            emit(&text);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the `unidb` command line of this process: parses the arguments
/// (printing help, the version or a usage error and exiting as clap does),
/// runs the command and prints its report to standard output, or the error
/// to standard error with a failure status.
///
/// Without a command it prints the kernel part of `unidb info` and a short
/// kernel benchmark. An invalid `UNIDB_ISA` is refused before any command
/// runs.
pub fn main() -> ExitCode {
    run(Cli::parse())
}

fn run(cli: Cli) -> ExitCode {
    // An invalid UNIDB_ISA is refused here, once, for every command: the
    // libraries fall back to the best path without printing.
    if let Err(err) = unidb_kernels::Kernels::try_active() {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        None => return print_report(bench::info_and_short_bench()),
        Some(Command::Info { json: false }) => info::info().map(|s| emit(&s)),
        Some(Command::Info { json: true }) => info::info_json().map(|v| emit(&format!("{v:#}\n"))),
        Some(Command::Bench {
            what: BenchCommand::Kernels(args),
        }) => return print_report(bench::bench_kernels(&args)),
        Some(Command::Compress(args)) => return print_report(compress::run(&args)),
        Some(Command::Sync { command }) => return print_report(command.run()),
        Some(Command::Vector { command }) => {
            use std::io::IsTerminal as _;
            let progress: unidb_vectordb::bench::ProgressFn<'_> = if std::io::stderr().is_terminal()
            {
                &vector::progress_bar
            } else {
                &|_, _, _| {}
            };
            return match command.run_with_progress(&mut std::io::stdout().lock(), progress) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::CommandFactory as _;
    use unidb_syncdb::sim::SimConfig;
    use unidb_vectordb::bench::BenchOptions;
    use unidb_vectordb::Storage;

    use super::*;

    /// Parses a command line after `unidb`.
    fn parse(args: &[&str]) -> Command {
        let line = std::iter::once("unidb").chain(args.iter().copied());
        Cli::try_parse_from(line)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .command
            .expect("a command")
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The bare command line of every command with defaults runs with the
    /// library type's `Default::default()`, so the two cannot drift.
    #[test]
    fn bare_command_lines_run_with_the_library_defaults() {
        let Command::Vector {
            command: vector::VectorCommand::Bench(args),
        } = parse(&["vector", "bench"])
        else {
            panic!("not vector bench")
        };
        assert_eq!(BenchOptions::from(args), BenchOptions::default());

        let Command::Bench {
            what: BenchCommand::Kernels(args),
        } = parse(&["bench", "kernels"])
        else {
            panic!("not bench kernels")
        };
        assert_eq!(args, bench::KernelBenchArgs::default());

        let Command::Sync {
            command: sync::SyncCommand::Simulate(args),
        } = parse(&["sync", "simulate"])
        else {
            panic!("not sync simulate")
        };
        assert_eq!(args.config().unwrap(), SimConfig::default());
        assert!(!args.json);

        let Command::Compress(args) = parse(&["compress", "data.csv"]) else {
            panic!("not compress")
        };
        assert_eq!(args.file, PathBuf::from("data.csv"));
        assert_eq!(args.options().unwrap(), compress::Options::default());
        assert!(!args.json);
    }

    /// Every flag reaches its own option: each is given a value that
    /// differs from its default, and the options are compared with ones
    /// written out by hand.
    #[test]
    fn every_flag_reaches_its_option() {
        let Command::Vector {
            command: vector::VectorCommand::Bench(args),
        } = parse(&[
            "vector",
            "bench",
            "--base=b.fvecs",
            "--query=q.npy",
            "--gt=g.ivecs",
            "--index=ivf",
            "--metric=cosine",
            "--storage=i8",
            "--m=7",
            "--ef-construction=33",
            "--ef=5,6",
            "--nlist=9",
            "--nprobe=3",
            "--threads=2",
            "--k=4",
            "--seed=11",
        ])
        else {
            panic!("not vector bench")
        };
        assert_eq!(
            BenchOptions::from(args),
            BenchOptions {
                base: Some("b.fvecs".into()),
                query: Some("q.npy".into()),
                gt: Some("g.ivecs".into()),
                index: "ivf".into(),
                metric: "cosine".into(),
                storage: Storage::I8,
                m: 7,
                ef_construction: 33,
                ef: vec![5, 6],
                nlist: 9,
                nprobe: vec![3],
                threads: 2,
                k: 4,
                seed: 11,
            }
        );

        let Command::Bench {
            what: BenchCommand::Kernels(args),
        } = parse(&[
            "bench",
            "kernels",
            "--isa=scalar",
            "--dim=3",
            "--budget-ms=2",
            "--matrix-mib=0",
            "--codec-values=100",
        ])
        else {
            panic!("not bench kernels")
        };
        assert_eq!(
            args,
            bench::KernelBenchArgs {
                isa: "scalar".into(),
                dim: Some(3),
                budget_ms: 2,
                matrix_mib: 0,
                codec_values: 100,
            }
        );

        let Command::Sync {
            command: sync::SyncCommand::Simulate(args),
        } = parse(&[
            "sync",
            "simulate",
            "--replicas=5",
            "--ops=17",
            "--seed=9",
            "--drop=0.05",
            "--duplicate=0.25",
            "--reorder=0.5",
            "--json",
        ])
        else {
            panic!("not sync simulate")
        };
        assert!(args.json);
        assert_eq!(
            args.config().unwrap(),
            SimConfig {
                replicas: 5,
                ops: 17,
                seed: 9,
                drop: 0.05,
                duplicate: 0.25,
                reorder: 0.5,
                ..SimConfig::default()
            }
        );

        let Command::Compress(args) = parse(&[
            "compress",
            "x.csv",
            "--columns=a,b",
            "--types=a:int,b:text",
            "--effort=fast",
            "--json",
        ]) else {
            panic!("not compress")
        };
        assert!(args.json);
        assert_eq!(
            args.options().unwrap(),
            compress::Options {
                columns: vec!["a".into(), "b".into()],
                types: vec![
                    ("a".into(), unidb_codec::ColumnKind::Int),
                    ("b".into(), unidb_codec::ColumnKind::Text),
                ],
                effort: unidb_codec::Effort::Fast,
            }
        );
    }

    /// `--help` shows every default, taken from the `Default` impls.
    #[test]
    fn help_shows_the_defaults() {
        let help = |path: &[&str]| {
            let mut cmd = Cli::command();
            let mut sub = &mut cmd;
            for name in path {
                sub = sub.find_subcommand_mut(name).expect("subcommand");
            }
            sub.render_help().to_string()
        };
        let text = help(&["vector", "bench"]);
        for shown in [
            "[default: hnsw]",
            "[default: l2]",
            "[default: f32]",
            "[default: 16]",
            "[default: 200]",
            "[default: 10 20 40 80 160]",
            "[default: 64]",
            "[default: 1 2 4 8 16]",
            "[default: 42]",
        ] {
            assert!(text.contains(shown), "{shown} in {text}");
        }
        let text = help(&["sync", "simulate"]);
        for shown in ["[default: 0.2]", "[default: 0.1]", "[default: 0.3]"] {
            assert!(text.contains(shown), "{shown} in {text}");
        }
        assert!(help(&["compress"]).contains("[default: max]"));
        assert!(help(&["bench", "kernels"]).contains("[default: all]"));
    }

    #[test]
    fn sync_simulate_converges_and_reports_json() {
        let Command::Sync { command } = parse(&[
            "sync",
            "simulate",
            "--replicas",
            "4",
            "--ops",
            "120",
            "--seed",
            "7",
            "--drop",
            "0.3",
            "--json",
        ]) else {
            panic!("not sync")
        };
        let out = command.run().expect("simulation converges");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["converged"], true);
        assert_eq!(v["lost_acked_writes"], 0);
        assert_eq!(v["replicas"], 4);
        assert_eq!(v["ops"], 120);
        assert!(v["messages"].as_u64().unwrap() > 0);

        let Command::Sync { command } = parse(&["sync", "simulate", "--drop", "1.5"]) else {
            panic!("not sync")
        };
        let err = command.run().unwrap_err().to_string();
        assert!(err.contains("--drop"), "{err}");
    }

    #[test]
    fn sync_bench_reports_the_workload_fields() {
        let Command::Sync { command } = parse(&[
            "sync",
            "bench",
            "--rows",
            "2000",
            "--updates",
            "2000",
            "--batch",
            "100",
            "--json",
        ]) else {
            panic!("not sync")
        };
        let v: serde_json::Value = serde_json::from_str(command.run().unwrap().trim()).unwrap();
        for key in ["insert_ops_s", "update_ops_s", "bytes_per_op", "merge_s"] {
            assert!(v[key].as_f64().unwrap() > 0.0, "{key}: {v}");
        }
        assert_eq!(v["converged"], true);
    }
}
