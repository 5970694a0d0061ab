//! syncdb column codecs on reproducible mobile-like columns, against zstd
//! (levels 1 and 3), lz4_flex and pco on the same raw values.
//!
//! First prints a ratio table (raw 8-byte numbers, 1-byte booleans, UTF-8
//! text), then times decoding with criterion.
//!
//! `cargo bench --bench codecs -- report` prints instead one table of ratio
//! and decode MiB/s per column for every side (unidb, pco, zstd-1, zstd-3,
//! lz4), timed in interleaved rounds (one batch of each side in turn, best
//! batch kept) so that a change of machine load hits every side alike; it
//! takes about 20 s. It ends with the syncdb bench's 100k-row change set:
//! the columnar batch against zstd and lz4 over the per-change form.
//!
//! `cargo bench --bench codecs -- corpus [DIR]` prints the same comparison
//! on real public columns (`corpus/fetch.sh` writes them to `corpus/data`,
//! the default `DIR`): per column unidb's ratio and cascade, pco (level 8)
//! and zstd-3 ratios, encode and decode MB/s of unidb and pco, and whether
//! unidb meets its targets there (ratio at least 95% of pco's and at least
//! the lower of 1.5x zstd-3's and pco's; decode at least 1.5x pco's).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use unidb_codec::{
    decode_column, decode_text_column, encode_column, Column, ColumnKind, Effort, Values,
};

use unidb_benches::Rng;

const ROWS: usize = 100_000;

/// Approximately normal (sum of 4 uniforms), mean 0, sd ~1.
fn gauss(r: &mut Rng) -> f64 {
    (0..4)
        .map(|_| f64::from(r.below(1 << 20)) / f64::from(1u32 << 20))
        .sum::<f64>()
        * 1.732
        - 3.464
}

/// The columns: name, column, raw bytes for the general-purpose peers.
fn columns() -> Vec<(&'static str, Column, Vec<u8>)> {
    let mut r = Rng::new(0x5EED);
    let ints = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let floats = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let ts: Vec<i64> = (0..ROWS as i64)
        .map(|i| 1_714_557_600_000 + i * 1000 + r.below(41) as i64 - 20)
        .collect();
    let ids: Vec<i64> = (0..ROWS as i64).map(|i| 100_000 + i).collect();
    let counters: Vec<i64> = (0..ROWS)
        .map(|_| (r.below(64).pow(2) / 256) as i64)
        .collect();
    let prices: Vec<f64> = (0..ROWS)
        .map(|_| {
            format!("{}.{:02}", 1 + r.below(500), r.below(100))
                .parse()
                .unwrap()
        })
        .collect();
    let mut w = 20.0;
    let sensor: Vec<f64> = (0..ROWS)
        .map(|_| {
            w += gauss(&mut r) * 0.05;
            w
        })
        .collect();
    let cats = ["ios", "android", "web", "desktop", "watch"];
    let cat: Vec<String> = (0..ROWS)
        .map(|_| cats[[0, 0, 1, 1, 2, 3, 0, 1, 4, 1][r.below(10) as usize]].to_owned())
        .collect();
    let words: Vec<&str> = "the quick brown fox jumps over lazy dog sync offline battery phone note meeting buy milk call mom later today tomorrow"
        .split(' ')
        .collect();
    let notes: Vec<String> = (0..ROWS)
        .map(|_| {
            let n = 2 + r.below(7) as usize;
            (0..n)
                .map(|_| words[r.below(words.len() as u32) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let done: Vec<bool> = (0..ROWS).map(|_| r.below(10) < 7).collect();
    let text = |v: &[String]| v.join("\n").into_bytes();
    let col = |k, v| Column::new(k, v).unwrap();
    vec![
        (
            "ts_ms_jitter",
            col(ColumnKind::Timestamp, Values::Int(ts.clone())),
            ints(&ts),
        ),
        (
            "ids_increasing",
            col(ColumnKind::Int, Values::Int(ids.clone())),
            ints(&ids),
        ),
        (
            "small_counters",
            col(ColumnKind::Int, Values::Int(counters.clone())),
            ints(&counters),
        ),
        (
            "price_2dec",
            col(ColumnKind::Float, Values::Float(prices.clone())),
            floats(&prices),
        ),
        (
            "sensor_walk",
            col(ColumnKind::Float, Values::Float(sensor.clone())),
            floats(&sensor),
        ),
        (
            "category",
            col(ColumnKind::Text, Values::Text(cat.clone())),
            text(&cat),
        ),
        (
            "notes",
            col(ColumnKind::Text, Values::Text(notes.clone())),
            text(&notes),
        ),
        (
            "booleans",
            col(ColumnKind::Bool, Values::Bool(done.clone())),
            done.iter().map(|&b| u8::from(b)).collect(),
        ),
    ]
}

fn pco_bytes(col: &Column) -> Option<Vec<u8>> {
    match col.values() {
        Values::Int(v) => {
            Some(pco::standalone::simple_compress(v, &pco::ChunkConfig::default()).unwrap())
        }
        Values::Float(v) => {
            Some(pco::standalone::simple_compress(v, &pco::ChunkConfig::default()).unwrap())
        }
        _ => None,
    }
}

fn ratio_table(cols: &[(&'static str, Column, Vec<u8>)]) {
    println!(
        "\n{:<16} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}  unidb cascade",
        "column", "raw B", "unidb", "pco", "zstd-1", "zstd-3", "lz4"
    );
    for (name, col, raw_bytes) in cols {
        let raw = col.values().raw_bytes() as f64;
        let enc = encode_column(col, Effort::Max).unwrap();
        assert_eq!(&decode_column(&enc.bytes).unwrap(), col);
        let pco = pco_bytes(col).map_or("-".to_owned(), |b| format!("{:.2}", raw / b.len() as f64));
        let z1 = zstd::bulk::compress(raw_bytes, 1).unwrap().len() as f64;
        let z3 = zstd::bulk::compress(raw_bytes, 3).unwrap().len() as f64;
        let l4 = lz4_flex::block::compress(raw_bytes).len() as f64;
        println!(
            "{:<16} {:>10} {:>8.2} {:>8} {:>8.2} {:>8.2} {:>8.2}  {}",
            name,
            raw,
            raw / enc.bytes.len() as f64,
            pco,
            raw / z1,
            raw / z3,
            raw / l4,
            enc.cascades.join(";")
        );
    }
    println!();
}

fn bench(c: &mut Criterion) {
    let cols = columns();
    ratio_table(&cols);
    for (name, col, raw_bytes) in &cols {
        let mut g = c.benchmark_group(format!("decode/{name}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(700))
            .throughput(Throughput::Bytes(col.values().raw_bytes() as u64));
        let enc = encode_column(col, Effort::Max).unwrap().bytes;
        g.bench_function("unidb", |b| {
            b.iter(|| decode_column(black_box(&enc)).unwrap())
        });
        if let Some(p) = pco_bytes(col) {
            match col.values() {
                Values::Int(_) => g.bench_function("pco", |b| {
                    b.iter(|| pco::standalone::simple_decompress::<i64>(black_box(&p)).unwrap())
                }),
                _ => g.bench_function("pco", |b| {
                    b.iter(|| pco::standalone::simple_decompress::<f64>(black_box(&p)).unwrap())
                }),
            };
        }
        let z3 = zstd::bulk::compress(raw_bytes, 3).unwrap();
        g.bench_function("zstd-3", |b| {
            b.iter(|| zstd::bulk::decompress(black_box(&z3), raw_bytes.len()).unwrap())
        });
        g.finish();
    }
}

/// A decoder under test: `(side, decode once)`.
type Side<'a> = (&'static str, Box<dyn Fn() + 'a>);

/// Seconds per call of `f`, the best of `rounds` batches of about 25 ms,
/// the sides interleaved batch by batch.
fn interleaved(sides: &[Side<'_>], rounds: usize) -> Vec<f64> {
    interleaved_batches(sides, rounds, 0.025)
}

/// [`interleaved`] with batches of about `batch` seconds: on a loaded
/// machine many short batches give the best one a better chance to run
/// undisturbed than a few long ones.
fn interleaved_batches(sides: &[Side<'_>], rounds: usize, batch: f64) -> Vec<f64> {
    let iters: Vec<u32> = sides
        .iter()
        .map(|(_, f)| {
            let t = Instant::now();
            f();
            let once = t.elapsed().as_secs_f64().max(1e-7);
            ((batch / once) as u32).clamp(1, 10_000)
        })
        .collect();
    let mut best = vec![f64::INFINITY; sides.len()];
    for _ in 0..rounds {
        for (k, (_, f)) in sides.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..iters[k] {
                f();
            }
            best[k] = best[k].min(t.elapsed().as_secs_f64() / f64::from(iters[k]));
        }
    }
    best
}

/// The `report` mode: ratio and decode MiB/s (raw bytes per second) per
/// column and side, in one run.
fn report(cols: &[(&'static str, Column, Vec<u8>)]) {
    println!("| column | side | ratio | decode MiB/s | encode MiB/s |");
    println!("|---|---|---:|---:|---:|");
    for (name, col, raw_bytes) in cols {
        let raw = col.values().raw_bytes() as f64;
        let mib = raw / (1024.0 * 1024.0);
        let t = Instant::now();
        let enc = encode_column(col, Effort::Max).unwrap();
        let enc_s = t.elapsed().as_secs_f64();
        assert_eq!(&decode_column(&enc.bytes).unwrap(), col);
        let pco = pco_bytes(col);
        let z1 = zstd::bulk::compress(raw_bytes, 1).unwrap();
        let z3 = zstd::bulk::compress(raw_bytes, 3).unwrap();
        let l4 = lz4_flex::block::compress(raw_bytes);
        let mut sizes = vec![("unidb", enc.bytes.len())];
        let mut sides: Vec<Side<'_>> = vec![(
            "unidb",
            Box::new(|| {
                black_box(decode_column(black_box(&enc.bytes)).unwrap());
            }),
        )];
        if col.kind() == ColumnKind::Text {
            // The same encoding, decoded into one buffer + value ends.
            let flat = decode_text_column(&enc.bytes).unwrap();
            assert!(flat.iter().flatten().eq(match col.values() {
                Values::Text(v) => v.iter().map(String::as_str),
                _ => unreachable!(),
            }));
            sizes.push(("unidb flat text", enc.bytes.len()));
            sides.push((
                "unidb flat text",
                Box::new(|| {
                    black_box(decode_text_column(black_box(&enc.bytes)).unwrap());
                }),
            ));
        }
        if let Some(p) = &pco {
            sizes.push(("pco", p.len()));
            let is_int = matches!(col.values(), Values::Int(_));
            sides.push((
                "pco",
                Box::new(move || {
                    if is_int {
                        black_box(pco::standalone::simple_decompress::<i64>(black_box(p)).unwrap());
                    } else {
                        black_box(pco::standalone::simple_decompress::<f64>(black_box(p)).unwrap());
                    }
                }),
            ));
        }
        let n = raw_bytes.len();
        for (side, z) in [("zstd-1", &z1), ("zstd-3", &z3)] {
            sizes.push((side, z.len()));
            sides.push((
                side,
                Box::new(move || {
                    black_box(zstd::bulk::decompress(black_box(z), n).unwrap());
                }),
            ));
        }
        sizes.push(("lz4", l4.len()));
        let n = raw_bytes.len();
        sides.push((
            "lz4",
            Box::new(move || {
                black_box(lz4_flex::block::decompress(black_box(&l4), n).unwrap());
            }),
        ));
        let secs = interleaved(&sides, 7);
        for (k, (side, _)) in sides.iter().enumerate() {
            let size = sizes[k].1 as f64;
            let enc_mib = if k == 0 {
                format!("{:.0}", mib / enc_s)
            } else {
                "-".to_owned()
            };
            println!(
                "| {name} | {side} | {:.2} | {:.0} | {enc_mib} |",
                raw / size,
                mib / secs[k]
            );
        }
        println!(
            "| {name} | unidb cascade | {} | | |",
            enc.cascades.join("; ")
        );
    }
}

/// The `report` mode's last table: the syncdb bench's change set (100k
/// inserted rows of {name, qty, price, done}, then 100k single-column
/// updates: 500k column writes). Raw is the per-change form (each change
/// written on its own, as batches of at most 32 changes travel); unidb is
/// the columnar batch (`columnar::encode_changes`, effort max) and its
/// decode rebuilds every `Change`; the general-purpose peers compress the
/// per-change bytes and their decode only decompresses them.
fn report_change_set() {
    use unidb_syncdb::columnar::{decode_changes, encode_changes};
    let changes = unidb_syncdb::sim::row_workload_changes(ROWS, ROWS, 42).unwrap();
    let writes = ROWS * 4 + ROWS;
    let raw: Vec<u8> = changes
        .chunks(32)
        .flat_map(|c| encode_changes(c, Effort::Max))
        .collect();
    let t = Instant::now();
    let cols = encode_changes(&changes, Effort::Max);
    let enc_s = t.elapsed().as_secs_f64();
    assert_eq!(decode_changes(&cols).unwrap(), changes);
    let z1 = zstd::bulk::compress(&raw, 1).unwrap();
    let z3 = zstd::bulk::compress(&raw, 3).unwrap();
    let l4 = lz4_flex::block::compress(&raw);
    let n = raw.len();
    let sides: Vec<Side<'_>> = vec![
        (
            "unidb columnar",
            Box::new(|| {
                black_box(decode_changes(black_box(&cols)).unwrap());
            }),
        ),
        (
            "zstd-1",
            Box::new(|| {
                black_box(zstd::bulk::decompress(black_box(&z1), n).unwrap());
            }),
        ),
        (
            "zstd-3",
            Box::new(|| {
                black_box(zstd::bulk::decompress(black_box(&z3), n).unwrap());
            }),
        ),
        (
            "lz4",
            Box::new(|| {
                black_box(lz4_flex::block::decompress(black_box(&l4), n).unwrap());
            }),
        ),
    ];
    let sizes = [cols.len(), z1.len(), z3.len(), l4.len()];
    let secs = interleaved(&sides, 5);
    let mib = n as f64 / (1024.0 * 1024.0);
    println!();
    println!(
        "change set: {} changes, {writes} column writes, per-change form {:.2} bytes per write",
        changes.len(),
        n as f64 / writes as f64
    );
    println!("| side | bytes per column write | ratio vs per-change | decode MiB/s (per-change bytes) | encode MiB/s |");
    println!("|---|---:|---:|---:|---:|");
    for (k, (side, _)) in sides.iter().enumerate() {
        let enc = if k == 0 {
            format!("{:.0}", mib / enc_s)
        } else {
            "-".to_owned()
        };
        println!(
            "| {side} | {:.2} | {:.2} | {:.0} | {enc} |",
            sizes[k] as f64 / writes as f64,
            n as f64 / sizes[k] as f64,
            mib / secs[k]
        );
    }
}

/// One column of the real-data corpus: file name and values.
struct CorpusColumn {
    name: String,
    col: Column,
}

/// Reads every `*.i64`, `*.f64` and `*.ts` file of `dir` (one decimal
/// value per line), sorted by name.
fn read_corpus(dir: &std::path::Path) -> Vec<CorpusColumn> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| {
            panic!(
                "corpus directory {}: {e} (run corpus/fetch.sh first)",
                dir.display()
            )
        })
        .map(|e| e.expect("directory entry").path())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        let text = match ext {
            "i64" | "f64" | "ts" => std::fs::read_to_string(&p).expect("corpus file"),
            _ => continue,
        };
        let lines = text.lines().filter(|l| !l.is_empty());
        let col = match ext {
            "f64" => Column::new(
                ColumnKind::Float,
                Values::Float(
                    lines
                        .map(|l| {
                            l.parse()
                                .unwrap_or_else(|e| panic!("{}: {l:?}: {e}", p.display()))
                        })
                        .collect(),
                ),
            ),
            kind => Column::new(
                if kind == "ts" {
                    ColumnKind::Timestamp
                } else {
                    ColumnKind::Int
                },
                Values::Int(
                    lines
                        .map(|l| {
                            l.parse()
                                .unwrap_or_else(|e| panic!("{}: {l:?}: {e}", p.display()))
                        })
                        .collect(),
                ),
            ),
        }
        .expect("a column of its kind");
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        out.push(CorpusColumn { name, col });
    }
    out
}

/// Raw little-endian bytes of a numeric column (the peers' input).
fn raw_le(col: &Column) -> Vec<u8> {
    match col.values() {
        Values::Int(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Values::Float(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        _ => unreachable!("the corpus is numeric"),
    }
}

/// Seconds per call of `f`: the best of 3 batches of about 20 ms.
fn best_time(mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64().max(1e-7);
    let iters = ((0.02 / once) as u32).clamp(1, 1000);
    let mut best = once;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / f64::from(iters));
    }
    best
}

/// The `corpus` mode: one row per real column, then the misses.
fn report_corpus(dir: &std::path::Path) {
    let cols = read_corpus(dir);
    assert!(!cols.is_empty(), "no corpus files in {}", dir.display());
    println!(
        "| column | values | unidb | pco | zstd-3 | unidb/pco | enc MB/s | dec MB/s | pco enc MB/s | pco dec MB/s | dec vs pco | unidb cascade |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut misses = Vec::new();
    let (mut sum_log_vs_pco, mut n) = (0.0f64, 0usize);
    for CorpusColumn { name, col } in &cols {
        let raw = raw_le(col);
        let mb = raw.len() as f64 / 1e6;
        let enc = encode_column(col, Effort::Max).unwrap();
        assert_eq!(&decode_column(&enc.bytes).unwrap(), col, "{name}");
        let enc_s = best_time(|| {
            black_box(encode_column(black_box(col), Effort::Max).unwrap());
        });
        let pco = pco_bytes(col).expect("numeric column");
        let is_int = matches!(col.values(), Values::Int(_));
        let pco_enc_s = best_time(|| {
            black_box(pco_bytes(black_box(col)));
        });
        let z3 = zstd::bulk::compress(&raw, 3).unwrap();
        let sides: Vec<Side<'_>> = vec![
            (
                "unidb",
                Box::new(|| {
                    black_box(decode_column(black_box(&enc.bytes)).unwrap());
                }),
            ),
            (
                "pco",
                Box::new(|| {
                    if is_int {
                        black_box(
                            pco::standalone::simple_decompress::<i64>(black_box(&pco)).unwrap(),
                        );
                    } else {
                        black_box(
                            pco::standalone::simple_decompress::<f64>(black_box(&pco)).unwrap(),
                        );
                    }
                }),
            ),
        ];
        let secs = interleaved_batches(&sides, 31, 0.002);
        let ratio = |len: usize| raw.len() as f64 / len as f64;
        let (ours, p, z) = (ratio(enc.bytes.len()), ratio(pco.len()), ratio(z3.len()));
        let speed = secs[1] / secs[0];
        sum_log_vs_pco += (ours / p).ln();
        n += 1;
        println!(
            "| {name} | {} | {ours:.2} | {p:.2} | {z:.2} | {:.0}% | {:.0} | {:.0} | {:.0} | {:.0} | {speed:.2}x | {} |",
            col.values().len(),
            100.0 * ours / p,
            mb / enc_s,
            mb / secs[0],
            mb / pco_enc_s,
            mb / secs[1],
            enc.cascades.join("; ")
        );
        let mut why = Vec::new();
        if ours < 0.95 * p {
            why.push(format!("ratio {:.0}% of pco", 100.0 * ours / p));
        }
        if ours < (1.5 * z).min(p) {
            why.push(format!("ratio {:.2}x zstd-3", ours / z));
        }
        if speed < 1.5 {
            why.push(format!("decode {speed:.2}x pco"));
        }
        if !why.is_empty() {
            misses.push(format!("{name}: {}", why.join(", ")));
        }
    }
    println!(
        "\n{} columns; geometric mean of unidb/pco ratio {:.3}; {} miss a target",
        n,
        (sum_log_vs_pco / n as f64).exp(),
        misses.len()
    );
    for m in misses {
        println!("- {m}");
    }
}

criterion_group!(benches, bench);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(k) = args.iter().position(|a| a == "corpus") {
        let dir = args
            .get(k + 1)
            .filter(|a| !a.starts_with('-'))
            .map_or("corpus/data", String::as_str);
        report_corpus(std::path::Path::new(dir));
        return;
    }
    if std::env::args().skip(1).any(|a| a == "report") {
        report(&columns());
        report_change_set();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
