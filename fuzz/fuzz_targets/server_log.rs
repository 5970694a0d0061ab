//! The server's change-log scanner on arbitrary file contents: never
//! panics, and what it keeps lies within the input, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = unidb_server::log::scan(data) {
        assert!(s.valid_len <= data.len());
        let mut end = 0;
        for r in &s.records {
            assert!(r.start >= end && r.end <= s.valid_len);
            end = r.end;
        }
        if let Some(t) = &s.torn {
            assert_eq!(t.offset + t.dropped, data.len());
        }
    }
});
