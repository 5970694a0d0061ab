//! The vector database used as a user crate would: a custom metric
//! registered from outside `unidb-vectordb`, used by name in every index.

use unidb_vectordb::hnsw::HnswSearch;
use unidb_vectordb::{Collection, CollectionConfig, Id, Params, SearchOptions};

/// Chebyshev (L∞) distance: not a built-in metric.
fn chebyshev(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

unidb_vectordb::register_metric!("chebyshev", "max |a_i - b_i|", chebyshev);

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

#[test]
fn user_metric_is_registered_and_works_in_flat_and_hnsw() {
    let info = unidb_vectordb::Metric::by_name("CHEBYSHEV")
        .unwrap()
        .plugin()
        .info;
    assert_eq!(info.crate_name, "unidb");
    let dim = 6;
    let mut seed = 17;
    let data: Vec<f32> = (0..600 * dim).map(|_| lcg(&mut seed)).collect();
    let mut c = Collection::new(CollectionConfig::new(dim, "chebyshev")).unwrap();
    for (i, row) in data.chunks_exact(dim).enumerate() {
        c.insert(i as u64, row, None).unwrap();
    }
    c.create_index("flat", "flat", Params::defaults()).unwrap();
    c.create_index("hnsw", "hnsw", Params::defaults()).unwrap();
    let mut agree = 0;
    let queries = 30;
    for _ in 0..queries {
        let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
        // Oracle: brute force with the user's function, ties by insertion order.
        let mut all: Vec<(f32, u64)> = data
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, r)| (chebyshev(&q, r), i as u64))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let want: Vec<Id> = all[..10].iter().map(|e| Id::Num(e.1)).collect();
        let flat = c
            .search_with(
                &q,
                10,
                &SearchOptions {
                    index: Some("flat"),
                    ..SearchOptions::default()
                },
            )
            .unwrap();
        assert_eq!(flat.iter().map(|h| h.id.clone()).collect::<Vec<_>>(), want);
        let hnsw = c
            .search_with(
                &q,
                10,
                &SearchOptions {
                    index: Some("hnsw"),
                    params: Params::typed(&HnswSearch { ef: Some(100) }),
                    filter: None,
                    k_factor: None,
                },
            )
            .unwrap();
        agree += hnsw.iter().filter(|h| want.contains(&h.id)).count();
    }
    let recall = agree as f64 / (10 * queries) as f64;
    assert!(recall >= 0.9, "hnsw recall with a user metric: {recall}");
}

/// `unidb vector bench`, run as a user runs it, on fvecs files with an
/// ivecs ground truth computed here by brute force.
#[test]
fn vector_bench_reads_files_and_reports_recall() {
    let unidb = |args: &[String]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_unidb"))
            .args(args)
            .output()
            .expect("run unidb")
    };

    let dim = 8;
    let mut seed = 5;
    let base: Vec<f32> = (0..800 * dim).map(|_| lcg(&mut seed)).collect();
    let query: Vec<f32> = (0..20 * dim).map(|_| lcg(&mut seed)).collect();
    let mut gt = Vec::new();
    for q in query.chunks_exact(dim) {
        let mut d: Vec<(f64, i32)> = base
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, r)| {
                (
                    r.iter().zip(q).map(|(a, b)| f64::from(a - b).powi(2)).sum(),
                    i as i32,
                )
            })
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        gt.extend_from_slice(&10i32.to_le_bytes());
        for e in &d[..10] {
            gt.extend_from_slice(&e.1.to_le_bytes());
        }
    }
    let dir = std::env::temp_dir().join(format!("unidb-it-vector-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (b, q, g) = (
        dir.join("b.fvecs"),
        dir.join("q.fvecs"),
        dir.join("g.ivecs"),
    );
    std::fs::write(&b, unidb_vectordb::io::to_fvecs(&base, dim)).unwrap();
    std::fs::write(&q, unidb_vectordb::io::to_fvecs(&query, dim)).unwrap();
    std::fs::write(&g, &gt).unwrap();
    let s = |p: &std::path::Path| p.display().to_string();
    // Encoded storage: recall is against the f32 ground truth, so flat on
    // f16 may lose only near-ties; on i8 (uniform data in [-1, 1], step
    // 2/254) somewhat more.
    for (index, extra, min_recall) in [
        ("flat", vec![], 1.0),
        ("hnsw", vec!["--ef", "40,200"], 0.95),
        ("flat", vec!["--storage", "f16"], 0.99),
        ("hnsw", vec!["--ef", "200", "--storage", "i8"], 0.9),
    ] {
        let storage = extra
            .iter()
            .position(|a| *a == "--storage")
            .map_or("f32", |i| extra[i + 1]);
        let mut args = vec![
            "--json",
            "vector",
            "bench",
            "--base",
            &s(&b),
            "--query",
            &s(&q),
            "--gt",
            &s(&g),
            "--index",
            index,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(extra.into_iter().map(String::from));
        let out = unidb(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["index"], index);
        assert_eq!(last["storage"], storage);
        assert_eq!(last["threads"], 1);
        assert!(
            last["recall_at_10"].as_f64().unwrap() >= min_recall,
            "{text}"
        );
    }
    // The same runs named by FAISS factory strings: each JSON line names
    // the canonical string, the index and storage it stands for.
    for (factory, extra, canonical, index, storage, min_recall) in [
        ("Flat", vec![], "Flat", "flat", "f32", 1.0),
        (
            "HNSW16",
            vec!["--ef", "200"],
            "HNSW16,Flat",
            "hnsw",
            "f32",
            0.95,
        ),
        (
            "HNSW16_SQ8",
            vec!["--ef", "200"],
            "HNSW16,SQ8",
            "hnsw",
            "i8",
            0.9,
        ),
        (
            "IVF8,SQfp16",
            vec!["--nprobe", "8"],
            "IVF8,SQfp16",
            "ivf",
            "f16",
            0.99,
        ),
        (
            "IVF8,PQ4x4fs,RFlat",
            vec!["--nprobe", "8", "--k-factor", "16"],
            "IVF8,PQ4x4fs,RFlat",
            "ivf",
            "pq",
            0.9,
        ),
    ] {
        let mut args = vec![
            "--json".to_owned(),
            "vector".into(),
            "bench".into(),
            "--base".into(),
            s(&b),
            "--query".into(),
            s(&q),
            "--gt".into(),
            s(&g),
            "--factory".into(),
            factory.into(),
        ];
        args.extend(extra.into_iter().map(String::from));
        let out = unidb(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(row["factory"], canonical, "{line}");
            assert_eq!(row["index"], index, "{line}");
            assert_eq!(row["storage"], storage, "{line}");
            assert!(row["train_s"].as_f64().unwrap() >= 0.0, "{line}");
        }
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert!(
            last["recall_at_10"].as_f64().unwrap() >= min_recall,
            "{factory}: {text}"
        );
        // The encoding's bytes per vector (8 values of 4, 2 or 1 bytes, or
        // 4 codes of 4 bits), and RFlat's k_factor.
        let (bytes, k_factor) = match storage {
            "pq" => (2.0, serde_json::json!(16.0)),
            "i8" => (8.0, serde_json::Value::Null),
            "f16" => (16.0, serde_json::Value::Null),
            _ => (32.0, serde_json::Value::Null),
        };
        assert_eq!(last["bytes_per_vector"].as_f64(), Some(bytes), "{text}");
        assert_eq!(last["k_factor"], k_factor, "{text}");
    }
    // A string with parts not built yet is refused, naming them; the
    // shorthands cannot be given with a factory string.
    for (extra, needle) in [
        (vec!["--factory", "IVF8,RaBitQ,RFlat"], "RaBitQ"),
        (
            vec!["--factory", "IVF8,Flat", "--k-factor", "0.5"],
            "--k-factor",
        ),
        (vec!["--factory", "HNSW16,Flatt"], "\"Flatt\" at position 7"),
        (vec!["--factory", "HNSW16", "--index", "ivf"], "--index"),
        (vec!["--factory", "HNSW16", "--m", "8"], "--m"),
    ] {
        let mut args = vec![
            "vector".to_owned(),
            "bench".into(),
            "--base".into(),
            s(&b),
            "--query".into(),
            s(&q),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let out = unidb(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // A truncated ground-truth file is a typed error naming the file.
    std::fs::write(&g, &gt[..gt.len() - 3]).unwrap();
    let out = unidb(&[
        "vector".into(),
        "bench".into(),
        "--base".into(),
        s(&b),
        "--query".into(),
        s(&q),
        "--gt".into(),
        s(&g),
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("g.ivecs") && err.contains("truncated"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
