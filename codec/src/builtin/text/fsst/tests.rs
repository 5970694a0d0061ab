use super::*;

/// Decoding the codes with the table reproduces the input.
fn roundtrip(values: &[&[u8]]) {
    let t = build_table(values).expect("a compressible sample");
    assert!(t.syms.len() <= MAX_SYMBOLS);
    for v in values {
        let mut codes = Vec::new();
        t.encode(v, &mut codes);
        let mut back = Vec::new();
        let mut i = 0;
        while i < codes.len() {
            if codes[i] == ESCAPE {
                back.push(codes[i + 1]);
                i += 2;
            } else {
                let s = t.syms[codes[i] as usize];
                back.extend_from_slice(&s.bytes()[..s.len as usize]);
                i += 1;
            }
        }
        assert_eq!(&back, v);
    }
}

#[test]
fn table_roundtrips_and_finds_repeated_words() {
    let words = ["offline ", "battery ", "sync ", "note "];
    let vals: Vec<Vec<u8>> = (0..400)
        .map(|i| {
            (0..5)
                .map(|k| words[(i * 7 + k * 3) % 4])
                .collect::<String>()
                .into_bytes()
        })
        .collect();
    let refs: Vec<&[u8]> = vals.iter().map(|v| v.as_slice()).collect();
    roundtrip(&refs);
    let t = build_table(&refs).expect("repeated words compress");
    // Every word of 8 bytes became one symbol.
    for w in ["offline ", "battery "] {
        assert!(t
            .syms
            .iter()
            .any(|s| &s.bytes()[..s.len as usize] == w.as_bytes()));
    }
    let mut codes = Vec::new();
    t.encode(b"offline battery ", &mut codes);
    assert_eq!(codes.len(), 2);
}

#[test]
fn table_handles_every_byte_and_empty_input() {
    let all: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    roundtrip(&[&all, b"", b"\xff\xff\xff", b"a"]);
    roundtrip(&[]);
}

#[test]
fn lookup_finds_the_longest_matching_symbol() {
    // Symbols sharing first bytes and buckets (first byte + low four
    // bits of the second): every position of the texts must get the
    // longest match, the lowest code among equals, as a linear scan.
    let words = [
        "t", "th", "the", "the ", "then", "tx", "t\u{4}", "a", "ab", "abc", "abcdefgh", "q",
    ];
    let syms: Vec<Sym> = words
        .iter()
        .map(|w| {
            let mut b = [0u8; 8];
            b[..w.len()].copy_from_slice(w.as_bytes());
            Sym {
                len: w.len() as u8,
                bits: u64::from_le_bytes(b),
            }
        })
        .collect();
    let t = Table::new(syms.clone());
    let texts: [&[u8]; 4] = [
        b"the then thx tx t\x04 abcdefgh abcdefg ab a q z",
        b"t",
        b"",
        b"\x00th\xffthen",
    ];
    for s in texts {
        for at in 0..s.len() {
            let want = syms
                .iter()
                .enumerate()
                .filter(|(_, y)| {
                    let n = usize::from(y.len);
                    at + n <= s.len() && s[at..at + n] == y.bytes()[..n]
                })
                .max_by_key(|(c, y)| (y.len, std::cmp::Reverse(*c)))
                .map(|(c, y)| (c as u8, usize::from(y.len)));
            assert_eq!(t.find(s, at), want, "at {at} of {s:?}");
        }
    }
}

#[test]
fn incompressible_bytes_give_up_after_the_first_table() {
    // Uniform random bytes have no frequent symbols: the first table
    // codes them at about one byte each plus escapes, so building stops.
    let mut r = unidb_common::rng::SplitMix64::new(3);
    let noise: Vec<u8> = (0..16 * 1024).map(|_| r.next_u64() as u8).collect();
    assert!(build_table(&[&noise]).is_none());
    let v = Values::Bytes(vec![noise]);
    let mut ctx = EncodeCtx::new(3, crate::Effort::Max);
    assert!(!fsst_enc(&v, &mut ctx, &mut Vec::new()).unwrap());
    // Words do compress, and the table is kept.
    let text = b"sync offline battery note ".repeat(600);
    assert!(build_table(&[&text]).is_some());
}
