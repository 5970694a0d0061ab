use std::path::PathBuf;

use clap::CommandFactory as _;
use unidb_syncdb::sim::SimConfig;
use unidb_vectordb::bench::BenchOptions;
use unidb_vectordb::Storage;

use super::*;

/// Parses a command line after `unidb`.
fn parse_cli(args: &[&str]) -> Cli {
    let line = std::iter::once("unidb").chain(args.iter().copied());
    Cli::try_parse_from(line).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The command of a command line after `unidb`.
fn parse(args: &[&str]) -> Command {
    parse_cli(args).command.expect("a command")
}

/// The error clap gives for a command line after `unidb`.
fn refused(args: &[&str]) -> String {
    let line = std::iter::once("unidb").chain(args.iter().copied());
    Cli::try_parse_from(line)
        .map(|_| ())
        .expect_err("refused")
        .to_string()
}

#[test]
fn command_definition_is_consistent() {
    Cli::command().debug_assert();
}

/// The bare command line of every command with defaults runs with the
/// library type's `Default::default()`, so the two cannot drift.
#[test]
fn bare_command_lines_run_with_the_library_defaults() {
    let Command::Vector {
        command: vector::VectorCommand::Bench(args),
    } = parse(&["vector", "bench"])
    else {
        panic!("not vector bench")
    };
    assert_eq!(BenchOptions::from(args), BenchOptions::default());

    let Command::Vector {
        command: vector::VectorCommand::Build(args),
    } = parse(&[
        "vector",
        "build",
        "--base",
        "b.fvecs",
        "--factory",
        "F",
        "--out",
        "o",
    ])
    else {
        panic!("not vector build")
    };
    let defaults = unidb_vectordb::batch::BuildOptions::new("F");
    assert_eq!(unidb_vectordb::batch::BuildOptions::from(&args), defaults);

    let Command::Vector {
        command: vector::VectorCommand::Search(args),
    } = parse(&["vector", "search", "--index", "i", "--queries", "q.fvecs"])
    else {
        panic!("not vector search")
    };
    let job = unidb_vectordb::batch::SearchJob::from(&args);
    assert_eq!(job, unidb_vectordb::batch::SearchJob::default());

    let Command::Bench {
        what: BenchCommand::Kernels(args),
    } = parse(&["bench", "kernels"])
    else {
        panic!("not bench kernels")
    };
    assert_eq!(args, bench::KernelBenchArgs::default());

    let Command::Sync {
        command: sync::SyncCommand::Simulate(args),
    } = parse(&["sync", "simulate"])
    else {
        panic!("not sync simulate")
    };
    assert_eq!(args.config().unwrap(), SimConfig::default());

    let Command::Sync {
        command: sync::SyncCommand::Load(args),
    } = parse(&["sync", "load"])
    else {
        panic!("not sync load")
    };
    assert_eq!(
        args.options().unwrap(),
        unidb_server::load::LoadOptions::default()
    );

    let Command::Sync {
        command: sync::SyncCommand::PowerSim(args),
    } = parse(&["sync", "power-sim"])
    else {
        panic!("not sync power-sim")
    };
    assert_eq!(
        args.config(),
        unidb_syncdb::power::sim::PowerSimConfig::default()
    );
    assert_eq!(args.profile, "all");

    let Command::Compress(args) = parse(&["compress", "data.csv"]) else {
        panic!("not compress")
    };
    assert_eq!(args.file, PathBuf::from("data.csv"));
    assert_eq!(args.options().unwrap(), compress::Options::default());
    assert!(!parse_cli(&["compress", "data.csv"]).json);

    let Command::Experiment {
        command: experiment::ExperimentCommand::Assign(args),
    } = parse(&["experiment", "assign", "--key=k", "id"])
    else {
        panic!("not experiment assign")
    };
    let defaults = unidb_vectordb::experiments::ExperimentConfig::default();
    assert_eq!(args.config().weights, defaults.weights);
    assert_eq!(args.config().hash_version, defaults.hash_version);
}

/// Every flag reaches its own option: each is given a value that
/// differs from its default, and the options are compared with ones
/// written out by hand.
#[test]
fn every_flag_reaches_its_option() {
    let Command::Vector {
        command: vector::VectorCommand::Bench(args),
    } = parse(&[
        "vector",
        "bench",
        "--base=b.fvecs",
        "--query=q.npy",
        "--gt=g.ivecs",
        "--index=ivf",
        "--metric=cosine",
        "--storage=i8",
        "--m=7",
        "--ef-construction=33",
        "--ef=5,6",
        "--nlist=9",
        "--nprobe=3",
        "--threads=2",
        "--k=4",
        "--seed=11",
        "--rows=500",
        "--queries=7",
        "--dim=3",
        "--k-factor=2.5",
    ])
    else {
        panic!("not vector bench")
    };
    assert_eq!(
        BenchOptions::from(args),
        BenchOptions {
            base: Some("b.fvecs".into()),
            query: Some("q.npy".into()),
            gt: Some("g.ivecs".into()),
            factory: None,
            index: "ivf".into(),
            metric: "cosine".into(),
            storage: Storage::I8,
            m: 7,
            ef_construction: 33,
            ef: vec![5, 6],
            nlist: 9,
            nprobe: vec![3],
            threads: 2,
            k: 4,
            seed: 11,
            rows: 500,
            queries: 7,
            dim: 3,
            k_factor: Some(2.5),
        }
    );

    let Command::Bench {
        what: BenchCommand::Kernels(args),
    } = parse(&[
        "bench",
        "kernels",
        "--isa=scalar",
        "--dim=3",
        "--budget-ms=2",
        "--matrix-mib=0",
        "--codec-values=100",
    ])
    else {
        panic!("not bench kernels")
    };
    assert_eq!(
        args,
        bench::KernelBenchArgs {
            isa: "scalar".into(),
            dim: Some(3),
            budget_ms: 2,
            matrix_mib: 0,
            codec_values: 100,
        }
    );

    let cli = parse_cli(&[
        "sync",
        "simulate",
        "--replicas=5",
        "--ops=17",
        "--seed=9",
        "--drop=0.05",
        "--duplicate=0.25",
        "--reorder=0.5",
        "--json",
    ]);
    assert!(cli.json);
    let Some(Command::Sync {
        command: sync::SyncCommand::Simulate(args),
    }) = cli.command
    else {
        panic!("not sync simulate")
    };
    assert_eq!(
        args.config().unwrap(),
        SimConfig {
            replicas: 5,
            ops: 17,
            seed: 9,
            drop: 0.05,
            duplicate: 0.25,
            reorder: 0.5,
            ..SimConfig::default()
        }
    );

    let cli = parse_cli(&[
        "--json",
        "compress",
        "x.csv",
        "--columns=a,b",
        "--types=a:int,b:text",
        "--effort=fast",
        "--delimiter=;",
    ]);
    assert!(cli.json);
    let Some(Command::Compress(args)) = cli.command else {
        panic!("not compress")
    };
    assert_eq!(
        args.options().unwrap(),
        compress::Options {
            columns: vec!["a".into(), "b".into()],
            types: vec![
                ("a".into(), unidb_codec::ColumnKind::Int),
                ("b".into(), unidb_codec::ColumnKind::Text),
            ],
            effort: unidb_codec::Effort::Fast,
            delimiter: b';',
        }
    );
}

/// `--factory` reaches its option, and the shorthands it replaces
/// (`--index`, `--storage`, `--m`, `--nlist`) cannot be given with it.
#[test]
fn factory_flag_excludes_its_shorthands() {
    let Command::Vector {
        command: vector::VectorCommand::Bench(args),
    } = parse(&["vector", "bench", "--factory", "IVF64,SQ8", "--nprobe=4"])
    else {
        panic!("not vector bench")
    };
    assert_eq!(
        BenchOptions::from(args),
        BenchOptions {
            factory: Some("IVF64,SQ8".into()),
            nprobe: vec![4],
            ..BenchOptions::default()
        }
    );
    for flag in ["--index=ivf", "--storage=i8", "--m=8", "--nlist=9"] {
        let err = refused(&["vector", "bench", "--factory=HNSW8", flag]);
        let name = flag.split('=').next().unwrap();
        assert!(
            err.contains(name) && err.contains("cannot be used"),
            "{flag}: {err}"
        );
    }
}

/// `--ef` and `--nprobe` take their values separated by commas, by
/// spaces (as `--help` shows the defaults), or both.
#[test]
fn lists_take_commas_or_spaces() {
    for line in [
        &["vector", "bench", "--ef", "5,6,7", "--nprobe", "2"][..],
        &["vector", "bench", "--ef", "5", "6", "7", "--nprobe", "2"],
        &["vector", "bench", "--ef", "5,6", "7", "--nprobe=2"],
    ] {
        let Command::Vector {
            command: vector::VectorCommand::Bench(args),
        } = parse(line)
        else {
            panic!("not vector bench")
        };
        assert_eq!(args.ef, [5, 6, 7], "{line:?}");
        assert_eq!(args.nprobe, [2], "{line:?}");
    }
}

/// A zero count is refused by the argument parser, naming the flag.
#[test]
fn zero_counts_are_refused() {
    for line in [
        &["vector", "bench", "--k", "0"][..],
        &["vector", "bench", "--threads", "0"],
        &["vector", "bench", "--ef", "10,0"],
        &["vector", "bench", "--ef", "10", "0"],
        &["vector", "bench", "--nprobe", "0"],
        &["vector", "bench", "--m", "0"],
        &["vector", "bench", "--ef-construction", "0"],
        &["vector", "bench", "--nlist", "0"],
        &["vector", "bench", "--rows", "0"],
        &["vector", "bench", "--queries", "0"],
        &["vector", "bench", "--dim", "0"],
        &["bench", "kernels", "--dim", "0"],
        &["bench", "kernels", "--budget-ms", "0"],
        &["bench", "kernels", "--codec-values", "0"],
        &["sync", "simulate", "--replicas", "0"],
        &["sync", "bench", "--rows", "0"],
        &["sync", "bench", "--batch", "0"],
    ] {
        let err = refused(line);
        let flag = line.iter().rev().find(|a| a.starts_with("--")).unwrap();
        assert!(
            err.contains(flag) && err.contains("at least 1"),
            "{line:?}: {err}"
        );
    }
}

/// A command line that succeeds runs to its exit code; one whose
/// library call fails exits with failure.
#[test]
fn run_returns_the_exit_status() {
    assert_eq!(
        run(parse_cli(&["sync", "simulate", "--ops", "20"])),
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(parse_cli(&["sync", "simulate", "--drop", "1.5"])),
        ExitCode::FAILURE
    );
}

/// `--help` shows every default, taken from the `Default` impls.
#[test]
fn help_shows_the_defaults() {
    let help = |path: &[&str]| {
        let mut cmd = Cli::command();
        let mut sub = &mut cmd;
        for name in path {
            sub = sub.find_subcommand_mut(name).expect("subcommand");
        }
        sub.render_help().to_string()
    };
    let text = help(&["vector", "bench"]);
    for shown in [
        "[default: hnsw]",
        "[default: l2]",
        "[default: f32]",
        "[default: 16]",
        "[default: 200]",
        "[default: 10 20 40 80 160]",
        "commas or spaces",
        "[default: 64]",
        "[default: 1 2 4 8 16]",
        "[default: 42]",
    ] {
        assert!(text.contains(shown), "{shown} in {text}");
    }
    let text = help(&["sync", "simulate"]);
    for shown in ["[default: 0.2]", "[default: 0.1]", "[default: 0.3]"] {
        assert!(text.contains(shown), "{shown} in {text}");
    }
    assert!(help(&["compress"]).contains("[default: max]"));
    assert!(help(&["compress"]).contains("[default: ,]"));
    assert!(help(&["bench", "kernels"]).contains("[default: all]"));
}

#[test]
fn sync_simulate_converges_and_reports_json() {
    let Command::Sync { command } = parse(&[
        "sync",
        "simulate",
        "--replicas",
        "4",
        "--ops",
        "120",
        "--seed",
        "7",
        "--drop",
        "0.3",
    ]) else {
        panic!("not sync")
    };
    let out = command.run(true).expect("simulation converges");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["converged"], true);
    assert_eq!(v["lost_acked_writes"], 0);
    assert_eq!(v["replicas"], 4);
    assert_eq!(v["ops"], 120);
    assert!(v["messages"].as_u64().unwrap() > 0);

    let Command::Sync { command } = parse(&["sync", "simulate", "--drop", "1.5"]) else {
        panic!("not sync")
    };
    let err = command.run(false).unwrap_err().to_string();
    assert!(err.contains("--drop"), "{err}");
}

#[test]
fn sync_bench_reports_the_workload_fields() {
    let Command::Sync { command } = parse(&[
        "sync",
        "bench",
        "--rows",
        "2000",
        "--updates",
        "2000",
        "--batch",
        "100",
    ]) else {
        panic!("not sync")
    };
    let v: serde_json::Value = serde_json::from_str(command.run(true).unwrap().trim()).unwrap();
    for key in ["insert_ops_s", "update_ops_s", "bytes_per_op", "merge_s"] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
    assert_eq!(v["converged"], true);
}

#[test]
fn serve_refuses_to_start_without_auth_unless_insecure() {
    let Command::Sync { command } = parse(&[
        "sync",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        "unused",
    ]) else {
        panic!("not sync")
    };
    let err = command.run(false).unwrap_err().to_string();
    assert!(err.contains("--insecure") && err.contains("auth"), "{err}");
    assert!(!PathBuf::from("unused").exists(), "nothing was created");
    assert!(refused(&[
        "sync",
        "serve",
        "--listen",
        "x",
        "--data",
        "d",
        "--auth",
        "a",
        "--insecure"
    ])
    .contains("cannot be used"));
    assert!(refused(&["sync", "load", "--auth", "a", "--token", "t"]).contains("cannot be used"));
}

#[test]
fn auth_commands_write_a_file_whose_tokens_verify() {
    let dir = std::env::temp_dir().join(format!("unidb-cli-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("auth.json");
    let _ = std::fs::remove_file(&file);
    let f = file.to_str().unwrap();
    let run = |args: &[&str], json: bool| {
        let Command::Sync { command } = parse(args) else {
            panic!("not sync")
        };
        command.run(json)
    };
    run(&["sync", "auth", "new", f], false).unwrap();
    assert!(run(&["sync", "auth", "new", f], false)
        .unwrap_err()
        .to_string()
        .contains("exists"));
    run(
        &[
            "sync",
            "auth",
            "add",
            f,
            "--user",
            "ann",
            "--partition",
            "a",
            "--partition",
            "b",
        ],
        false,
    )
    .unwrap();
    run(
        &[
            "sync",
            "auth",
            "add",
            f,
            "--user",
            "ann",
            "--partition",
            "c",
            "--rights",
            "r",
        ],
        false,
    )
    .unwrap();
    assert!(run(
        &[
            "sync",
            "auth",
            "add",
            f,
            "--user",
            "ann",
            "--partition",
            "../x"
        ],
        false
    )
    .is_err());
    assert!(run(
        &[
            "sync",
            "auth",
            "add",
            f,
            "--user",
            "ann",
            "--partition",
            "d",
            "--rights",
            "x"
        ],
        false
    )
    .is_err());
    let out = run(
        &["sync", "auth", "token", f, "--user", "ann", "--ttl", "60"],
        true,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let token = v["token"].as_str().unwrap();
    let auth = unidb_server::auth::AuthFile::load(&file).unwrap();
    let grant = auth.verify(token, unidb_server::auth::now_s()).unwrap();
    use unidb_server::auth::Rights;
    assert_eq!(grant.rights("a"), Some(Rights::ReadWrite));
    assert_eq!(grant.rights("b"), Some(Rights::ReadWrite));
    assert_eq!(grant.rights("c"), Some(Rights::Read));
    assert_eq!(grant.rights("d"), None);
    run(&["sync", "auth", "remove", f, "--user", "ann"], false).unwrap();
    let auth = unidb_server::auth::AuthFile::load(&file).unwrap();
    assert!(
        auth.verify(token, unidb_server::auth::now_s()).is_err(),
        "removed users' tokens stop"
    );
    assert!(run(&["sync", "auth", "token", f, "--user", "ann"], false).is_err());
    std::fs::remove_dir_all(&dir).ok();
}
