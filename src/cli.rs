//! The `unidb` command-line tool's subcommands, as library functions so
//! they can be tested.

use std::fmt::Write as _;

use unidb_kernels::{cpu_features, Isa, Kernels, Selection};

/// The report printed by `unidb info`.
///
/// # Errors
/// When `UNIDB_ISA` names an unknown path or one this CPU lacks.
pub fn info() -> Result<String, unidb_kernels::KernelError> {
    let (active, why) = Kernels::selection()?;
    let features = cpu_features();
    let mut out = String::new();
    let _ = writeln!(out, "unidb {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "arch: {}", features.arch);
    let detected: Vec<&str> = features
        .features
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect();
    let _ = writeln!(out, "cpu features: {}", detected.join(" "));
    let paths: Vec<&str> = Isa::available().into_iter().map(Isa::name).collect();
    let _ = writeln!(
        out,
        "kernel paths available (best first): {}",
        paths.join(", ")
    );
    let reason = match why {
        Selection::Detected => "best detected on this CPU".to_owned(),
        Selection::Forced => format!("forced by {}", unidb_kernels::ISA_ENV_VAR),
    };
    let _ = writeln!(out, "active path: {} ({reason})", active.isa());
    Ok(out)
}
