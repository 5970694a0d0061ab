//! Ratio report: quick fixed-time measurements, interleaved so that all
//! figures of a comparison come from the same moment of one run, printed as
//! a Markdown table with the targets the kernels are held to.
//!
//! `cargo run --release --bin report [-- --scale F]` (F multiplies the time
//! spent; default 1, about ten seconds in all).

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use simsimd::SpatialSimilarity;
use unidb_benches::*;
use unidb_kernels::varint::{self, stream};
use unidb_kernels::{Isa, KernelError, Kernels};

/// A one-to-many kernel method of `Kernels`.
type Many = fn(&Kernels, &[f32], &[f32], &mut [f32]) -> Result<(), KernelError>;

/// What a ratio must reach.
#[derive(Clone, Copy)]
enum Target {
    AtLeast(f64),
    AtMost(f64),
    None,
}

struct Row {
    what: String,
    ours: String,
    other: String,
    ratio: f64,
    target: Target,
}

struct Report {
    rows: Vec<Row>,
    batch: Duration,
    rounds: usize,
}

impl Report {
    /// Times `ours` against `other` in interleaved rounds; the ratio is
    /// `other / ours` per call (how many times faster ours is) unless
    /// `inverse`, where it is `ours / other` (how many times slower).
    #[allow(clippy::too_many_arguments)]
    fn compare(
        &mut self,
        what: &str,
        ours_label: &str,
        ours: &mut dyn FnMut(),
        other_label: &str,
        other: &mut dyn FnMut(),
        unit: Unit,
        inverse: bool,
        target: Target,
    ) {
        let t = interleaved(self.batch, self.rounds, &mut [ours, other]);
        let (a, b) = (t[0].best_ns, t[1].best_ns);
        self.rows.push(Row {
            what: what.to_string(),
            ours: format!("{ours_label}: {}", unit.show(a)),
            other: format!("{other_label}: {}", unit.show(b)),
            ratio: if inverse { a / b } else { b / a },
            target,
        });
    }

    fn print(&self, header: &str) {
        println!("{header}");
        println!();
        println!("| measure | unidb | compared with | ratio | target | met |");
        println!("|---|---|---|---:|---|---|");
        let mut missed = 0;
        for r in &self.rows {
            let (target, met) = match r.target {
                Target::AtLeast(x) => (format!(">= {x}x"), r.ratio >= x),
                Target::AtMost(x) => (format!("<= {x}x"), r.ratio <= x),
                Target::None => ("-".to_string(), true),
            };
            let met_s = match r.target {
                Target::None => "-",
                _ if met => "yes",
                _ => "**no**",
            };
            missed += usize::from(!met);
            println!(
                "| {} | {} | {} | {:.2}x | {} | {} |",
                r.what, r.ours, r.other, r.ratio, target, met_s
            );
        }
        println!();
        println!("{missed} target(s) missed.");
    }
}

/// How to show a time per call.
#[derive(Clone, Copy)]
enum Unit {
    /// Elements per call: shows ns per call and elements per ns.
    Elements(usize),
    /// Bytes per call: shows GB/s.
    Bytes(usize),
    /// Values per call: shows millions of values per second.
    Values(usize),
}

impl Unit {
    fn show(self, ns: f64) -> String {
        match self {
            Unit::Elements(n) => format!("{ns:.1} ns ({:.1}/ns)", n as f64 / ns),
            Unit::Bytes(n) => format!("{:.2} GB/s", n as f64 / ns),
            Unit::Values(n) => format!("{:.0} M/s", n as f64 / ns * 1e3),
        }
    }
}

/// Wrapping sum of the bits of `values` as u32, in 16 independent lanes
/// (so the compiler vectorises it): a memory-bound read.
fn stream_read(values: &[f32]) -> u32 {
    let mut acc = [0u32; 16];
    let mut chunks = values.chunks_exact(16);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(v.to_bits());
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(0u32, |s, v| s.wrapping_add(v.to_bits()));
    acc.iter().fold(tail, |s, a| s.wrapping_add(*a))
}

fn ok<T>(r: Result<T, KernelError>) -> T {
    r.expect("inputs are well-formed")
}

/// `YYYY-MM-DD HH:MM UTC` of now, without a date crate.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Which simsimd kernels serve f32 here: simsimd picks at run time among
/// the backends compiled in (see the README to leave out AVX-512 ones).
fn simsimd_backend() -> &'static str {
    let off = |v: Option<&str>| matches!(v, Some("0") | Some("false") | Some("FALSE"));
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && !off(option_env!("SIMSIMD_TARGET_SKYLAKE"))
        {
            return "AVX-512 kernels";
        }
        if std::arch::is_x86_feature_detected!("avx2")
            && !off(option_env!("SIMSIMD_TARGET_HASWELL"))
        {
            return "AVX2 (haswell) kernels";
        }
    }
    let _ = off;
    "own dispatch"
}

/// Last commit touching `kernels/`, and whether its sources have local
/// changes (local test changes do not change what is measured).
fn kernels_revision() -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["log", "-1", "--format=%h %cI", "--", "kernels"]) {
        Some(rev) if !rev.is_empty() => {
            let dirty = git(&[
                "status",
                "--porcelain",
                "--",
                "kernels/src",
                "kernels/Cargo.toml",
            ])
            .is_some_and(|s| !s.is_empty());
            format!("{rev}{}", if dirty { " + uncommitted changes" } else { "" })
        }
        _ => "unknown".to_string(),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn main() {
    let mut scale = 1.0f64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scale" => {
                scale = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|v: &f64| *v > 0.0)
                    .unwrap_or_else(|| {
                        eprintln!("--scale needs a positive number");
                        std::process::exit(2)
                    })
            }
            "--bench" => {} // passed by `cargo bench`; ignored
            other => {
                eprintln!("unknown argument {other:?}; usage: report [--scale F]");
                std::process::exit(2);
            }
        }
    }
    let mut rep = Report {
        rows: Vec::new(),
        // In-cache kernels: many short batches, so that the best of them
        // ran without being preempted on a loaded machine.
        batch: Duration::from_secs_f64(0.001 * scale),
        rounds: (61.0 * scale) as usize,
    };
    let best = Kernels::best();
    let scalar = Kernels::for_isa(Isa::Scalar).expect("scalar always exists");
    let bname = best.isa().name();

    // In-cache pairwise kernels against simsimd and the scalar path.
    for dim in [768usize, 1536] {
        let a = random_f32(dim, 100 + dim as u64);
        let b = random_f32(dim, 200 + dim as u64);
        let tol = 2e-5 * abs_dot_f64(&a, &b) + 1e-6;
        let want = f64::from(ok(scalar.dot_f32(&a, &b)));
        check_close("dot_f32", f64::from(ok(best.dot_f32(&a, &b))), want, tol).unwrap();
        check_close(
            "simsimd dot",
            <f32 as SpatialSimilarity>::dot(&a, &b).unwrap(),
            want,
            tol,
        )
        .unwrap();
        let want_l2 = f64::from(ok(scalar.l2sq_f32(&a, &b)));
        let tol_l2 = 2e-5 * want_l2 + 1e-6;
        check_close(
            "l2sq_f32",
            f64::from(ok(best.l2sq_f32(&a, &b))),
            want_l2,
            tol_l2,
        )
        .unwrap();
        check_close(
            "simsimd l2sq",
            <f32 as SpatialSimilarity>::l2sq(&a, &b).unwrap(),
            want_l2,
            tol_l2,
        )
        .unwrap();
        let want_cos = f64::from(ok(scalar.cosine_f32(&a, &b)));
        check_close(
            "cosine_f32",
            f64::from(ok(best.cosine_f32(&a, &b))),
            want_cos,
            1e-4,
        )
        .unwrap();

        let (ra, rb) = (&a, &b);
        let unit = Unit::Elements(dim);
        rep.compare(
            &format!("dot_f32 d={dim} vs simsimd"),
            bname,
            &mut || {
                black_box(best.dot_f32(black_box(ra), black_box(rb)).ok());
            },
            "simsimd",
            &mut || {
                black_box(<f32 as SpatialSimilarity>::dot(
                    black_box(ra),
                    black_box(rb),
                ));
            },
            unit,
            false,
            Target::AtLeast(2.5),
        );
        rep.compare(
            &format!("l2sq_f32 d={dim} vs simsimd"),
            bname,
            &mut || {
                black_box(best.l2sq_f32(black_box(ra), black_box(rb)).ok());
            },
            "simsimd",
            &mut || {
                black_box(<f32 as SpatialSimilarity>::l2sq(
                    black_box(ra),
                    black_box(rb),
                ));
            },
            unit,
            false,
            Target::AtLeast(2.5),
        );
        rep.compare(
            &format!("dot_f32 d={dim} vs scalar path"),
            bname,
            &mut || {
                black_box(best.dot_f32(black_box(ra), black_box(rb)).ok());
            },
            "scalar",
            &mut || {
                black_box(scalar.dot_f32(black_box(ra), black_box(rb)).ok());
            },
            unit,
            false,
            Target::AtLeast(6.0),
        );
        rep.compare(
            &format!("l2sq_f32 d={dim} vs scalar path"),
            bname,
            &mut || {
                black_box(best.l2sq_f32(black_box(ra), black_box(rb)).ok());
            },
            "scalar",
            &mut || {
                black_box(scalar.l2sq_f32(black_box(ra), black_box(rb)).ok());
            },
            unit,
            false,
            Target::AtLeast(6.0),
        );
        rep.compare(
            &format!("cosine_f32 d={dim} time / dot_f32 time"),
            &format!("cosine {bname}"),
            &mut || {
                black_box(best.cosine_f32(black_box(ra), black_box(rb)).ok());
            },
            &format!("dot {bname}"),
            &mut || {
                black_box(best.dot_f32(black_box(ra), black_box(rb)).ok());
            },
            unit,
            true,
            Target::AtMost(1.3),
        );
        rep.compare(
            &format!("dot_f32 d={dim} vs naive iterator sum"),
            bname,
            &mut || {
                black_box(best.dot_f32(black_box(ra), black_box(rb)).ok());
            },
            "naive",
            &mut || {
                black_box(naive_dot(black_box(ra), black_box(rb)));
            },
            unit,
            false,
            Target::None,
        );
    }

    // One-to-many over 64 MiB against sum_f32 over the same bytes.
    {
        let rows_n = MATRIX_BYTES / 4 / MATRIX_DIM;
        let rows = random_f32(rows_n * MATRIX_DIM, 7);
        let query = random_f32(MATRIX_DIM, 8);
        let bytes = rows.len() * 4;
        let mut want = vec![0f32; rows_n];
        let mut out = vec![0f32; rows_n];
        ok(scalar.dot_f32_many(&query, &rows, &mut want));
        ok(best.dot_f32_many(&query, &rows, &mut out));
        let tols: Vec<f64> = rows
            .chunks_exact(MATRIX_DIM)
            .map(|row| 2e-5 * abs_dot_f64(&query, row) + 1e-6)
            .collect();
        for (i, ((g, w), tol)) in out.iter().zip(&want).zip(&tols).enumerate() {
            check_close(
                &format!("dot_f32_many row {i}"),
                f64::from(*g),
                f64::from(*w),
                *tol,
            )
            .unwrap();
        }
        let many: [(&str, Many); 3] = [
            ("dot_f32_many", Kernels::dot_f32_many),
            ("l2sq_f32_many", Kernels::l2sq_f32_many),
            ("cosine_f32_many", Kernels::cosine_f32_many),
        ];
        // Memory-bound: one call (about 10 ms) per batch.
        rep.batch = Duration::from_nanos(1);
        rep.rounds = (15.0 * scale) as usize;
        for (name, f) in many {
            let (q, r) = (&query, &rows);
            let out = &mut out;
            rep.compare(
                &format!("{name} 64 MiB (d={MATRIX_DIM}) bytes/s / sum_f32 bytes/s"),
                bname,
                &mut || {
                    black_box(f(best, black_box(q), black_box(r), out).ok());
                },
                "sum_f32",
                &mut || {
                    black_box(best.sum_f32(black_box(r)).ok());
                },
                Unit::Bytes(bytes),
                false,
                Target::AtLeast(0.8),
            );
            // compare() gives other/ours in time = ours/other in bytes/s.
        }
        // A plain streaming read of the same bytes (wrapping integer sum,
        // which the compiler vectorises): closer to the DRAM read bound
        // than sum_f32, which also converts to f64.
        let r = &rows;
        let dot_many: Many = Kernels::dot_f32_many;
        let out = &mut out;
        rep.compare(
            "dot_f32_many 64 MiB bytes/s / plain streaming read bytes/s",
            bname,
            &mut || {
                black_box(dot_many(best, black_box(&query), black_box(r), out).ok());
            },
            "read",
            &mut || {
                black_box(stream_read(black_box(r)));
            },
            Unit::Bytes(bytes),
            false,
            Target::None,
        );
        // Server CPUs may hold 64 MiB in their last-level cache; repeat the
        // comparison on 512 MiB (the same rows eight times), beyond any L3.
        let copies = 8;
        let big: Vec<f32> = (0..copies).flat_map(|_| rows.iter().copied()).collect();
        let mut big_out = vec![0f32; rows_n * copies];
        ok(best.dot_f32_many(&query, &big, &mut big_out));
        for (i, g) in big_out.iter().enumerate() {
            let j = i % rows_n;
            check_close(
                &format!("dot_f32_many 512 MiB row {i}"),
                f64::from(*g),
                f64::from(want[j]),
                tols[j],
            )
            .unwrap();
        }
        let (q, r) = (&query, &big);
        rep.rounds = (7.0 * scale) as usize;
        rep.compare(
            "dot_f32_many 512 MiB bytes/s / sum_f32 512 MiB bytes/s",
            bname,
            &mut || {
                black_box(dot_many(best, black_box(q), black_box(r), &mut big_out).ok());
            },
            "sum_f32",
            &mut || {
                black_box(best.sum_f32(black_box(r)).ok());
            },
            Unit::Bytes(bytes * copies),
            false,
            Target::None,
        );
        drop(big);
        // Codecs: 1M values take 0.3 to 10 ms per call.
        rep.batch = Duration::from_secs_f64(0.002 * scale);
        rep.rounds = (31.0 * scale) as usize;
    }

    // LEB128 bulk decode/encode against prost.
    {
        let values = mixed_u32(VARINT_COUNT, 11);
        let n = values.len();
        let mut bytes = Vec::new();
        varint::encode_u32_slice(&values, &mut bytes);
        let mut peer = Vec::new();
        prost_leb128::encode_all(&values, &mut peer);
        assert_eq!(peer, bytes, "prost and unidb encode differently");
        let mut ours = Vec::with_capacity(n);
        varint::decode_u32_slice_into(&bytes, n, &mut ours).expect("valid input");
        assert_eq!(ours, values);
        let mut theirs = vec![0u32; n];
        prost_leb128::decode_all(&bytes, &mut theirs).expect("valid input");
        assert_eq!(theirs, values);
        let b = &bytes;
        rep.compare(
            "LEB128 decode 1M mixed u32 vs prost",
            "unidb",
            &mut || {
                ours.clear();
                black_box(varint::decode_u32_slice_into(black_box(b), n, &mut ours).ok());
            },
            "prost",
            &mut || {
                black_box(prost_leb128::decode_all(black_box(b), &mut theirs).ok());
            },
            Unit::Values(n),
            false,
            Target::AtLeast(1.2),
        );
        let mut buf = Vec::with_capacity(bytes.len());
        let mut buf2 = Vec::with_capacity(bytes.len());
        let v = &values;
        rep.compare(
            "LEB128 encode 1M mixed u32 vs prost",
            "unidb",
            &mut || {
                buf.clear();
                varint::encode_u32_slice(black_box(v), &mut buf);
            },
            "prost",
            &mut || {
                buf2.clear();
                prost_leb128::encode_all(black_box(v), &mut buf2);
            },
            Unit::Values(n),
            false,
            Target::None,
        );
    }

    // Stream-vbyte against Lemire's C library.
    for delta in [false, true] {
        let values = if delta {
            sorted_ids(VARINT_COUNT, 12)
        } else {
            mixed_u32(VARINT_COUNT, 13)
        };
        let n = values.len();
        let initial = delta.then_some(0u32);
        let bytes = if delta {
            stream::encode_u32_delta(&values, 0)
        } else {
            stream::encode_u32(&values)
        };
        let c_bytes = if delta {
            c_streamvbyte::encode_delta(&values)
        } else {
            c_streamvbyte::encode(&values)
        };
        assert_eq!(bytes, c_bytes, "unidb and the C library encode differently");
        let d = stream::Decoder::for_isa(best.isa()).unwrap_or_else(stream::Decoder::active);
        let mut ours = Vec::with_capacity(n);
        d.decode_into(&bytes, n, initial, &mut ours)
            .expect("valid input");
        assert_eq!(ours, values);
        let mut theirs = vec![0u32; n];
        let c_decode = |input: &[u8], out: &mut [u32]| {
            if delta {
                c_streamvbyte::decode_delta(input, out)
            } else {
                c_streamvbyte::decode(input, out)
            }
        };
        c_decode(&c_bytes, &mut theirs);
        assert_eq!(theirs, values);
        let label = if delta {
            "stream-vbyte delta (sorted ids)"
        } else {
            "stream-vbyte"
        };
        let (b, cb) = (&bytes, &c_bytes);
        rep.compare(
            &format!("{label} decode 1M vs C streamvbyte"),
            &format!("unidb {}", d.isa()),
            &mut || {
                ours.clear();
                black_box(d.decode_into(black_box(b), n, initial, &mut ours).ok());
            },
            "C",
            &mut || {
                black_box(c_decode(black_box(cb), &mut theirs));
            },
            Unit::Values(n),
            false,
            if delta {
                Target::None
            } else {
                Target::AtLeast(1.0)
            },
        );
        let mut buf = Vec::with_capacity(stream::max_encoded_len(n) + 64);
        let mut buf2 = Vec::new();
        let v = &values;
        rep.compare(
            &format!("{label} encode 1M vs C streamvbyte"),
            "unidb",
            &mut || {
                buf.clear();
                black_box(stream::encode_into(black_box(v), initial, &mut buf));
            },
            "C",
            &mut || {
                black_box(if delta {
                    c_streamvbyte::encode_delta_into(black_box(v), &mut buf2)
                } else {
                    c_streamvbyte::encode_into(black_box(v), &mut buf2)
                });
            },
            Unit::Values(n),
            false,
            Target::None,
        );
    }

    let header = format!(
        "Measured {} on {} ({} cores visible), kernels at {}, best path `{}`, simsimd using its {}; \
         each figure is the best of many short batches interleaved with its comparison's. \
         Ratio = how many times faster unidb is, except `cosine/dot` (time ratio).",
        utc_now(),
        cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernels_revision(),
        bname,
        simsimd_backend(),
    );
    rep.print(&header);
}
