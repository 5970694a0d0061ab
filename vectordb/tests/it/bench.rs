//! `unidb vector bench` on generated data.

use unidb_vectordb::*;

// ---------- bench ----------

#[test]
fn bench_prints_json_lines_on_generated_data() {
    for storage in [Storage::F32, Storage::I8] {
        let opts = bench::BenchOptions {
            index: "ivf".into(),
            nprobe: vec![8],
            storage,
            ..bench::BenchOptions::default()
        };
        let mut out = Vec::new();
        let rows = bench::run(&opts, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        for key in [
            "index",
            "storage",
            "vector_bytes",
            "ef",
            "recall_at_10",
            "qps",
            "build_s",
            "threads",
        ] {
            assert!(line.get(key).is_some(), "{key} in {text}");
        }
        assert_eq!(line["index"], "ivf");
        assert_eq!(line["storage"], storage.name());
        // Generated data has dimension 64.
        assert_eq!(
            line["vector_bytes"],
            64.0 * storage.bytes_per_value() as f64
        );
        assert!(rows[0].recall_at_10 > 0.5);
    }
}
