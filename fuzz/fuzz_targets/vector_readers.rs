//! The fvecs / ivecs / npy parsers on arbitrary bytes: never panic, and
//! whatever parses is a consistent matrix; fvecs and ivecs re-encode to the
//! exact input bytes; an npy matrix is the input's last `rows · dim · 4`
//! bytes as little-endian f32 (bit for bit) and its header is a dict that
//! names the f32 dtype and the shape read. Inputs opening with `{` are
//! also wrapped as the header of a version 1.0 file with a 2 × 2 payload,
//! so the header parser sees fuzzed dicts.
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
        npy_payload_matches(&m, data);
    }
    if data.first() == Some(&b'{') && data.len() <= usize::from(u16::MAX) {
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        file.extend_from_slice(&(data.len() as u16).to_le_bytes());
        file.extend_from_slice(data);
        for v in [1.0f32, -2.5, 0.0, 7.0] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        if let Ok(m) = io::parse_npy(&file, "fuzz.npy") {
            consistent(&m, file.len());
            npy_payload_matches(&m, &file);
            let header = std::str::from_utf8(data).expect("a parsed header is text");
            assert!(header.contains("descr") && header.contains("shape"));
            assert_eq!(m.rows * m.dim, 4, "a 16-byte payload holds 4 values");
        }
    }
});

/// The matrix is the file's trailing bytes, as little-endian f32.
fn npy_payload_matches(m: &Matrix<f32>, file: &[u8]) {
    let tail = &file[file.len() - m.data.len() * 4..];
    for (v, b) in m.data.iter().zip(tail.chunks_exact(4)) {
        assert_eq!(v.to_bits(), u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    }
}
