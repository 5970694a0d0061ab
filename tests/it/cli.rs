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

#[test]
fn sync_simulate_converges_and_reports_json() {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrap {
        #[command(subcommand)]
        cmd: unidb::sync_cli::SyncCommand,
    }
    let wrap = Wrap::try_parse_from([
        "x",
        "simulate",
        "--replicas",
        "4",
        "--ops",
        "120",
        "--seed",
        "7",
        "--drop",
        "0.3",
        "--json",
    ])
    .unwrap();
    let out = wrap.cmd.run().expect("simulation converges");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["converged"], true);
    assert_eq!(v["lost_acked_writes"], 0);
    assert_eq!(v["replicas"], 4);
    assert_eq!(v["ops"], 120);
    assert!(v["messages"].as_u64().unwrap() > 0);

    let bad = Wrap::try_parse_from(["x", "simulate", "--drop", "1.5"]).unwrap();
    let err = bad.cmd.run().unwrap_err().to_string();
    assert!(err.contains("--drop"), "{err}");
}

#[test]
fn sync_bench_reports_the_workload_fields() {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrap {
        #[command(subcommand)]
        cmd: unidb::sync_cli::SyncCommand,
    }
    let wrap = Wrap::try_parse_from([
        "x",
        "bench",
        "--rows",
        "2000",
        "--updates",
        "2000",
        "--batch",
        "100",
        "--json",
    ])
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(wrap.cmd.run().unwrap().trim()).unwrap();
    for key in ["insert_ops_s", "update_ops_s", "bytes_per_op", "merge_s"] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
    assert_eq!(v["converged"], true);
}
