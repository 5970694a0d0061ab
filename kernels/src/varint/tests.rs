use super::*;

#[test]
fn known_vectors() {
    let mut out = Vec::new();
    encode_u64(300, &mut out);
    assert_eq!(out, [0xAC, 0x02]);
    out.clear();
    encode_u64(0, &mut out);
    assert_eq!(out, [0]);
    assert_eq!(decode_u64(&[0x7F]).unwrap(), (127, 1));
    assert_eq!(
        decode_u32(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]).unwrap(),
        (u32::MAX, 5)
    );
}

#[test]
fn field_gathers_groups() {
    // 300 = AC 02, after a one-byte value 0x05.
    assert_eq!(field5(0x0002_AC05, 8, 23), 300);
    assert_eq!(field5(0x0F_FFFF_FFFF, 0, 39), u64::from(u32::MAX));
}

#[test]
fn redundant_zeros_are_exact() {
    // 80 00 (non-canonical 0) in byte 1; 00 01 (values 0, 1) is fine.
    assert_eq!(
        redundant_zeros(u64::from_le_bytes([5, 0x80, 0, 0, 1, 0x81, 1, 0])),
        0x80 << 16
    );
    assert_eq!(
        redundant_zeros(u64::from_le_bytes([0, 1, 0, 1, 0x80, 1, 0, 0])),
        0
    );
}

#[test]
fn bulk_error_in_later_word_names_absolute_offset() {
    let mut bytes = Vec::new();
    encode_u32_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], &mut bytes);
    bytes.extend_from_slice(&[0x80, 0x00, 1, 1, 1, 1, 1, 1, 1, 1]);
    let err = decode_u32_slice(&bytes, 12).unwrap_err();
    assert_eq!(
        err,
        VarintError::NonCanonical {
            start: 10,
            offset: 11
        }
    );
}
