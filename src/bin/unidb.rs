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
    /// CPU features, kernel paths available, and the active path.
    Info,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None | Some(Command::Info) => unidb::cli::info().map(|s| print!("{s}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
