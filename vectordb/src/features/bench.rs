//! The feature-store benchmark behind `unidb features bench`: seeded
//! views and entity rows ([`generate`]), the point-in-time join and
//! online lookups timed ([`run`]), and the same data (and the join's
//! result) written as `.npy` files for a peer to load ([`write_npy`]).

use std::path::Path;
use std::time::Instant;

use unidb_common::rng::SplitMix64;
use unidb_common::value::{ColumnType, Value};

use super::column::{Column, ColumnData, KeyColumn};
use super::error::{FeatureError, FeatureResult};
use super::join::{EntityTable, JoinBatch, JoinOptions, KnownAt};
use super::schema::{EntityDef, FeatureType, ViewDef};
use super::store::{FeatureStore, RowBatch};

const SECOND: i64 = 1_000_000_000;
/// 2024-01-01T00:00:00Z, the start of the generated time span.
const BASE: i64 = 1_704_067_200 * SECOND;

/// What to generate and measure; [`Default`] also gives `unidb features
/// bench` its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureBenchOptions {
    /// Entity rows joined.
    pub entity_rows: usize,
    /// Views.
    pub views: usize,
    /// Rows per view.
    pub view_rows: usize,
    /// Distinct entities.
    pub entities: usize,
    /// Float features per view.
    pub features: usize,
    /// TTL of every view, seconds.
    pub ttl_s: u64,
    /// Time span of the data, seconds.
    pub span_s: u64,
    /// Entities per online request.
    pub online_entities: usize,
    /// Online requests.
    pub online_rounds: usize,
    /// Join with `known_at` = each row's time.
    pub known_at: bool,
    /// Entity rows per join chunk.
    pub chunk_rows: usize,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for FeatureBenchOptions {
    fn default() -> Self {
        FeatureBenchOptions {
            entity_rows: 1_000_000,
            views: 10,
            view_rows: 1_000_000,
            entities: 100_000,
            features: 2,
            ttl_s: 3 * 86_400,
            span_s: 30 * 86_400,
            online_entities: 1000,
            online_rounds: 200,
            known_at: false,
            chunk_rows: JoinOptions::default().chunk_rows,
            seed: 42,
        }
    }
}

impl FeatureBenchOptions {
    /// Checks every count is at least 1 and sizes fit.
    ///
    /// # Errors
    /// [`FeatureError::Invalid`] naming the option.
    pub fn validate(&self) -> FeatureResult<()> {
        for (name, v) in [
            ("entity_rows", self.entity_rows),
            ("views", self.views),
            ("view_rows", self.view_rows),
            ("entities", self.entities),
            ("online_entities", self.online_entities),
            ("online_rounds", self.online_rounds),
            ("chunk_rows", self.chunk_rows),
            ("span_s", self.span_s as usize),
        ] {
            if v == 0 {
                return Err(FeatureError::invalid(name, "must be at least 1"));
            }
        }
        if self.view_rows > super::store::MAX_VIEW_ROWS || self.entities > u32::MAX as usize - 1 {
            return Err(FeatureError::invalid("view_rows", "too many rows"));
        }
        if self.span_s > 100 * 365 * 86_400 || self.ttl_s > 100 * 365 * 86_400 {
            return Err(FeatureError::invalid("span_s", "at most 100 years"));
        }
        Ok(())
    }
}

/// The name of generated view `v`.
pub fn view_name(v: usize) -> String {
    format!("v{v}")
}

/// Seeded data: entity `user` (key `entity_id`, i64), views `v0..` with
/// float features `f0..` (times on whole seconds, so event times tie;
/// created 0 to 60 minutes after the event, 5% of rows up to 7 days
/// late), and the entity rows (uniform times over the span).
///
/// # Errors
/// Invalid options.
pub fn generate(
    o: &FeatureBenchOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> FeatureResult<(FeatureStore, EntityTable)> {
    o.validate()?;
    let mut store = FeatureStore::new();
    store.define_entity(EntityDef::new("user", "entity_id", ColumnType::I64))?;
    let span = o.span_s as i64;
    for v in 0..o.views {
        let mut def = ViewDef::new(view_name(v), "user")
            .ttl(std::time::Duration::from_secs(o.ttl_s))
            .owner("bench")
            .description("generated");
        for f in 0..o.features {
            def = def.feature(format!("f{f}"), FeatureType::Float);
        }
        store.define_view(def)?;
        let mut rng = SplitMix64::new(o.seed ^ (v as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let n = o.view_rows;
        let mut ids = Vec::with_capacity(n);
        let mut event = Vec::with_capacity(n);
        let mut created = Vec::with_capacity(n);
        for i in 0..n {
            ids.push(rng.below(o.entities as u64) as i64);
            let e = BASE + rng.below(span as u64) as i64 * SECOND;
            let delay = if rng.chance(0.05) {
                rng.below(7 * 86_400)
            } else {
                rng.below(3_600)
            } as i64;
            event.push(e);
            // `+ i` keeps (entity, event, created) distinct.
            created.push(e + delay * SECOND + i as i64);
        }
        let features = (0..o.features)
            .map(|f| {
                let vals: Vec<f64> = (0..n).map(|_| rng.f64()).collect();
                (format!("f{f}"), Column::new(ColumnData::Float(vals)))
            })
            .collect();
        store.append(
            &view_name(v),
            RowBatch {
                keys: vec![("entity_id".into(), KeyColumn::Int(ids))],
                event_timestamps: event,
                created_timestamps: created,
                features,
            },
        )?;
        progress(v + 1, o.views);
    }
    let mut rng = SplitMix64::new(o.seed.wrapping_add(0xE17));
    let mut ids = Vec::with_capacity(o.entity_rows);
    let mut ts = Vec::with_capacity(o.entity_rows);
    let mut label = Vec::with_capacity(o.entity_rows);
    for _ in 0..o.entity_rows {
        ids.push(rng.below(o.entities as u64) as i64);
        ts.push(BASE + rng.below(span as u64 * 1000) as i64 * (SECOND / 1000));
        label.push(rng.below(2) as i64);
    }
    let table = EntityTable {
        keys: vec![("entity_id".into(), KeyColumn::Int(ids))],
        timestamps: ts,
        labels: vec![("label".into(), Column::new(ColumnData::Int(label)))],
    };
    Ok((store, table))
}

/// What [`run`] measured.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FeatureBenchReport {
    /// Entity rows joined.
    pub entity_rows: usize,
    /// Views joined.
    pub views: usize,
    /// Rows per view.
    pub view_rows: usize,
    /// Seconds to generate and load the data.
    pub generate_s: f64,
    /// Seconds of the join (output materialised).
    pub join_s: f64,
    /// Entity rows joined per second.
    pub join_rows_per_s: f64,
    /// Lookups (entity rows × views) per second.
    pub join_lookups_per_s: f64,
    /// CPU seconds the process spent in the join, all threads (Linux;
    /// on a shared machine the wall time above also counts waiting).
    pub join_cpu_s: Option<f64>,
    /// Values served, expired and missing over all views.
    pub found: u64,
    /// Values whose chosen row had expired.
    pub expired: u64,
    /// Values with no row.
    pub missing: u64,
    /// Entities per online request.
    pub online_entities: usize,
    /// Online requests made.
    pub online_requests: u64,
    /// Online latency per request, median, µs.
    pub online_p50_us: f64,
    /// Online latency per request, 99th percentile, µs.
    pub online_p99_us: f64,
    /// Lookups (entities × views) per second online.
    pub online_lookups_per_s: f64,
    /// CPU time of the serving thread per online request, mean, µs (Linux).
    pub online_cpu_us: Option<f64>,
}

/// CPU seconds of this process so far, user and system (Linux:
/// `/proc/self/stat`, in clock ticks of 1/100 s).
fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU nanoseconds of the calling thread so far (Linux:
/// `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// Generates the data, times the join (every output column built in
/// memory, as a dataframe would be) and `online_rounds` online requests
/// of `online_entities` entities in every view at the span's end.
/// `progress(stage, done, total)` reports each stage. Returns the report,
/// the store, the entity table and the join's output.
///
/// # Errors
/// Invalid options.
#[allow(clippy::type_complexity)]
pub fn run(
    o: &FeatureBenchOptions,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> FeatureResult<(
    FeatureBenchReport,
    FeatureStore,
    EntityTable,
    Vec<JoinBatch>,
)> {
    let t0 = Instant::now();
    let (store, table) = generate(o, &mut |d, t| progress("generating", d, t))?;
    let generate_s = t0.elapsed().as_secs_f64();
    let options = JoinOptions {
        views: Vec::new(),
        known_at: if o.known_at {
            KnownAt::AtLabel
        } else {
            KnownAt::Latest
        },
        chunk_rows: o.chunk_rows,
    };
    let total = table.len().div_ceil(o.chunk_rows);
    let mut batches = Vec::with_capacity(total);
    let cpu0 = process_cpu_s();
    let t1 = Instant::now();
    let plan = store.join(&table, &options, |b| {
        batches.push(b);
        progress("joining", batches.len(), total);
        Ok(())
    })?;
    let join_s = t1.elapsed().as_secs_f64();
    let join_cpu_s = cpu0.zip(process_cpu_s()).map(|(a, b)| b - a);
    // Online: random entities, all views, at the span's end.
    let names: Vec<String> = (0..o.views).map(view_name).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let at = BASE + o.span_s as i64 * SECOND;
    let mut rng = SplitMix64::new(o.seed.wrapping_add(0x0417));
    let mut served = 0u64;
    let mut online_cpu_ns = Some(0u64);
    for round in 0..o.online_rounds {
        let keys: Vec<Vec<Value>> = (0..o.online_entities)
            .map(|_| vec![Value::I64(rng.below(o.entities as u64) as i64)])
            .collect();
        let c0 = thread_cpu_ns();
        let r = store.online(&names, &keys, at)?;
        online_cpu_ns = match (online_cpu_ns, c0, thread_cpu_ns()) {
            (Some(t), Some(a), Some(b)) => Some(t + b.saturating_sub(a)),
            _ => None,
        };
        served += (0..r.entities())
            .filter(|&e| r.get(e, 0).is_found())
            .count() as u64;
        if round % 16 == 15 || round + 1 == o.online_rounds {
            progress("online", round + 1, o.online_rounds);
        }
    }
    std::hint::black_box(served);
    let lat = store.online_latency();
    let (found, expired, missing) = plan.counts.iter().fold((0, 0, 0), |(f, e, m), c| {
        (f + c.found, e + c.expired, m + c.missing)
    });
    let report = FeatureBenchReport {
        entity_rows: o.entity_rows,
        views: o.views,
        view_rows: o.view_rows,
        generate_s,
        join_s,
        join_rows_per_s: o.entity_rows as f64 / join_s,
        join_lookups_per_s: (o.entity_rows * o.views) as f64 / join_s,
        join_cpu_s,
        found,
        expired,
        missing,
        online_entities: o.online_entities,
        online_requests: lat.count,
        online_p50_us: lat.p50 as f64 / 1e3,
        online_p99_us: lat.p99 as f64 / 1e3,
        online_lookups_per_s: (o.online_entities * o.views) as f64 / (lat.mean / 1e9),
        online_cpu_us: online_cpu_ns.map(|t| t as f64 / 1e3 / o.online_rounds as f64),
    };
    Ok((report, store, table, batches))
}

/// Writes a 1-D `.npy` array (format 1.0, little-endian `descr`).
fn npy(
    path: &Path,
    descr: &str,
    n: usize,
    bytes: impl Iterator<Item = [u8; 8]>,
) -> FeatureResult<()> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n},), }}");
    // Magic (6) + version (2) + length (2) + header + '\n', a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    unidb_common::fs::write_atomic_with(path, |w| {
        use std::io::Write as _;
        w.write_all(b"\x93NUMPY\x01\x00")?;
        w.write_all(&(header.len() as u16).to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        for b in bytes {
            w.write_all(&b)?;
        }
        Ok(())
    })
    .map_err(|e| FeatureError::Io {
        action: "write",
        path: path.to_owned(),
        source: std::io::Error::new(e.kind(), e),
    })
}

/// Writes the generated data and the join's output into `dir` as `.npy`
/// files a peer loads: `entities_{entity_id,ts}.npy`,
/// `v{i}_{entity_id,event,created,f{j}}.npy` (the view's rows in store
/// order), `out_v{i}_f{j}.npy` (the joined values, NaN for null) and
/// `meta.json` (counts, TTL in ns, `known_at`).
///
/// # Errors
/// [`FeatureError::Io`].
pub fn write_npy(
    dir: &Path,
    o: &FeatureBenchOptions,
    store: &FeatureStore,
    table: &EntityTable,
    batches: &[JoinBatch],
) -> FeatureResult<()> {
    std::fs::create_dir_all(dir).map_err(|source| FeatureError::Io {
        action: "create",
        path: dir.to_owned(),
        source,
    })?;
    let i64s = |v: &[i64]| v.iter().map(|x| x.to_le_bytes()).collect::<Vec<_>>();
    let KeyColumn::Int(ids) = &table.keys[0].1 else {
        return Err(FeatureError::invalid("bench data", "integer keys expected"));
    };
    let n = table.len();
    npy(
        &dir.join("entities_entity_id.npy"),
        "<i8",
        n,
        i64s(ids).into_iter(),
    )?;
    npy(
        &dir.join("entities_ts.npy"),
        "<i8",
        n,
        i64s(&table.timestamps).into_iter(),
    )?;
    let mut col = 0;
    for (v, view) in store.views.iter().enumerate() {
        let name = view_name(v);
        let dict = &store.entities[view.entity].dict;
        let keys: Vec<i64> = view
            .codes
            .iter()
            .map(|&c| dict.key(c)[0].as_i64().unwrap_or(0))
            .collect();
        let m = view.len();
        npy(
            &dir.join(format!("{name}_entity_id.npy")),
            "<i8",
            m,
            i64s(&keys).into_iter(),
        )?;
        npy(
            &dir.join(format!("{name}_event.npy")),
            "<i8",
            m,
            i64s(&view.event).into_iter(),
        )?;
        npy(
            &dir.join(format!("{name}_created.npy")),
            "<i8",
            m,
            i64s(&view.created).into_iter(),
        )?;
        for (f, c) in view.columns.iter().enumerate() {
            if let ColumnData::Float(x) = c.data() {
                npy(
                    &dir.join(format!("{name}_f{f}.npy")),
                    "<f8",
                    m,
                    x.iter().map(|y| y.to_le_bytes()),
                )?;
            }
            let out = batches.iter().flat_map(|b| {
                let c = &b.columns[col];
                (0..b.len).map(move |i| match c.get(i) {
                    super::column::FeatureValue::Float(x) => x.to_le_bytes(),
                    _ => f64::NAN.to_le_bytes(),
                })
            });
            npy(&dir.join(format!("out_{name}_f{f}.npy")), "<f8", n, out)?;
            col += 1;
        }
    }
    let meta = serde_json::json!({
        "entity_rows": n,
        "views": o.views,
        "features": o.features,
        "view_rows": o.view_rows,
        "ttl_ns": o.ttl_s as i64 * SECOND,
        "known_at": o.known_at,
        "seed": o.seed,
    });
    unidb_common::fs::write_atomic(&dir.join("meta.json"), format!("{meta:#}\n").as_bytes())
        .map_err(|e| FeatureError::Io {
            action: "write",
            path: dir.join("meta.json"),
            source: std::io::Error::new(e.kind(), e),
        })
}
