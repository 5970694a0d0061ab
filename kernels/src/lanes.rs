//! The lane trait: the SIMD loops that every path shares, written once.
//!
//! After memchr's `Vector`: a path implements [`Lanes`] (a handful of
//! register operations and loads on its vector type) and its kernels call
//! the generic loops below, which are `#[inline(always)]` and so compiled
//! inside the path's `#[target_feature]` functions. The AVX2
//! (`x86/avx2.rs`), NEON (`aarch64/neon.rs`) and portable (`portable.rs`,
//! `wide`) paths implement it; what is written here once:
//!
//! - [`fold`]: the f32 and f16 pair folds (`dot`, `l2sq`, `l1`), `A`
//!   accumulators per row over blocks of `A` vectors, `G` rows sharing each
//!   query load. One-to-one kernels use `G = 1, A = 4`; the f32 one-to-many
//!   kernels `G = 4, A = 1`; the f16 ones `G = 2, A = 4`, which is the
//!   one-to-one fold row by row, so their results equal the one-to-one
//!   kernel's bit for bit.
//! - [`cosine`]: `ab`, `aa` and `bb` in one pass with `C` chains each, for
//!   the same three shapes.
//! - [`count_bits`]: population counts of bitwise combinations, byte
//!   counters flushed into wider counters every 31 steps.
//!
//! Hooks where paths differ are the trait's own methods: how a tail shorter
//! than a vector is loaded (AVX2 masks the f32 load, the others copy into a
//! zeroed buffer), how halves become f32 (F16C, or bit manipulation), how
//! bytes are counted (`vpshufb` nibble lookup, `vcnt`, or SWAR) and how
//! counters are widened. The chain counts `A`, `C` and `G` are parameters
//! because register files differ (16 registers on AVX2 and SSE2, 32 on
//! NEON).
//!
//! The AVX-512 path stays hand-written: its f32 folds peel an aligning
//! masked head and end in up to four masked vectors (one per chain), its
//! integer kernels use VNNI and its bit kernels `vpopcntq`: the shared
//! loops would need hooks no other path has.
//!
//! Soundness: a `Lanes` value is a token. A SIMD path's token has a field
//! private to its module, which makes it only in a `#[target_feature]`
//! constructor, so holding one proves the CPU has the features its
//! methods' intrinsics need (see each impl). The loops read whole vectors
//! through one pointer load, [`Block::load`], whose bounds argument is that
//! the query and every row share one length; partial vectors are read from
//! slices.

use crate::scalar::{cosine_from_parts, jaccard_from_counts};

/// The operations a path provides on its vector types.
///
/// Every method is `#[inline(always)]` in the impls, so that it is compiled
/// inside the caller's `#[target_feature]` function.
pub(crate) trait Lanes: Copy {
    /// A vector of [`Lanes::N`] f32.
    type F32: Copy;
    /// f32 lanes per vector.
    const N: usize;
    /// All lanes zero.
    fn zero(self) -> Self::F32;
    /// `N` values at `p`.
    ///
    /// # Safety
    /// `p .. p + N` must be readable.
    unsafe fn load(self, p: *const f32) -> Self::F32;
    /// The `s.len() < N` values of `s`, zeros in the other lanes; reads
    /// nothing outside `s`.
    fn load_partial(self, s: &[f32]) -> Self::F32;
    /// `N` halves (IEEE binary16 bits) at `p`, converted exactly.
    ///
    /// # Safety
    /// `p .. p + N` must be readable.
    unsafe fn load_f16(self, p: *const u16) -> Self::F32;
    /// `2N` halves at `p` as two vectors ([`Lanes::load_f16`] twice unless
    /// the path loads them in one).
    ///
    /// # Safety
    /// `p .. p + 2N` must be readable.
    #[inline(always)]
    unsafe fn load_f16_x2(self, p: *const u16) -> [Self::F32; 2] {
        // SAFETY: the caller guarantees `2N` halves.
        unsafe { [self.load_f16(p), self.load_f16(p.add(Self::N))] }
    }
    /// Whether [`fold`] over several rows reads halves two vectors at a
    /// time (all loads of a pair first, then the steps). The one-row fold
    /// always does. AVX2 turns it off: with it, `dot_f16_many` over 64 rows
    /// of 768 halves ran at 28.5 G values/s against 37.1 G with one vector
    /// at a time (quiet machine, best of three `bench kernels` runs each),
    /// while the other paths were as fast or faster with it.
    const PAIR_ROWS: bool = true;
    /// The `s.len() < N` halves of `s`, converted, zeros in the other lanes.
    fn load_f16_partial(self, s: &[u16]) -> Self::F32;
    /// `a + b`.
    fn add(self, a: Self::F32, b: Self::F32) -> Self::F32;
    /// `a - b`.
    fn sub(self, a: Self::F32, b: Self::F32) -> Self::F32;
    /// `a · b + c` (fused where the path has FMA).
    fn mul_add(self, a: Self::F32, b: Self::F32, c: Self::F32) -> Self::F32;
    /// `|a - b|`.
    fn abs_diff(self, a: Self::F32, b: Self::F32) -> Self::F32;
    /// The sum of the lanes.
    fn reduce_add(self, v: Self::F32) -> f32;
}

/// The operations a path provides for the bit kernels ([`count_bits`]).
///
/// Every method is `#[inline(always)]` in the impls, as for [`Lanes`].
pub(crate) trait BitLanes: Copy {
    /// A vector of [`BitLanes::WORDS`] u64 words, seen as bytes.
    type Bits: Copy;
    /// u64 words per [`BitLanes::Bits`].
    const WORDS: usize;
    /// The fewest words worth the vector loop, whose final widening of the
    /// counters costs a few steps (fewer go through `count_ones`).
    const MIN_WORDS: usize = Self::WORDS;
    /// Byte counters widened for [`BitLanes::total`].
    type Counts: Copy;
    /// `WORDS` words at `p`.
    ///
    /// # Safety
    /// `p .. p + WORDS` must be readable.
    unsafe fn load_bits(self, p: *const u64) -> Self::Bits;
    /// `a ^ b`.
    fn xor(self, a: Self::Bits, b: Self::Bits) -> Self::Bits;
    /// `a & b`.
    fn and(self, a: Self::Bits, b: Self::Bits) -> Self::Bits;
    /// `a | b`.
    fn or(self, a: Self::Bits, b: Self::Bits) -> Self::Bits;
    /// Zero bytes.
    fn zero_bits(self) -> Self::Bits;
    /// `acc` plus the population count of each byte of `v`, byte by byte
    /// (callers keep every byte below 256: at most 31 steps of 8).
    fn add_byte_counts(self, acc: Self::Bits, v: Self::Bits) -> Self::Bits;
    /// Zero counters.
    fn zero_counts(self) -> Self::Counts;
    /// `c` plus the byte counters `bytes`, widened.
    fn add_counts(self, c: Self::Counts, bytes: Self::Bits) -> Self::Counts;
    /// The sum of the counters.
    fn total(self, c: Self::Counts) -> u64;
}

/// An element type a fold can load: f32, or f16 bits converted to f32.
pub(crate) trait Elem: Copy {
    /// Whether the folds load vectors in pairs ([`Elem::load_x2`]): for
    /// halves, so that NEON converts 8 loaded at once (loaded 4 at a time,
    /// its loop spills registers).
    const PAIRS: bool;
    /// [`Lanes::load`] or [`Lanes::load_f16`].
    ///
    /// # Safety
    /// `p .. p + N` must be readable.
    unsafe fn load<L: Lanes>(l: L, p: *const Self) -> L::F32;
    /// Two vectors at `p`.
    ///
    /// # Safety
    /// `p .. p + 2N` must be readable.
    unsafe fn load_x2<L: Lanes>(l: L, p: *const Self) -> [L::F32; 2];
    /// [`Lanes::load_partial`] or [`Lanes::load_f16_partial`].
    fn load_partial<L: Lanes>(l: L, s: &[Self]) -> L::F32;
}

impl Elem for f32 {
    const PAIRS: bool = false;
    #[inline(always)]
    unsafe fn load<L: Lanes>(l: L, p: *const f32) -> L::F32 {
        // SAFETY: the caller's contract is the callee's.
        unsafe { l.load(p) }
    }
    #[inline(always)]
    unsafe fn load_x2<L: Lanes>(l: L, p: *const f32) -> [L::F32; 2] {
        // SAFETY: the caller's contract covers both loads.
        unsafe { [l.load(p), l.load(p.add(L::N))] }
    }
    #[inline(always)]
    fn load_partial<L: Lanes>(l: L, s: &[f32]) -> L::F32 {
        l.load_partial(s)
    }
}

impl Elem for u16 {
    const PAIRS: bool = true;
    #[inline(always)]
    unsafe fn load<L: Lanes>(l: L, p: *const u16) -> L::F32 {
        // SAFETY: the caller's contract is the callee's.
        unsafe { l.load_f16(p) }
    }
    #[inline(always)]
    unsafe fn load_x2<L: Lanes>(l: L, p: *const u16) -> [L::F32; 2] {
        // SAFETY: the caller's contract is the callee's.
        unsafe { l.load_f16_x2(p) }
    }
    #[inline(always)]
    fn load_partial<L: Lanes>(l: L, s: &[u16]) -> L::F32 {
        l.load_f16_partial(s)
    }
}

/// One step of a fold: `acc` plus the contribution of the pair `(x, y)`.
/// Zero lanes in both `x` and `y` must leave `acc` unchanged.
pub(crate) trait Step {
    /// The new accumulator.
    fn step<L: Lanes>(l: L, x: L::F32, y: L::F32, acc: L::F32) -> L::F32;
}

/// `acc + x·y`.
pub(crate) struct Dot;
/// `acc + (x - y)²`.
pub(crate) struct L2;
/// `acc + |x - y|`.
pub(crate) struct L1;

impl Step for Dot {
    #[inline(always)]
    fn step<L: Lanes>(l: L, x: L::F32, y: L::F32, acc: L::F32) -> L::F32 {
        l.mul_add(x, y, acc)
    }
}

impl Step for L2 {
    #[inline(always)]
    fn step<L: Lanes>(l: L, x: L::F32, y: L::F32, acc: L::F32) -> L::F32 {
        let d = l.sub(x, y);
        l.mul_add(d, d, acc)
    }
}

impl Step for L1 {
    #[inline(always)]
    fn step<L: Lanes>(l: L, x: L::F32, y: L::F32, acc: L::F32) -> L::F32 {
        l.add(acc, l.abs_diff(x, y))
    }
}

/// The accumulators of one row summed pairwise, `(a0 + a1) + (a2 + a3)`
/// for four (`A` is a power of two).
#[inline(always)]
fn sum_chains<L: Lanes, const A: usize>(l: L, mut v: [L::F32; A]) -> L::F32 {
    let mut width = A;
    while width > 1 {
        for k in 0..width / 2 {
            v[k] = l.add(v[2 * k], v[2 * k + 1]);
        }
        width /= 2;
    }
    v[0]
}

/// The query and `G` rows cut to its length, read by offset: every load
/// of the folds goes through [`Block::load`], whose one bounds argument is
/// that all `G + 1` slices hold `len` values.
struct Block<'a, T, const G: usize> {
    q: &'a [T],
    rows: [&'a [T]; G],
}

impl<'a, T: Elem, const G: usize> Block<'a, T, G> {
    /// Cuts the rows to the query's length (panics if one is shorter; the
    /// `Kernels` methods pass equal lengths).
    #[inline(always)]
    fn new(q: &'a [T], rows: [&'a [T]; G]) -> Self {
        let mut cut = rows;
        for r in cut.iter_mut() {
            *r = &r[..q.len()];
        }
        Block { q, rows: cut }
    }

    /// The common length.
    #[inline(always)]
    fn len(&self) -> usize {
        self.q.len()
    }

    /// The vectors at offset `i` of the query and of each row.
    ///
    /// # Safety
    /// `i + N <= self.len()`.
    #[inline(always)]
    unsafe fn load<L: Lanes>(&self, l: L, i: usize) -> (L::F32, [L::F32; G]) {
        debug_assert!(i + L::N <= self.len());
        // SAFETY: the query and every row hold `len >= i + N` values.
        let x = unsafe { T::load(l, self.q.as_ptr().add(i)) };
        let mut ys = [x; G];
        for (y, r) in ys.iter_mut().zip(&self.rows) {
            // SAFETY: as above.
            *y = unsafe { T::load(l, r.as_ptr().add(i)) };
        }
        (x, ys)
    }

    /// The two vectors at offset `i` of the query and of each row.
    ///
    /// # Safety
    /// `i + 2N <= self.len()`.
    #[inline(always)]
    unsafe fn load_x2<L: Lanes>(&self, l: L, i: usize) -> ([L::F32; 2], [[L::F32; 2]; G]) {
        debug_assert!(i + 2 * L::N <= self.len());
        // SAFETY: the query and every row hold `len >= i + 2N` values.
        let x = unsafe { T::load_x2(l, self.q.as_ptr().add(i)) };
        let mut ys = [x; G];
        for (y, r) in ys.iter_mut().zip(&self.rows) {
            // SAFETY: as above.
            *y = unsafe { T::load_x2(l, r.as_ptr().add(i)) };
        }
        (x, ys)
    }

    /// The values from offset `i <= len` on (fewer than `N`), zero-padded.
    #[inline(always)]
    fn load_partial<L: Lanes>(&self, l: L, i: usize) -> (L::F32, [L::F32; G]) {
        let x = T::load_partial(l, &self.q[i..]);
        let mut ys = [x; G];
        for (y, r) in ys.iter_mut().zip(&self.rows) {
            *y = T::load_partial(l, &r[i..]);
        }
        (x, ys)
    }
}

/// Folds `S` over the query `q` and `G` rows of the same length (`x` from
/// the query, `y` from a row): `A` accumulators per row over blocks of `A`
/// vectors, then whole vectors into the first, then the zero-padded tail
/// into the second (the first when `A = 1`). Returns each row's
/// accumulators summed pairwise, reduced to one f32.
#[inline(always)]
pub(crate) fn fold<L: Lanes, S: Step, T: Elem, const G: usize, const A: usize>(
    l: L,
    q: &[T],
    rows: [&[T]; G],
) -> [f32; G] {
    let n = L::N;
    let block = Block::new(q, rows);
    let len = block.len();
    let mut acc = [[l.zero(); A]; G];
    // The blocks end at a multiple of `A·n`, and so does every `i` below
    // it: each block lies inside the slices.
    let blocks_end = len - len % (A * n);
    let mut i = 0;
    while i < blocks_end {
        if T::PAIRS && (G == 1 || L::PAIR_ROWS) && A.is_multiple_of(2) {
            for k in (0..A).step_by(2) {
                // SAFETY: i + k·n + 2n <= i + A·n <= blocks_end <= len.
                let (x, ys) = unsafe { block.load_x2(l, i + k * n) };
                for (y, acc) in ys.into_iter().zip(acc.iter_mut()) {
                    acc[k] = S::step(l, x[0], y[0], acc[k]);
                    acc[k + 1] = S::step(l, x[1], y[1], acc[k + 1]);
                }
            }
        } else {
            for k in 0..A {
                // SAFETY: i + k·n + n <= i + A·n <= blocks_end <= len.
                let (x, ys) = unsafe { block.load(l, i + k * n) };
                for (y, acc) in ys.into_iter().zip(acc.iter_mut()) {
                    acc[k] = S::step(l, x, y, acc[k]);
                }
            }
        }
        i += A * n;
    }
    while i + n <= len {
        // SAFETY: i + n <= len.
        let (x, ys) = unsafe { block.load(l, i) };
        for (y, acc) in ys.into_iter().zip(acc.iter_mut()) {
            acc[0] = S::step(l, x, y, acc[0]);
        }
        i += n;
    }
    if i < len {
        let (x, ys) = block.load_partial(l, i);
        for (y, acc) in ys.into_iter().zip(acc.iter_mut()) {
            acc[1 % A] = S::step(l, x, y, acc[1 % A]);
        }
    }
    let mut out = [0.0; G];
    for (o, a) in out.iter_mut().zip(acc) {
        *o = l.reduce_add(sum_chains(l, a));
    }
    out
}

/// The one-to-one fold of `S` with 4 accumulators.
#[inline(always)]
pub(crate) fn pair<L: Lanes, S: Step, T: Elem>(l: L, a: &[T], b: &[T]) -> f32 {
    let [v] = fold::<L, S, T, 1, 4>(l, a, [b]);
    v
}

/// Chains of the cosine pass: `aa` of the query, `ab` and `bb` per row.
struct CosineChains<V, const G: usize, const C: usize> {
    aa: [V; C],
    ab: [[V; C]; G],
    bb: [[V; C]; G],
}

impl<V: Copy, const G: usize, const C: usize> CosineChains<V, G, C> {
    /// Adds the query vector `x` and the rows' vectors `ys` to chain `k`.
    #[inline(always)]
    fn step<L: Lanes<F32 = V>>(&mut self, l: L, x: V, ys: [V; G], k: usize, with_aa: bool) {
        for ((ab, bb), &y) in self.ab.iter_mut().zip(self.bb.iter_mut()).zip(&ys) {
            ab[k] = l.mul_add(x, y, ab[k]);
            bb[k] = l.mul_add(y, y, bb[k]);
        }
        if with_aa {
            self.aa[k] = l.mul_add(x, x, self.aa[k]);
        }
    }
}

/// `(aa, [ab; G], [bb; G])` of the query and `G` rows in one pass, `C`
/// chains per quantity over blocks of `C` vectors, then every further
/// vector (the last zero-padded) into the first chain; `aa` is skipped
/// (zero) unless `with_aa`. With `G = 0` it is the query's `aa` exactly as
/// the one-to-one pass of the same `C` computes it.
#[inline(always)]
pub(crate) fn cosine_parts<L: Lanes, T: Elem, const G: usize, const C: usize>(
    l: L,
    q: &[T],
    rows: [&[T]; G],
    with_aa: bool,
) -> (f32, [f32; G], [f32; G]) {
    let n = L::N;
    let block = Block::new(q, rows);
    let len = block.len();
    let z = l.zero();
    let mut c = CosineChains {
        aa: [z; C],
        ab: [[z; C]; G],
        bb: [[z; C]; G],
    };
    // The blocks end at a multiple of `C·n`, and so does every `i` below
    // it: each block lies inside the slices.
    let blocks_end = len - len % (C * n);
    let mut i = 0;
    while i < blocks_end {
        for k in 0..C {
            // SAFETY: i + k·n + n <= i + C·n <= blocks_end <= len.
            let (x, ys) = unsafe { block.load(l, i + k * n) };
            c.step(l, x, ys, k, with_aa);
        }
        i += C * n;
    }
    while i + n <= len {
        // SAFETY: i + n <= len.
        let (x, ys) = unsafe { block.load(l, i) };
        c.step(l, x, ys, 0, with_aa);
        i += n;
    }
    if i < len {
        let (x, ys) = block.load_partial(l, i);
        c.step(l, x, ys, 0, with_aa);
    }
    let (mut ab, mut bb) = ([0.0; G], [0.0; G]);
    for r in 0..G {
        ab[r] = l.reduce_add(sum_chains(l, c.ab[r]));
        bb[r] = l.reduce_add(sum_chains(l, c.bb[r]));
    }
    (l.reduce_add(sum_chains(l, c.aa)), ab, bb)
}

/// Cosine distance, one-to-one, with `C` chains per quantity.
#[inline(always)]
pub(crate) fn cosine<L: Lanes, T: Elem, const C: usize>(l: L, a: &[T], b: &[T]) -> f32 {
    let (aa, [ab], [bb]) = cosine_parts::<L, T, 1, C>(l, a, [b], true);
    cosine_from_parts(ab, aa, bb)
}

/// Runs `$group` (an expression of `$g: [&[T]; $G]` giving `[O; $G]`) over
/// the rows of `$rows` (of `$q.len()` values each) `$G` at a time and
/// `$single` (of the query `$a` and a row `$b`) over the rest, writing
/// `$out`. A zero-dimensional query gives `$single`'s value for empty
/// vectors. Shapes are checked by the `Kernels` methods (`rows.len() ==
/// out.len() * q.len()`). A macro, not a function taking closures, so that
/// the loops stay inside the caller's `#[target_feature]` function.
macro_rules! many_rows {
    ($G:expr, $q:expr, $rows:expr, $out:expr,
     |$a:ident, $b:ident| $single:expr, |$g:ident| $group:expr) => {{
        let (q, rows, out) = ($q, $rows, $out);
        let dim = q.len();
        if dim == 0 {
            let ($a, $b) = (&[][..], &[][..]);
            out.fill($single);
        } else {
            let mut out_groups = out.chunks_exact_mut($G);
            let mut row_groups = rows.chunks_exact($G * dim);
            for (o, g) in (&mut out_groups).zip(&mut row_groups) {
                let $g: [_; $G] = std::array::from_fn(|r| &g[r * dim..(r + 1) * dim]);
                o.copy_from_slice(&$group);
            }
            for (o, row) in out_groups
                .into_remainder()
                .iter_mut()
                .zip(row_groups.remainder().chunks_exact(dim))
            {
                let ($a, $b) = (q, row);
                *o = $single;
            }
        }
    }};
}
// Used by the AVX2 i8 kernels, and by the generic kernels below.
#[cfg(target_arch = "x86_64")]
pub(crate) use many_rows;

/// `out[r] = fold of S (q, row r)`, 4 rows per query load with one
/// accumulator each; leftover rows through [`pair`].
#[inline(always)]
pub(crate) fn f32_many<L: Lanes, S: Step>(l: L, q: &[f32], rows: &[f32], out: &mut [f32]) {
    many_rows!(4, q, rows, out, |a, b| pair::<L, S, f32>(l, a, b), |g| {
        fold::<L, S, f32, 4, 1>(l, q, g)
    });
}

/// `out[r] = cosine(q, row r)`: the query's squared norm once (by the dot
/// fold), then 4 rows per query load, one chain each; leftover rows
/// through the one-to-one kernel with `C` chains.
#[inline(always)]
pub(crate) fn cosine_f32_many<L: Lanes, const C: usize>(
    l: L,
    q: &[f32],
    rows: &[f32],
    out: &mut [f32],
) {
    let aa = pair::<L, Dot, f32>(l, q, q);
    many_rows!(4, q, rows, out, |a, b| cosine::<L, f32, C>(l, a, b), |g| {
        let (_, ab, bb) = cosine_parts::<L, f32, 4, 1>(l, q, g, false);
        let mut d = [0.0; 4];
        for r in 0..4 {
            d[r] = cosine_from_parts(ab[r], aa, bb[r]);
        }
        d
    });
}

/// `out[r] = fold of S (q, row r)` of halves, `G` rows per query load:
/// each row exactly as [`pair`] computes it.
#[inline(always)]
pub(crate) fn f16_many<L: Lanes, S: Step, const G: usize>(
    l: L,
    q: &[u16],
    rows: &[u16],
    out: &mut [f32],
) {
    many_rows!(G, q, rows, out, |a, b| pair::<L, S, u16>(l, a, b), |g| {
        fold::<L, S, u16, G, 4>(l, q, g)
    });
}

/// `out[r] = cosine(q, row r)` of halves, `G` rows per query load: the
/// query's `aa` once, with the chains of [`cosine`], so each row equals
/// the one-to-one kernel with `C` chains bit for bit.
#[inline(always)]
pub(crate) fn cosine_f16_many<L: Lanes, const G: usize, const C: usize>(
    l: L,
    q: &[u16],
    rows: &[u16],
    out: &mut [f32],
) {
    let (aa, [], []) = cosine_parts::<L, u16, 0, C>(l, q, [], true);
    many_rows!(G, q, rows, out, |a, b| cosine::<L, u16, C>(l, a, b), |g| {
        let (_, ab, bb) = cosine_parts::<L, u16, G, C>(l, q, g, false);
        let mut d = [0.0; G];
        for r in 0..G {
            d[r] = cosine_from_parts(ab[r], aa, bb[r]);
        }
        d
    });
}

/// Bitwise combinations whose population counts a bit kernel needs.
pub(crate) trait BitOps<const K: usize> {
    /// The `K` combinations of two vectors.
    fn vector<L: BitLanes>(l: L, x: L::Bits, y: L::Bits) -> [L::Bits; K];
    /// The `K` combinations of two words.
    fn word(x: u64, y: u64) -> [u64; K];
}

/// `x ^ y`: Hamming distance.
pub(crate) struct Xor;
/// `x & y` and `x | y`: Jaccard distance.
pub(crate) struct AndOr;

impl BitOps<1> for Xor {
    #[inline(always)]
    fn vector<L: BitLanes>(l: L, x: L::Bits, y: L::Bits) -> [L::Bits; 1] {
        [l.xor(x, y)]
    }
    #[inline(always)]
    fn word(x: u64, y: u64) -> [u64; 1] {
        [x ^ y]
    }
}

impl BitOps<2> for AndOr {
    #[inline(always)]
    fn vector<L: BitLanes>(l: L, x: L::Bits, y: L::Bits) -> [L::Bits; 2] {
        [l.and(x, y), l.or(x, y)]
    }
    #[inline(always)]
    fn word(x: u64, y: u64) -> [u64; 2] {
        [x & y, x | y]
    }
}

/// Population counts of the `K` combinations `B` of `a` and `b` (equal
/// lengths): vectors of `WORDS` words, byte counters gathered for at most
/// 31 steps (8 per byte each, 31·8 = 248 < 256) and then widened; the
/// last `len % WORDS` words with `count_ones`.
#[inline(always)]
pub(crate) fn count_bits<L: BitLanes, B: BitOps<K>, const K: usize>(
    l: L,
    a: &[u64],
    b: &[u64],
) -> [u64; K] {
    let w = L::WORDS;
    let b = &b[..a.len()];
    // Whole vectors, unless fewer than `MIN_WORDS` words: then every word
    // goes through `count_ones`.
    let n = if a.len() < L::MIN_WORDS {
        0
    } else {
        a.len() - a.len() % w
    };
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut sums = [0; K];
    if n > 0 {
        let mut total = [l.zero_counts(); K];
        let mut i = 0;
        while i < n {
            let end = (i + 31 * w).min(n);
            let mut bytes = [l.zero_bits(); K];
            while i < end {
                // SAFETY: `i` and `end` are multiples of `w`, so
                // i + w <= end <= n <= a.len() == b.len().
                let (x, y) = unsafe { (l.load_bits(pa.add(i)), l.load_bits(pb.add(i))) };
                let v = B::vector(l, x, y);
                for k in 0..K {
                    bytes[k] = l.add_byte_counts(bytes[k], v[k]);
                }
                i += w;
            }
            for k in 0..K {
                total[k] = l.add_counts(total[k], bytes[k]);
            }
        }
        for k in 0..K {
            sums[k] = l.total(total[k]);
        }
    }
    let (ta, tb) = (&a[n..], &b[n..]);
    for (&x, &y) in ta.iter().zip(tb) {
        let c = B::word(x, y);
        for k in 0..K {
            sums[k] += u64::from(c[k].count_ones());
        }
    }
    sums
}

/// Number of differing bits.
#[inline(always)]
pub(crate) fn hamming<L: BitLanes>(l: L, a: &[u64], b: &[u64]) -> u64 {
    let [c] = count_bits::<L, Xor, 1>(l, a, b);
    c
}

/// Jaccard distance of bit sets.
#[inline(always)]
pub(crate) fn jaccard<L: BitLanes>(l: L, a: &[u64], b: &[u64]) -> f32 {
    let [inter, union] = count_bits::<L, AndOr, 2>(l, a, b);
    jaccard_from_counts(inter, union)
}
