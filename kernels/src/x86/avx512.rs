//! The AVX-512 path, written with `std::arch::x86_64` intrinsics.
//!
//! Kernels without an AVX-512 version here reuse the AVX2 path's entries.
//! That is sound because this table is only reachable through
//! `Kernels::for_isa(Isa::Avx512)`, which returns `None` unless run-time
//! detection found AVX-512 F, BW, DQ, VL and VPOPCNTDQ *and* every feature
//! the AVX2 path needs (AVX2, FMA, F16C, POPCNT, SSSE3, SSE4.1; see
//! `isa.rs`), so the AVX2 entries' precondition holds here as well.

use crate::dispatch::Table;

pub(crate) const TABLE: Table = Table {
    stream_decoder: crate::varint::stream::AVX512_DECODER,
    ..super::avx2::TABLE
};
