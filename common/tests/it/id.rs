//! Ids: user keys and replica ids, their text and serde forms.

use proptest::prelude::*;
use unidb_common::id::*;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn send_sync() {
    assert_send_sync::<Id>();
    assert_send_sync::<ReplicaId>();
}

#[test]
fn ids_display_order_and_serde() {
    assert_eq!(Id::from(42u64).to_string(), "42");
    assert_eq!(Id::from("a b").to_string(), "a b");
    let mut v = vec![Id::from("b"), Id::from(3u64), Id::from("a"), Id::from(1u64)];
    v.sort();
    assert_eq!(v, [Id::Num(1), Id::Num(3), Id::from("a"), Id::from("b")]);
    assert_eq!(serde_json::to_string(&Id::Num(7)).unwrap(), "7");
    assert_eq!(serde_json::to_string(&Id::from("7")).unwrap(), "\"7\"");
    for id in [Id::Num(u64::MAX), Id::from(""), Id::from("é")] {
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<Id>(&json).unwrap(), id);
    }
    assert!(serde_json::from_str::<Id>("-1").is_err());
    assert!(serde_json::from_str::<Id>("1.5").is_err());
}

#[test]
fn replica_id_text() {
    let r = ReplicaId::from_u64(u64::MAX);
    assert_eq!(r.to_string(), "ffffffffffffffff");
    assert_eq!("FFFFFFFFFFFFFFFF".parse::<ReplicaId>().unwrap(), r);
    assert_eq!("1".parse::<ReplicaId>().unwrap().as_u64(), 1);
    for bad in ["", "g", "+1", "12345678901234567", " 1", "0x1"] {
        assert!(
            matches!(
                bad.parse::<ReplicaId>(),
                Err(IdError::InvalidReplicaId { .. })
            ),
            "{bad:?} accepted"
        );
    }
    assert_ne!(ReplicaId::random(), ReplicaId::random());
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<ReplicaId>(&json).unwrap(), r);
}

proptest! {
    #[test]
    fn replica_id_display_parse_round_trip(v in any::<u64>()) {
        let r = ReplicaId::from_u64(v);
        prop_assert_eq!(r.to_string().parse::<ReplicaId>().unwrap(), r);
    }
}
