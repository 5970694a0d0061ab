use super::*;

/// A log of `n` records of distinct lengths and contents.
fn sample(n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let payloads: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; i * 7 % 50]).collect();
    let mut file = encode_header(3);
    for p in &payloads {
        encode_record(&mut file, p);
    }
    (file, payloads)
}

#[test]
fn every_cut_keeps_exactly_the_whole_records_before_it() {
    let (file, payloads) = sample(12);
    // Record boundaries computed independently of `scan`.
    let mut ends = vec![HEADER_LEN];
    for p in &payloads {
        ends.push(ends.last().unwrap() + RECORD_OVERHEAD + p.len());
    }
    for cut in 0..=file.len() {
        let s = scan(&file[..cut]).unwrap();
        let whole = ends.iter().filter(|&&e| e <= cut).count().saturating_sub(1);
        let expect_len = if cut < HEADER_LEN { 0 } else { ends[whole] };
        assert_eq!(s.records.len(), whole, "cut at {cut}");
        assert_eq!(s.valid_len, expect_len, "cut at {cut}");
        assert_eq!(s.torn.is_some(), cut != expect_len, "cut at {cut}");
        if let Some(t) = &s.torn {
            assert_eq!(t.offset + t.dropped, cut);
        }
        for (r, p) in s.records.iter().zip(&payloads) {
            assert_eq!(&file[r.clone()], &p[..]);
        }
    }
}

#[test]
fn a_flipped_payload_byte_ends_the_good_prefix_there() {
    let (file, payloads) = sample(5);
    let third = HEADER_LEN
        + payloads[..2]
            .iter()
            .map(|p| p.len() + RECORD_OVERHEAD)
            .sum::<usize>();
    let mut bad = file.clone();
    bad[third + RECORD_OVERHEAD] ^= 0x40; // payload of record 2 (14 bytes)
    let s = scan(&bad).unwrap();
    assert_eq!(s.records.len(), 2);
    assert_eq!(s.valid_len, third);
    let t = s.torn.unwrap();
    assert!(t.reason.contains("checksum"), "{}", t.reason);
    assert_eq!(t.dropped, file.len() - third);
}

#[test]
fn a_foreign_or_damaged_header_is_an_error_not_a_torn_tail() {
    let (file, _) = sample(2);
    for (at, what) in [(0, "magic"), (9, "version"), (13, "checksum")] {
        let mut bad = file.clone();
        bad[at] ^= 1;
        let err = scan(&bad).unwrap_err();
        assert!(matches!(err, ServerError::Corrupt { .. }), "{at}: {err}");
        assert!(err.to_string().contains(what), "{err}");
    }
}

#[test]
fn a_hostile_length_is_a_torn_tail_without_allocating_it() {
    let mut file = encode_header(1);
    file.extend_from_slice(&u32::MAX.to_le_bytes());
    file.extend_from_slice(&[0; 4]);
    let s = scan(&file).unwrap();
    assert!(s.records.is_empty());
    assert!(s.torn.unwrap().reason.contains("limit"));
}
