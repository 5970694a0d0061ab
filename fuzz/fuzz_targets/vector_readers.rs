//! The fvecs / ivecs / npy parsers on arbitrary bytes: never panic, and
//! whatever parses is a consistent matrix; fvecs and ivecs re-encode to the
//! exact input bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unidb_vectordb::io::{self, Matrix};

fn consistent<T>(m: &Matrix<T>, input_len: usize) {
    assert_eq!(m.data.len(), m.rows * m.dim);
    assert!(
        m.data.len() * 4 <= input_len,
        "more values than input bytes"
    );
    if m.rows > 0 {
        assert_eq!(m.row(m.rows - 1).len(), m.dim);
    }
}

fn to_ivecs(m: &Matrix<i32>) -> Vec<u8> {
    let mut out = Vec::new();
    for row in m.data.chunks_exact(m.dim.max(1)) {
        out.extend_from_slice(&(m.dim as i32).to_le_bytes());
        for v in row {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = io::parse_fvecs(data, "fuzz.fvecs") {
        consistent(&m, data.len());
        assert_eq!(io::to_fvecs(&m.data, m.dim), data);
    }
    if let Ok(m) = io::parse_ivecs(data, "fuzz.ivecs") {
        consistent(&m, data.len());
        assert_eq!(to_ivecs(&m), data);
    }
    if let Ok(m) = io::parse_npy(data, "fuzz.npy") {
        consistent(&m, data.len());
    }
});
