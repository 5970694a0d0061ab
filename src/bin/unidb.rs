//! The `unidb` command; its code is the `unidb-cli` crate's.

use std::process::ExitCode;

fn main() -> ExitCode {
    unidb::cli::main()
}
