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
    /// Vector database tools.
    Vector {
        #[command(subcommand)]
        command: unidb_vectordb::bench::VectorCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None | Some(Command::Info) => unidb::cli::info().map(|s| print!("{s}")),
        Some(Command::Vector { command }) => {
            return match command.run(&mut std::io::stdout().lock()) {
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
