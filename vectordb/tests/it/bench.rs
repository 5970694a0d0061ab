//! `unidb vector bench` on generated data.

use std::sync::Mutex;

use unidb_vectordb::bench::{run, run_with, BenchOptions, Callbacks, Stage};
use unidb_vectordb::*;

// ---------- bench ----------

#[test]
fn bench_rows_serialise_to_json_on_generated_data() {
    for storage in [Storage::F32, Storage::I8] {
        let opts = BenchOptions {
            index: "ivf".into(),
            nprobe: vec![8],
            storage,
            ..BenchOptions::default()
        };
        let rows = run(&opts).unwrap();
        assert_eq!(rows.len(), 1);
        let line: serde_json::Value = serde_json::from_str(&rows[0].to_json()).unwrap();
        for key in [
            "index",
            "storage",
            "vector_bytes",
            "ef",
            "nprobe",
            "recall_at_10",
            "qps",
            "build_s",
            "threads",
        ] {
            assert!(line.get(key).is_some(), "{key} in {line}");
        }
        assert_eq!(line["index"], "ivf");
        assert_eq!(line["storage"], storage.name());
        assert_eq!(line["ef"], serde_json::Value::Null);
        assert_eq!(line["nprobe"], 8);
        assert_eq!(line["recall_at_10"], rows[0].recall_at_10);
        // Generated data has dimension 64.
        assert_eq!(
            line["vector_bytes"],
            64.0 * storage.bytes_per_value() as f64
        );
        assert!(rows[0].recall_at_10 > 0.5);
    }
}

/// The generated data follows `rows`, `queries` and `dim`; each row reaches
/// the row callback as it is measured, in order, and progress covers every
/// stage up to its total.
#[test]
fn callbacks_see_every_row_and_the_progress_of_each_stage() {
    let opts = BenchOptions {
        rows: 1500,
        queries: 20,
        dim: 12,
        ef: vec![4, 32],
        ..BenchOptions::default()
    };
    let seen = Mutex::new(Vec::new());
    let mut printed = Vec::new();
    let rows = run_with(
        &opts,
        Callbacks::new()
            .on_progress(|p| seen.lock().unwrap().push(p))
            .on_row(|r| {
                printed.push(r.clone());
                Ok(())
            }),
    )
    .unwrap();
    assert_eq!(printed, rows);
    assert_eq!(
        rows.iter().map(|r| r.ef).collect::<Vec<_>>(),
        [Some(4), Some(32)]
    );
    // 12 f32 values per vector.
    assert_eq!(rows[0].vector_bytes, 48.0);
    let seen = seen.into_inner().unwrap();
    for (stage, total) in [
        (Stage::Insert, 1500),
        (Stage::GroundTruth, 20),
        (Stage::Build, 1500),
        (Stage::Search, 2),
    ] {
        let of: Vec<_> = seen.iter().filter(|p| p.stage == stage).collect();
        assert!(!of.is_empty(), "{stage:?}: {seen:?}");
        assert!(of.iter().all(|p| p.total == total && p.done <= total));
        assert_eq!(of.last().unwrap().done, total, "{stage:?}");
    }
}

/// An error from the row callback stops the run at that row.
#[test]
fn a_row_callback_error_stops_the_run() {
    let opts = BenchOptions {
        rows: 300,
        queries: 5,
        dim: 8,
        ef: vec![10, 20, 40],
        ..BenchOptions::default()
    };
    let mut calls = 0;
    let err = run_with(
        &opts,
        Callbacks::new().on_row(|_| {
            calls += 1;
            Err(std::io::ErrorKind::BrokenPipe.into())
        }),
    )
    .unwrap_err();
    assert_eq!(calls, 1);
    match err {
        VectorError::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::BrokenPipe)
        }
        other => panic!("{other}"),
    }
}

/// Zero counts and empty lists are refused by the library, naming the
/// option, before anything runs.
#[test]
fn zero_counts_are_refused_naming_the_option() {
    type Set = fn(&mut BenchOptions);
    let cases: [(&str, Set); 12] = [
        ("m", |o| o.m = 0),
        ("ef_construction", |o| o.ef_construction = 0),
        ("nlist", |o| o.nlist = 0),
        ("threads", |o| o.threads = 0),
        ("k", |o| o.k = 0),
        ("rows", |o| o.rows = 0),
        ("queries", |o| o.queries = 0),
        ("dim", |o| o.dim = 0),
        ("ef", |o| o.ef = vec![10, 0]),
        ("ef", |o| o.ef.clear()),
        ("nprobe", |o| o.nprobe = vec![0]),
        ("nprobe", |o| o.nprobe.clear()),
    ];
    assert!(BenchOptions::default().validate().is_ok());
    for (name, set) in cases {
        let mut opts = BenchOptions::default();
        set(&mut opts);
        let err = run(&opts).unwrap_err();
        assert!(
            matches!(&err, VectorError::InvalidConfig(m) if m.contains(&format!("option {name} "))),
            "{name}: {err}"
        );
        assert_eq!(
            unidb_common::Error::from(err).kind(),
            unidb_common::ErrorKind::Configuration
        );
    }
}

/// i8 storage over more generated rows than any sample: every base vector
/// is within the trained range, so none is refused (training on the first
/// 10 000 rows made later ones `OutOfRange`).
#[test]
fn i8_bench_over_more_rows_than_a_sample() {
    let opts = BenchOptions {
        index: "flat".into(),
        storage: Storage::I8,
        rows: 12_000,
        queries: 5,
        dim: 8,
        ..BenchOptions::default()
    };
    let rows = run(&opts).unwrap();
    assert!(!rows.is_empty());
}

/// A factory string runs the index and storage it names: the same rows
/// (serial build, same seed) as the `index`/`storage`/`m`/`nlist`
/// shorthands, and every row names its canonical factory string.
#[test]
fn a_factory_string_runs_what_its_shorthands_run() {
    let small = BenchOptions {
        rows: 1500,
        queries: 20,
        dim: 16,
        ef: vec![8, 64],
        nprobe: vec![1, 4],
        ..BenchOptions::default()
    };
    let cases: [(&str, &str, Storage, usize, usize, &str); 5] = [
        ("HNSW8", "hnsw", Storage::F32, 8, small.nlist, "HNSW8,Flat"),
        (
            "HNSW12_SQ8",
            "hnsw",
            Storage::I8,
            12,
            small.nlist,
            "HNSW12,SQ8",
        ),
        (
            "IVF16,SQfp16",
            "ivf",
            Storage::F16,
            small.m,
            16,
            "IVF16,SQfp16",
        ),
        ("IVF32,Flat", "ivf", Storage::F32, small.m, 32, "IVF32,Flat"),
        ("SQ8", "flat", Storage::I8, small.m, small.nlist, "SQ8"),
    ];
    for (factory, index, storage, m, nlist, canonical) in cases {
        let by_factory = run(&BenchOptions {
            factory: Some(factory.into()),
            ..small.clone()
        })
        .unwrap();
        let by_flags = run(&BenchOptions {
            index: index.into(),
            storage,
            m,
            nlist,
            ..small.clone()
        })
        .unwrap();
        assert_eq!(by_factory.len(), by_flags.len(), "{factory}");
        for (a, b) in by_factory.iter().zip(&by_flags) {
            assert_eq!(a.factory.as_deref(), Some(canonical), "{factory}");
            assert_eq!(b.factory.as_deref(), Some(canonical), "{factory}");
            assert_eq!(
                (
                    &a.index,
                    a.storage,
                    a.ef,
                    a.nprobe,
                    a.recall_at_10,
                    a.vector_bytes
                ),
                (
                    &b.index,
                    b.storage,
                    b.ef,
                    b.nprobe,
                    b.recall_at_10,
                    b.vector_bytes
                ),
                "{factory}"
            );
            let line: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
            assert_eq!(line["factory"], canonical);
        }
    }
}

/// A factory string that does not parse, does not fit the data, or names
/// parts not built yet is refused before anything runs.
#[test]
fn a_bad_factory_string_is_refused() {
    use unidb_vectordb::factory::FactoryError;
    let with = |f: &str| BenchOptions {
        factory: Some(f.into()),
        rows: 200,
        queries: 5,
        dim: 8,
        ..BenchOptions::default()
    };
    let err = run(&with("HNSW32,Flatt")).unwrap_err();
    assert!(
        matches!(&err, VectorError::Factory(FactoryError::Syntax { token, position: 7, .. }) if token == "Flatt"),
        "{err}"
    );
    assert!(with("HNSW32,Flatt").validate().is_err());
    let err = run(&with("IVF64,RaBitQ,RFlat")).unwrap_err();
    assert!(
        matches!(&err, VectorError::Factory(FactoryError::Unsupported { parts, .. }) if parts == &["RaBitQ"]),
        "{err}"
    );
    assert_eq!(
        unidb_common::Error::from(err).kind(),
        unidb_common::ErrorKind::Unsupported
    );
}
