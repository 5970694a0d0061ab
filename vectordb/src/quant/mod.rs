//! Vector quantizers that compress rows into short codes scored without
//! decoding them: [`pq`], product quantization with 8-bit codes
//! (asymmetric distance through per-query f32 tables) and 4-bit codes
//! (the same tables quantized to `u8` and scanned 32 vectors at a time by
//! the `pq4_fastscan` kernel), and [`sq4`], 4-bit scalar quantization
//! (a range per dimension, per-query lookup tables).

pub mod pq;
pub mod sq4;
