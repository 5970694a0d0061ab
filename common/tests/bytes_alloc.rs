//! The byte reader never allocates, even for hostile lengths and counts
//! (oracle: the counting allocator sees no bytes while it reads).

use unidb_common::alloc::PeakAlloc;
use unidb_common::bytes::Reader;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc::new();

#[test]
fn hostile_counts_and_lengths_allocate_nothing() {
    let mut input = vec![0xFF; 9];
    input.push(0x01); // LEB128 u64::MAX
    input.extend_from_slice(&u64::MAX.to_le_bytes());
    input.extend_from_slice(&[0x80; 12]); // an over-long varint
    let ((), peak) = ALLOC.peak_of(|| {
        let mut r = Reader::new(&input);
        assert!(r.count("count", 1 << 20).is_err());
        assert!(r.count_items("items", 16).is_err());
        r.advance(10, "count bytes").unwrap();
        assert!(r.u64_count_items("length", 1).is_err());
        assert!(r.take(usize::MAX, "everything").is_err());
        assert!(r.utf8(usize::MAX, "text").is_err());
        r.advance(8, "length bytes").unwrap();
        assert!(r.varint("over-long").is_err());
        assert!(r.finish("input").is_err());
    });
    assert_eq!(peak, 0);
}
