//! aarch64 paths: the NEON kernel table and the NEON code of bit-packing
//! and stream-vbyte.

pub(crate) mod bitpack;
pub(crate) mod neon;
pub(crate) mod pq4;
pub(crate) mod stream_vbyte;
