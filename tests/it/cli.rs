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
    let (a, b) = names_of::<unidb_codec::Codec>(&v);
    assert_eq!(a, b);
    let (a, b) = names_of::<unidb_syncdb::Resolver>(&v);
    assert_eq!(a, b);
    assert_eq!(v["problems"], serde_json::json!([]));

    // The human report lists the same plugins with their descriptions.
    let human = unidb::cli::info().unwrap();
    for kind in ["metric", "index", "codec", "resolver"] {
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
