//! The transform chain decoder (`TransformChain::from_bytes`) on arbitrary
//! bytes: never panics, and whatever decodes is usable — its encoding
//! decodes to a chain with the same encoding, and applying it to a row of its input dimension
//! gives a row of its output dimension (or a typed error).
//!
//! The first input byte picks how the rest becomes a chain:
//! - 0: as is (exercises the magic, version and checksum checks);
//! - 1: the trailing CRC-32 is patched to match, so the step decoders see
//!   fuzzed bytes;
//! - 2: the bytes overwrite part of a valid chain (center, PCA, rotation,
//!   projection, l2norm) at an offset given by the next two bytes, then
//!   the CRC-32 is patched.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use unidb_vectordb::transform::{PcaConfig, ProjectionConfig};
use unidb_vectordb::{Params, TransformChain};

fn patch_crc(buf: &mut [u8]) {
    if buf.len() < 4 {
        return;
    }
    let end = buf.len() - 4;
    let sum = crc32fast::hash(&buf[..end]);
    buf[end..].copy_from_slice(&sum.to_le_bytes());
}

fn template() -> &'static [u8] {
    static CHAIN: OnceLock<Vec<u8>> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let sample: Vec<f32> = (0..64 * 4).map(|i| ((i * 37) % 23) as f32).collect();
        let pca = PcaConfig {
            dim_out: Some(3),
            whiten: true,
            eps: 0.01,
        };
        let proj = ProjectionConfig {
            dim_out: Some(2),
            ..ProjectionConfig::default()
        };
        TransformChain::fit(
            &sample,
            4,
            &[
                ("center", Params::defaults()),
                ("pca", Params::typed(&pca)),
                ("rotation", Params::defaults()),
                ("projection", Params::typed(&proj)),
                ("l2norm", Params::defaults()),
            ],
        )
        .expect("the built-in transforms fit")
        .to_bytes()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = match mode % 3 {
        0 => rest.to_vec(),
        1 => {
            let mut b = rest.to_vec();
            patch_crc(&mut b);
            b
        }
        _ => {
            let Some((at, patch)) = rest.split_first_chunk::<2>() else {
                return;
            };
            let mut b = template().to_vec();
            let at = usize::from(u16::from_le_bytes(*at)) % b.len();
            let n = patch.len().min(b.len() - at);
            b[at..at + n].copy_from_slice(&patch[..n]);
            patch_crc(&mut b);
            b
        }
    };
    let Ok(chain) = TransformChain::from_bytes(&bytes) else {
        return;
    };
    // Names are looked up case-insensitively, so the bytes may differ from
    // the input in a name's case; the encoding is stable from then on.
    let encoded = chain.to_bytes();
    let again = TransformChain::from_bytes(&encoded).expect("an encoded chain decodes");
    assert_eq!(again.to_bytes(), encoded);
    if chain.dim_in() <= 4096 && chain.steps().iter().all(|s| s.dim_out() <= 4096) {
        let row: Vec<f32> = (0..chain.dim_in()).map(|i| (i % 7) as f32 - 3.0).collect();
        if let Ok(out) = chain.apply(&row) {
            assert_eq!(out.len(), chain.dim_out());
        }
        for step in chain.steps() {
            assert!(step.dim_in() >= 1);
        }
    }
});
