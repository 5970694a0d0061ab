//! The packed neighbour keys of the pool search order exactly as
//! `Neighbor`s do and unpack to the same bits.

use super::{key, unkey};
use crate::topk::Neighbor;
use proptest::prelude::*;

fn any_distance() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<f32>(),
        Just(0.0f32),
        Just(-0.0f32),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(f32::MIN_POSITIVE),
        -1e3f32..1e3,
    ]
}

proptest! {
    /// The packed keys order exactly as `Neighbor` does (total order
    /// of the distance, then slot) and unpack to the same bits.
    #[test]
    fn key_order_is_neighbor_order(
        da in any_distance(), db in any_distance(), sa in any::<u32>(), sb in any::<u32>()
    ) {
        let a = Neighbor { distance: da, slot: sa };
        let b = Neighbor { distance: db, slot: sb };
        prop_assert_eq!(key(a).cmp(&key(b)), a.cmp(&b));
        let back = unkey(key(a));
        prop_assert_eq!(back.distance.to_bits(), da.to_bits());
        prop_assert_eq!(back.slot, sa);
    }
}
