//! The `unidb` command-line tool.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Compress(unidb::compress::CompressArgs),
    /// Sync database tools: the convergence simulation and the row workload.
    Sync {
        #[command(subcommand)]
        command: unidb::sync_cli::SyncCommand,
    },
    /// Vector database tools.
    Vector {
        #[command(subcommand)]
        command: unidb_vectordb::bench::VectorCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Throughput of every kernel on every available path, with the ratio to scalar.
    Kernels(unidb::bench::KernelBenchArgs),
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

/// Draws `label [#####     ] done/total (pct%)` on standard error, on one
/// line redrawn in place.
fn progress_bar(label: &str, done: usize, total: usize) {
    let pct = (done * 100 / total.max(1)).min(100);
    let bar = "#".repeat(pct / 4) + &" ".repeat(25 - pct / 4);
    eprint!("\r{label} [{bar}] {done}/{total} ({pct}%)");
    if done >= total {
        eprintln!();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // An invalid UNIDB_ISA is refused here, once, for every command: the
    // libraries fall back to the best path without printing.
    if let Err(err) = unidb_kernels::Kernels::try_active() {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        None => return print_report(unidb::bench::info_and_short_bench()),
        Some(Command::Info { json: false }) => unidb::cli::info().map(|s| emit(&s)),
        Some(Command::Info { json: true }) => {
            unidb::cli::info_json().map(|v| emit(&format!("{v:#}\n")))
        }
        Some(Command::Bench {
            what: BenchCommand::Kernels(args),
        }) => return print_report(unidb::bench::bench_kernels(&args)),
        Some(Command::Compress(args)) => return print_report(unidb::compress::run(&args)),
        Some(Command::Sync { command }) => return print_report(command.run()),
        Some(Command::Vector { command }) => {
            use std::io::IsTerminal as _;
            let progress: unidb_vectordb::bench::ProgressFn<'_> = if std::io::stderr().is_terminal()
            {
                &progress_bar
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
