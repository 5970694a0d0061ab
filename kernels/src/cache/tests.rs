use super::prefetch;

#[test]
fn prefetch_accepts_any_slice() {
    let v: Vec<u64> = (0..1000).collect();
    prefetch(&v);
    prefetch(&v[3..17]);
    prefetch::<u64>(&[]);
    prefetch(&[(); 4]);
    prefetch(std::slice::from_ref(&v[999]));
    // A hint changes nothing.
    assert_eq!(v, (0..1000).collect::<Vec<u64>>());
}
