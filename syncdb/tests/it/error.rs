//! The sync errors in the project's error story: each variant family
//! converts into `unidb_common::Error` with its kind, and the source chain
//! reaches the underlying error (the `io::Error` of a failed file
//! operation, the registry's or the clock's error).

use std::error::Error as _;
use std::sync::Arc;

use unidb_common::bytes::{ReadError, ReadErrorKind};
use unidb_common::time::{ClockError, ManualClock};
use unidb_common::{Error, ErrorKind};

use unidb_common::value::ColumnType;
use unidb_syncdb::wire::Message;
use unidb_syncdb::{Database, SyncError};

/// The chain below `e`, outermost first.
fn chain(e: &Error) -> Vec<&(dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = e.source();
    while let Some(s) = next {
        out.push(s);
        next = s.source();
    }
    out
}

#[test]
fn every_variant_family_has_its_kind() {
    let s = |x: &str| x.to_string();
    let cases = [
        (
            SyncError::UnknownTable { table: s("t") },
            ErrorKind::NotFound,
        ),
        (
            SyncError::RowNotFound {
                table: s("t"),
                key: s("1"),
            },
            ErrorKind::NotFound,
        ),
        (
            SyncError::TypeMismatch {
                table: s("t"),
                column: s("c"),
                expected: ColumnType::I64,
                value: s("\"x\""),
            },
            ErrorKind::Validation,
        ),
        (
            SyncError::InvalidSchema { reason: s("r") },
            ErrorKind::Validation,
        ),
        (
            SyncError::Protocol { reason: s("r") },
            ErrorKind::Validation,
        ),
        (
            SyncError::RowExists {
                table: s("t"),
                key: s("1"),
            },
            ErrorKind::Conflict,
        ),
        (
            SyncError::SchemaTooNew {
                local: 1,
                remote: 2,
            },
            ErrorKind::Conflict,
        ),
        (
            SyncError::InvalidChange {
                origin: unidb_common::ReplicaId::from_u64(1),
                seq: 1,
                reason: s("r"),
            },
            ErrorKind::CorruptData,
        ),
        (
            SyncError::MissingCodec {
                what: "snapshot",
                codec: s("q"),
                offset: 6,
                known: vec![s("plain")],
            },
            ErrorKind::Unsupported,
        ),
        (
            SyncError::NoSuchColumn {
                column: s("c"),
                columns: vec![s("a")],
            },
            ErrorKind::NotFound,
        ),
        (
            SyncError::WrongValueType {
                column: s("c"),
                expected: "i64",
                found: "text",
            },
            ErrorKind::Validation,
        ),
        (
            SyncError::NullValue {
                column: s("c"),
                expected: "i64",
            },
            ErrorKind::Validation,
        ),
    ];
    for (e, kind) in cases {
        let text = e.to_string();
        let err = Error::from(e);
        assert_eq!(err.kind(), kind, "{text}");
        assert_eq!(err.message(), text);
        assert!(err.source().unwrap().downcast_ref::<SyncError>().is_some());
    }
}

/// A missing codec is located at the byte that names it.
#[test]
fn missing_codecs_are_located() {
    let e = Error::from(SyncError::MissingCodec {
        what: "sync message",
        codec: "q".into(),
        offset: 41,
        known: vec!["plain".into()],
    });
    assert_eq!(e.location(), Some("byte 41"));
    assert!(e.message().contains("\"q\""), "{}", e.message());
}

#[test]
fn decode_errors_keep_the_offset_of_the_read() {
    // A hello whose replica id (at byte 4) is a truncated varint.
    let err = Message::decode(b"US\x02\x01\x80").unwrap_err();
    match &err {
        SyncError::Decode { offset, reason } => {
            assert_eq!(*offset, 4);
            assert!(
                reason.contains("replica id") && reason.contains("varint"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let e = Error::from(err);
    assert_eq!(e.kind(), ErrorKind::CorruptData);
    assert_eq!(e.location(), Some("byte 4"));

    let read = ReadError::new(
        "flags",
        17,
        ReadErrorKind::Truncated {
            needed: 1,
            available: 0,
        },
    );
    match SyncError::from(read) {
        SyncError::Decode { offset, reason } => {
            assert_eq!(offset, 17);
            assert_eq!(reason, "flags: truncated: needs 1 bytes, 0 left");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrapped_errors_stay_in_the_source_chain() {
    let missing = std::env::temp_dir().join(format!(
        "unidb-error-test-{}-missing.snapshot",
        std::process::id()
    ));
    let clock = Arc::new(ManualClock::new(1_000));
    let err = Database::open_snapshot(&missing, clock).unwrap_err();
    assert!(matches!(err, SyncError::Io { .. }), "{err}");
    let e = Error::from(err);
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.location(), Some(missing.display().to_string().as_str()));
    let io = chain(&e)
        .into_iter()
        .find_map(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io::Error is in the chain");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);

    let registry = unidb_registry::RegistryError::Unknown {
        kind: "resolver",
        name: "nope".into(),
        known: vec!["lww"],
    };
    let e = Error::from(SyncError::UnknownResolver {
        table: "t".into(),
        column: "c".into(),
        source: Box::new(registry),
    });
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // Boxed in the variant (it is large), so the chain holds the box.
    assert!(chain(&e).iter().any(|s| s
        .downcast_ref::<Box<unidb_registry::RegistryError>>()
        .is_some()));

    let clock = ClockError::DriftExceeded {
        remote_ms: 10,
        local_ms: 1,
        ahead_ms: 9,
        max_drift_ms: 5,
    };
    let e = Error::from(SyncError::ClockSkew {
        replica: unidb_common::ReplicaId::from_u64(2),
        source: clock,
    });
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(chain(&e)
        .iter()
        .any(|s| s.downcast_ref::<ClockError>().is_some()));
}

// ---------- an invalid UNIDB_ISA ----------

/// Set in the child process of `invalid_isa_is_a_typed_error`.
const CHILD_ENV: &str = "UNIDB_SYNCDB_ISA_CHILD";

#[test]
#[ignore = "run by invalid_isa_is_a_typed_error"]
fn invalid_isa_child() {
    use unidb_codec::{CodecError, Column, ColumnKind, Effort, Values};
    use unidb_kernels::KernelError;
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let bogus =
        |e: &KernelError| matches!(e, KernelError::UnknownIsa { value } if value == "bogus");
    let clock = Arc::new(ManualClock::new(1_000));
    let err = Database::open(unidb_common::ReplicaId::from_u64(1), clock.clone(), &[]).unwrap_err();
    assert!(matches!(&err, SyncError::Kernels(e) if bogus(e)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Configuration);
    // Checked before the bytes are looked at: not a decode error.
    let err = Database::load_snapshot(&[], clock).unwrap_err();
    assert!(matches!(&err, SyncError::Kernels(e) if bogus(e)), "{err:?}");
    // The codecs' entry points, for users of the codec crate alone.
    let col = Column::new(ColumnKind::Int, Values::Int(vec![1, 2, 3])).unwrap();
    let err = unidb_codec::encode_column(&col, Effort::default()).unwrap_err();
    assert!(
        matches!(&err, CodecError::Kernels(e) if bogus(e)),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let err = unidb_codec::decode_column(&[]).unwrap_err();
    assert!(
        matches!(&err, CodecError::Kernels(e) if bogus(e)),
        "{err:?}"
    );
}

/// With an invalid `UNIDB_ISA`, opening a database or loading a snapshot
/// and encoding or decoding a column are typed errors naming the value
/// (they fell back silently before), and nothing is printed.
#[test]
fn invalid_isa_is_a_typed_error() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "error::invalid_isa_child",
            "--ignored",
            "--quiet",
            "--test-threads=1",
        ])
        .env(unidb_kernels::ISA_ENV_VAR, "bogus")
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
