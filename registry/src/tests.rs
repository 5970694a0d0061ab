use super::*;

#[derive(Debug)]
pub struct Toy {
    info: PluginInfo,
    value: u32,
}
impl Plugin for Toy {
    fn info(&self) -> &PluginInfo {
        &self.info
    }
}
plugin_kind!(Toy, "toy");

submit!(Toy {
    info: plugin_info!("alpha", "first"),
    value: 1
});
submit!(Toy {
    info: plugin_info!("Beta", "second"),
    value: 2
});
// Two definitions of one name: an error at lookup, never first-wins.
submit!(Toy {
    info: PluginInfo::new("twin", "one", "crate_a", "crate_a::m"),
    value: 3
});
submit!(Toy {
    info: PluginInfo::new("TWIN", "two", "crate_b", "crate_b::n"),
    value: 4
});

#[test]
fn static_lookup_is_case_insensitive() {
    let r = Toy::registry();
    assert_eq!(r.get("ALPHA").unwrap().value, 1);
    assert_eq!(r.get("beta").unwrap().value, 2);
    assert_eq!(r.get("beta").unwrap().info().crate_name, "unidb-registry");
    assert_eq!(
        r.get("beta").unwrap().info().module,
        "unidb_registry::tests"
    );
}

#[test]
fn duplicates_name_both_definitions() {
    let r = Toy::registry();
    let err = r.get("twin").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("crate_a::m") && msg.contains("crate_b::n"),
        "{msg}"
    );
    let errors = r.validate().unwrap_err();
    assert!(errors.iter().any(
        |e| matches!(e, RegistryError::Duplicate { name, .. } if name.eq_ignore_ascii_case("twin"))
    ));
}

#[test]
fn unknown_lists_known_names_sorted() {
    let r = Toy::registry();
    match r.get("gamma").unwrap_err() {
        RegistryError::Unknown { known, name, kind } => {
            assert_eq!(kind, "toy");
            assert_eq!(name, "gamma");
            let mut sorted = known.clone();
            sorted.sort();
            assert_eq!(known, sorted);
            assert!(known.contains(&"alpha") && known.contains(&"Beta"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn runtime_registration_rejects_duplicates_and_bad_names() {
    let r = Toy::registry();
    let p = r
        .register(Toy {
            info: PluginInfo::new("runtime-1", "rt", "app", "app::x"),
            value: 9,
        })
        .unwrap();
    assert_eq!(p.value, 9);
    assert_eq!(r.get("RUNTIME-1").unwrap().value, 9);
    let dup = r.register(Toy {
        info: PluginInfo::new("ALPHA", "again", "app", "app::y"),
        value: 10,
    });
    assert!(matches!(dup, Err(RegistryError::Duplicate { .. })));
    assert_eq!(r.get("alpha").unwrap().value, 1);
    for bad in ["", "has space", "ünï"] {
        let res = r.register(Toy {
            info: PluginInfo::new(bad, "bad", "app", "app::z"),
            value: 0,
        });
        assert!(
            matches!(res, Err(RegistryError::InvalidName { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn concurrent_reads_and_registrations() {
    let r = Toy::registry();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            s.spawn(move || {
                for i in 0..200u32 {
                    if t == 0 && i % 10 == 0 {
                        let name: &'static str = Box::leak(format!("conc-{i}").into_boxed_str());
                        r.register(Toy {
                            info: PluginInfo::new(name, "c", "app", "app::c"),
                            value: i,
                        })
                        .unwrap();
                    }
                    assert_eq!(r.get("alpha").unwrap().value, 1);
                    let _ = r.names();
                }
            });
        }
    });
    for i in (0..200u32).step_by(10) {
        assert_eq!(r.get(&format!("conc-{i}")).unwrap().value, i);
    }
}

#[test]
fn catalog_lists_the_kind_its_plugins_and_duplicates() {
    let toy = catalog()
        .into_iter()
        .find(|k| k.kind == "toy")
        .expect("plugin_kind! adds the kind to the catalogue");
    let names: Vec<&str> = toy.plugins.iter().map(|p| p.name).collect();
    // The same view as the registry's own list, which the other tests check.
    let expected: Vec<&str> = Toy::registry()
        .list()
        .iter()
        .map(|p| p.info().name)
        .collect();
    assert!(names.len() >= 4, "{names:?}");
    assert!(names.iter().all(|n| expected.contains(n)), "{names:?}");
    for wanted in ["alpha", "Beta", "twin", "TWIN"] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    assert!(toy.problems.iter().any(|e| matches!(
        e,
        RegistryError::Duplicate { name, .. } if name.eq_ignore_ascii_case("twin")
    )));
    let alpha = toy.plugins.iter().find(|p| p.name == "alpha").unwrap();
    assert_eq!(alpha.description, "first");
    assert_eq!(alpha.crate_name, "unidb-registry");
}

#[test]
fn origin_names_the_crate_only_when_the_module_does_not() {
    let same = PluginInfo::new("x", "d", "unidb-vectordb", "unidb_vectordb::metric");
    assert_eq!(same.origin(), "unidb_vectordb::metric");
    let other = PluginInfo::new("x", "d", "my-app", "my_application::m");
    assert_eq!(other.origin(), "my_application::m (my-app)");
    let prefix_only = PluginInfo::new("x", "d", "app", "apple::m");
    assert_eq!(prefix_only.origin(), "apple::m (app)");
}

#[test]
fn errors_convert_with_their_kind_and_source() {
    use unidb_common::ErrorKind;
    let unknown = Toy::registry().get("no-such-toy").unwrap_err();
    let invalid = RegistryError::InvalidName {
        kind: "toy",
        name: "a b".into(),
        origin: "here".into(),
    };
    let duplicate = RegistryError::Duplicate {
        kind: "toy",
        name: "twin".into(),
        first: "a".into(),
        second: "b".into(),
    };
    for (e, kind) in [
        (unknown, ErrorKind::NotFound),
        (duplicate, ErrorKind::Conflict),
        (invalid, ErrorKind::Configuration),
    ] {
        let err = unidb_common::Error::from(e.clone());
        assert_eq!(err.kind(), kind, "{e}");
        assert_eq!(err.message(), e.to_string());
        let source = std::error::Error::source(&err).unwrap();
        assert_eq!(source.downcast_ref::<RegistryError>(), Some(&e));
    }
}

#[test]
fn shared_types_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Registry<Toy>>();
    assert_send_sync::<RegistryError>();
    assert_send_sync::<PluginInfo>();
}
