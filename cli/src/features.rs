//! `unidb features`: the feature store's commands. `join` reads an entity
//! file and view files (CSV), runs the point-in-time join of
//! `unidb_vectordb::features` and writes the training set; `bench` runs
//! `unidb_vectordb::features::bench` (seeded data, the join and online
//! lookups timed) and can write its data for the pandas comparison in
//! `benches/features/`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use unidb_common::value::ColumnType;
use unidb_common::Error;
use unidb_vectordb::features::bench::{
    run as run_bench, write_npy, FeatureBenchOptions, FeatureBenchReport,
};
use unidb_vectordb::features::io::{self, InputFile};
use unidb_vectordb::features::{
    parse_duration, EntityDef, FeatureError, FeatureStore, JoinOptions, JoinPlan, KnownAt,
    TimeUnit, ViewDef,
};

use crate::at_least_one;
use crate::output::{emit, progress_enabled, sig3, StageBars};

/// The key column of entity and view files.
pub const ENTITY_ID: &str = "entity_id";

/// The `unidb features` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum FeaturesCommand {
    /// Point-in-time join of an entity file with view files: for each
    /// entity row and view, the value with the latest event time at or
    /// before the row's time (ties by latest created time), null when
    /// there is none or it is older than the view's TTL. Without `--out`
    /// the rows go to standard output as CSV (JSON lines with `--json`).
    Join(JoinArgs),
    /// Generate views and entity rows, time the join and online lookups,
    /// report rows/s and latency percentiles.
    Bench(FeaturesBenchArgs),
}

/// Arguments of `unidb features join`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct JoinArgs {
    /// The entity file: `entity_id, event_timestamp[, labels...]`: CSV,
    /// or Parquet by its `.parquet` extension (builds with the `parquet`
    /// feature).
    #[arg(long, value_name = "FILE")]
    pub entities: PathBuf,
    /// A view: its name and file (`entity_id, event_timestamp,
    /// created_timestamp, <features...>`; CSV or Parquet as for
    /// `--entities`); repeat for more views.
    #[arg(long = "view", value_name = "NAME=FILE", required = true)]
    pub views: Vec<String>,
    /// A view's time to live (`7d`, `1h30m`, `90s`, `none`); views
    /// without one never expire.
    #[arg(long = "ttl", value_name = "NAME=DURATION")]
    pub ttls: Vec<String>,
    /// Use only rows recorded by each entity row's time
    /// (`created_timestamp <= event_timestamp` of the row): no leakage of
    /// later corrections.
    #[arg(long)]
    pub known_at: bool,
    /// Write the joined rows to this file: `.csv`, `.jsonl` or `.parquet`
    /// (Parquet needs a build with the `parquet` feature). Replaced
    /// atomically: a failed join leaves it as it was.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The unit of epoch numbers in timestamp cells: s, ms, us or ns.
    #[arg(long, default_value = "s")]
    pub epoch_unit: String,
}

impl FeaturesCommand {
    /// Runs the subcommand, writing to standard output.
    ///
    /// # Errors
    /// Bad arguments, unreadable or malformed files (naming the row and
    /// column), a failed write.
    pub fn run(&self, json: bool) -> Result<(), Error> {
        match self {
            FeaturesCommand::Join(args) => {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                join(args, json, &mut out)?;
                out.flush().map_err(|e| Error::from(stdout_error(e)))
            }
            FeaturesCommand::Bench(args) => {
                let text = bench(args, json)?;
                emit(&text).map_err(|e| Error::from(stdout_error(e)))
            }
        }
    }
}

fn stdout_error(source: std::io::Error) -> FeatureError {
    FeatureError::Io {
        action: "write",
        path: PathBuf::from("<standard output>"),
        source,
    }
}

fn usage(what: &str, reason: impl Into<String>) -> FeatureError {
    FeatureError::Invalid {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

/// Splits `NAME=VALUE`.
fn pair<'a>(flag: &str, s: &'a str) -> Result<(&'a str, &'a str), FeatureError> {
    s.split_once('=')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| usage(flag, format!("{s:?} is not NAME=VALUE")))
}

/// Runs `unidb features join`, writing what goes to standard output to
/// `out`: the rows (CSV, or JSON lines with `json`) when there is no
/// `--out`, else the rows as JSON lines with `json` or a summary.
///
/// # Errors
/// Bad arguments, unreadable or malformed files, a failed write.
pub fn join(args: &JoinArgs, json: bool, out: &mut dyn Write) -> Result<JoinPlan, FeatureError> {
    let unit: TimeUnit = args.epoch_unit.parse()?;
    let mut views: Vec<(String, PathBuf)> = Vec::new();
    for v in &args.views {
        let (name, file) = pair("--view", v)?;
        if views.iter().any(|(n, _)| n == name) {
            return Err(FeatureError::AlreadyDefined {
                what: "view",
                name: name.to_owned(),
            });
        }
        views.push((name.to_owned(), PathBuf::from(file)));
    }
    let mut ttls: Vec<(String, Option<i64>)> = Vec::new();
    for t in &args.ttls {
        let (name, d) = pair("--ttl", t)?;
        if !views.iter().any(|(n, _)| n == name) {
            return Err(FeatureError::UnknownView {
                name: name.to_owned(),
                known: views.iter().map(|(n, _)| n.clone()).collect(),
            });
        }
        ttls.push((name.to_owned(), parse_duration(d)?));
    }
    let bars = StageBars::new(progress_enabled(json));
    let start = Instant::now();
    // Read every file first: the key type is the same in all of them.
    let open = |path: &PathBuf, label: &str| {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        InputFile::open(path, &mut |b| bars.update(label, b, size))
    };
    let entity_file = open(&args.entities, "reading entities")?;
    let mut view_files = Vec::with_capacity(views.len());
    for (name, path) in &views {
        view_files.push(open(path, &format!("reading {name}"))?);
    }
    let mut key_is_int = entity_file.is_int(ENTITY_ID)?;
    for f in &view_files {
        key_is_int &= f.is_int(ENTITY_ID)?;
    }
    let key_type = if key_is_int {
        ColumnType::I64
    } else {
        ColumnType::Text
    };
    let entity = EntityDef::new("entity", ENTITY_ID, key_type);
    let mut store = FeatureStore::new();
    store.define_entity(entity.clone())?;
    for ((name, _), file) in views.iter().zip(&view_files) {
        bars.update(&format!("loading {name}"), 0, 1);
        let (features, batch) = file.view(&entity, unit)?;
        let mut def = ViewDef::new(name.clone(), "entity");
        def.features = features;
        def.ttl = ttls.iter().find(|(n, _)| n == name).and_then(|(_, t)| *t);
        store.define_view(def)?;
        store.append(name, batch)?;
    }
    let table = entity_file.entities(&entity.keys, unit)?;
    let options = JoinOptions {
        views: views.iter().map(|(n, _)| n.clone()).collect(),
        known_at: if args.known_at {
            KnownAt::AtLabel
        } else {
            KnownAt::Latest
        },
        ..JoinOptions::default()
    };
    let features = store.join_columns(&options)?;
    let header = io::output_header(&table, &features);
    let rows = table.len() as u64;
    let load_s = start.elapsed().as_secs_f64();
    let joined = Instant::now();
    let plan = match &args.out {
        Some(path) => {
            let mut write_err = None;
            let plan = store.join_to_file(&table, &options, path, &mut |b| {
                bars.update("joining", (b.start + b.len) as u64, rows);
                if json && write_err.is_none() {
                    write_err = io::write_json_rows(out, &table, &header, b).err();
                }
            })?;
            if let Some(e) = write_err {
                return Err(stdout_error(e));
            }
            if !json {
                let summary = summary(
                    &plan,
                    rows,
                    load_s,
                    joined.elapsed().as_secs_f64(),
                    Some(path),
                );
                out.write_all(summary.as_bytes()).map_err(stdout_error)?;
            }
            plan
        }
        None => {
            if !json {
                io::write_csv_header(out, &header).map_err(stdout_error)?;
            }
            store.join(&table, &options, |b| {
                bars.update("joining", (b.start + b.len) as u64, rows);
                let r = if json {
                    io::write_json_rows(out, &table, &header, &b)
                } else {
                    io::write_csv_rows(out, &table, &b)
                };
                r.map_err(stdout_error)
            })?
        }
    };
    Ok(plan)
}

/// The human summary of a join written to a file.
fn summary(plan: &JoinPlan, rows: u64, load_s: f64, join_s: f64, path: Option<&PathBuf>) -> String {
    let mut s = format!(
        "joined {rows} entity rows with {} views in {} s ({} rows/s; files read in {} s)\n",
        plan.counts.len(),
        sig3(join_s),
        sig3(rows as f64 / join_s.max(1e-9)),
        sig3(load_s)
    );
    s.push_str(&format!(
        "{:<20} {:>12} {:>12} {:>12}\n",
        "view", "found", "expired", "missing"
    ));
    for c in &plan.counts {
        s.push_str(&format!(
            "{:<20} {:>12} {:>12} {:>12}\n",
            c.view, c.found, c.expired, c.missing
        ));
    }
    if let Some(p) = path {
        s.push_str(&format!(
            "wrote {} ({} columns)\n",
            p.display(),
            plan.columns.len() + 2
        ));
    }
    s
}

/// Arguments of `unidb features bench`; defaults from
/// [`FeatureBenchOptions::default`].
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct FeaturesBenchArgs {
    /// Entity rows joined.
    #[arg(long, default_value_t = FeatureBenchOptions::default().entity_rows, value_parser = at_least_one::<usize>)]
    pub entity_rows: usize,
    /// Views.
    #[arg(long, default_value_t = FeatureBenchOptions::default().views, value_parser = at_least_one::<usize>)]
    pub views: usize,
    /// Rows per view.
    #[arg(long, default_value_t = FeatureBenchOptions::default().view_rows, value_parser = at_least_one::<usize>)]
    pub view_rows: usize,
    /// Distinct entities.
    #[arg(long, default_value_t = FeatureBenchOptions::default().entities, value_parser = at_least_one::<usize>)]
    pub entities: usize,
    /// Float features per view.
    #[arg(long, default_value_t = FeatureBenchOptions::default().features)]
    pub features: usize,
    /// TTL of every view, seconds.
    #[arg(long, default_value_t = FeatureBenchOptions::default().ttl_s)]
    pub ttl_s: u64,
    /// Time span of the data, seconds.
    #[arg(long, default_value_t = FeatureBenchOptions::default().span_s, value_parser = at_least_one::<u64>)]
    pub span_s: u64,
    /// Entities per online request.
    #[arg(long, default_value_t = FeatureBenchOptions::default().online_entities, value_parser = at_least_one::<usize>)]
    pub online_entities: usize,
    /// Online requests.
    #[arg(long, default_value_t = FeatureBenchOptions::default().online_rounds, value_parser = at_least_one::<usize>)]
    pub online_rounds: usize,
    /// Join with known_at = each entity row's time.
    #[arg(long)]
    pub known_at: bool,
    /// Entity rows per join chunk.
    #[arg(long, default_value_t = FeatureBenchOptions::default().chunk_rows, value_parser = at_least_one::<usize>)]
    pub chunk_rows: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = FeatureBenchOptions::default().seed)]
    pub seed: u64,
    /// Also write the data and the join's output as .npy files in this
    /// directory (what `benches/features/pandas_join.py` reads).
    #[arg(long, value_name = "DIR")]
    pub write_npy: Option<PathBuf>,
}

impl From<&FeaturesBenchArgs> for FeatureBenchOptions {
    fn from(a: &FeaturesBenchArgs) -> Self {
        FeatureBenchOptions {
            entity_rows: a.entity_rows,
            views: a.views,
            view_rows: a.view_rows,
            entities: a.entities,
            features: a.features,
            ttl_s: a.ttl_s,
            span_s: a.span_s,
            online_entities: a.online_entities,
            online_rounds: a.online_rounds,
            known_at: a.known_at,
            chunk_rows: a.chunk_rows,
            seed: a.seed,
        }
    }
}

/// Runs `unidb features bench` and returns its report (text, or one
/// JSON object with `json`).
///
/// # Errors
/// Invalid options, or a failed write of the `.npy` files.
pub fn bench(args: &FeaturesBenchArgs, json: bool) -> Result<String, FeatureError> {
    let opts = FeatureBenchOptions::from(args);
    let bars = StageBars::new(progress_enabled(json));
    let (report, store, table, batches) = run_bench(&opts, &mut |stage, done, total| {
        bars.update(stage, done as u64, total as u64)
    })?;
    if let Some(dir) = &args.write_npy {
        bars.update("writing npy", 0, 1);
        write_npy(dir, &opts, &store, &table, &batches)?;
    }
    drop(bars);
    Ok(format_report(&report, json))
}

/// The bench report: text figures to 3 significant digits, or JSON.
pub fn format_report(r: &FeatureBenchReport, json: bool) -> String {
    if json {
        return format!(
            "{}\n",
            serde_json::to_value(r).unwrap_or(serde_json::Value::Null)
        );
    }
    format!(
        "point-in-time join: {} entity rows x {} views of {} rows\n\
         \x20 join: {} s, {} rows/s, {} lookups/s (found {}, expired {}, missing {}); {} CPU s\n\
         \x20 online ({} entities x {} views per request, {} requests): p50 {} us, p99 {} us, {} lookups/s; {} CPU us per request\n\
         \x20 data generated and loaded in {} s\n",
        r.entity_rows,
        r.views,
        r.view_rows,
        sig3(r.join_s),
        sig3(r.join_rows_per_s),
        sig3(r.join_lookups_per_s),
        r.found,
        r.expired,
        r.missing,
        r.join_cpu_s.map_or("-".to_owned(), sig3),
        r.online_entities,
        r.views,
        r.online_requests,
        sig3(r.online_p50_us),
        sig3(r.online_p99_us),
        sig3(r.online_lookups_per_s),
        r.online_cpu_us.map_or("-".to_owned(), sig3),
        sig3(r.generate_s),
    )
}

#[cfg(test)]
mod tests;
