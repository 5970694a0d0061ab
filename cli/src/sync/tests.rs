//! Tests of `unidb sync`.

use super::*;
use unidb_common::ErrorKind;

#[test]
fn power_sim_reports_every_profile_with_the_issue_keys() {
    let args = PowerSimArgs {
        profile: "all".into(),
        hours: 6,
        seed: 3,
    };
    let text = SyncCommand::PowerSim(args).run(true).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = v.as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["profile"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "realtime",
            "balanced",
            "battery_saver",
            "background",
            "always_connected"
        ]
    );
    let keys = [
        "profile",
        "radio_wakes",
        "wakes_per_hour",
        "bytes_up",
        "bytes_down",
        "writes",
        "p95_staleness_s",
        "max_staleness_s",
        "lost_writes",
        "converged",
        "battery_used_pct",
    ];
    for r in rows {
        let mut have: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        have.sort_unstable();
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(have, want);
        assert_eq!(r["lost_writes"], 0);
        assert_eq!(r["converged"], true);
    }
    let one = SyncCommand::PowerSim(PowerSimArgs {
        profile: "battery_saver".into(),
        hours: 2,
        seed: 1,
    })
    .run(false)
    .unwrap();
    assert!(
        one.contains("battery_saver") && one.contains("always_connected"),
        "{one}"
    );
    let bad = SyncCommand::PowerSim(PowerSimArgs {
        profile: "turbo".into(),
        hours: 1,
        seed: 1,
    })
    .run(false)
    .unwrap_err();
    assert_eq!(unidb_common::Error::from(bad).kind(), ErrorKind::NotFound);
}

#[test]
fn errors_convert_with_their_kind_and_source_chain() {
    let bad = SyncCommand::Bench(SyncBenchArgs {
        rows: 1,
        updates: 1,
        batch: 0,
        seed: 1,
    })
    .run(false)
    .unwrap_err();
    assert_eq!(unidb_common::Error::from(bad).kind(), ErrorKind::Validation);
    let decode = SyncCliError::from(unidb_syncdb::SyncError::Decode {
        offset: 3,
        reason: "r".into(),
    });
    assert_eq!(
        unidb_common::Error::from(decode).kind(),
        ErrorKind::CorruptData
    );
    let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no");
    let e = unidb_common::Error::from(SyncCliError::from(unidb_syncdb::SyncError::Io {
        op: "read snapshot file",
        path: "s".into(),
        source: io,
    }));
    assert_eq!(e.kind(), ErrorKind::Io);
    let mut next = std::error::Error::source(&e);
    let mut found = false;
    while let Some(s) = next {
        found |= s.downcast_ref::<std::io::Error>().is_some();
        next = s.source();
    }
    assert!(found, "the io::Error is in the chain");
    let diverged = SyncCliError::Diverged("x".into());
    assert_eq!(
        unidb_common::Error::from(diverged).kind(),
        ErrorKind::Conflict
    );
}
