//! The fvecs/ivecs and npy readers: malformed input is a typed error
//! naming the problem; npy headers parse as Python reads them.

use super::*;

/// A version 1.0 `.npy` file with `header` and f32 `payload`, the data
/// starting on a 64-byte boundary as numpy writes it.
fn npy(header: &str, payload: &[f32]) -> Vec<u8> {
    let mut h = header.to_owned();
    let pad = (64 - (10 + h.len() + 1) % 64) % 64;
    h.push_str(&" ".repeat(pad));
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    for v in payload {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn reason(r: Result<Matrix<f32>>) -> String {
    match r {
        Err(VectorError::BadVectorFile { reason, .. }) => reason,
        other => panic!("expected a bad-file error, got {other:?}"),
    }
}

/// Keys inside values were found by the substring search: a decoy
/// `'fortran_order': False` in an earlier value hid the real `True`
/// (the array would have been read transposed), a decoy `descr` hid a
/// big-endian dtype. The parser sees the dict's real keys: numpy's set
/// exactly, so the decoy key is refused by name.
#[test]
fn a_key_inside_a_value_is_not_the_key() {
    let data: Vec<f32> = (0..6).map(|i| i as f32).collect();
    let decoy_fortran = npy(
        "{'note': \"'fortran_order': False\", 'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
        &data,
    );
    assert!(reason(parse_npy(&decoy_fortran, "d")).contains("unexpected key \"note\""));
    let decoy_descr = npy(
        "{'x': \"'descr': '<f4'\", 'descr': '>f4', 'fortran_order': False, 'shape': (2, 3)}",
        &data,
    );
    assert!(parse_npy(&decoy_descr, "d").is_err());
    // Without the extra key, the real values decide.
    let fortran = npy(
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
        &data,
    );
    assert!(reason(parse_npy(&fortran, "d")).contains("Fortran"));
}

/// Valid Python literals that the substring search refused or misread:
/// double quotes, other key orders, spacing, trailing commas.
#[test]
fn header_literals_parse_as_python_reads_them() {
    let data: Vec<f32> = (0..6).map(|i| i as f32 * 0.5).collect();
    for header in [
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}",
        "{'shape':(2,3),'fortran_order':False,'descr':'<f4'}",
        "{ 'fortran_order' : False , 'shape' : ( 2 , 3 , ) , 'descr' : '<f4' , }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
    ] {
        let m = parse_npy(&npy(header, &data), "ok").unwrap_or_else(|e| panic!("{header}: {e}"));
        assert_eq!((m.rows, m.dim, &m.data), (2, 3, &data), "{header}");
    }
    let parsed =
        NpyHeader::parse("{'descr': 'a\\'b', 'fortran_order': True, 'shape': (7,)}").unwrap();
    assert_eq!(
        parsed,
        NpyHeader {
            descr: "a'b".into(),
            fortran_order: true,
            shape: vec![7],
        }
    );
    assert_eq!(
        NpyHeader::parse("{'descr': '<f4', 'fortran_order': False, 'shape': ()}")
            .unwrap()
            .shape,
        Vec::<usize>::new()
    );
}

#[test]
fn malformed_headers_are_typed_errors() {
    let data = [0.0f32; 6];
    for (header, why) in [
        ("{'descr': '<f4', 'fortran_order': False}", "no 'shape'"),
        (
            "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}",
            "twice",
        ),
        (
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}",
            "not a boolean",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}",
            "not a tuple",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, '3')}",
            "not an integer",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, (3,))}",
            "not an integer",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x",
            "after the header",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)",
            "expected '}'",
        ),
        (
            "{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}",
            "expected '}'",
        ),
        (
            "{'descr': '<f4', 'fortran_order': Falsy, 'shape': (2, 3)}",
            "expected a string, a boolean",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 3)}",
            "too large",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
            "dtype \"<f8\"",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
            "not 2-D",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8)}",
            "too large",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (((((((((1,),),),),),),),),)}",
            "too deep",
        ),
        ("['descr']", "expected '{'"),
    ] {
        let r = reason(parse_npy(&npy(header, &data), "bad"));
        assert!(r.contains(why), "{header}: {r}");
    }
}

#[test]
fn vector_files_parse_and_reject_bad_input() {
    let data: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let bytes = to_fvecs(&data, 3);
    let m = parse_fvecs(&bytes, "x").unwrap();
    assert_eq!((m.rows, m.dim, &m.data), (4, 3, &data));
    for cut in 1..bytes.len() {
        if cut % 16 != 0 {
            assert!(
                matches!(
                    parse_fvecs(&bytes[..cut], "x"),
                    Err(VectorError::BadVectorFile { .. })
                ),
                "{cut}"
            );
        }
    }
    let mut wrong = bytes.clone();
    wrong[16..20].copy_from_slice(&2i32.to_le_bytes());
    assert!(parse_fvecs(&wrong, "x")
        .unwrap_err()
        .to_string()
        .contains("dimension 2"));
    let mut neg = bytes.clone();
    neg[..4].copy_from_slice(&(-1i32).to_le_bytes());
    assert!(parse_fvecs(&neg, "x").is_err());
    let iv = parse_ivecs(&bytes, "y").unwrap();
    assert_eq!(iv.data[1], 1.0f32.to_bits() as i32);

    let ok = npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }",
        &data,
    );
    let m = parse_npy(&ok, "z").unwrap();
    assert_eq!((m.rows, m.dim, &m.data), (4, 3, &data));
    for bad in [
        npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }",
            &data,
        ),
        npy(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 3), }",
            &data,
        ),
        npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (12,), }",
            &data,
        ),
        npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 3), }",
            &data,
        ),
        ok[..ok.len() - 1].to_vec(),
        ok[..20].to_vec(),
        b"NUMPY".to_vec(),
    ] {
        assert!(matches!(
            parse_npy(&bad, "z"),
            Err(VectorError::BadVectorFile { .. })
        ));
    }
}
