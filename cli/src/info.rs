//! The `unidb` command-line tool's subcommands, as library functions so
//! they can be tested.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};
use unidb_kernels::{cpu_features, Isa, KernelError, Kernels, Selection};
use unidb_registry::{catalog, KindReport};

/// The kernel-path part of `unidb info`: CPU features, paths available and
/// the active path with the reason it was chosen.
///
/// # Errors
/// When `UNIDB_ISA` names an unknown path or one this CPU lacks.
pub fn isa_summary() -> Result<String, KernelError> {
    let (active, why) = Kernels::selection()?;
    let features = cpu_features();
    let mut out = String::new();
    let _ = writeln!(out, "unidb {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "arch: {}", features.arch);
    let _ = writeln!(out, "cpu features: {}", detected_features().join(" "));
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

fn detected_features() -> Vec<&'static str> {
    cpu_features()
        .features
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect()
}

/// The report printed by `unidb info`: [`isa_summary`], then every
/// registered plugin by kind (name, description, defining crate and
/// module) and any invalid or duplicate names the registries found.
///
/// Plugin kinds are discovered from the registry's catalogue, so kinds and
/// plugins that other crates linked into the program define are listed too.
///
/// # Errors
/// When `UNIDB_ISA` names an unknown path or one this CPU lacks.
pub fn info() -> Result<String, KernelError> {
    let mut out = isa_summary()?;
    for kind in catalog() {
        let _ = writeln!(out, "\n{} plugins ({}):", kind.kind, kind.plugins.len());
        let width = kind.plugins.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &kind.plugins {
            let _ = writeln!(
                out,
                "  {:width$}  {}  [{}]",
                p.name,
                p.description,
                p.origin()
            );
        }
        for problem in &kind.problems {
            let _ = writeln!(out, "  problem: {problem}");
        }
    }
    Ok(out)
}

fn kind_json(kind: &KindReport) -> Value {
    Value::Array(
        kind.plugins
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "description": p.description,
                    "crate": p.crate_name,
                    "module": p.module,
                })
            })
            .collect(),
    )
}

/// `unidb info --json`: one JSON object,
/// `{"version", "arch", "isa": {"detected", "available", "active", "reason"},
/// "plugins": {kind: [{"name", "description", "crate", "module"}]},
/// "problems": [{"kind", "message"}]}`. `isa.detected` lists the CPU
/// features found, `isa.available` the kernel paths this CPU can run (best
/// first), `isa.reason` is `"detected"` or `"forced"` (by `UNIDB_ISA`).
///
/// # Errors
/// When `UNIDB_ISA` names an unknown path or one this CPU lacks.
pub fn info_json() -> Result<Value, KernelError> {
    let (active, why) = Kernels::selection()?;
    let available: Vec<&str> = Isa::available().into_iter().map(Isa::name).collect();
    let mut plugins = Map::new();
    let mut problems = Vec::new();
    for kind in catalog() {
        plugins.insert(kind.kind.to_owned(), kind_json(&kind));
        problems.extend(
            kind.problems
                .iter()
                .map(|p| json!({"kind": kind.kind, "message": p.to_string()})),
        );
    }
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "arch": cpu_features().arch,
        "isa": {
            "detected": detected_features(),
            "available": available,
            "active": active.isa().name(),
            "reason": match why {
                Selection::Detected => "detected",
                Selection::Forced => "forced",
            },
        },
        "plugins": plugins,
        "problems": problems,
    }))
}
