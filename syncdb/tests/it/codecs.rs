//! Codec negotiation: a codec one side registered never reaches a peer
//! that lacks it, old (version 2) peers are answered with the codecs of
//! their version, and a snapshot that needs a missing codec fails to open
//! with an error naming it. Also: plugins registered through the
//! re-exported registry macros, with no other dependency.

use std::cmp::Ordering;
use std::sync::Arc;

use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_syncdb::unidb_codec::{
    register_codec, with_codecs, Codec, CodecSet, Cost, DataKind, Values, BUILTIN_CODECS,
};
use unidb_syncdb::unidb_registry::PluginKind;
use unidb_syncdb::wire::{MIN_WIRE_VERSION, WIRE_V2_CODECS, WIRE_VERSION};
use unidb_syncdb::*;

/// The values the test codec `q` takes: `BASE, BASE + 1, BASE, ...`.
const BASE: i64 = 9_000_000_001;

// A user codec, registered through syncdb's re-export alone: a column of
// alternating values costs its name (2 bytes), far less than any
// built-in cascade, so the selection picks it whenever it may.
register_codec!(
    "q",
    "test: the alternating pattern BASE, BASE + 1, ...",
    accepts: &[DataKind::Int],
    cost: Cost::Fast,
    encode: |v, _, _| {
        Ok(matches!(v, Values::Int(x) if x.len() > 1
            && x.iter().enumerate().all(|(i, &x)| x == BASE + (i % 2) as i64)))
    },
    decode: |_, _, count, _| Ok(Values::Int((0..count).map(|i| BASE + (i % 2) as i64).collect())),
);

/// Longest text wins (a user resolver, registered through the macro).
fn longest(a: &Register, b: &Register) -> Ordering {
    let len = |r: &Register| r.value.as_text().map_or(0, str::len);
    len(a).cmp(&len(b))
}
register_resolver!("test-longest", "longest text wins", longest);

fn schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("t", "id", ColumnType::I64)
            .column(ColumnDef::new("x", ColumnType::I64).default_value(0i64))
            .column(
                ColumnDef::new("title", ColumnType::Text)
                    .default_value("")
                    .resolver("test-longest"),
            ),
    )]
}

fn node(id: u64, clock: &ManualClock) -> Arc<Database> {
    Arc::new(Database::open(ReplicaId::from_u64(id), Arc::new(clock.clone()), &schema()).unwrap())
}

/// A replica whose `x` column the codec `q` encodes.
fn client_with_pattern(clock: &ManualClock) -> Arc<Database> {
    let db = node(1, clock);
    for i in 0..300i64 {
        db.insert(
            "t",
            [
                ("id", Value::I64(i)),
                ("x", Value::I64(BASE + i % 2)),
                ("title", format!("row {i}").into()),
            ],
        )
        .unwrap();
    }
    db
}

fn builtin_only() -> SyncConfig {
    SyncConfig {
        codecs: Some(BUILTIN_CODECS.iter().map(|&c| c.to_owned()).collect()),
        ..SyncConfig::default()
    }
}

fn missing_codec(e: &SyncError) -> Option<(&'static str, &str)> {
    match e {
        SyncError::MissingCodec { what, codec, .. } => Some((*what, codec.as_str())),
        _ => None,
    }
}

#[test]
fn the_macros_register_through_the_reexported_registry() {
    assert_eq!(
        Codec::registry().get("q").unwrap().info.crate_name,
        "unidb-syncdb"
    );
    assert!(Resolver::registry().get("test-longest").is_ok());
    // The resolver is the one in use: concurrent titles keep the longest,
    // although the shorter one was written later.
    let clock = ManualClock::new(1_000);
    let (a, b) = (node(1, &clock), node(2, &clock));
    a.insert(
        "t",
        [("id", Value::I64(1)), ("title", "a long title".into())],
    )
    .unwrap();
    clock.advance(5);
    b.insert("t", [("id", Value::I64(1)), ("title", "short".into())])
        .unwrap();
    let (mut sa, mut sb) = (
        Session::new(a.clone(), SyncConfig::default()),
        Session::new(b.clone(), SyncConfig::default()),
    );
    sync_pair(&mut sa, &mut sb).unwrap();
    for db in [&a, &b] {
        let row = db.read().get("t", &Value::I64(1)).unwrap().unwrap();
        assert_eq!(row["title"], Value::from("a long title"));
    }
}

/// Without negotiation the client's batches would use `q`, which a peer
/// without it refuses whole: the premise of the next test.
#[test]
fn a_peer_without_the_codec_refuses_batches_that_use_it() {
    let clock = ManualClock::new(5_000);
    let client = client_with_pattern(&clock);
    let changes = client.changes_since(&VersionVector::new());
    let batch = Message::Changes {
        sender: client.replica(),
        schema_version: client.schema_version(),
        changes,
        collected: Vec::new(),
    }
    .encode();
    // This process decodes it; one with only the built-in codecs cannot.
    assert!(Message::decode(&batch).is_ok());
    let err = with_codecs(&CodecSet::builtin(), || Message::decode(&batch)).unwrap_err();
    assert_eq!(missing_codec(&err), Some(("sync message", "q")), "{err}");
    // The offset is that of the codec's name in the message (its length
    // byte, then the name).
    let SyncError::MissingCodec { offset, known, .. } = &err else {
        unreachable!()
    };
    assert_eq!(&batch[*offset..*offset + 2], b"\x01q");
    assert!(known.iter().all(|k| BUILTIN_CODECS.contains(&k.as_str())));
    assert_eq!(err.kind(), unidb_common::ErrorKind::Unsupported);
    // A session declaring only the built-in codecs refuses it the same way
    // and applies nothing.
    let server = node(100, &clock);
    let mut s = Session::new(server.clone(), builtin_only());
    s.handle_bytes(&client_hello(&client)).unwrap();
    let err = s.handle_bytes(&batch).unwrap_err();
    assert_eq!(missing_codec(&err), Some(("sync message", "q")), "{err}");
    assert_eq!(s.metrics().snapshot().counters["sync.rejected"], 1);
    assert_eq!(server.read().count("t").unwrap(), 0);
}

fn client_hello(client: &Arc<Database>) -> Vec<u8> {
    Session::new(client.clone(), SyncConfig::default()).hello_encoded()
}

/// The issue's case: a client that registered a codec syncs with a server
/// that lacks it, and both converge; then a second client that has it too
/// gets everything from the server, and a direct connection between the
/// two clients does use it.
#[test]
fn a_client_with_a_custom_codec_converges_with_a_server_without_it() {
    let clock = ManualClock::new(5_000);
    let client = client_with_pattern(&clock);
    let server = node(100, &clock);
    let mut c = Session::new(client.clone(), SyncConfig::default());
    let mut s = Session::new(server.clone(), builtin_only());
    sync_pair(&mut c, &mut s).unwrap();
    assert!(!c.codecs().contains("q"), "{:?}", c.codecs());
    assert!(c.codecs().contains("for"));
    assert!(c.metrics().snapshot().counters["sync.changes_out"] > 600);
    assert_eq!(s.metrics().snapshot().counters["sync.rejected"], 0);
    assert_eq!(server.read().dump(), client.read().dump());
    assert_eq!(server.read().count("t").unwrap(), 300);

    // The server writes too; the client receives it.
    server
        .update("t", 7i64, [("title", Value::from("edited on the server"))])
        .unwrap();
    sync_pair(&mut c, &mut s).unwrap();
    assert_eq!(server.read().dump(), client.read().dump());

    // A second client with every codec, through the server.
    let other = node(2, &clock);
    let mut o = Session::new(other.clone(), SyncConfig::default());
    let mut s2 = Session::new(server.clone(), builtin_only());
    sync_pair(&mut o, &mut s2).unwrap();
    assert_eq!(other.read().dump(), client.read().dump());

    // Between two sides that both declare `q`, batches do use it.
    let fresh = node(3, &clock);
    let mut a = Session::new(client.clone(), SyncConfig::default());
    let mut b = Session::new(fresh.clone(), SyncConfig::default());
    let replies = a.handle_bytes(&b.hello_encoded()).unwrap();
    assert!(a.codecs().contains("q"));
    let batches: Vec<&Vec<u8>> = replies.iter().filter(|m| m[3] == 3).collect();
    assert!(!batches.is_empty());
    let uses_q = batches.iter().any(|m| {
        with_codecs(&CodecSet::builtin(), || Message::decode(m))
            .is_err_and(|e| missing_codec(&e) == Some(("sync message", "q")))
    });
    assert!(uses_q, "no batch used the codec both sides declared");
    for m in replies {
        b.handle_bytes(&m).unwrap();
    }
    assert_eq!(fresh.read().dump(), client.read().dump());
}

/// A version-2 peer's `Hello` has no codec list: it is read as the
/// codecs built into version 2, and everything sent to that peer is
/// written in version 2 with those codecs only.
#[test]
fn an_old_peer_is_answered_in_its_version_with_its_codecs() {
    assert_eq!((MIN_WIRE_VERSION, WIRE_VERSION), (2, 3));
    // Codecs are only ever added: version 2's are all still built in.
    for c in WIRE_V2_CODECS {
        assert!(BUILTIN_CODECS.contains(c), "{c}");
    }
    let clock = ManualClock::new(5_000);
    let client = client_with_pattern(&clock);
    let old = node(50, &clock);
    let old_session = Session::new(
        old.clone(),
        SyncConfig {
            wire_version: 2,
            ..SyncConfig::default()
        },
    );
    let mut old_session = old_session;
    let hello = old_session.hello_encoded();
    assert_eq!(hello[2], 2);
    match Message::decode(&hello).unwrap() {
        Message::Hello { codecs, .. } => assert_eq!(codecs, WIRE_V2_CODECS),
        m => panic!("{m:?}"),
    }
    let mut c = Session::new(client.clone(), SyncConfig::default());
    let replies = c.handle_bytes(&hello).unwrap();
    assert_eq!(c.wire_version(), 2);
    assert!(!c.codecs().contains("q"));
    // Version 2 read `ans` in its first format only: the later one is not
    // sent to it.
    assert_eq!(unidb_codec::format_of("ans"), 2);
    assert!(!c.codecs().decodes("ans", 2));
    assert!(!replies.is_empty());
    let v2_only = CodecSet::from_wire(WIRE_V2_CODECS);
    for m in &replies {
        assert_eq!(m[2], 2, "reply not in version 2");
        // A version-2 reader's codecs decode it.
        with_codecs(&v2_only, || Message::decode(m)).unwrap();
        old_session.handle_bytes(m).unwrap();
    }
    assert_eq!(old.read().dump(), client.read().dump());
    // A version the build does not read is refused by name.
    let mut v4 = hello.clone();
    v4[2] = 4;
    let err = Message::decode(&v4).unwrap_err().to_string();
    assert!(err.contains("version 4"), "{err}");
}

#[test]
fn a_snapshot_needing_a_missing_codec_fails_naming_it() {
    let clock = ManualClock::new(5_000);
    let db = client_with_pattern(&clock);
    let bytes = db.save_snapshot();
    // This process has `q`: the snapshot opens.
    let back = Database::load_snapshot(&bytes, Arc::new(clock.clone())).unwrap();
    assert_eq!(back.read().dump(), db.read().dump());
    // A process with only the built-in codecs: a typed error naming `q`.
    let err = with_codecs(&CodecSet::builtin(), || {
        Database::load_snapshot(&bytes, Arc::new(clock.clone()))
    })
    .unwrap_err();
    assert_eq!(missing_codec(&err), Some(("snapshot", "q")), "{err}");
    assert!(err.to_string().contains("\"q\""), "{err}");
    assert_eq!(err.kind(), unidb_common::ErrorKind::Unsupported);
    // Saved for such a reader, it opens there.
    let portable = with_codecs(&CodecSet::builtin(), || db.save_snapshot());
    let back = with_codecs(&CodecSet::builtin(), || {
        Database::load_snapshot(&portable, Arc::new(clock.clone()))
    })
    .unwrap();
    assert_eq!(back.read().dump(), db.read().dump());
}

#[test]
fn sync_config_declares_codecs_and_a_wire_version() {
    use unidb_common::config::{from_json_str, Validate};
    let c: SyncConfig = from_json_str(
        r#"{"codecs": ["for", "delta"], "wire_version": 2}"#,
        "sync.json",
    )
    .unwrap();
    assert_eq!(c.codec_set().names(), ["delta", "for", "plain"]);
    assert_eq!(c.wire_version, 2);
    let e = from_json_str::<SyncConfig>(r#"{"wire_version": 1}"#, "sync.json").unwrap_err();
    assert_eq!(e.location(), Some("wire_version"));
    assert!(SyncConfig::default().validate().is_ok());
    assert!(SyncConfig::default().codec_set().is_all());
}
