//! x86-64 paths: the AVX2 and AVX-512 kernel tables and the AVX2 code of
//! bit-packing and stream-vbyte (which the AVX-512 table reuses).

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod bitpack;
pub(crate) mod pq4;
pub(crate) mod rans;
pub(crate) mod stream_vbyte;
