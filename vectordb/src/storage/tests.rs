//! `dist_many` equals `dist` row by row, bit for bit, on every path.

use super::*;
use unidb_kernels::Isa;

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0) as f32
        })
        .collect()
}

#[test]
fn f16_and_i8_dist_many_equal_dist() {
    for isa in Isa::available() {
        let k = Kernels::for_isa(isa).unwrap();
        // Row counts past one 64-row chunk of the i8 path, dims across
        // the kernels' block remainders, a zero row for cosine.
        for (dim, n) in [(0, 3), (1, 5), (17, 70), (33, 131), (130, 9)] {
            let mut data = values(n * dim, (dim * 31 + n) as u64);
            data[..dim].fill(0.0);
            let q = values(dim, 7);
            for name in ["l2", "ip", "cosine", "l1"] {
                let metric = Metric::by_name(name).unwrap();
                let fast = Fast::of(metric);
                let mut rows = vec![0u16; data.len()];
                to_f16(&data, &mut rows);
                let s = F16Space {
                    dim,
                    rows: &rows,
                    metric,
                    fast,
                    k,
                };
                let hq = s.prepare(&q);
                let quant = Quantizer::train(&data, dim, name != "l2")
                    .unwrap_or(Quantizer::for_range(-2.0, 2.0, dim, true));
                let mut codes = vec![0i8; data.len()];
                quant.encode(&data, &mut codes);
                // (Dimension 0 has no codes to count rows by.)
                let norms = if dim == 0 {
                    vec![0.0; n]
                } else {
                    quant.code_norms(&codes)
                };
                let c = I8Space {
                    dim,
                    codes: &codes,
                    norms: &norms,
                    quant: &quant,
                    metric,
                    fast,
                    k,
                };
                let cq = c.prepare(&q);
                for first in [0, n / 3] {
                    let mut out = vec![f32::NAN; n - first];
                    s.dist_many(&hq, first, &mut out);
                    for (i, &o) in out.iter().enumerate() {
                        let want = s.dist(&hq, (first + i) as u32);
                        assert_eq!(
                            o.to_bits(),
                            want.to_bits(),
                            "f16 {isa} {name} dim={dim} row {i}"
                        );
                    }
                    c.dist_many(&cq, first, &mut out);
                    for (i, &o) in out.iter().enumerate() {
                        let want = c.dist(&cq, (first + i) as u32);
                        assert_eq!(
                            o.to_bits(),
                            want.to_bits(),
                            "i8 {isa} {name} dim={dim} row {i}"
                        );
                    }
                }
            }
        }
    }
}
