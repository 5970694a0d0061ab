use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Line {
    #[command(subcommand)]
    command: FeaturesCommand,
}

fn parse(args: &[&str]) -> FeaturesCommand {
    Line::try_parse_from(std::iter::once("features").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .command
}

/// The bare command line runs with the library's defaults.
#[test]
fn bare_bench_runs_with_the_library_defaults() {
    let FeaturesCommand::Bench(args) = parse(&["bench"]) else {
        panic!("not bench")
    };
    assert_eq!(
        FeatureBenchOptions::from(&args),
        FeatureBenchOptions::default()
    );
    assert_eq!(args.write_npy, None);
    let FeaturesCommand::Bench(args) = parse(&[
        "bench",
        "--entity-rows=5",
        "--views=2",
        "--view-rows=7",
        "--entities=3",
        "--features=1",
        "--ttl-s=9",
        "--span-s=11",
        "--online-entities=4",
        "--online-rounds=6",
        "--known-at",
        "--chunk-rows=8",
        "--seed=1",
        "--write-npy=d",
    ]) else {
        panic!("not bench")
    };
    assert_eq!(
        FeatureBenchOptions::from(&args),
        FeatureBenchOptions {
            entity_rows: 5,
            views: 2,
            view_rows: 7,
            entities: 3,
            features: 1,
            ttl_s: 9,
            span_s: 11,
            online_entities: 4,
            online_rounds: 6,
            known_at: true,
            chunk_rows: 8,
            seed: 1,
        }
    );
    assert_eq!(args.write_npy, Some(PathBuf::from("d")));
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let d =
            std::env::temp_dir().join(format!("unidb-cli-features-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn join_args(line: &[&str]) -> JoinArgs {
    let mut all = vec!["join"];
    all.extend_from_slice(line);
    match parse(&all) {
        FeaturesCommand::Join(a) => a,
        other => panic!("{other:?}"),
    }
}

fn run_json(args: &JoinArgs) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    join(args, true, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The known cases through the command: the TTL boundary, equal
/// event times, a late correction with and without `--known-at`, an
/// entity without rows, a view entirely after the label.
#[test]
fn join_prints_one_object_per_entity_row_with_nulls() {
    let d = Dir::new("json");
    let entities = d.file(
        "entities.csv",
        "entity_id,event_timestamp,label\n\
         1,2024-01-01T00:01:00Z,1\n\
         1,2024-01-01T00:01:01Z,0\n\
         2,2024-01-01T00:00:30Z,1\n\
         9,2024-01-01T00:00:30Z,0\n",
    );
    // Entity 1: event at 00:00:00 (ttl 60 s), and a correction of it
    // recorded at 00:05. Entity 2: two rows at 00:00:10, created 11 and 12.
    let stats = d.file(
        "stats.csv",
        "entity_id,event_timestamp,created_timestamp,clicks\n\
         1,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,5\n\
         1,2024-01-01T00:00:00Z,2024-01-01T00:05:00Z,6\n\
         2,1704067210,1704067212,8\n\
         2,1704067210,1704067211,7\n",
    );
    let later = d.file(
        "later.csv",
        "entity_id,event_timestamp,created_timestamp,score\n1,2024-02-01,2024-02-01,0.5\n",
    );
    let view_s = format!("stats={stats}");
    let view_l = format!("later={later}");
    let base = [
        "--entities",
        &entities,
        "--view",
        &view_s,
        "--view",
        &view_l,
        "--ttl",
        "stats=60s",
    ];
    let rows = run_json(&join_args(&base));
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["entity_id"], 1);
    assert_eq!(rows[0]["event_timestamp"], "2024-01-01T00:01:00Z");
    assert_eq!(rows[0]["label"], 1);
    // Exactly at the TTL: served (the correction, without --known-at).
    assert_eq!(rows[0]["stats__clicks"], 6);
    // One second past it: expired, null.
    assert_eq!(rows[1]["stats__clicks"], serde_json::Value::Null);
    // Equal event times: the later created row.
    assert_eq!(rows[2]["stats__clicks"], 8);
    assert_eq!(rows[3]["stats__clicks"], serde_json::Value::Null);
    for r in &rows {
        assert_eq!(r["later__score"], serde_json::Value::Null);
    }
    let mut with = base.to_vec();
    with.push("--known-at");
    let rows = run_json(&join_args(&with));
    // The correction was recorded after the label: not used.
    assert_eq!(rows[0]["stats__clicks"], 5);
    // Created at 11 and 12, both known at 30.
    assert_eq!(rows[2]["stats__clicks"], 8);

    // --out: the CSV file and a summary.
    let out = d.0.join("train.csv");
    let mut line = base.to_vec();
    let out_s = out.display().to_string();
    line.extend(["--out", &out_s]);
    let mut text = Vec::new();
    let plan = join(&join_args(&line), false, &mut text).unwrap();
    assert_eq!(plan.counts[0].found, 2);
    assert_eq!(plan.counts[0].expired, 1);
    assert_eq!(plan.counts[0].missing, 1);
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        written.lines().next().unwrap(),
        "entity_id,event_timestamp,label,stats__clicks,later__score"
    );
    assert_eq!(
        written.lines().nth(2).unwrap(),
        "1,2024-01-01T00:01:01Z,0,,"
    );
    assert!(String::from_utf8(text).unwrap().contains("wrote"));
}

#[test]
fn bad_input_is_a_typed_error_naming_row_and_column() {
    let d = Dir::new("bad");
    let entities = d.file("e.csv", "entity_id,event_timestamp\n1,2024-01-01\n");
    let good = d.file(
        "v.csv",
        "entity_id,event_timestamp,created_timestamp,x\n1,1,1,2\n",
    );
    let bad_ts = d.file(
        "b.csv",
        "entity_id,event_timestamp,created_timestamp,x\n1,1,1,2\n1,2,later,3\n",
    );
    let no_col = d.file("n.csv", "entity_id,event_timestamp,x\n1,1,2\n");
    let dup = d.file(
        "d.csv",
        "entity_id,event_timestamp,created_timestamp,x\n1,1,1,2\n1,1,1,3\n",
    );
    let err = |line: &[&str]| join(&join_args(line), true, &mut Vec::new()).unwrap_err();
    let v = |f: &str| format!("v={f}");
    let e = err(&["--entities", &entities, "--view", &v(&bad_ts)]);
    assert!(
        matches!(&e, FeatureError::BadTimestamp { row: 2, column, .. } if column == "created_timestamp"),
        "{e}"
    );
    let e = err(&["--entities", &entities, "--view", &v(&no_col)]);
    assert!(
        matches!(&e, FeatureError::MissingColumn { column, .. } if column == "created_timestamp"),
        "{e}"
    );
    let e = err(&["--entities", &entities, "--view", &v(&dup)]);
    assert!(
        matches!(&e, FeatureError::DuplicateRow { row: 2, .. }),
        "{e}"
    );
    let e = err(&[
        "--entities",
        &entities,
        "--view",
        &v(&good),
        "--ttl",
        "w=1s",
    ]);
    assert!(
        matches!(&e, FeatureError::UnknownView { name, .. } if name == "w"),
        "{e}"
    );
    let e = err(&[
        "--entities",
        &entities,
        "--view",
        &v(&good),
        "--ttl",
        "v=soon",
    ]);
    assert!(matches!(&e, FeatureError::Invalid { .. }), "{e}");
    let e = err(&["--entities", &entities, "--view", "v"]);
    assert!(matches!(&e, FeatureError::Invalid { .. }), "{e}");
    let out = d.0.join("x.parquet").display().to_string();
    let e = join(
        &join_args(&["--entities", &entities, "--view", &v(&good), "--out", &out]),
        false,
        &mut Vec::new(),
    );
    if cfg!(feature = "parquet") {
        e.unwrap();
    } else {
        let e = e.unwrap_err();
        assert_eq!(Error::from(e).kind(), unidb_common::ErrorKind::Unsupported);
    }
}

#[test]
fn bench_reports_its_figures() {
    let FeaturesCommand::Bench(args) = parse(&[
        "bench",
        "--entity-rows=2000",
        "--views=3",
        "--view-rows=3000",
        "--entities=100",
        "--online-rounds=5",
        "--online-entities=10",
    ]) else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(bench(&args, true).unwrap().trim()).unwrap();
    assert_eq!(v["entity_rows"], 2000);
    assert_eq!(v["online_requests"], 5);
    assert_eq!(
        v["found"].as_u64().unwrap()
            + v["expired"].as_u64().unwrap()
            + v["missing"].as_u64().unwrap(),
        2000 * 3
    );
    assert!(v["join_rows_per_s"].as_f64().unwrap() > 0.0);
}
