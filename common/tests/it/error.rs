//! The shared error type: kinds, context, conversions and display.

use std::error::Error as _;

use unidb_common::error::*;

fn assert_traits<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn traits_and_size() {
    assert_traits::<Error>();
    assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
}

#[test]
fn constructors_set_kind_and_location() {
    let cases: [(Error, ErrorKind, &str); 8] = [
        (
            Error::validation("w", "l"),
            ErrorKind::Validation,
            "validation",
        ),
        (
            Error::configuration("w", "l"),
            ErrorKind::Configuration,
            "configuration",
        ),
        (
            Error::serialization("w", "l"),
            ErrorKind::Serialization,
            "serialization",
        ),
        (Error::not_found("w", "l"), ErrorKind::NotFound, "not found"),
        (Error::conflict("w", "l"), ErrorKind::Conflict, "conflict"),
        (
            Error::corrupt_data("w", "l"),
            ErrorKind::CorruptData,
            "corrupt data",
        ),
        (Error::io("w", "l"), ErrorKind::Io, "I/O"),
        (
            Error::unsupported("w", "l"),
            ErrorKind::Unsupported,
            "unsupported",
        ),
    ];
    for (e, kind, name) in cases {
        assert_eq!(e.kind(), kind);
        assert_eq!(e.location(), Some("l"));
        assert_eq!(e.message(), "w");
        assert_eq!(e.to_string(), format!("{name} error at l: w"));
        assert!(e.source().is_none());
    }
    let plain = Error::new(ErrorKind::Conflict, "dup");
    assert_eq!(plain.to_string(), "conflict error: dup");
    assert_eq!(plain.location(), None);
}

#[test]
fn context_notes_print_in_order() {
    let e = Error::not_found("key 7", "table t")
        .context("reading row")
        .context("syncing");
    assert_eq!(
        e.context_notes().collect::<Vec<_>>(),
        ["reading row", "syncing"]
    );
    assert_eq!(
        e.to_string(),
        "not found error at table t: key 7 (while reading row; while syncing)"
    );
    assert!(format!("{e:?}").contains("NotFound"));
}

#[test]
fn io_conversion_keeps_source_and_maps_kind() {
    let e: Error = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file").into();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let src = e
        .source()
        .unwrap()
        .downcast_ref::<std::io::Error>()
        .unwrap();
    assert_eq!(src.kind(), std::io::ErrorKind::NotFound);
    let e: Error = std::io::Error::other("disk on fire").into();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.to_string().contains("disk on fire"));
}

#[test]
fn json_conversion_names_position() {
    let je = serde_json::from_str::<serde_json::Value>("{\n  \"a\": tru }").unwrap_err();
    let (line, col) = (je.line(), je.column());
    let e: Error = je.into();
    assert_eq!(e.kind(), ErrorKind::Serialization);
    assert_eq!(
        e.location(),
        Some(format!("JSON line {line} column {col}").as_str())
    );
    assert_eq!(line, 2);
    assert!(e.source().is_some());
}

#[test]
fn clock_and_id_errors_convert() {
    let ce = unidb_common::time::HlcTimestamp::new(1 << 48, 0).unwrap_err();
    let e: Error = ce.clone().into();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert_eq!(e.message(), ce.to_string());
    let ie = "zz".parse::<unidb_common::id::ReplicaId>().unwrap_err();
    let e: Error = ie.into();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(e.to_string().contains("\"zz\""));
}

#[test]
fn member_crate_error_converts_via_new_and_source() {
    #[derive(Debug, thiserror::Error)]
    #[error("dimension {0} exceeds 65536")]
    struct TooBig(usize);
    impl From<TooBig> for Error {
        fn from(e: TooBig) -> Self {
            Error::new(ErrorKind::Validation, e.to_string()).with_source(e)
        }
    }
    fn f() -> Result<()> {
        Err(TooBig(70_000))?
    }
    let e = f().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert_eq!(e.message(), "dimension 70000 exceeds 65536");
    assert!(e.source().unwrap().downcast_ref::<TooBig>().is_some());
}
