use super::*;

fn file() -> AuthFile {
    let mut a = AuthFile::generate().unwrap();
    a.grant("alice", "p1", Rights::ReadWrite).unwrap();
    a.grant("alice", "p2", Rights::Read).unwrap();
    a.grant("bob", "p2", Rights::ReadWrite).unwrap();
    a
}

#[test]
fn tokens_grant_the_lesser_of_their_rights_and_the_files() {
    let mut a = file();
    let t = a.mint("alice", 100, 1000).unwrap();
    let g = a.verify(&t, 1050).unwrap();
    assert_eq!(g.user, "alice");
    assert_eq!(g.expires, 1100);
    assert_eq!(g.rights("p1"), Some(Rights::ReadWrite));
    assert_eq!(g.rights("p2"), Some(Rights::Read));
    assert_eq!(g.rights("p3"), None);
    // Narrowing the file narrows tokens already issued.
    a.grant("alice", "p1", Rights::Read).unwrap();
    assert_eq!(a.verify(&t, 1050).unwrap().rights("p1"), Some(Rights::Read));
    a.users.get_mut("alice").unwrap().partitions.remove("p2");
    assert_eq!(a.verify(&t, 1050).unwrap().rights("p2"), None);
    // Removing the user revokes.
    a.users.remove("alice");
    assert!(matches!(
        a.verify(&t, 1050),
        Err(ServerError::Unauthorized { .. })
    ));
}

#[test]
fn expired_forged_and_malformed_tokens_are_refused() {
    let a = file();
    let t = a.mint("bob", 10, 1000).unwrap();
    assert!(a.verify(&t, 1009).is_ok());
    assert!(a.verify(&t, 1010).is_err(), "expiry is exclusive");
    // Another file's secret.
    let other = file();
    assert!(other.verify(&t, 1005).is_err());
    // A payload granting more, with the old signature.
    let parts: Vec<&str> = t.split('.').collect();
    let forged_payload = br#"{"user":"bob","exp":99999999999,"partitions":{"p1":"rw","p2":"rw"}}"#;
    let forged = format!("v1.{}.{}", hex(forged_payload), parts[2]);
    assert!(a.verify(&forged, 1005).is_err());
    for bad in [
        "",
        "v1",
        "v1..",
        "v2.00.00",
        "v1.zz.00",
        "v1.0.00",
        &"a".repeat(MAX_TOKEN_LEN + 1),
    ] {
        assert!(
            matches!(a.verify(bad, 1005), Err(ServerError::Unauthorized { .. })),
            "{bad:.20}"
        );
    }
    assert!(a.mint("carol", 10, 0).is_err());
}

#[test]
fn files_round_trip_and_bad_ones_name_the_problem() {
    let a = file();
    let dir = std::env::temp_dir().join(format!("unidb-auth-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("auth.json");
    a.save(&path).unwrap();
    assert_eq!(AuthFile::load(&path).unwrap(), a);
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        !format!("{a:?}").contains(&a.secret),
        "Debug hides the secret"
    );
    let cases = [
        (r#"{"version": 2, "secret": "00"}"#, "version"),
        (r#"{"version": 1, "secret": "abc"}"#, "secret"),
        (r#"{"version": 1, "secret": "00"}"#, "secret"),
        (r#"{"version": 1, "secret": "not json"#, "auth file"),
        (r#"{"version": 1, "secret": "00", "extra": 1}"#, "extra"),
    ];
    for (text, what) in cases {
        let e = AuthFile::parse(text).unwrap_err().to_string();
        assert!(e.contains(what), "{text}: {e}");
    }
    let long = "ab".repeat(32);
    let bad_partition = format!(
        r#"{{"version":1,"secret":"{long}","users":{{"u":{{"partitions":{{"../x":"r"}}}}}}}}"#
    );
    assert!(AuthFile::parse(&bad_partition)
        .unwrap_err()
        .to_string()
        .contains("partition"));
    assert!("x".parse::<Rights>().is_err());
}
