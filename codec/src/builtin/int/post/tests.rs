use super::*;

#[test]
fn running_sums_match_prefix_sums() {
    let d: Vec<i64> = (0..1000).map(|i| (i * 7919 % 41) - 20).collect();
    // Delta: the prefix sums from the first value.
    let mut want = vec![5i64];
    for &x in &d {
        want.push(want.last().unwrap() + x);
    }
    let mut s = Stage::Sum(RunningSum::Delta { acc: 5 });
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
    let mut s = Stage::Sum(RunningSum::Dod { v0: 5, v1: 8, d: 3 });
    let mut got = d.clone();
    let (a, b) = got.split_at_mut(1);
    s.apply(a);
    s.apply(b);
    s.finish(&mut got);
    assert_eq!(got, want);
}

#[test]
fn grids_map_and_flag() {
    let mut s = Stage::Grid {
        min: -7,
        g: 3,
        limit: 10,
        bad: false,
    };
    let mut x = vec![0i64, 1, 10];
    s.apply(&mut x);
    assert_eq!(x, [-7, -4, 23]);
    assert!(matches!(s, Stage::Grid { bad: false, .. }));
    s.apply(&mut [11]);
    assert!(matches!(s, Stage::Grid { bad: true, .. }));
}

#[test]
fn lists_keep_their_order_and_length() {
    let d = Stage::Sum(RunningSum::Delta { acc: 0 });
    let one = Post::prepend(d, None).unwrap();
    let mut list = one;
    for _ in 1..MAX_STAGES {
        list = Post::prepend(d, Some(&list)).unwrap();
    }
    assert!(Post::prepend(d, Some(&list)).is_none());
    let (first, rest) = list.split_first();
    assert_eq!(first, d);
    assert_eq!(rest.stages.iter().flatten().count(), MAX_STAGES - 1);
}
