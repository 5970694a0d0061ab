use super::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn encode_v7_matches_uuid_builder(ms in 0u64..(1 << 48), rand in any::<u128>()) {
        let rand = rand & RAND_MAX;
        let ours = Uuid::from_u128(encode_v7(ms, rand));
        // uuid's builder takes rand_a (12 bits) then rand_b (62 bits) in 10 bytes
        // with the version/variant bits overwritten.
        let bytes = (((rand >> 62) << 64) | (rand & ((1 << 62) - 1))).to_be_bytes();
        let mut ten = [0u8; 10];
        ten.copy_from_slice(&bytes[6..16]);
        let theirs = uuid::Builder::from_unix_timestamp_millis(ms, &ten).into_uuid();
        prop_assert_eq!(ours, theirs);
    }
}
