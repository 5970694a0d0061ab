use super::*;
use proptest::prelude::*;

/// numpy's linear quantile computed on a fully sorted copy.
fn sorted_oracle(values: &[f32], q: f64) -> f64 {
    let mut s: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let h = (s.len() - 1) as f64 * q;
    let j = h.floor() as usize;
    let g = h - h.floor();
    if j + 1 >= s.len() || g == 0.0 {
        return s[j.min(s.len() - 1)];
    }
    let (a, b) = (s[j], s[j + 1]);
    if g >= 0.5 {
        b - (b - a) * (1.0 - g)
    } else {
        a + (b - a) * g
    }
}

#[test]
fn numpy_known_values() {
    // Values from numpy 1.26: np.quantile(x, q) with the default method.
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5).unwrap(), Some(2.5));
    let ten: Vec<f32> = (1..=10).map(|i| i as f32).collect();
    let got = quantiles(&ten, &[0.1, 0.33, 0.9, 1.0, 0.0])
        .unwrap()
        .unwrap();
    let want = [1.9, 3.97, 9.1, 10.0, 1.0];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{g} vs {w}");
    }
    assert_eq!(
        quantile(&[15.0, 20.0, 35.0, 40.0, 50.0], 0.4).unwrap(),
        Some(29.0)
    );
    assert_eq!(quantile(&[7.0, 1.0, 3.0], 0.25).unwrap(), Some(2.0));
    assert_eq!(quantile(&[5.0], 0.7).unwrap(), Some(5.0));
    assert_eq!(
        quantile(&[1.0, f32::INFINITY], 1.0).unwrap(),
        Some(f64::INFINITY)
    );
}

#[test]
fn errors_and_empty() {
    assert_eq!(quantile(&[], 0.5).unwrap(), None);
    assert_eq!(quantiles(&[], &[0.1, 0.2]).unwrap(), None);
    assert_eq!(
        quantile(&[1.0, f32::NAN, f32::NAN], 0.5),
        Err(StatsError::NaN { index: 1 })
    );
    assert!(matches!(
        quantiles(&[1.0], &[0.5, 1.5]),
        Err(StatsError::QuantileOutOfRange { position: 1, .. })
    ));
    assert!(quantile(&[1.0], f64::NAN).is_err());
    assert!(quantile(&[1.0], -0.0).is_ok());
    assert!(Histogram::new(1.0, 1.0, 3).is_err());
    assert!(Histogram::new(0.0, f64::INFINITY, 3).is_err());
    assert!(Histogram::new(f64::MIN, f64::MAX, 3).is_err());
    assert!(Histogram::new(0.0, 1.0, 0).is_err());
    assert!(Histogram::new(0.0, 1.0, Histogram::MAX_BINS + 1).is_err());
}

#[test]
fn histogram_edges_and_specials() {
    let v = [
        0.0f32,
        0.25,
        0.5,
        0.75,
        1.0,
        -0.1,
        1.1,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let h = Histogram::from_slice(&v, 0.0, 1.0, 4).unwrap();
    assert_eq!(h.counts(), &[1, 1, 1, 2]);
    assert_eq!((h.underflow(), h.overflow(), h.nan()), (2, 2, 1));
    assert_eq!(h.total(), v.len() as u64);
    assert_eq!(h.edge(0), 0.0);
    assert_eq!(h.edge(4), 1.0);
    let mut m = Histogram::new(0.0, 1.0, 4).unwrap();
    m.merge(&h).unwrap();
    m.merge(&h).unwrap();
    assert_eq!(m.counts(), &[2, 2, 2, 4]);
    assert_eq!(m.nan(), 2);
    let other = Histogram::new(0.0, 1.0, 5).unwrap();
    assert!(matches!(
        m.merge(&other),
        Err(StatsError::LayoutMismatch { .. })
    ));
    assert_eq!(m.counts(), &[2, 2, 2, 4]);
}

fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        -1000.0f32..1000.0,
        proptest::sample::select(vec![0.0f32, -0.0, 1.0, 3.5, f32::MAX, f32::MIN, 1e-40]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn quantiles_match_sorting_oracle(
        values in proptest::collection::vec(value(), 1..300),
        qs in proptest::collection::vec(prop_oneof![0.0f64..=1.0, Just(0.0), Just(1.0), Just(0.5)], 0..8),
    ) {
        let got = quantiles(&values, &qs).unwrap().unwrap();
        prop_assert_eq!(got.len(), qs.len());
        for (&q, &g) in qs.iter().zip(&got) {
            let want = sorted_oracle(&values, q);
            // Same formula on the same order statistics: bit-identical.
            prop_assert!(g == want || (g.is_nan() && want.is_nan()), "q={} got {} want {}", q, g, want);
            prop_assert_eq!(quantile(&values, q).unwrap().unwrap().to_bits(), g.to_bits());
        }
    }

    #[test]
    fn histogram_matches_linear_search(
        values in proptest::collection::vec(prop_oneof![value(), Just(f32::NAN)], 0..300),
        lo in -100.0f64..100.0,
        width in 0.001f64..500.0,
        bins in 1usize..40,
        split in 0usize..300,
    ) {
        let hi = lo + width;
        let h = Histogram::from_slice(&values, lo, hi, bins).unwrap();
        // Oracle: the last edge e with e <= x, edges computed the same way.
        let mut counts = vec![0u64; bins];
        let (mut under, mut over, mut nan) = (0, 0, 0);
        for &v in &values {
            let x = f64::from(v);
            if x.is_nan() { nan += 1; continue; }
            if x < lo { under += 1; continue; }
            if x > hi { over += 1; continue; }
            let i = (0..bins).rev().find(|&i| h.edge(i) <= x).unwrap();
            counts[i] += 1;
        }
        prop_assert_eq!(h.counts(), &counts[..]);
        prop_assert_eq!((h.underflow(), h.overflow(), h.nan()), (under, over, nan));
        // Merging two halves equals the whole.
        let split = split.min(values.len());
        let mut a = Histogram::from_slice(&values[..split], lo, hi, bins).unwrap();
        let b = Histogram::from_slice(&values[split..], lo, hi, bins).unwrap();
        a.merge(&b).unwrap();
        prop_assert_eq!(a, h);
    }
}
