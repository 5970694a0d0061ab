//! The exception classes, one per [`ErrorKind`], and the conversion of
//! every crate error into one of them.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use unidb_common::ErrorKind;

create_exception!(
    unidb,
    UnidbError,
    PyException,
    "Base class of every unidb error."
);
create_exception!(
    unidb,
    InvalidArgument,
    UnidbError,
    "An input value is out of range or malformed (kind \"validation\")."
);
create_exception!(
    unidb,
    InvalidConfig,
    UnidbError,
    "A configuration is invalid or inconsistent (kind \"configuration\")."
);
create_exception!(
    unidb,
    SerializationError,
    UnidbError,
    "Encoding or decoding failed (kind \"serialization\")."
);
create_exception!(
    unidb,
    NotFound,
    UnidbError,
    "A named thing does not exist (kind \"not found\")."
);
create_exception!(
    unidb,
    Conflict,
    UnidbError,
    "The operation conflicts with existing state (kind \"conflict\")."
);
create_exception!(
    unidb,
    CorruptFile,
    UnidbError,
    "Stored or received data fails integrity checks (kind \"corrupt data\")."
);
create_exception!(
    unidb,
    IoError,
    UnidbError,
    "An operating-system I/O error (kind \"I/O\")."
);
create_exception!(
    unidb,
    Unsupported,
    UnidbError,
    "The operation or format is not supported (kind \"unsupported\")."
);

/// Adds the classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("UnidbError", py.get_type::<UnidbError>())?;
    m.add("InvalidArgument", py.get_type::<InvalidArgument>())?;
    m.add("InvalidConfig", py.get_type::<InvalidConfig>())?;
    m.add("SerializationError", py.get_type::<SerializationError>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("Conflict", py.get_type::<Conflict>())?;
    m.add("CorruptFile", py.get_type::<CorruptFile>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    m.add("Unsupported", py.get_type::<Unsupported>())?;
    Ok(())
}

/// The exception of `kind` carrying `message`.
pub(crate) fn of_kind(kind: ErrorKind, message: String) -> PyErr {
    match kind {
        ErrorKind::Validation => InvalidArgument::new_err(message),
        ErrorKind::Configuration => InvalidConfig::new_err(message),
        ErrorKind::Serialization => SerializationError::new_err(message),
        ErrorKind::NotFound => NotFound::new_err(message),
        ErrorKind::Conflict => Conflict::new_err(message),
        ErrorKind::CorruptData => CorruptFile::new_err(message),
        ErrorKind::Io => IoError::new_err(message),
        ErrorKind::Unsupported => Unsupported::new_err(message),
        _ => UnidbError::new_err(message),
    }
}

/// Any crate error as the exception of its kind, with its full message.
pub(crate) fn py_err(e: impl Into<unidb_common::Error>) -> PyErr {
    let e: unidb_common::Error = e.into();
    of_kind(e.kind(), e.to_string())
}

/// An [`InvalidArgument`] with `message`.
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    InvalidArgument::new_err(message.into())
}
