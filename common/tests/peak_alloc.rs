//! `PeakAlloc` installed as the global allocator counts what a closure
//! allocates at its peak (oracle: the sizes the test allocates itself).

use unidb_common::alloc::PeakAlloc;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc::new();

#[test]
fn peak_counts_the_high_water_mark_not_the_total() {
    let before = ALLOC.live();
    let ((), peak) = ALLOC.peak_of(|| {
        // Two 1 MiB buffers one after the other: the peak is one of them.
        for _ in 0..2 {
            let v = vec![1u8; 1 << 20];
            std::hint::black_box(&v);
        }
    });
    assert!(peak >= 1 << 20, "{peak}");
    assert!(peak < (1 << 20) + (64 << 10), "{peak}");

    let (v, peak) = ALLOC.peak_of(|| {
        let mut v: Vec<u64> = Vec::with_capacity(16);
        v.resize(100_000, 7); // grows by realloc
        v
    });
    assert!(peak >= 800_000, "{peak}");
    assert!(ALLOC.live() >= before + 800_000);
    drop(v);
    let zeroed = ALLOC.peak_of(|| vec![0u32; 50_000]).1;
    assert!(zeroed >= 200_000, "{zeroed}");
    assert!(ALLOC.live() < before + (64 << 10));
}
