//! Product quantization (`quant::pq`) against independent oracles: distances recomputed
//! in f64 from decoded vectors, the f32 ADC sum for the fast-scan
//! estimate, brute force for recall.

use unidb_vectordb::data::clustered;
use unidb_vectordb::quant::pq::{PqCodes, PqConfig, PqDistance, ProductQuantizer};
use unidb_vectordb::VectorError;

fn exact(distance: PqDistance, a: &[f32], b: &[f32]) -> f64 {
    match distance {
        PqDistance::L2 => a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum(),
        PqDistance::InnerProduct => -a
            .iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum::<f64>(),
    }
}

fn trained(dim: usize, m: usize, nbits: u32, data: &[f32]) -> ProductQuantizer {
    let config = PqConfig {
        m,
        nbits,
        iterations: 10,
        ..PqConfig::default()
    };
    ProductQuantizer::train(dim, &config, data).unwrap()
}

#[test]
fn adc_equals_the_exact_distance_to_the_decoded_vector() {
    let dim = 24;
    let data = clustered(2000, dim, 20, 0.2, 1);
    let queries = clustered(20, dim, 5, 0.5, 2);
    for (m, nbits) in [(6, 8), (8, 4), (3, 4), (24, 8)] {
        let pq = trained(dim, m, nbits, &data);
        for distance in [PqDistance::L2, PqDistance::InnerProduct] {
            for q in queries.chunks_exact(dim) {
                let table = pq.table(q, distance).unwrap();
                for x in data.chunks_exact(dim).take(50) {
                    let codes = pq.encode(x).unwrap();
                    let decoded = pq.decode(&codes).unwrap();
                    let want = exact(distance, q, &decoded);
                    let scale: f64 = q
                        .iter()
                        .zip(&decoded)
                        .map(|(&a, &b)| (f64::from(a).abs() + f64::from(b).abs()).powi(2))
                        .sum();
                    let got = f64::from(table.distance(&codes));
                    assert!(
                        (got - want).abs() <= 1e-5 * scale.max(1.0),
                        "m {m} nbits {nbits} {distance:?}: ADC {got} vs exact {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn fast_scan_estimate_is_within_the_quantization_bound() {
    let dim = 40;
    let data = clustered(1000, dim, 16, 0.3, 3);
    let queries = clustered(10, dim, 4, 0.6, 4);
    for m in [1, 5, 20, 40] {
        let pq = trained(dim, m, 4, &data);
        let codes = PqCodes::encode(&pq, &data).unwrap();
        for distance in [PqDistance::L2, PqDistance::InnerProduct] {
            for q in queries.chunks_exact(dim) {
                let table = pq.table(q, distance).unwrap();
                let fast = table.quantize().unwrap();
                let estimates = codes.distances(q, distance).unwrap();
                assert_eq!(estimates.len(), 1000);
                let magnitude: f32 = table.values().iter().map(|v| v.abs()).sum();
                let bound = fast.max_error() + 1e-5 * magnitude;
                for (i, &e) in estimates.iter().enumerate() {
                    let adc = table.distance(&codes.codes(i).unwrap());
                    assert!(
                        (e - adc).abs() <= bound,
                        "m {m} {distance:?} vector {i}: estimate {e}, ADC {adc}, bound {bound}"
                    );
                }
            }
        }
    }
}

#[test]
fn stored_codes_are_the_encoder_codes() {
    let dim = 12;
    let data = clustered(300, dim, 8, 0.3, 5);
    for nbits in [4, 8] {
        let pq = trained(dim, 6, nbits, &data);
        let stored = PqCodes::encode(&pq, &data).unwrap();
        let batch = pq.encode_batch(&data).unwrap();
        for (i, x) in data.chunks_exact(dim).enumerate() {
            let one = pq.encode(x).unwrap();
            assert_eq!(stored.codes(i).unwrap(), one);
            assert_eq!(&batch[i * 6..(i + 1) * 6], &one[..]);
        }
        assert!(stored.codes(300).is_none());
        assert_eq!(stored.bytes_per_vector(), 6.0 * f64::from(nbits) / 8.0);
    }
}

#[test]
fn reconstruction_error_decreases_with_m() {
    let dim = 32;
    let data = clustered(3000, dim, 50, 0.4, 6);
    for nbits in [4, 8] {
        let mut last = f64::INFINITY;
        for m in [2, 4, 8, 16, 32] {
            let pq = trained(dim, m, nbits, &data);
            let mse: f64 = data
                .chunks_exact(dim)
                .map(|x| {
                    exact(
                        PqDistance::L2,
                        x,
                        &pq.decode(&pq.encode(x).unwrap()).unwrap(),
                    )
                })
                .sum::<f64>()
                / 3000.0;
            assert!(
                mse < last,
                "nbits {nbits}: m {m} error {mse} not below {last}"
            );
            last = mse;
        }
    }
}

#[test]
fn fast_scan_with_rerank_recalls_the_true_neighbours() {
    let (dim, n, k) = (32, 5000, 10);
    let data = clustered(n, dim, 40, 0.3, 7);
    let queries = clustered(50, dim, 40, 0.35, 8);
    let pq = trained(dim, 16, 4, &data);
    let codes = PqCodes::encode(&pq, &data).unwrap();
    for distance in [PqDistance::L2, PqDistance::InnerProduct] {
        let mut found = 0;
        for q in queries.chunks_exact(dim) {
            let mut brute: Vec<(f64, usize)> = data
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, x)| (exact(distance, q, x), i))
                .collect();
            brute.sort_by(|a, b| a.0.total_cmp(&b.0));
            let truth: Vec<usize> = brute[..k].iter().map(|p| p.1).collect();
            let hits = codes.search_rerank(q, k, 20, &data, distance).unwrap();
            assert_eq!(hits.len(), k);
            found += hits
                .iter()
                .filter(|h| truth.contains(&(h.slot as usize)))
                .count();
        }
        let recall = found as f64 / (50 * k) as f64;
        assert!(recall >= 0.95, "{distance:?}: recall@10 {recall}");
    }
}

#[test]
fn training_is_seeded() {
    let dim = 8;
    let data = clustered(600, dim, 10, 0.3, 9);
    let a = trained(dim, 4, 4, &data);
    let b = trained(dim, 4, 4, &data);
    assert_eq!(a, b);
    let other = PqConfig {
        m: 4,
        nbits: 4,
        iterations: 10,
        seed: 1,
        ..PqConfig::default()
    };
    assert_ne!(ProductQuantizer::train(dim, &other, &data).unwrap(), a);
}

#[test]
fn bad_input_gives_errors_naming_it() {
    let dim = 8;
    let data = clustered(300, dim, 10, 0.3, 10);
    let with = |m: usize, nbits: u32| PqConfig {
        m,
        nbits,
        ..PqConfig::default()
    };
    let key = |r: Result<ProductQuantizer, VectorError>| match r {
        Err(VectorError::InvalidParam { key, .. }) => key,
        other => panic!("expected InvalidParam, got {other:?}"),
    };
    assert_eq!(key(ProductQuantizer::train(dim, &with(3, 8), &data)), "m");
    assert_eq!(key(ProductQuantizer::train(dim, &with(0, 8), &data)), "m");
    assert_eq!(
        key(ProductQuantizer::train(dim, &with(4, 5), &data)),
        "nbits"
    );
    // 256 centroids need 256 vectors.
    assert!(matches!(
        ProductQuantizer::train(dim, &with(4, 8), &data[..200 * dim]),
        Err(VectorError::InvalidConfig(_))
    ));
    assert!(matches!(
        ProductQuantizer::train(dim, &with(4, 4), &data[..dim * 10 + 1]),
        Err(VectorError::WrongDimension { .. })
    ));
    let mut nan = data.clone();
    nan[17] = f32::NAN;
    let e = ProductQuantizer::train(dim, &with(4, 4), &nan).unwrap_err();
    assert!(e.to_string().contains("position 17"), "{e}");

    let pq = ProductQuantizer::train(dim, &with(4, 8), &data).unwrap();
    assert!(matches!(
        pq.encode(&[0.0; 7]),
        Err(VectorError::WrongDimension { .. })
    ));
    assert!(pq.decode(&[0, 1, 2]).is_err());
    assert!(pq.table(&[0.0; 9], PqDistance::L2).is_err());
    let table = pq.table(&data[..dim], PqDistance::L2).unwrap();
    assert!(table.distance(&[0, 0, 0]).is_nan());
    assert!(
        table.quantize().is_err(),
        "8-bit tables have no fast-scan form"
    );
    assert!(PqDistance::for_metric("cosine").is_err());
    assert_eq!(
        PqDistance::for_metric("ip").unwrap(),
        PqDistance::InnerProduct
    );

    let pq4 = ProductQuantizer::train(dim, &with(4, 4), &data).unwrap();
    assert!(pq4.decode(&[16, 0, 0, 0]).is_err());
    let codes = PqCodes::encode(&pq4, &data).unwrap();
    let mut q = data[..dim].to_vec();
    q[0] = f32::INFINITY;
    assert!(codes.distances(&q, PqDistance::L2).is_err());
    assert!(codes
        .search_rerank(&data[..dim], 5, 2, &data[..dim], PqDistance::L2)
        .is_err());
}
