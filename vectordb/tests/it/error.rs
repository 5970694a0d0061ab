//! The vector errors in the project's error story: each variant family
//! converts into `unidb_common::Error` with its kind, a failed file
//! operation keeps its `io::Error` in the source chain, and a failed read
//! of a saved file names what was read and its byte offset.

use std::error::Error as _;

use unidb_common::bytes::{ReadError, ReadErrorKind};
use unidb_common::ErrorKind;

use unidb_vectordb::{Collection, CollectionConfig, VectorError};

fn kind_of(e: VectorError) -> ErrorKind {
    let text = e.to_string();
    let err = unidb_common::Error::from(e);
    assert_eq!(err.message(), text);
    assert!(err
        .source()
        .unwrap()
        .downcast_ref::<VectorError>()
        .is_some());
    err.kind()
}

#[test]
fn every_variant_family_has_its_kind() {
    let mut c = Collection::new(CollectionConfig::new(2, "l2")).unwrap();
    c.insert(1u64, &[1.0, 2.0], None).unwrap();
    assert_eq!(kind_of(c.get(7u64).unwrap_err()), ErrorKind::NotFound);
    assert_eq!(
        kind_of(c.insert(2u64, &[1.0], None).unwrap_err()),
        ErrorKind::Validation
    );
    assert_eq!(
        kind_of(c.insert(1u64, &[1.0, 2.0], None).unwrap_err()),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind_of(Collection::new(CollectionConfig::new(2, "no-such-metric")).unwrap_err()),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind_of(VectorError::InvalidConfig("m".into())),
        ErrorKind::Configuration
    );
    assert_eq!(kind_of(VectorError::BadMagic), ErrorKind::Unsupported);
    assert_eq!(
        kind_of(VectorError::Corrupt("x".into())),
        ErrorKind::CorruptData
    );
}

#[test]
fn read_errors_are_corrupt_files_naming_the_offset() {
    let e = VectorError::from(ReadError::new(
        "hnsw entry",
        41,
        ReadErrorKind::Truncated {
            needed: 8,
            available: 2,
        },
    ));
    match &e {
        VectorError::Corrupt(m) => {
            assert_eq!(m, "hnsw entry at byte 41: truncated: needs 8 bytes, 2 left")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kind_of(e), ErrorKind::CorruptData);
}

#[test]
fn io_errors_stay_in_the_source_chain() {
    let missing = std::env::temp_dir().join(format!(
        "unidb-vector-error-test-{}-missing.udb",
        std::process::id()
    ));
    let err = Collection::open(&missing).unwrap_err();
    assert!(matches!(err, VectorError::Io { .. }), "{err}");
    let e = unidb_common::Error::from(err);
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.location(), Some(missing.display().to_string().as_str()));
    let mut next = e.source();
    let mut io = None;
    while let Some(s) = next {
        io = io.or(s.downcast_ref::<std::io::Error>());
        next = s.source();
    }
    assert_eq!(
        io.expect("the io::Error is in the chain").kind(),
        std::io::ErrorKind::NotFound
    );
}

// ---------- an invalid UNIDB_ISA ----------

/// Set in the child process of `invalid_isa_is_a_typed_error`.
const CHILD_ENV: &str = "UNIDB_VECTORDB_ISA_CHILD";

#[test]
#[ignore = "run by invalid_isa_is_a_typed_error"]
fn invalid_isa_child() {
    let Some(file) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let err = Collection::new(CollectionConfig::new(2, "l2")).unwrap_err();
    assert!(
        matches!(&err, VectorError::Kernels(unidb_kernels::KernelError::UnknownIsa { value }) if value == "bogus"),
        "{err:?}"
    );
    assert_eq!(err.kind(), unidb_common::ErrorKind::Configuration);
    let bytes = std::fs::read(&file).unwrap();
    assert!(matches!(
        unidb_vectordb::persist::from_bytes(&bytes),
        Err(VectorError::Kernels(_))
    ));
    assert!(matches!(
        Collection::open(std::path::Path::new(&file)),
        Err(VectorError::Kernels(_))
    ));
}

/// With an invalid `UNIDB_ISA`, creating or opening a collection is a typed
/// error naming the value (main fell back silently), and nothing is printed.
#[test]
fn invalid_isa_is_a_typed_error() {
    let path = crate::util::tmp_path("isa-child");
    let mut c = Collection::new(CollectionConfig::new(2, "l2")).unwrap();
    c.insert(1u64, &[0.0, 1.0], None).unwrap();
    c.save(&path).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "error::invalid_isa_child",
            "--ignored",
            "--quiet",
        ])
        .arg("--test-threads=1")
        .env(unidb_kernels::ISA_ENV_VAR, "bogus")
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    std::fs::remove_file(&path).unwrap();
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
