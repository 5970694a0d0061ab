//! Cache hints: [`prefetch`], so that callers (vectordb's index searches)
//! need no `std::arch` of their own.

/// The cache line size assumed for the hints: 64 bytes on every x86-64 and
/// on the common aarch64 cores.
const LINE: usize = 64;

/// Hints the CPU to fetch `data` into all cache levels, ahead of a read:
/// the cache line holding its first byte and one every 64 bytes after it
/// within `data` (so every line of a slice that starts on a line, as
/// vectordb's 64-byte aligned rows do). A hint only: it changes no value,
/// never faults, and is a no-op on targets without a stable prefetch
/// instruction in `std::arch` (everything but x86-64 today) and under Miri.
///
/// Callers bound the cost by the slice they pass: vectordb prefetches a
/// stored row up to its first 512 bytes, or one element.
///
/// ```
/// let row = vec![1.0f32; 128];
/// unidb_kernels::prefetch(&row[..64]);
/// unidb_kernels::prefetch(std::slice::from_ref(&row[100]));
/// ```
#[inline(always)]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = data.as_ptr().cast::<i8>();
        let mut off = 0;
        while off < std::mem::size_of_val(data) {
            // SAFETY: a prefetch only hints the cache: it changes nothing and
            // never faults, whatever the address (here one inside `data`);
            // SSE is part of the x86-64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off)) };
            off += LINE;
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = (data, LINE);
}

#[cfg(test)]
mod tests;
