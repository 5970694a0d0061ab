//! Stream-vbyte decoding of arbitrary bytes: every available path agrees
//! with the scalar reference (values and errors), nothing panics or reads
//! out of bounds, and accepted input re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unidb_kernels::varint::stream::{self, Decoder};
use unidb_kernels::Isa;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (head, input) = data.split_at(3);
    let raw = usize::from(u16::from_le_bytes([head[0], head[1]]));
    let mode = head[2];
    // Mostly counts that may fit the input; sometimes raw ones.
    let count = if mode & 1 == 0 {
        raw % (input.len() + 1)
    } else {
        raw
    };
    let initial = (mode & 2 != 0).then(|| u32::from(mode) * 0x0101_0101);
    let prefix = mode & 4 != 0;

    let scalar = Decoder::for_isa(Isa::Scalar).expect("scalar is always available");
    let decode = |d: &Decoder| {
        if prefix {
            let mut out = Vec::new();
            d.decode_into(input, count, initial, &mut out)
                .map(|used| (out, used))
        } else {
            match initial {
                None => d.decode_u32(input, count),
                Some(init) => d.decode_u32_delta(input, count, init),
            }
            .map(|v| (v, input.len()))
        }
    };
    let reference = decode(scalar);
    for isa in Isa::available() {
        let d = Decoder::for_isa(isa).expect("available");
        assert_eq!(decode(d), reference, "path {isa} disagrees with scalar");
    }
    if let Ok((values, used)) = reference {
        assert_eq!(values.len(), count);
        let again = match initial {
            None => stream::encode_u32(&values),
            Some(init) => stream::encode_u32_delta(&values, init),
        };
        assert_eq!(again, input[..used], "accepted input is not canonical");
    }
});
