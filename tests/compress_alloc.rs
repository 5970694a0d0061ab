//! Peak memory of `unidb compress` on hostile CSV text (megabytes of
//! commas), measured with a counting global allocator in its own test
//! binary: refused or reported per column within a bounded multiple of the
//! input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use unidb::compress::{compress_csv, Options};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's pointer, layout and size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak bytes per input byte allowed, plus 1 MiB.
const PER_BYTE: usize = 64;

fn peak_of<T>(f: impl FnOnce() -> T) -> usize {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    drop(f());
    PEAK.load(Ordering::Relaxed) - base
}

#[test]
fn commas_stay_within_a_bounded_multiple_of_the_input() {
    let one_record = ",".repeat(4 << 20);
    let records = format!("a,b\n{}", ",\n".repeat(2 << 20));
    for (name, text, ok) in [
        ("one record", &one_record, false),
        ("records", &records, true),
    ] {
        let peak = peak_of(|| {
            let r = compress_csv(text, &Options::default());
            assert_eq!(r.is_ok(), ok, "{name}: {r:?}");
        });
        let bound = PER_BYTE * text.len() + (1 << 20);
        println!("{name}: {} bytes, peak {peak}, bound {bound}", text.len());
        assert!(peak <= bound, "{name}: peak {peak} over {bound}");
    }
}
