use super::*;
use crate::{decode_values, encode_with, with_codecs, CodecSet, Effort};

/// Values whose differences suit `ans` (skewed, with rare jumps).
fn series(n: usize, second: bool) -> Vec<i64> {
    let mut r = unidb_common::rng::SplitMix64::new(n as u64);
    let (mut v, mut d) = (1_000_000i64, 3i64);
    (0..n)
        .map(|_| {
            let x = r.next_u64();
            let step = if x.is_multiple_of(97) {
                (x >> 40) as i64 - (1 << 23)
            } else {
                (x % 5) as i64 - 2
            };
            if second {
                d += step;
                v += d;
            } else {
                v += step;
            }
            v
        })
        .collect()
}

/// `delta` and `dod` over `ans`, which applies their running sums as
/// it decodes, give back the values; so do the same nodes over a
/// child that does not (`for`), where the parent sums.
#[test]
fn running_sums_applied_by_the_child_or_the_parent_agree() {
    for (codec, second) in [("delta", false), ("dod", true)] {
        // Every length around the batch size and the lanes.
        for n in [66, 67, 257, 258, 259, 700, 5000] {
            let x = series(n, second);
            let v = Values::Int(x.clone());
            for child in ["ans", "for"] {
                let set = CodecSet::of([codec, child, "plain"]);
                let bytes = with_codecs(&set, || encode_with(codec, &v, Effort::Max))
                    .unwrap()
                    .unwrap();
                let name = format!("{codec}(…{child}…)");
                assert!(
                    bytes.windows(child.len()).any(|w| w == child.as_bytes()),
                    "{name}: child not used"
                );
                // The oracle: the values themselves.
                assert_eq!(
                    decode_values(&bytes, DataKind::Int, n).unwrap(),
                    v,
                    "{name}, n={n}"
                );
            }
        }
    }
}

#[test]
fn running_sums_match_prefix_sums() {
    let d: Vec<i64> = (0..1000).map(|i| (i * 7919 % 41) - 20).collect();
    // Delta: the prefix sums from the first value.
    let mut want = vec![5i64];
    for &x in &d {
        want.push(want.last().unwrap() + x);
    }
    let mut s = RunningSum::Delta { acc: 5 };
    let mut got = d.clone();
    // Applied in uneven pieces, as batches are.
    let (a, b) = got.split_at_mut(333);
    s.apply(a);
    s.apply(b);
    s.finish(&mut got);
    assert_eq!(got, want);
    // Delta of delta: second differences from the first two values.
    let mut want = vec![5i64, 8];
    for &x in &d {
        let n = want.len();
        want.push(2 * want[n - 1] - want[n - 2] + x);
    }
    let mut s = RunningSum::Dod { v0: 5, v1: 8, d: 3 };
    let mut got = d.clone();
    let (a, b) = got.split_at_mut(1);
    s.apply(a);
    s.apply(b);
    s.finish(&mut got);
    assert_eq!(got, want);
}
