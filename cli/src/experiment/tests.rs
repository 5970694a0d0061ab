//! `unidb experiment`: argument parsing (defaults from the library's
//! types, every flag reaching its option) and each command's output
//! against the library called directly.

use clap::Parser as _;
use unidb_vectordb::experiments::{
    hash, srm, AnalysisSpec, Correction, ExperimentConfig, HashUnits, Namespace,
};

use super::*;
use crate::{Cli, Command};

fn parse(args: &[&str]) -> (ExperimentCommand, bool) {
    let line = ["unidb", "experiment"]
        .into_iter()
        .chain(args.iter().copied());
    let cli = Cli::try_parse_from(line).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.command {
        Some(Command::Experiment { command }) => (command, cli.json),
        other => panic!("{other:?}"),
    }
}

fn refused(args: &[&str]) -> String {
    let line = ["unidb", "experiment"]
        .into_iter()
        .chain(args.iter().copied());
    Cli::try_parse_from(line)
        .map(|_| ())
        .expect_err("refused")
        .to_string()
}

fn run(args: &[&str]) -> Result<String> {
    let (command, json) = parse(args);
    command.run(json)
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn bare_assign_runs_with_the_library_defaults() {
    let (ExperimentCommand::Assign(a), _) = parse(&["assign", "--key", "k", "u1"]) else {
        panic!("not assign")
    };
    assert_eq!(
        a.config(),
        ExperimentConfig {
            key: "k".into(),
            ..ExperimentConfig::default()
        }
    );
    let (ExperimentCommand::Hash(h), _) = parse(&["hash", "v"]) else {
        panic!("not hash")
    };
    assert_eq!(h.version, ExperimentConfig::default().hash_version);
    assert_eq!(h.units, ExperimentConfig::default().units);
    assert_eq!(h.seed, "");
}

#[test]
fn every_assign_flag_reaches_its_option() {
    let (ExperimentCommand::Assign(a), _) = parse(&[
        "assign",
        "--key=k",
        "--seed=s",
        "--hash-version=1",
        "--weights=0.2,0.3,0.5",
        "--coverage=0.5",
        "--namespace=pricing:0.1:0.6",
        "--force=qa=2",
        "--force=staff=0",
        "--units=utf8",
        "a",
        "b",
    ]) else {
        panic!("not assign")
    };
    assert_eq!(
        a.config(),
        ExperimentConfig {
            key: "k".into(),
            seed: Some("s".into()),
            hash_version: 1,
            weights: vec![0.2, 0.3, 0.5],
            coverage: 0.5,
            namespace: Some(Namespace::new("pricing", 0.1, 0.6).unwrap()),
            forced: [("qa".to_owned(), 2), ("staff".to_owned(), 0)].into(),
            units: HashUnits::Utf8,
        }
    );
    assert_eq!(a.ids, ["a", "b"]);
    for bad in [
        &["assign", "--key=k", "--hash-version=3", "a"][..],
        &["assign", "--key=k", "--namespace=x:0.5", "a"],
        &["assign", "--key=k", "--force=qa", "a"],
        &["assign", "--key=k", "--units=latin1", "a"],
        &["assign", "--key=k"],
        &["hash", "--version=0", "a"],
    ] {
        refused(bad);
    }
}

#[test]
fn hash_and_assign_print_the_issue_keys() {
    let out =
        json_lines(&run(&["--json", "hash", "--seed=seed", "--version=2", "a", "b", ""]).unwrap());
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], serde_json::json!({"value": "a", "hash": 0.0505}));
    assert_eq!(out[1]["hash"], 0.2696);
    assert_eq!(out[2]["hash"], hash("seed", "", 2).unwrap());

    let args = [
        "--json",
        "assign",
        "--key=k",
        "--weights=0.5,0.5",
        "--coverage=0.5",
        "u1",
        "u2",
        "u3",
        "u4",
    ];
    let exp = Experiment::new(ExperimentConfig {
        key: "k".into(),
        coverage: 0.5,
        ..ExperimentConfig::default()
    })
    .unwrap();
    for (line, id) in json_lines(&run(&args).unwrap())
        .iter()
        .zip(["u1", "u2", "u3", "u4"])
    {
        let object = line.as_object().unwrap();
        assert_eq!(object.len(), 2);
        assert_eq!(line["id"], id);
        assert_eq!(line["variant"], serde_json::json!(exp.assign(id).variant));
    }
    let human = run(&["assign", "--key=k", "u1"]).unwrap();
    assert!(human.ends_with("\tu1\n"), "{human}");
    assert!(run(&["assign", "--key=k", "--weights=0.7,0.7", "u1"]).is_err());
}

#[test]
fn srm_and_adjust_print_the_library_results() {
    let out = json_lines(&run(&["--json", "srm", "--counts", "5100,4900"]).unwrap());
    let want = srm(&[5100, 4900], None).unwrap();
    assert_eq!(
        out[0],
        serde_json::json!({"chi2": want.chi2, "p": want.p, "mismatch": false})
    );
    let out =
        json_lines(&run(&["--json", "srm", "--counts=6000,4000", "--weights=0.6,0.4"]).unwrap());
    assert_eq!(out[0]["chi2"], 0.0);
    assert!(run(&["srm", "--counts=6000,4000", "--weights=0.6,0.6"]).is_err());
    assert!(run(&["srm", "--counts=5400,4600"])
        .unwrap()
        .contains("MISMATCH"));

    let out =
        json_lines(&run(&["--json", "adjust", "--method=holm", "0.01", "0.04", "0.03"]).unwrap());
    let want = adjust(&[0.01, 0.04, 0.03], Correction::Holm).unwrap();
    for (line, (p, q)) in out.iter().zip([0.01, 0.04, 0.03].iter().zip(want)) {
        assert_eq!(line["p"], *p);
        assert_eq!(line["adjusted"], q);
    }
    let err = run(&["adjust", "--method=bh", "0.5", "-0.1"]).unwrap_err();
    assert_eq!(err.kind(), unidb_common::ErrorKind::Configuration);
    refused(&["adjust", "--method=sidak", "0.5"]);
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("unidb-cli-exp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn analyze_reads_a_spec_and_an_event_log() {
    let spec = r#"{"metric": "mean", "test": "gbstats", "variants": [
        {"name": "a", "values": [1, 2, 3, 4, 5, 6], "pre": [1, 2, 2, 4, 5, 5]},
        {"name": "b", "values": [2, 3, 5, 5, 7, 8], "pre": [1, 2, 3, 4, 5, 6]}], "cuped": true}"#;
    let path = temp_file("spec.json", spec);
    let out = json_lines(&run(&["--json", "analyze", path.to_str().unwrap()]).unwrap());
    let want = AnalysisSpec::from_json(spec).unwrap().run().unwrap();
    assert_eq!(out.len(), 1);
    // Printed numbers read back within an ulp or two.
    let printed = serde_json::to_value(&want[0]).unwrap();
    assert_eq!(out[0]["variant"], printed["variant"]);
    for (path, w) in [
        ("/abs/est", want[0].abs.est),
        ("/abs/p", want[0].abs.p),
        ("/abs/ci95/0", want[0].abs.ci95[0]),
        ("/rel/est", want[0].rel.unwrap().est),
        ("/chance_to_win", want[0].chance_to_win.unwrap()),
        ("/theta", want[0].theta.unwrap()),
    ] {
        let g = out[0].pointer(path).and_then(|v| v.as_f64()).unwrap();
        assert!((g - w).abs() <= 1e-14 * w.abs(), "{path}: {g} vs {w}");
    }
    for key in ["variant", "abs", "rel", "t", "df", "theta", "chance_to_win"] {
        assert!(out[0].get(key).is_some(), "{key}: {}", out[0]);
    }

    // The same data as an event log, with the control named.
    let mut csv = String::from("user,arm,y,x\n");
    let v: serde_json::Value = serde_json::from_str(spec).unwrap();
    for variant in v["variants"].as_array().unwrap().iter().rev() {
        let name = variant["name"].as_str().unwrap();
        for (i, (y, x)) in variant["values"]
            .as_array()
            .unwrap()
            .iter()
            .zip(variant["pre"].as_array().unwrap())
            .enumerate()
        {
            csv.push_str(&format!("{name}{i},{name},{y},{x}\n"));
        }
    }
    let events = temp_file("events.csv", &csv);
    let args = [
        "--json",
        "analyze",
        "--events",
        events.to_str().unwrap(),
        "--variant-col=arm",
        "--value-col=y",
        "--pre-col=x",
        "--test=gbstats",
        "--control=a",
    ];
    let got = json_lines(&run(&args).unwrap());
    assert_eq!(got[0]["variant"], "b");
    let w = &want[0].abs;
    for (key, w) in [("est", w.est), ("se", w.se), ("p", w.p)] {
        let g = got[0]["abs"][key].as_f64().unwrap();
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "{key}: {g} vs {w}"
        );
    }
    let human = run(&["analyze", path.to_str().unwrap()]).unwrap();
    assert!(human.starts_with("b: abs "), "{human}");

    // Errors name what was wrong.
    let missing = [
        "analyze",
        "--events",
        events.to_str().unwrap(),
        "--variant-col=arm",
        "--value-col=nope",
    ];
    assert!(matches!(
        run(&missing),
        Err(ExperimentCliError::NoColumn { .. })
    ));
    let bad_cell = [
        "analyze",
        "--events",
        events.to_str().unwrap(),
        "--variant-col=arm",
        "--value-col=user",
    ];
    assert!(matches!(
        run(&bad_cell),
        Err(ExperimentCliError::BadCell { row: 1, .. })
    ));
    let nope = [
        "analyze",
        "--events",
        events.to_str().unwrap(),
        "--variant-col=arm",
        "--value-col=y",
        "--control=z",
    ];
    assert!(matches!(
        run(&nope),
        Err(ExperimentCliError::Experiment(
            ExperimentError::UnknownVariant { .. }
        ))
    ));
    let bad_spec = temp_file("bad.json", r#"{"test": "anova", "variants": []}"#);
    assert!(run(&["analyze", bad_spec.to_str().unwrap()]).is_err());
    refused(&["analyze"]);
    let mixed = ["analyze", path.to_str().unwrap(), "--test=welch"];
    assert!(matches!(run(&mixed), Err(ExperimentCliError::Usage(m)) if m.contains("--test")));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn bench_counts_every_event() {
    let out = json_lines(
        &run(&[
            "--json",
            "bench",
            "--events=100000",
            "--variants=3",
            "--pre",
            "--repeat=1",
        ])
        .unwrap(),
    );
    assert_eq!(out[0]["counted"], 100_000);
    assert!(out[0]["events_per_s"].as_f64().unwrap() > 0.0);
    refused(&["bench", "--events=0"]);
}
