use super::*;

#[test]
fn byte_len_boundaries() {
    assert_eq!(byte_len(0), 1);
    assert_eq!(byte_len(255), 1);
    assert_eq!(byte_len(256), 2);
    assert_eq!(byte_len(65_535), 2);
    assert_eq!(byte_len(65_536), 3);
    assert_eq!(byte_len(1 << 24), 4);
    assert_eq!(byte_len(u32::MAX), 4);
}

#[test]
fn layout_matches_reference_library() {
    // Codes little-endian within the control byte: 1, 2, 3, 4 bytes.
    let bytes = encode_u32(&[0x11, 0x2222, 0x33_3333, 0x4444_4444, 0x55]);
    assert_eq!(
        bytes,
        [
            0b11_10_01_00,
            0b00_00_00_00,
            0x11,
            0x22,
            0x22,
            0x33,
            0x33,
            0x33,
            0x44,
            0x44,
            0x44,
            0x44,
            0x55
        ]
    );
}
