use super::*;

#[test]
fn buckets_tile_the_u64_range() {
    // Consecutive buckets are adjacent, widths are <= 1/64 of the lower
    // bound, and the last bucket ends at u64::MAX.
    let mut next = 0u64;
    for i in 0..BUCKETS {
        let (lo, w) = bucket_bounds(i);
        assert_eq!(lo, next, "bucket {i}");
        assert!(w == 1 || w * 64 <= lo, "bucket {i} too wide");
        assert_eq!(bucket_of(lo), i);
        assert_eq!(bucket_of(lo + (w - 1)), i);
        next = lo.wrapping_add(w);
    }
    assert_eq!(next, 0, "last bucket must end at u64::MAX");
    assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
}

/// Asserts what every snapshot of values recorded from `lo..=hi` must
/// satisfy, however it raced with recording and resets.
fn assert_consistent(s: &HistogramSnapshot, lo: u64, hi: u64) {
    if s.count == 0 {
        assert_eq!(*s, HistogramSnapshot::default());
        return;
    }
    // Bucket bounds widen the range by at most a bucket's width.
    let hi_bucket = {
        let (start, width) = bucket_bounds(bucket_of(hi));
        start + (width - 1)
    };
    let lo_bucket = bucket_bounds(bucket_of(lo)).0;
    assert!(s.max > 0, "{s:?}");
    assert!(lo_bucket <= s.min && s.max <= hi_bucket, "{s:?}");
    let ordered = [s.min, s.p50, s.p90, s.p99, s.p999, s.max];
    assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "{s:?}");
    let (c, sum) = (u128::from(s.count), u128::from(s.sum));
    assert!(c * u128::from(s.min) <= sum, "{s:?}");
    assert!(sum <= c * u128::from(s.max), "{s:?}");
    assert!(s.min as f64 <= s.mean && s.mean <= s.max as f64, "{s:?}");
}

/// `record` racing `reset` and `snapshot` (and `percentile`) from other
/// threads: every snapshot is self-consistent (before the fix, a
/// snapshot taken between a value's bucket increment and its max update,
/// or across a reset, had count > 0 and max = 0).
#[test]
fn snapshots_racing_record_and_reset_are_consistent() {
    let h = Histogram::new();
    let (lo, hi) = (100u64, 5_000_000u64);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let started = std::sync::atomic::AtomicBool::new(false);
    let writers = 3;
    let checked = std::thread::scope(|s| {
        for t in 0..writers {
            let (h, done, started) = (&h, &done, &started);
            s.spawn(move || {
                while !started.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                for i in 0..100_000u64 {
                    x = crate::rng::splitmix64(x);
                    h.record(lo + x % (hi - lo + 1));
                    if t == 0 && i % 50 == 0 {
                        h.reset();
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        let reader = s.spawn(|| {
            let mut n = 0u64;
            started.store(true, Ordering::Release);
            while done.load(Ordering::Relaxed) < writers as usize {
                assert_consistent(&h.snapshot(), lo, hi);
                let p = h.percentile(0.5);
                assert!(p == 0 || (lo..=hi + hi / 64).contains(&p), "{p}");
                n += 1;
            }
            n
        });
        reader.join().unwrap()
    });
    assert!(checked > 0);
    assert_consistent(&h.snapshot(), lo, hi);
}

/// The repair of inconsistent reads against hand-made states.
#[test]
fn consistent_extremes_and_sum_repair_racy_reads() {
    let mut counts = vec![0u64; BUCKETS];
    counts[bucket_of(1000)] = 2;
    counts[bucket_of(7)] = 1;
    // Counted before the extremes were updated (or after a reset).
    assert_eq!(consistent_extremes(&counts, u64::MAX, 0), (7, 1007));
    assert_eq!(consistent_extremes(&counts, 7, 1001), (7, 1001));
    // Sum after a reset (0) and a sum of other values (too big).
    let (min, max) = (7, 1001);
    assert_eq!(consistent_sum(&counts, min, max, 0), 7 + 2 * 1000);
    assert_eq!(consistent_sum(&counts, min, max, 1 << 40), 7 + 2 * 1001);
    assert_eq!(consistent_sum(&counts, min, max, 2008), 2008);
    assert_eq!(consistent_extremes(&vec![0; BUCKETS], 5, 9), (0, 0));
}
