use super::*;

#[test]
fn tables_match_hand_worked_entries() {
    // 0b11_10_01_00: lengths 1, 2, 3, 4.
    let c = 0b1110_0100usize;
    assert_eq!(LENGTHS[c], 10);
    assert_eq!(
        SHUFFLE[c].0,
        [0, 0xFF, 0xFF, 0xFF, 1, 2, 0xFF, 0xFF, 3, 4, 5, 0xFF, 6, 7, 8, 9]
    );
    assert_eq!(MINIMUM[c].0, [0, 1 << 8, 1 << 16, 1 << 24]);
    assert_eq!(
        ENCODE_SHUFFLE[c].0,
        [0, 4, 5, 8, 9, 10, 12, 13, 14, 15, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
    );
    // Encoding then decoding a group moves every kept byte back.
    for c in 0..256 {
        for (j, &from) in ENCODE_SHUFFLE[c].0.iter().enumerate() {
            if j < usize::from(LENGTHS[c]) {
                assert_eq!(SHUFFLE[c].0[usize::from(from)], j as u8);
            } else {
                assert_eq!(from, 0xFF);
            }
        }
    }
    assert_eq!(LENGTHS[0], 4);
    assert_eq!(LENGTHS[255], 16);
}
