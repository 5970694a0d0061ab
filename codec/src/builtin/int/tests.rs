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

/// Stage lists two deep: `gcd(delta(ans))` and `delta(gcd(ans))`,
/// both applied by `ans`, give back the values (and the same stages
/// over `for`, which leaves them to the stage nodes).
#[test]
fn nested_stages_applied_by_the_child_or_the_nodes_agree() {
    let mut r = unidb_common::rng::SplitMix64::new(9);
    let mut checked = Vec::new();
    for n in [100usize, 257, 3000] {
        // Timestamps on a 60 000 grid, mostly one step apart.
        let mut t = 1_600_000_000_000i64;
        let ts: Vec<i64> = (0..n)
            .map(|_| {
                let x = r.next_u64();
                t += 60_000
                    * if x.is_multiple_of(13) {
                        (x % 9) as i64 + 2
                    } else {
                        1
                    };
                t
            })
            .collect();
        for (top, below, child) in [
            ("gcd", "delta", "ans"),
            ("delta", "gcd", "ans"),
            ("gcd", "delta", "for"),
            ("delta", "gcd", "for"),
        ] {
            let v = Values::Int(ts.clone());
            let set = CodecSet::of([top, below, child, "plain"]);
            let Some(bytes) = with_codecs(&set, || encode_with(top, &v, Effort::Max)).unwrap()
            else {
                continue;
            };
            let used = |c: &str| bytes.windows(c.len()).any(|w| w == c.as_bytes());
            let name = format!("{top}({below}({child}))");
            if !(used(below) && used(child)) {
                continue;
            }
            assert_eq!(
                decode_values(&bytes, DataKind::Int, n).unwrap(),
                v,
                "{name}, n={n}"
            );
            checked.push(name);
        }
    }
    // The cascades chosen under these sets include both nestings over ans.
    for want in ["gcd(delta(ans))", "delta(gcd(ans))"] {
        assert!(
            checked.iter().any(|c| c == want),
            "{want} not tried: {checked:?}"
        );
    }
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
