//! The kernels' public-API tests, one binary: every path against the
//! scalar reference (`paths`), the 4-bit PQ fast-scan kernel (`pq4`),
//! interleaved rANS decoding (`rans`) and the integer codings (`varint`).

use proptest::test_runner::Config;
use unidb_kernels::{Isa, Kernels};

mod paths;
mod pq4;
mod rans;
mod varint;

/// Property-test settings: no failure-persistence files (Miri runs with
/// isolation, and the regressions worth keeping are written as explicit
/// tests).
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

/// Every path this CPU can run, the scalar reference included.
fn all_paths() -> Vec<&'static Kernels> {
    Isa::available()
        .into_iter()
        .map(|isa| Kernels::for_isa(isa).expect("available paths have kernels"))
        .collect()
}
