//! The experiments module against independent oracles: GrowthBook's
//! published SDK test vectors, reference values computed with scipy,
//! statsmodels and gbstats (`tests/data/experiments/make_reference.py`),
//! two-pass f64 moments, and seeded simulations whose error rates have a
//! known binomial spread.

use serde_json::Value as Json;
use unidb_common::rng::SplitMix64;
use unidb_vectordb::experiments::*;

fn data(name: &str) -> Json {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/experiments/");
    let text = std::fs::read_to_string(format!("{path}{name}")).expect("test data");
    serde_json::from_str(&text).expect("test data parses")
}

/// `got` equals `want` to 1e-6 relative (1e-12 absolute near zero).
fn close(got: f64, want: f64, what: &str) {
    assert!(got.is_finite(), "{what}: {got}");
    let tol = 1e-6 * want.abs().max(1e-6);
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

// ---------- assignment: GrowthBook's published vectors ----------

#[test]
fn hash_matches_growthbook_vectors() {
    let cases = data("growthbook_cases.json");
    let mut seen = 0;
    for section in ["hash", "hash_non_ascii"] {
        for case in cases[section].as_array().unwrap() {
            let seed = case[0].as_str().unwrap();
            let value = case[1].as_str().unwrap();
            let version = case[2].as_u64().unwrap() as u32;
            match case[3].as_f64() {
                Some(want) => {
                    assert_eq!(hash(seed, value, version).unwrap(), want, "{case}");
                    seen += 1;
                }
                None => assert!(
                    matches!(
                        hash(seed, value, version),
                        Err(ExperimentError::HashVersion(99))
                    ),
                    "{case}"
                ),
            }
        }
    }
    assert_eq!(seen, 16);
    // Empty seed and value hash the FNV offset basis alone.
    assert_eq!(
        hash("", "", 1).unwrap(),
        f64::from(0x811C_9DC5u32 % 1000) / 1000.0
    );
}

#[test]
fn utf8_units_hash_bytes() {
    // ASCII: both unit kinds agree; "é" is one UTF-16 unit but two bytes.
    for (seed, value) in [("seed", "a"), ("", "123"), ("foo", "def")] {
        for v in [1, 2] {
            assert_eq!(
                hash_with(seed, value, v, HashUnits::Utf8).unwrap(),
                hash_with(seed, value, v, HashUnits::Utf16).unwrap()
            );
        }
    }
    // FNV-1a over the bytes written out by hand: 'j' 'o' 's' 0xC3 0xA9.
    let mut h: u32 = 0x811C_9DC5;
    for b in [b'j', b'o', b's', 0xC3, 0xA9] {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    assert_eq!(fnv1a32("josé", HashUnits::Utf8), h);
    assert_eq!(
        hash_with("", "josé", 1, HashUnits::Utf8).unwrap(),
        f64::from(h % 1000) / 1000.0
    );
    assert_ne!(fnv1a32("josé", HashUnits::Utf16), h);
}

#[test]
fn bucket_ranges_match_growthbook_vectors() {
    let cases = data("growthbook_cases.json");
    for case in cases["getBucketRange"].as_array().unwrap() {
        let name = case[0].as_str().unwrap();
        let n = case[1][0].as_u64().unwrap() as usize;
        let coverage = case[1][1].as_f64().unwrap();
        let weights: Option<Vec<f64>> = case[1][2]
            .as_array()
            .map(|w| w.iter().map(|x| x.as_f64().unwrap()).collect());
        let got = bucket_ranges(n, coverage, weights.as_deref());
        // GrowthBook clamps a coverage outside [0, 1] and replaces invalid
        // weights by equal ones; here both are refused with a typed error.
        let refused = !(0.0..=1.0).contains(&coverage)
            || weights.as_ref().is_some_and(|w| {
                w.len() != n || (w.iter().sum::<f64>() - 1.0).abs() > WEIGHT_SUM_TOLERANCE
            });
        if refused {
            let err = got.expect_err(name);
            assert!(
                matches!(
                    err,
                    ExperimentError::OutOfRange { .. } | ExperimentError::Weights { .. }
                ),
                "{name}: {err}"
            );
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = case[2].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{name}");
        for ((lo, hi), w) in got.iter().zip(want) {
            // The published values are rounded to 6 digits by the SDKs' tests.
            close(*lo, w[0].as_f64().unwrap(), name);
            close(*hi, w[1].as_f64().unwrap(), name);
        }
    }
}

#[test]
fn choose_variation_and_namespaces_match_growthbook_vectors() {
    let cases = data("growthbook_cases.json");
    for case in cases["chooseVariation"].as_array().unwrap() {
        let n = case[1].as_f64().unwrap();
        let ranges: Vec<(f64, f64)> = case[2]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_f64().unwrap(), r[1].as_f64().unwrap()))
            .collect();
        let want = case[3].as_i64().unwrap();
        let got = choose_variation(n, &ranges).map_or(-1, |v| v as i64);
        assert_eq!(got, want, "{case}");
    }
    for case in cases["inNamespace"].as_array().unwrap() {
        let id = case[1].as_str().unwrap();
        let ns = Namespace::new(
            case[2][0].as_str().unwrap(),
            case[2][1].as_f64().unwrap(),
            case[2][2].as_f64().unwrap(),
        )
        .unwrap();
        assert_eq!(
            ns.contains(id, HashUnits::Utf16),
            case[3].as_bool().unwrap(),
            "{case}"
        );
    }
}

#[test]
fn experiments_run_as_growthbook_runs_them() {
    let cases = data("growthbook_cases.json");
    for case in cases["run"].as_array().unwrap() {
        let name = case[0].as_str().unwrap();
        let ctx = &case[1];
        let exp = &case[2];
        let key = exp["key"].as_str().unwrap();
        let id = ctx["attributes"]["id"].as_str().unwrap();
        let variations = exp["variations"].as_array().unwrap().len();
        let mut config = ExperimentConfig {
            key: key.into(),
            seed: exp["seed"].as_str().map(Into::into),
            // The SDKs default to hash version 1.
            hash_version: exp["hashVersion"].as_u64().unwrap_or(1) as u32,
            weights: exp["weights"].as_array().map_or_else(
                || vec![1.0 / variations as f64; variations],
                |w| w.iter().map(|x| x.as_f64().unwrap()).collect(),
            ),
            coverage: exp["coverage"].as_f64().unwrap_or(1.0),
            ..ExperimentConfig::default()
        };
        if let Some(ns) = exp["namespace"].as_array() {
            config.namespace = Some(
                Namespace::new(
                    ns[0].as_str().unwrap(),
                    ns[1].as_f64().unwrap(),
                    ns[2].as_f64().unwrap(),
                )
                .unwrap(),
            );
        }
        if let Some(v) = ctx["forcedVariations"][key].as_u64() {
            config.forced.insert(id.into(), v as usize);
        }
        let got = Experiment::new(config).unwrap().assign(id);
        let (value, in_experiment, hash_used) = (
            case[3].as_u64().unwrap() as usize,
            case[4].as_bool().unwrap(),
            case[5].as_bool().unwrap(),
        );
        assert_eq!(got.variant.is_some(), in_experiment, "{name}");
        if in_experiment {
            assert_eq!(got.variant, Some(value), "{name}");
        }
        assert_eq!(got.bucket.is_some() && in_experiment, hash_used, "{name}");
        assert_eq!(got.experiment, key);
        assert_eq!(got.id, id);
    }
}

#[test]
fn assignment_follows_weights_and_is_deterministic() {
    let exp = Experiment::new(ExperimentConfig {
        key: "w".into(),
        weights: vec![0.2, 0.3, 0.5],
        coverage: 0.8,
        ..ExperimentConfig::default()
    })
    .unwrap();
    let n = 50_000;
    let mut counts = [0u64; 4];
    for i in 0..n {
        let id = format!("u{i}");
        let a = exp.assign(&id);
        assert_eq!(a, exp.assign(&id));
        // The variant is the one whose range holds the bucket.
        let bucket = a.bucket.unwrap();
        assert_eq!(a.variant, choose_variation(bucket, exp.ranges()));
        counts[a.variant.unwrap_or(3)] += 1;
    }
    // Shares within 5 binomial standard deviations of weight × coverage.
    for (c, share) in counts.iter().zip([0.16, 0.24, 0.4, 0.2]) {
        let sd = (share * (1.0 - share) / n as f64).sqrt();
        let got = *c as f64 / n as f64;
        assert!((got - share).abs() < 5.0 * sd, "{counts:?}");
    }
}

#[test]
fn bad_assignment_settings_are_typed_errors() {
    let base = ExperimentConfig {
        key: "k".into(),
        ..ExperimentConfig::default()
    };
    let err = |c: ExperimentConfig| Experiment::new(c).unwrap_err();
    assert!(matches!(
        err(ExperimentConfig {
            hash_version: 3,
            ..base.clone()
        }),
        ExperimentError::HashVersion(3)
    ));
    assert!(matches!(
        err(ExperimentConfig {
            weights: vec![0.7, 0.7],
            ..base.clone()
        }),
        ExperimentError::Weights { .. }
    ));
    assert!(matches!(
        err(ExperimentConfig {
            weights: vec![f64::NAN, 1.0],
            ..base.clone()
        }),
        ExperimentError::Weights { .. }
    ));
    assert!(matches!(
        err(ExperimentConfig {
            weights: vec![1.0],
            ..base.clone()
        }),
        ExperimentError::TooFewVariants(1)
    ));
    assert!(matches!(
        err(ExperimentConfig {
            coverage: 1.5,
            ..base.clone()
        }),
        ExperimentError::OutOfRange { .. }
    ));
    let mut forced = base.clone();
    forced.forced.insert("qa".into(), 2);
    assert!(matches!(
        err(forced),
        ExperimentError::UnknownVariant { .. }
    ));
    assert!(Namespace::new("n", 0.6, 0.4).is_err());
    assert!(Namespace::new("n", -0.1, 0.4).is_err());
}

// ---------- sufficient statistics ----------

/// Two-pass f64 moments: (n, mean x, mean y, Σ(x-x̄)², Σ(y-ȳ)², Σ(x-x̄)(y-ȳ)).
fn two_pass(x: &[f64], y: &[f64]) -> (u64, f64, f64, f64, f64, f64) {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let mut m = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        m.0 += (a - mx) * (a - mx);
        m.1 += (b - my) * (b - my);
        m.2 += (a - mx) * (b - my);
    }
    (x.len() as u64, mx, my, m.0, m.1, m.2)
}

fn rel12(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1e-300),
        "{what}: got {got}, want {want}"
    );
}

fn event_log(n: usize, variants: u32, seed: u64) -> (Vec<u32>, Vec<f64>, Vec<f64>) {
    let mut rng = SplitMix64::new(seed);
    let mut v = Vec::with_capacity(n);
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let k = rng.below(u64::from(variants)) as u32;
        let pre = 1000.0 + 50.0 * rng.normal();
        v.push(k);
        y.push(pre);
        x.push(0.5 * pre + 10.0 * f64::from(k) + 20.0 * rng.normal());
    }
    (v, x, y)
}

#[test]
fn shards_merge_to_the_whole() {
    let (v, x, y) = event_log(300_000, 3, 7);
    let whole = aggregate(&EventLog {
        variant: &v,
        value: &x,
        second: Some(&y),
        variants: 3,
    })
    .unwrap();
    // Oracle: two-pass moments of each variant's values.
    for k in 0..3u32 {
        let xs: Vec<f64> = v
            .iter()
            .zip(&x)
            .filter(|p| *p.0 == k)
            .map(|p| *p.1)
            .collect();
        let ys: Vec<f64> = v
            .iter()
            .zip(&y)
            .filter(|p| *p.0 == k)
            .map(|p| *p.1)
            .collect();
        let (n, mx, my, m2x, m2y, cxy) = two_pass(&xs, &ys);
        let s = &whole[k as usize];
        assert_eq!(s.n(), n);
        rel12(s.mean_x(), mx, "mean x");
        rel12(s.mean_y(), my, "mean y");
        rel12(s.m2_x(), m2x, "m2 x");
        rel12(s.m2_y(), m2y, "m2 y");
        rel12(s.comoment(), cxy, "comoment");
    }
    // Shards of uneven sizes, aggregated apart and merged in a different order.
    for cuts in [
        vec![0, 1, 77_777, 200_000, 300_000],
        vec![0, 150_000, 300_000],
    ] {
        let mut merged = [SufficientStats::EMPTY; 3];
        for w in cuts.windows(2).rev() {
            let (lo, hi) = (w[0], w[1]);
            let part = aggregate(&EventLog {
                variant: &v[lo..hi],
                value: &x[lo..hi],
                second: Some(&y[lo..hi]),
                variants: 3,
            })
            .unwrap();
            for (m, p) in merged.iter_mut().zip(&part) {
                m.merge(p);
            }
        }
        for (m, w) in merged.iter().zip(&whole) {
            assert_eq!(m.n(), w.n());
            rel12(m.mean_x(), w.mean_x(), "merged mean");
            rel12(m.m2_x(), w.m2_x(), "merged m2");
            rel12(m.m2_y(), w.m2_y(), "merged m2 y");
            rel12(m.comoment(), w.comoment(), "merged comoment");
        }
    }
}

#[test]
fn raw_sums_round_trip() {
    let (v, x, y) = event_log(10_000, 2, 3);
    let s = aggregate(&EventLog {
        variant: &v,
        value: &x,
        second: Some(&y),
        variants: 2,
    })
    .unwrap();
    for s in s {
        let (n, sx, sxx, sy, syy, sxy) = s.sums();
        let back = SufficientStats::from_sums(n, sx, sxx, sy, syy, sxy).unwrap();
        assert_eq!(back.n(), s.n());
        rel12(back.mean_x(), s.mean_x(), "mean");
        // Raw sums lose digits to cancellation: 1e-6 is what they keep here.
        assert!((back.var_x() - s.var_x()).abs() <= 1e-6 * s.var_x());
        assert!((back.cov_xy() - s.cov_xy()).abs() <= 1e-6 * s.var_x());
    }
    assert!(SufficientStats::from_sums(2, 2.0, 1.0, 0.0, 0.0, 0.0).is_err());
    assert!(SufficientStats::from_sums(0, 1.0, 1.0, 0.0, 0.0, 0.0).is_err());
    assert!(SufficientStats::from_sums(3, f64::NAN, 1.0, 0.0, 0.0, 0.0).is_err());
}

#[test]
fn aggregation_refuses_bad_events() {
    let log = |variant: &'static [u32], value: &'static [f64]| EventLog {
        variant,
        value,
        second: None,
        variants: 2,
    };
    assert!(matches!(
        aggregate(&log(&[0, 1, 2], &[1.0, 2.0, 3.0])),
        Err(ExperimentError::UnknownVariant { .. })
    ));
    match aggregate(&log(&[0, 1, 1], &[1.0, f64::INFINITY, 3.0])) {
        Err(ExperimentError::NonFinite { position, .. }) => assert_eq!(position, 1),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        aggregate(&log(&[0, 1], &[1.0, f64::NAN])),
        Err(ExperimentError::NonFinite { .. })
    ));
    assert!(matches!(
        aggregate(&log(&[0, 1], &[1.0])),
        Err(ExperimentError::Length { .. })
    ));
    assert!(matches!(
        aggregate(&log(&[0, 0], &[1e300, -1e300])),
        Err(ExperimentError::Overflow(_))
    ));
}

// ---------- statistics against scipy / statsmodels / gbstats ----------

fn check_estimate(got: &Estimate, want: &Json, what: &str) {
    close(
        got.est,
        want["est"].as_f64().unwrap(),
        &format!("{what} est"),
    );
    close(got.se, want["se"].as_f64().unwrap(), &format!("{what} se"));
    close(
        got.ci95[0],
        want["ci95"][0].as_f64().unwrap(),
        &format!("{what} ci lo"),
    );
    close(
        got.ci95[1],
        want["ci95"][1].as_f64().unwrap(),
        &format!("{what} ci hi"),
    );
    close(got.p, want["p"].as_f64().unwrap(), &format!("{what} p"));
}

#[test]
fn analyses_match_reference_values() {
    let reference = data("reference.json");
    let analyses = reference["analyses"].as_array().unwrap();
    assert!(analyses.len() >= 14);
    for case in analyses {
        let name = case["name"].as_str().unwrap();
        let spec = AnalysisSpec::from_json(&case["spec"].to_string())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = spec.run().unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = case["expected"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{name}");
        for (g, w) in got.iter().zip(want) {
            let what = format!("{name} / {}", g.variant);
            assert_eq!(g.variant, w["variant"].as_str().unwrap(), "{what}");
            check_estimate(&g.abs, &w["abs"], &format!("{what} abs"));
            check_estimate(g.rel.as_ref().unwrap(), &w["rel"], &format!("{what} rel"));
            for (key, got) in [
                ("t", g.t),
                ("df", g.df),
                ("z", g.z),
                ("theta", g.theta),
                ("chance_to_win", g.chance_to_win),
            ] {
                match (got, w[key].as_f64()) {
                    (Some(got), Some(want)) => close(got, want, &format!("{what} {key}")),
                    (None, None) => {}
                    (got, want) => panic!("{what} {key}: got {got:?}, want {want:?}"),
                }
            }
            // The JSON the CLI prints carries exactly these keys.
            let json = serde_json::to_value(g).unwrap();
            for key in ["variant", "abs", "rel"] {
                assert!(json.get(key).is_some(), "{what}: {key}");
            }
        }
    }
}

#[test]
fn srm_adjust_and_power_match_reference_values() {
    let reference = data("reference.json");
    for case in reference["srm"].as_array().unwrap() {
        let counts: Vec<u64> = case["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        let weights: Option<Vec<f64>> = case["weights"]
            .as_array()
            .map(|w| w.iter().map(|x| x.as_f64().unwrap()).collect());
        let r = srm(&counts, weights.as_deref()).unwrap();
        close(r.chi2, case["chi2"].as_f64().unwrap(), "srm chi2");
        close(r.p, case["p"].as_f64().unwrap(), "srm p");
        assert_eq!(r.mismatch, r.p < 0.001);
    }
    for case in reference["adjust"].as_array().unwrap() {
        let method: Correction = case["method"].as_str().unwrap().parse().unwrap();
        let p: Vec<f64> = case["p"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let got = adjust(&p, method).unwrap();
        for (g, w) in got.iter().zip(case["adjusted"].as_array().unwrap()) {
            close(*g, w.as_f64().unwrap(), &format!("{method:?}"));
        }
    }
    for case in reference["power"].as_array().unwrap() {
        let f = |k: &str| case[k].as_f64().unwrap();
        let plan = PowerPlan {
            alpha: f("alpha"),
            sd: f("sd"),
            ratio: f("ratio"),
        };
        close(
            plan.power(f("effect"), f("n_control")).unwrap(),
            f("power"),
            "power",
        );
        close(
            plan.sample_size(f("effect"), 0.8).unwrap(),
            f("sample_size_80"),
            "sample size",
        );
        close(plan.mde(f("n_control"), 0.8).unwrap(), f("mde_80"), "mde");
    }
}

#[test]
fn multiplicity_correction_applies_across_treatments() {
    let reference = data("reference.json");
    let case = &reference["analyses"][0];
    let mut spec = AnalysisSpec::from_json(&case["spec"].to_string()).unwrap();
    spec.correction = Some(Correction::Holm);
    let got = spec.run().unwrap();
    let p: Vec<f64> = got.iter().map(|c| c.abs.p).collect();
    let want = adjust(&p, Correction::Holm).unwrap();
    for (c, w) in got.iter().zip(want) {
        assert_eq!(c.p_adj, Some(w));
    }
    // Naming the control moves it first.
    spec.control = Some("b".into());
    let got = spec.run().unwrap();
    assert_eq!(got[0].variant, "control");
    assert_eq!(got[1].variant, "c");
}

// ---------- properties by simulation ----------

fn normal_arm(rng: &mut SplitMix64, n: usize, mean: f64) -> SufficientStats {
    let mut s = SufficientStats::EMPTY;
    for _ in 0..n {
        s.push(mean + rng.normal(), 0.0);
    }
    s
}

fn arms(a: SufficientStats, b: SufficientStats) -> Vec<Arm> {
    vec![
        Arm {
            name: "a".into(),
            stats: a,
        },
        Arm {
            name: "b".into(),
            stats: b,
        },
    ]
}

#[test]
fn null_experiments_reject_at_the_nominal_rate() {
    let runs = 2000;
    let mut rng = SplitMix64::new(11);
    let tests = [
        TestKind::Welch,
        TestKind::Student,
        TestKind::Ztest,
        TestKind::Gbstats,
    ];
    let mut rejections = [0u32; 4];
    let mut prop_rejections = 0u32;
    for _ in 0..runs {
        let (a, b) = (
            normal_arm(&mut rng, 200, 5.0),
            normal_arm(&mut rng, 200, 5.0),
        );
        for (t, r) in tests.iter().zip(rejections.iter_mut()) {
            let options = AnalysisOptions {
                test: *t,
                ..AnalysisOptions::default()
            };
            let c = &analyze(&arms(a, b), &options).unwrap()[0];
            *r += u32::from(c.abs.p < 0.05);
            // The interval and the test agree.
            assert_eq!(c.abs.p < 0.05, c.abs.ci95[0] > 0.0 || c.abs.ci95[1] < 0.0);
        }
        let (ca, cb) = (
            (0..1000).filter(|_| rng.chance(0.1)).count() as u64,
            (0..1000).filter(|_| rng.chance(0.1)).count() as u64,
        );
        let options = AnalysisOptions {
            metric: Metric::Proportion,
            test: TestKind::Ztest,
            ..AnalysisOptions::default()
        };
        let c = &analyze(
            &arms(
                SufficientStats::from_counts(ca, 1000).unwrap(),
                SufficientStats::from_counts(cb, 1000).unwrap(),
            ),
            &options,
        )
        .unwrap()[0];
        prop_rejections += u32::from(c.abs.p < 0.05);
    }
    // 0.05 ± 4 binomial standard deviations (± 0.0195 over 2000 runs).
    let band = 4.0 * (0.05 * 0.95 / runs as f64).sqrt();
    for (t, r) in tests
        .iter()
        .zip(rejections)
        .chain([(&TestKind::Ztest, prop_rejections)])
    {
        let rate = f64::from(r) / runs as f64;
        assert!((rate - 0.05).abs() < band, "{t:?}: rejection rate {rate}");
    }
}

#[test]
fn sequential_test_survives_peeking_where_fixed_horizon_does_not() {
    // Null experiments watched after every batch of 50 units per arm, 40
    // looks: a fixed-horizon test that stops at the first p < 0.05 rejects
    // far more often than 5%; the confidence sequence stays below it.
    let runs = 500;
    let (batches, batch) = (40, 50);
    let mut rng = SplitMix64::new(5);
    let (mut fixed, mut seq) = (0u32, 0u32);
    let fixed_opts = AnalysisOptions::default();
    let seq_opts = AnalysisOptions {
        sequential_tuning: Some(1000.0),
        ..AnalysisOptions::default()
    };
    for _ in 0..runs {
        let (mut a, mut b) = (SufficientStats::EMPTY, SufficientStats::EMPTY);
        let (mut f_hit, mut s_hit) = (false, false);
        for _ in 0..batches {
            a.merge(&normal_arm(&mut rng, batch, 0.0));
            b.merge(&normal_arm(&mut rng, batch, 0.0));
            let pair = arms(a, b);
            f_hit |= analyze(&pair, &fixed_opts).unwrap()[0].abs.p < 0.05;
            s_hit |= analyze(&pair, &seq_opts).unwrap()[0].abs.p < 0.05;
        }
        fixed += u32::from(f_hit);
        seq += u32::from(s_hit);
    }
    let (f, s) = (f64::from(fixed) / runs as f64, f64::from(seq) / runs as f64);
    let band = 3.0 * (0.05 * 0.95 / runs as f64).sqrt();
    assert!(f > 0.05 + band, "fixed-horizon peeking error rate {f}");
    assert!(s < 0.05 + band, "sequential peeking error rate {s}");
}

// ---------- bad input ----------

#[test]
fn bad_analysis_input_is_a_typed_error() {
    let spec = |json: &str| AnalysisSpec::from_json(json).and_then(|s| s.run());
    let two = r#"[{"name": "a", "values": [1, 2, 3]}, {"name": "b", "values": [2, 3, 5]}]"#;
    // Unknown control variant.
    assert!(matches!(
        spec(&format!(r#"{{"control": "z", "variants": {two}}}"#)),
        Err(ExperimentError::UnknownVariant { .. })
    ));
    // Empty arm.
    assert!(matches!(
        spec(r#"{"variants": [{"name": "a", "values": []}, {"name": "b", "values": [1, 2]}]}"#),
        Err(ExperimentError::EmptyArm { .. })
    ));
    // Zero variance.
    assert!(matches!(
        spec(
            r#"{"variants": [{"name": "a", "values": [2, 2, 2]}, {"name": "b", "values": [1, 2]}]}"#
        ),
        Err(ExperimentError::ZeroVariance { .. })
    ));
    assert!(matches!(
        spec(
            r#"{"metric": "proportion", "test": "ztest", "variants": [{"name": "a", "count": 0, "nobs": 10}, {"name": "b", "count": 1, "nobs": 10}]}"#
        ),
        Err(ExperimentError::ZeroVariance { .. })
    ));
    // Unknown names, fields and forms.
    for bad in [
        r#"{"test": "anova", "variants": []}"#,
        r#"{"metric": "median", "variants": []}"#,
        r#"{"variants": [], "extra": 1}"#,
        r#"{"variants": [{"name": "a", "values": [1], "count": 1}]}"#,
        r#"{"variants": [{"name": "a"}]}"#,
        r#"{"variants": [{"name": "a", "values": [1, "x"]}]}"#,
    ] {
        assert!(matches!(spec(bad), Err(ExperimentError::Spec(_))), "{bad}");
    }
    // Out-of-range options and inconsistent data.
    assert!(matches!(
        spec(&format!(r#"{{"alpha": 1.5, "variants": {two}}}"#)),
        Err(ExperimentError::OutOfRange { .. })
    ));
    assert!(matches!(
        spec(&format!(r#"{{"sequential_tuning": 0, "variants": {two}}}"#)),
        Err(ExperimentError::OutOfRange { .. })
    ));
    assert!(matches!(
        spec(
            r#"{"metric": "proportion", "variants": [{"name": "a", "count": 11, "nobs": 10}, {"name": "b", "count": 1, "nobs": 10}]}"#
        ),
        Err(ExperimentError::Inconsistent { .. })
    ));
    assert!(matches!(
        spec(
            r#"{"metric": "proportion", "variants": [{"name": "a", "values": [0, 1, 0.5]}, {"name": "b", "values": [0, 1]}]}"#
        ),
        Err(ExperimentError::Inconsistent { .. })
    ));
    assert!(matches!(
        spec(r#"{"variants": [{"name": "a", "values": [1, 2]}, {"name": "a", "values": [1, 3]}]}"#),
        Err(ExperimentError::DuplicateVariant(_))
    ));
    assert!(matches!(
        spec(r#"{"variants": [{"name": "a", "values": [1, 2]}]}"#),
        Err(ExperimentError::TooFewVariants(1))
    ));
    assert!(matches!(
        spec(&format!(r#"{{"cuped": true, "variants": {two}}}"#)),
        Err(ExperimentError::Spec(_))
    ));
    assert!(matches!(
        spec(
            r#"{"metric": "ratio", "variants": [{"name": "a", "num": [1, 2], "den": [1]}, {"name": "b", "num": [1, 2], "den": [1, 1]}]}"#
        ),
        Err(ExperimentError::Length { .. })
    ));
    assert!(matches!(
        spec(
            r#"{"metric": "ratio", "variants": [{"name": "a", "num": [1, 2], "den": [0, 0]}, {"name": "b", "num": [1, 2], "den": [1, 1]}]}"#
        ),
        Err(ExperimentError::ZeroVariance { .. })
    ));
    // Non-finite values through the library API.
    let nan = SufficientStats::from_values(&[1.0, f64::NAN], None);
    assert!(matches!(
        nan,
        Err(ExperimentError::NonFinite { position: 1, .. })
    ));
    assert!(SufficientStats::from_mean_sd(10, 1.0, f64::INFINITY).is_err());
    assert!(SufficientStats::from_mean_sd(10, 1.0, -1.0).is_err());
    // SRM and adjustment.
    assert!(matches!(
        srm(&[10, 10], Some(&[0.3, 0.3])),
        Err(ExperimentError::Weights { .. })
    ));
    assert!(matches!(
        srm(&[10], None),
        Err(ExperimentError::TooFewVariants(1))
    ));
    assert!(matches!(
        srm(&[0, 0], None),
        Err(ExperimentError::EmptyArm { .. })
    ));
    assert!(matches!(
        adjust(&[0.1, -0.2], Correction::Bh),
        Err(ExperimentError::OutOfRange { .. })
    ));
    assert!(matches!(
        adjust(&[f64::NAN], Correction::Bh),
        Err(ExperimentError::NonFinite { .. })
    ));
    assert!(matches!(
        "sidak".parse::<Correction>(),
        Err(ExperimentError::UnknownName {
            what: "correction",
            ..
        })
    ));
    // Every error converts into the project's error with its kind.
    let e: unidb_common::Error = ExperimentError::HashVersion(3).into();
    assert_eq!(e.kind(), unidb_common::ErrorKind::Configuration);
}

#[test]
fn outputs_are_finite_on_extreme_but_valid_input() {
    // Huge effects: p-values underflow to 0, never NaN.
    let spec = AnalysisSpec::from_json(
        r#"{"test": "gbstats", "sequential_tuning": 10, "variants": [
            {"name": "a", "n": 1000000, "mean": 1.0, "sd": 0.001},
            {"name": "b", "n": 1000000, "mean": 2.0, "sd": 0.001}]}"#,
    )
    .unwrap();
    for c in spec.run().unwrap() {
        assert_eq!(c.abs.p, 0.0);
        assert!(c.chance_to_win.unwrap() == 1.0);
    }
    // A zero control mean leaves the relative lift out rather than NaN.
    let spec = AnalysisSpec::from_json(
        r#"{"variants": [{"name": "a", "values": [-1, 1]}, {"name": "b", "values": [0, 2]}]}"#,
    )
    .unwrap();
    let c = &spec.run().unwrap()[0];
    assert!(c.rel.is_none());
    assert!(c.abs.p.is_finite());
}
