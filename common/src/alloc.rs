//! A counting global allocator, to measure the peak memory of an operation
//! against its input: how the decoders' allocation bounds are tested.
//!
//! [`PeakAlloc`] forwards every call to the system allocator and keeps the
//! bytes live and their high-water mark. Install it in a test binary (or a
//! tool) with `#[global_allocator]`; the counters are process-wide, so
//! measure one operation at a time (one test per binary, or a lock).
//!
//! ```
//! use unidb_common::alloc::PeakAlloc;
//!
//! // In a test binary: #[global_allocator] static ALLOC: PeakAlloc = PeakAlloc::new();
//! static ALLOC: PeakAlloc = PeakAlloc::new();
//! let (len, peak) = ALLOC.peak_of(|| vec![0u8; 1000].len());
//! assert_eq!(len, 1000);
//! assert_eq!(peak, 0); // not installed here, so nothing was counted
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator with counters of live bytes and their peak.
#[derive(Debug, Default)]
pub struct PeakAlloc {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl PeakAlloc {
    /// A counting allocator with zeroed counters.
    pub const fn new() -> Self {
        PeakAlloc {
            live: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Bytes allocated through this allocator and not yet freed.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Runs `f` and returns its result with the most bytes that were live
    /// at once during it, above what was live before it. Allocations of
    /// other threads running at the same time are counted too.
    pub fn peak_of<T>(&self, f: impl FnOnce() -> T) -> (T, usize) {
        let base = self.live();
        self.peak.store(base, Ordering::SeqCst);
        let out = f();
        (out, self.peak.load(Ordering::SeqCst).saturating_sub(base))
    }

    fn grew(&self, by: usize) {
        let now = self.live.fetch_add(by, Ordering::SeqCst) + by;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn shrank(&self, by: usize) {
        self.live.fetch_sub(by, Ordering::SeqCst);
    }
}

// SAFETY: every call is forwarded to the system allocator with the caller's
// arguments unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        self.shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                self.grew(new_size - layout.size());
            } else {
                self.shrank(layout.size() - new_size);
            }
        }
        p
    }
}
