//! x86-64 paths.

pub(crate) mod avx2;
