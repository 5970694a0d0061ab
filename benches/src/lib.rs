//! Shared pieces of unidb's benchmarks: seeded test data, naive baselines,
//! adapters over the peer crates, result checks and a small fixed-time
//! timer for the ratio report.
//!
//! Both the criterion benches (`benches/`) and the `report` binary use this
//! module, so that every figure is measured on the same data with the same
//! checks.

#![warn(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Dimensions of the in-cache distance benches.
pub const DIMS: [usize; 3] = [128, 768, 1536];

/// Size of the memory-bound matrix for the one-to-many kernels.
pub const MATRIX_BYTES: usize = 64 << 20;

/// Dimension of the rows of the 64 MiB matrix.
pub const MATRIX_DIM: usize = 768;

/// Number of integers in the varint benches.
pub const VARINT_COUNT: usize = 1 << 20;

/// A small, seeded pseudo-random generator (SplitMix64), so the benches
/// need no extra dependency and every run sees the same data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A value uniform in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.next_u32()) * u64::from(n)) >> 32) as u32
    }

    /// A value uniform in `[-1, 1)`.
    pub fn signed_unit(&mut self) -> f32 {
        // 24 random bits give every representable step of the interval.
        let u = (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
        2.0 * u - 1.0
    }
}

/// `n` f32 values uniform in `[-1, 1)`.
pub fn random_f32(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.signed_unit()).collect()
}

/// `n` i8 values over the whole range, extremes included.
pub fn random_i8(n: usize, seed: u64) -> Vec<i8> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.next_u32() as u8 as i8).collect()
}

/// `n` u8 values over the whole range.
pub fn random_u8(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.next_u32() as u8).collect()
}

/// `n` random 64-bit words (bit-packed binary vectors).
pub fn random_u64(n: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.next_u64()).collect()
}

/// `n` IEEE half values (as bits) uniform in `[-1, 1)`.
pub fn random_f16(n: usize, seed: u64) -> Vec<u16> {
    random_f32(n, seed)
        .into_iter()
        .map(unidb_kernels::f16::f32_to_f16)
        .collect()
}

/// The bytes of bit-packed words in memory order, for peers that take
/// binary vectors as bytes (no copy).
pub fn words_bytes(words: &[u64]) -> &[u8] {
    // SAFETY: u64 has no padding bytes and u8 has alignment 1; the byte
    // view covers exactly the memory of `words` and borrows it immutably.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), std::mem::size_of_val(words)) }
}

/// One u32 of the mixed-magnitude distribution: 70% below 2^7 (one LEB128
/// byte), 25% in `[2^7, 2^14)` (two bytes), 5% uniform over all u32.
pub fn mixed_u32_one(rng: &mut Rng) -> u32 {
    let pick = rng.below(100);
    if pick < 70 {
        rng.below(1 << 7)
    } else if pick < 95 {
        (1 << 7) + rng.below((1 << 14) - (1 << 7))
    } else {
        rng.next_u32()
    }
}

/// `n` u32 of mixed magnitudes (see [`mixed_u32_one`]).
pub fn mixed_u32(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| mixed_u32_one(&mut rng)).collect()
}

/// `n` sorted ids whose gaps are mixed: 70% below 2^7, 25% below 2^14,
/// 5% below 2^15 (so a million ids still fit in a u32).
///
/// # Panics
/// If the ids would overflow u32 (not for `n` up to a few million).
pub fn sorted_ids(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    let mut id = 0u32;
    (0..n)
        .map(|_| {
            let pick = rng.below(100);
            let gap = if pick < 70 {
                rng.below(1 << 7)
            } else if pick < 95 {
                rng.below(1 << 14)
            } else {
                rng.below(1 << 15)
            };
            id = id.checked_add(gap).expect("sorted ids overflow u32");
            id
        })
        .collect()
}

/// Naive dot product, as most Rust code writes it.
pub fn naive_dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Naive squared Euclidean distance.
pub fn naive_l2sq(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Naive cosine distance `1 - a·b / (‖a‖‖b‖)`, clamped at 0, with the
/// same zero-vector rule as unidb (both zero: 0; one zero: 1).
pub fn naive_cosine(a: &[f32], b: &[f32]) -> f32 {
    let ab: f32 = naive_dot(a, b);
    let aa: f32 = naive_dot(a, a);
    let bb: f32 = naive_dot(b, b);
    if aa == 0.0 && bb == 0.0 {
        0.0
    } else if aa == 0.0 || bb == 0.0 {
        1.0
    } else {
        (1.0 - ab / (aa.sqrt() * bb.sqrt())).clamp(0.0, 2.0)
    }
}

/// `Σ |aᵢ bᵢ|` in f64: the scale of the rounding error of any dot product.
pub fn abs_dot_f64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) * f64::from(*y)).abs())
        .sum()
}

/// Whether `got` is within `tol` of `want`, with a message naming `what`.
///
/// # Errors
/// A description of the mismatch.
pub fn check_close(what: &str, got: f64, want: f64, tol: f64) -> Result<(), String> {
    if (got - want).abs() <= tol || (got.is_nan() && want.is_nan()) {
        Ok(())
    } else {
        Err(format!(
            "{what}: got {got}, expected {want} (tolerance {tol})"
        ))
    }
}

/// Peer: Lemire's C Stream VByte through the `streamvbyte` crate.
pub mod c_streamvbyte {
    /// Padding kept readable after the compressed bytes: the C decoder's
    /// SIMD loop may load a full 16-byte block near the end of its input.
    pub const PAD: usize = 16;

    /// Encodes `values`; the returned vector keeps at least [`PAD`] bytes
    /// of spare capacity after its length.
    pub fn encode(values: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = encode_into(values, &mut out);
        out.truncate(n);
        out
    }

    /// Encodes into `out` (resized to the worst case first), returning the
    /// number of bytes written (`out` is not truncated, to keep the timing
    /// free of reallocations).
    pub fn encode_into(values: &[u32], out: &mut Vec<u8>) -> usize {
        out.resize(streamvbyte::max_compressedbytes(values.len()) + PAD, 0);
        streamvbyte::encode_to_buf(values, out).expect("buffer sized by max_compressedbytes")
    }

    /// Delta-encodes sorted `values` (differences from the previous one,
    /// the first against 0); spare capacity as [`encode`].
    pub fn encode_delta(values: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = encode_delta_into(values, &mut out);
        out.truncate(n);
        out
    }

    /// Delta-encodes into `out` as [`encode_into`].
    pub fn encode_delta_into(values: &[u32], out: &mut Vec<u8>) -> usize {
        out.resize(streamvbyte::max_compressedbytes(values.len()) + PAD, 0);
        streamvbyte::encode_delta_to_buf(values, out, 0)
            .expect("buffer sized by max_compressedbytes")
    }

    /// Decodes `out.len()` values from `bytes`, returning the bytes read.
    /// `bytes` must come from [`encode`] (so that [`PAD`] bytes after it
    /// are readable) and hold `out.len()` values.
    pub fn decode(bytes: &[u8], out: &mut [u32]) -> usize {
        assert!(
            bytes.capacity_ok(out.len()),
            "input too short for the C decoder"
        );
        streamvbyte::decode(bytes, out)
    }

    /// Decodes delta-encoded values (from [`encode_delta`]) into `out`,
    /// returning the bytes read.
    pub fn decode_delta(bytes: &[u8], out: &mut [u32]) -> usize {
        assert!(
            bytes.capacity_ok(out.len()),
            "input too short for the C decoder"
        );
        streamvbyte::decode_delta(bytes, out, 0)
    }

    trait CapacityOk {
        fn capacity_ok(&self, count: usize) -> bool;
    }

    impl CapacityOk for [u8] {
        /// The C decoder trusts the count: the control bytes alone must be
        /// present, and every value takes at least one data byte.
        fn capacity_ok(&self, count: usize) -> bool {
            self.len() >= count.div_ceil(4) + count
        }
    }
}

/// Peer: LEB128 from `prost::encoding`.
pub mod prost_leb128 {
    /// Appends the LEB128 encoding of each value to `out`.
    pub fn encode_all(values: &[u32], out: &mut Vec<u8>) {
        for &v in values {
            prost::encoding::encode_varint(u64::from(v), out);
        }
    }

    /// Decodes `out.len()` values from `bytes`.
    ///
    /// # Errors
    /// When the input is malformed or a value exceeds u32.
    pub fn decode_all(mut bytes: &[u8], out: &mut [u32]) -> Result<(), String> {
        for slot in out.iter_mut() {
            let v = prost::encoding::decode_varint(&mut bytes).map_err(|e| e.to_string())?;
            *slot = u32::try_from(v).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Peer: LEB128 from the `integer-encoding` crate.
pub mod ie_leb128 {
    use integer_encoding::VarInt;

    /// Appends the LEB128 encoding of each value to `out`.
    pub fn encode_all(values: &[u32], out: &mut Vec<u8>) {
        let mut buf = [0u8; 5];
        for &v in values {
            let n = v.encode_var(&mut buf);
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Decodes `out.len()` values from `bytes`.
    ///
    /// # Errors
    /// When the input is malformed.
    pub fn decode_all(bytes: &[u8], out: &mut [u32]) -> Result<(), String> {
        let mut pos = 0;
        for slot in out.iter_mut() {
            let (v, n) = u32::decode_var(&bytes[pos..])
                .ok_or_else(|| format!("bad varint at byte {pos}"))?;
            *slot = v;
            pos += n;
        }
        Ok(())
    }
}

/// Result of a fixed-time measurement.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Best (lowest) time per call over the batches, in nanoseconds.
    pub best_ns: f64,
    /// Median time per call over the batches, in nanoseconds.
    pub median_ns: f64,
}

/// Calls `f` repeatedly for about `total`, in `batches` batches of equal
/// call counts, and returns the best and median time per call.
///
/// The call count per batch is calibrated first so that a batch lasts
/// about `total / batches`.
pub fn measure<R>(total: Duration, batches: usize, mut f: impl FnMut() -> R) -> Timing {
    let batches = batches.max(1);
    let per_batch = total / batches as u32;
    // Calibrate: double the call count until one batch takes a tenth of a batch.
    let mut calls = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..calls {
            black_box(f());
        }
        let e = t.elapsed();
        if e >= per_batch / 10 || calls >= 1 << 30 {
            let scale = per_batch.as_secs_f64() / e.as_secs_f64().max(1e-9);
            calls = ((calls as f64 * scale) as usize).max(1);
            break;
        }
        calls *= 2;
    }
    let mut per_call: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                black_box(f());
            }
            t.elapsed().as_secs_f64() * 1e9 / calls as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    Timing {
        best_ns: per_call[0],
        median_ns: per_call[per_call.len() / 2],
    }
}

/// Measures several functions in interleaved rounds, so that a change of
/// machine load during the run affects all of them alike: each round times
/// one batch of each function in turn. The call count of each function's
/// batch is calibrated so that a batch lasts about `batch`. Returns one
/// [`Timing`] per function, in order.
pub fn interleaved(batch: Duration, rounds: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<Timing> {
    let calls: Vec<usize> = fs
        .iter_mut()
        .map(|f| {
            let mut calls = 1usize;
            loop {
                let t = Instant::now();
                for _ in 0..calls {
                    f();
                }
                let e = t.elapsed();
                if e >= batch / 4 || calls >= 1 << 30 {
                    let scale = batch.as_secs_f64() / e.as_secs_f64().max(1e-9);
                    break ((calls as f64 * scale) as usize).max(1);
                }
                calls *= 2;
            }
        })
        .collect();
    let mut per_call = vec![Vec::with_capacity(rounds); fs.len()];
    for _ in 0..rounds.max(1) {
        for (i, f) in fs.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..calls[i] {
                f();
            }
            per_call[i].push(t.elapsed().as_secs_f64() * 1e9 / calls[i] as f64);
        }
    }
    per_call
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            Timing {
                best_ns: v[0],
                median_ns: v[v.len() / 2],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_distribution_matches_its_description() {
        let v = mixed_u32(100_000, 1);
        let one = v.iter().filter(|&&x| x < 128).count() as f64 / v.len() as f64;
        let two = v.iter().filter(|&&x| (128..16384).contains(&x)).count() as f64 / v.len() as f64;
        assert!((one - 0.70).abs() < 0.01, "{one}");
        // The 5% uniform draws land below 2^14 with negligible probability.
        assert!((two - 0.25).abs() < 0.01, "{two}");
    }

    #[test]
    fn sorted_ids_are_sorted() {
        let v = sorted_ids(VARINT_COUNT, 2);
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn peers_round_trip() {
        let v = mixed_u32(10_000, 3);
        let mut bytes = Vec::new();
        prost_leb128::encode_all(&v, &mut bytes);
        let mut ie = Vec::new();
        ie_leb128::encode_all(&v, &mut ie);
        assert_eq!(bytes, ie, "both peers write canonical LEB128");
        let mut out = vec![0; v.len()];
        prost_leb128::decode_all(&bytes, &mut out).unwrap();
        assert_eq!(out, v);
        out.fill(0);
        ie_leb128::decode_all(&bytes, &mut out).unwrap();
        assert_eq!(out, v);
        let c = c_streamvbyte::encode(&v);
        out.fill(0);
        assert_eq!(c_streamvbyte::decode(&c, &mut out), c.len());
        assert_eq!(out, v);
    }

    #[test]
    fn timer_returns_positive_times() {
        let t = measure(Duration::from_millis(20), 4, || black_box(3u64).pow(2));
        assert!(t.best_ns > 0.0 && t.best_ns <= t.median_ns);
        let mut x = 0u64;
        let mut y = 0u64;
        let ts = interleaved(
            Duration::from_millis(2),
            3,
            &mut [&mut || x = black_box(x + 1), &mut || y = black_box(y + 1)],
        );
        assert_eq!(ts.len(), 2);
        assert!(ts
            .iter()
            .all(|t| t.best_ns > 0.0 && t.best_ns <= t.median_ns));
        assert!(x > 0 && y > 0);
    }
}
