//! unidb's HNSW against USearch (its Rust binding), side by side in one
//! process on the same vectors: build time, then recall@10 and single-thread
//! queries per second at each `ef`, one query per call.
//!
//! ```sh
//! cargo bench --bench ann -- --base B.fvecs --query Q.fvecs --gt G.ivecs --ef 40,80,120,160
//! cargo bench --bench ann                     # generated clustered data, exact truth
//! ```
//!
//! Both indexes use M = 16 links per node on upper layers (32 on layer 0),
//! ef_construction = 200 and one thread. Each `ef` is timed in interleaved
//! rounds (one full query pass of each side in turn, best pass kept), so a
//! change of machine load hits both sides alike. Output: one JSON object per
//! index and `ef`, in the shape of `unidb vector bench`, then a summary line
//! with the QPS ratio at each `ef`.

use std::path::PathBuf;
use std::time::Instant;

use unidb_common::rng::SplitMix64;
use unidb_vectordb::io::{read_ivecs, read_vectors};
use unidb_vectordb::hnsw::{HnswConfig, HnswSearch};
use unidb_vectordb::{Collection, CollectionConfig, Params, SearchOptions};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

struct Args {
    base: Option<PathBuf>,
    query: Option<PathBuf>,
    gt: Option<PathBuf>,
    m: usize,
    ef_construction: usize,
    ef: Vec<usize>,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        base: None,
        query: None,
        gt: None,
        m: 16,
        ef_construction: 200,
        ef: vec![10, 20, 40, 80, 120, 160],
        rounds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--base" => a.base = Some(value().into()),
            "--query" => a.query = Some(value().into()),
            "--gt" => a.gt = Some(value().into()),
            "--m" => a.m = value().parse().expect("--m"),
            "--ef-construction" => a.ef_construction = value().parse().expect("--ef-construction"),
            "--ef" => {
                a.ef = value()
                    .split(',')
                    .map(|s| s.trim().parse().expect("--ef"))
                    .collect()
            }
            "--rounds" => a.rounds = value().parse().expect("--rounds"),
            // `cargo bench` appends `--bench`; criterion-style filters are ignored.
            _ => {}
        }
    }
    a
}

/// Row-major vectors.
struct Data {
    dim: usize,
    base: Vec<f32>,
    query: Vec<f32>,
    /// The 10 nearest base rows of each query.
    truth: Vec<Vec<u64>>,
}

/// Gaussian blobs around 64 centres, with brute-force (f64) ground truth.
fn generated() -> Data {
    let (n, nq, dim) = (10_000, 500, 64);
    let mut rng = SplitMix64::new(42);
    let mut normal = move || {
        // Box-Muller from two uniforms in (0, 1].
        let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    };
    let centres: Vec<f32> = (0..64 * dim).map(|_| normal()).collect();
    let mut draw = |m: usize| -> Vec<f32> {
        let mut out = Vec::with_capacity(m * dim);
        for i in 0..m {
            let c = (i * 7919) % 64;
            for d in 0..dim {
                out.push(centres[c * dim + d] + 0.35 * normal());
            }
        }
        out
    };
    let base = draw(n);
    let query = draw(nq);
    let truth = query
        .chunks(dim)
        .map(|q| {
            let mut d: Vec<(f64, u64)> = base
                .chunks(dim)
                .enumerate()
                .map(|(i, r)| {
                    let s: f64 = q
                        .iter()
                        .zip(r)
                        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                        .sum();
                    (s, i as u64)
                })
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            d.into_iter().take(10).map(|(_, i)| i).collect()
        })
        .collect();
    Data {
        dim,
        base,
        query,
        truth,
    }
}

fn load(a: &Args) -> Data {
    let (Some(b), Some(q), Some(g)) = (&a.base, &a.query, &a.gt) else {
        eprintln!("no --base/--query/--gt: generated clustered data (10k x 64, 500 queries)");
        return generated();
    };
    let base = read_vectors(b).expect("base");
    let query = read_vectors(q).expect("query");
    let gt = read_ivecs(g).expect("ground truth");
    assert_eq!(base.dim, query.dim, "base and query dimensions differ");
    assert!(gt.rows >= query.rows && gt.dim >= 10, "ground truth too small");
    Data {
        dim: base.dim,
        truth: (0..query.rows)
            .map(|i| gt.row(i)[..10].iter().map(|&v| v as u64).collect())
            .collect(),
        base: base.data,
        query: query.data,
    }
}

fn recall(found: &[Vec<u64>], truth: &[Vec<u64>]) -> f64 {
    let hit: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| f.iter().take(10).filter(|s| t.contains(s)).count())
        .sum();
    hit as f64 / (10 * truth.len()).max(1) as f64
}

fn json(index: &str, ef: usize, recall: f64, qps: f64, build_s: f64) -> String {
    format!(
        "{{\"index\":\"{index}\",\"ef\":{ef},\"recall_at_10\":{recall:.4},\"qps\":{qps:.1},\"build_s\":{build_s:.3},\"threads\":1}}"
    )
}

fn main() {
    let a = parse_args();
    let d = load(&a);
    let n = d.base.len() / d.dim;

    // unidb: serial HNSW build, one thread.
    let started = Instant::now();
    let mut coll = Collection::new(CollectionConfig::new(d.dim, "l2")).expect("collection");
    for (i, v) in d.base.chunks(d.dim).enumerate() {
        coll.insert(i as u64, v, None).expect("insert");
    }
    let config = HnswConfig {
        m: a.m,
        ef_construction: a.ef_construction,
        parallel: false,
        ..HnswConfig::default()
    };
    coll.create_index("hnsw", "hnsw", Params::typed(&config))
        .expect("hnsw");
    let udb_build = started.elapsed().as_secs_f64();

    // USearch: same M (its `connectivity`; layer 0 keeps 2·M as ours),
    // same ef_construction, one thread.
    let started = Instant::now();
    let options = IndexOptions {
        dimensions: d.dim,
        metric: MetricKind::L2sq,
        quantization: ScalarKind::F32,
        connectivity: a.m,
        expansion_add: a.ef_construction,
        expansion_search: 64,
        multi: false,
    };
    let us = Index::new(&options).expect("usearch index");
    us.reserve_capacity_and_threads(n, 1).expect("reserve");
    for (i, v) in d.base.chunks(d.dim).enumerate() {
        us.add(i as u64, v).expect("usearch add");
    }
    let us_build = started.elapsed().as_secs_f64();

    let queries: Vec<&[f32]> = d.query.chunks(d.dim).collect();
    let mut summary = Vec::new();
    for &ef in &a.ef {
        let search = HnswSearch { ef: Some(ef) };
        let opts = SearchOptions {
            index: Some("hnsw"),
            params: Params::typed(&search),
            filter: None,
            k_factor: None,
        };
        us.change_expansion_search(ef);
        let udb_pass = || -> Vec<Vec<u64>> {
            queries
                .iter()
                .map(|q| {
                    coll.search_slots(q, 10, &opts)
                        .expect("unidb search")
                        .into_iter()
                        .map(|h| u64::from(h.slot))
                        .collect()
                })
                .collect()
        };
        let us_pass = || -> Vec<Vec<u64>> {
            queries
                .iter()
                .map(|q| us.search(q, 10).expect("usearch search").keys)
                .collect()
        };
        let udb_recall = recall(&udb_pass(), &d.truth);
        let us_recall = recall(&us_pass(), &d.truth);
        let (mut udb_best, mut us_best) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..a.rounds.max(1) {
            let t = Instant::now();
            std::hint::black_box(udb_pass());
            udb_best = udb_best.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            std::hint::black_box(us_pass());
            us_best = us_best.min(t.elapsed().as_secs_f64());
        }
        let (udb_qps, us_qps) = (
            queries.len() as f64 / udb_best,
            queries.len() as f64 / us_best,
        );
        println!("{}", json("unidb-hnsw", ef, udb_recall, udb_qps, udb_build));
        println!("{}", json("usearch", ef, us_recall, us_qps, us_build));
        summary.push(format!(
            "ef {ef}: recall {udb_recall:.3} vs {us_recall:.3}, QPS ratio {:.2}x",
            udb_qps / us_qps
        ));
    }
    println!(
        "# unidb vs usearch {} (hardware: {}), build {:.3}s vs {:.3}s ({:.2}x)",
        usearch::version(),
        us.hardware_acceleration(),
        udb_build,
        us_build,
        us_build / udb_build
    );
    for s in summary {
        println!("# {s}");
    }
}
