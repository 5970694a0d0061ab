use super::*;
use unidb_common::ErrorKind;

#[test]
fn errors_convert_with_their_kind_and_source_chain() {
    let diverged = unidb_common::Error::from(DemoError::Diverged("report".into()));
    assert_eq!(diverged.kind(), ErrorKind::Conflict);
    assert!(diverged.to_string().contains("report"));
    let vector = DemoError::from(unidb_vectordb::VectorError::InvalidConfig("x".into()));
    let e = unidb_common::Error::from(vector);
    assert_eq!(e.kind(), ErrorKind::Configuration);
    let source = std::error::Error::source(&e).unwrap();
    assert!(source.downcast_ref::<DemoError>().is_some());
    let isa = DemoError::from(BenchError::from("nope".parse::<Isa>().unwrap_err()));
    assert_eq!(
        unidb_common::Error::from(isa).kind(),
        ErrorKind::Configuration
    );
}

/// Every leaf command of the command tree is listed once.
#[test]
fn commands_lists_every_leaf_command() {
    let names: Vec<String> = commands().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "info",
            "bench kernels",
            "compress",
            "sync simulate",
            "sync bench",
            "sync serve",
            "sync auth new",
            "sync auth add",
            "sync auth remove",
            "sync auth token",
            "sync load",
            "sync power-sim",
            "vector bench",
            "vector build",
            "vector search",
            "features join",
            "features bench",
            "experiment hash",
            "experiment assign",
            "experiment analyze",
            "experiment srm",
            "experiment adjust",
            "experiment bench"
        ]
    );
}
