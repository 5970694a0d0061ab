use unidb_kernels::{Isa, Kernels};

#[test]
fn info_names_the_active_path() {
    let report = unidb::cli::info().expect("UNIDB_ISA is unset or valid in tests");
    let active = Kernels::active().isa();
    assert!(
        report.contains(&format!("active path: {active}")),
        "{report}"
    );
    for isa in Isa::available() {
        assert!(report.contains(isa.name()), "{report}");
    }
}

/// `unidb info --json`, run as a user runs it, against the registries
/// and the kernel selection read directly.
#[test]
fn info_json_lists_isa_and_every_plugin_kind() {
    use unidb_registry::{Plugin, PluginKind};
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_unidb"))
        .args(["info", "--json"])
        .output()
        .expect("run unidb");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let (active, why) = Kernels::selection().unwrap();
    assert_eq!(v["isa"]["active"], active.isa().name());
    let reason = match why {
        unidb_kernels::Selection::Detected => "detected",
        unidb_kernels::Selection::Forced => "forced",
    };
    assert_eq!(v["isa"]["reason"], reason);
    let available: Vec<&str> = Isa::available().into_iter().map(Isa::name).collect();
    assert_eq!(v["isa"]["available"], serde_json::json!(available));
    let detected = v["isa"]["detected"].as_array().unwrap();
    for (name, on) in unidb_kernels::cpu_features().features {
        assert_eq!(detected.iter().any(|d| d == name), on, "{name}");
    }

    fn names_of<T: PluginKind>(v: &serde_json::Value) -> (Vec<String>, Vec<String>) {
        let listed: Vec<String> = v["plugins"][T::KIND]
            .as_array()
            .unwrap_or_else(|| panic!("no {} key in {v}", T::KIND))
            .iter()
            .map(|p| {
                assert!(
                    p["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{p}"
                );
                assert!(
                    p["crate"].as_str().is_some_and(|c| c.starts_with("unidb")),
                    "{p}"
                );
                p["name"].as_str().unwrap().to_owned()
            })
            .collect();
        // Other tests in this process register plugins at run time: compare
        // with the plugins the unidb crates define, which the binary links too.
        let registered = T::registry()
            .list()
            .iter()
            .filter(|p| p.info().crate_name.starts_with("unidb-"))
            .map(|p| p.info().name.to_owned())
            .collect();
        (listed, registered)
    }
    let (a, b) = names_of::<unidb_vectordb::MetricPlugin>(&v);
    assert_eq!(a, b);
    let (a, b) = names_of::<unidb_vectordb::IndexPlugin>(&v);
    assert_eq!(a, b);
    let (a, b) = names_of::<unidb_vectordb::TransformPlugin>(&v);
    assert_eq!(a, b);
    for builtin in ["center", "l2norm", "pca", "projection", "rotation"] {
        assert!(a.iter().any(|n| n == builtin), "{builtin} not in {a:?}");
    }
    let (a, b) = names_of::<unidb_codec::Codec>(&v);
    assert_eq!(a, b);
    let (a, b) = names_of::<unidb_syncdb::Resolver>(&v);
    assert_eq!(a, b);
    assert_eq!(v["problems"], serde_json::json!([]));

    // The human report lists the same plugins with their descriptions.
    let human = unidb::cli::info().unwrap();
    for kind in ["metric", "index", "codec", "resolver", "transform"] {
        assert!(human.contains(&format!("\n{kind} plugins (")), "{human}");
    }
    let l2 = unidb_vectordb::MetricPlugin::registry()
        .get("l2")
        .unwrap()
        .info();
    assert!(human.contains(l2.description), "{human}");
}

/// Every command refuses an invalid `UNIDB_ISA` with an error naming it
/// (the kernels library itself falls back silently).
#[test]
fn invalid_isa_setting_is_refused_by_every_command() {
    for args in [&["info"][..], &["sync", "simulate", "--ops", "10"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_unidb"))
            .args(args)
            .env(unidb_kernels::ISA_ENV_VAR, "no-such-path")
            .output()
            .expect("run unidb");
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no-such-path"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// Runs the built `unidb` with `args`, returning (success, stdout, stderr).
fn unidb(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_unidb"))
        .args(args)
        .env_remove(unidb_kernels::ISA_ENV_VAR)
        .output()
        .expect("run unidb");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("unidb-it-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Small, fast arguments for each command that measures something.
const TINY_KERNELS: [&str; 10] = [
    "bench",
    "kernels",
    "--dim",
    "8",
    "--budget-ms",
    "1",
    "--matrix-mib",
    "0",
    "--codec-values",
    "1000",
];
const TINY_VECTOR: [&str; 10] = [
    "vector",
    "bench",
    "--rows",
    "600",
    "--queries",
    "10",
    "--dim",
    "8",
    "--ef",
    "8",
];

/// `--json` (before or after the command) makes every command print JSON
/// that parses, with the fields its documentation names; without it the
/// same commands print text that is not JSON.
#[test]
fn every_command_prints_json_with_json() {
    let csv = TempFile::new("json.csv", b"id,price\n1,9.5\n2,10.25\n3,NA\n");
    let lines = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    // One object per line.
    let (ok, out, err) = unidb(&[&["--json"][..], &TINY_KERNELS].concat());
    assert!(ok, "{err}");
    let cells = lines(&out);
    assert!(cells
        .iter()
        .any(|c| c["kernel"] == "dot_f32" && c["path"] == "scalar" && c["vs_scalar"] == 1.0));
    for c in &cells {
        assert!(c["elements_per_sec"].as_f64().unwrap() > 0.0, "{c}");
    }
    let (ok, out, err) = unidb(&[&TINY_VECTOR[..], &["--json"]].concat());
    assert!(ok, "{err}");
    let rows = lines(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ef"], 8);
    assert_eq!(rows[0]["vector_bytes"], 32.0);
    assert!(rows[0]["recall_at_10"].as_f64().unwrap() > 0.5);
    let (ok, out, err) = unidb(&["compress", csv.path(), "--json"]);
    assert!(ok, "{err}");
    let cols = lines(&out);
    assert_eq!(cols.len(), 2);
    assert_eq!(
        (&cols[1]["column"], &cols[1]["type"]),
        (&"price".into(), &"float".into())
    );
    assert_eq!(cols[1]["nulls"], 1);
    // One object.
    for args in [
        &["info", "--json"][..],
        &["--json", "sync", "simulate", "--ops", "30"],
        &[
            "sync",
            "bench",
            "--rows",
            "300",
            "--updates",
            "300",
            "--batch",
            "50",
            "--json",
        ],
    ] {
        let (ok, out, err) = unidb(args);
        assert!(ok, "{args:?}: {err}");
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        assert!(v.is_object(), "{args:?}");
    }
    // Text by default: the vector bench's table, rounded figures.
    let (ok, out, err) = unidb(&TINY_VECTOR);
    assert!(ok, "{err}");
    assert!(out.starts_with("factory"), "{out}");
    assert!(serde_json::from_str::<serde_json::Value>(out.lines().nth(1).unwrap()).is_err());
    let (ok, out, _) = unidb(&["compress", csv.path()]);
    assert!(ok && out.starts_with("column"), "{out}");
    let (ok, out, _) = unidb(&TINY_KERNELS);
    assert!(ok && out.starts_with("kernel"), "{out}");
}

/// Zero counts are refused with an error naming the flag, and nothing
/// runs.
#[test]
fn zero_counts_are_refused_by_the_binary() {
    for args in [
        &["vector", "bench", "--k", "0"][..],
        &["vector", "bench", "--threads", "0"],
        &["vector", "bench", "--ef", "0"],
        &["vector", "bench", "--nprobe", "4,0"],
        &["bench", "kernels", "--dim", "0"],
        &["sync", "simulate", "--replicas", "0"],
        &["sync", "bench", "--batch", "0"],
    ] {
        let (ok, out, err) = unidb(args);
        assert!(!ok, "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        let flag = args.iter().rev().nth(1).unwrap();
        assert!(
            err.contains(flag) && err.contains("at least 1"),
            "{args:?}: {err}"
        );
    }
}

/// A CSV with a byte order mark, quoted fields holding the delimiter,
/// quotes and line breaks, CRLF line ends and `;` between fields: every
/// column is found, named without the mark, with the right type and nulls.
#[test]
fn compress_reads_bom_quotes_crlf_and_delimiter() {
    let text = "\u{feff}id;\"label; quoted\";at\r\n\
                1;\"a \"\"b\"\"\";2024-05-01T10:00:00Z\r\n\
                2;\"x\r\ny\";2024-05-01T12:00:01+02:00\r\n\
                3;;2024-05-01 10:00:02\r\n";
    let csv = TempFile::new("bom.csv", text.as_bytes());
    let (ok, out, err) = unidb(&["compress", csv.path(), "--delimiter", ";", "--json"]);
    assert!(ok, "{err}");
    let cols: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = cols.iter().map(|c| c["column"].as_str().unwrap()).collect();
    assert_eq!(names, ["id", "label; quoted", "at"]);
    let types: Vec<&str> = cols.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["int", "text", "timestamp"]);
    assert!(cols.iter().all(|c| c["rows"] == 3));
    assert_eq!(cols[1]["nulls"], 1);
    // Read with the default delimiter, the same file is one column.
    let (ok, out, err) = unidb(&["compress", csv.path(), "--json"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
}

/// An empty file and a header-only file are errors (non-zero exit).
#[test]
fn compress_refuses_empty_csv() {
    for (name, text) in [("empty.csv", ""), ("header.csv", "a,b\r\n")] {
        let csv = TempFile::new(name, text.as_bytes());
        let (ok, out, err) = unidb(&["compress", csv.path()]);
        assert!(!ok, "{name}: {out}");
        assert!(err.contains("empty CSV"), "{name}: {err}");
    }
}

/// Standard output closed before anything is written (`| head -0`): every
/// command ends quietly with success.
#[test]
fn a_closed_stdout_pipe_exits_quietly() {
    let csv = TempFile::new("pipe.csv", b"a,b\n1,2\n3,4\n");
    for args in [
        &["info"][..],
        &["info", "--json"],
        &TINY_KERNELS,
        &TINY_VECTOR,
        &[&TINY_VECTOR[..], &["--json"]].concat(),
        &["compress", csv.path()],
        &["sync", "simulate", "--ops", "30"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_unidb"))
            .args(args)
            .env_remove(unidb_kernels::ISA_ENV_VAR)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run unidb");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {err}", out.status);
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

/// `unidb` without a command: the demo runs the three parts, the replicas
/// converge, the HNSW recall against brute force is high, and the
/// subcommands are listed.
#[test]
fn the_demo_converges_and_lists_the_commands() {
    let (ok, out, err) = unidb(&["--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sync"]["converged"], true);
    assert_eq!(v["sync"]["matches_reference"], true);
    assert_eq!(v["sync"]["lost_acked_writes"], 0);
    assert_eq!(v["sync"]["replicas"], 3);
    assert_eq!(v["vector"]["rows"], 5000);
    let recall = v["vector"]["result"]["recall_at_10"].as_f64().unwrap();
    assert!(recall > 0.9, "{recall}");
    assert_eq!(v["kernel"][0]["path"], "scalar");
    let active = Kernels::active().isa().name();
    assert_eq!(v["isa"]["active"], active);
    assert!(v["kernel"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["path"] == active));
    let names: Vec<&str> = v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in [
        "info",
        "bench kernels",
        "compress",
        "sync simulate",
        "sync bench",
        "vector bench",
    ] {
        assert!(names.contains(&name), "{name}: {names:?}");
    }
    let (ok, text, err) = unidb(&[]);
    assert!(ok, "{err}");
    for shown in [
        "active path:",
        "recall@10",
        "converged: true",
        "unidb vector bench",
    ] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
}
