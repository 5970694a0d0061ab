//! x86-64 paths.

pub(crate) mod avx2;
pub(crate) mod avx512;
