//! `unidb experiment`: A/B assignment and analysis on
//! `unidb_vectordb::experiments` — `hash`, `assign`, `analyze`, `srm`,
//! `adjust`, and `bench` (aggregation throughput). Input is JSON (or CSV
//! event logs); output is a human table by default and, with `--json`,
//! one JSON object per line.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use unidb_vectordb::experiments::{
    adjust, aggregate, analyze, hash_with, srm, AnalysisOptions, AnalysisSpec, Arm, Comparison,
    Correction, EventLog, Experiment, ExperimentConfig, ExperimentError, HashUnits, Metric,
    Namespace, TestKind,
};

use crate::compress::{read_csv, CompressError};
use crate::output::{progress_enabled, sig3, Spinner};

/// Errors of `unidb experiment`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentCliError {
    /// The library refused the input.
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path (`-` for standard input).
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Malformed CSV.
    #[error(transparent)]
    Csv(#[from] CompressError),
    /// A CSV column the command needs that the file lacks.
    #[error("no column {name:?}; columns: {}", known.join(", "))]
    NoColumn {
        /// The name asked for.
        name: String,
        /// The file's columns.
        known: Vec<String>,
    },
    /// A cell that is not a number.
    #[error("column {column:?}, row {row}: {value:?} is not a number")]
    BadCell {
        /// The column.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The cell.
        value: String,
    },
    /// A bad option value.
    #[error("{0}")]
    Usage(String),
}

impl ExperimentCliError {
    /// The project-wide category: the library's kinds, an unreadable file
    /// its I/O error's, a missing column `NotFound`, a bad cell or option
    /// `Validation`.
    pub fn kind(&self) -> unidb_common::ErrorKind {
        use unidb_common::ErrorKind;
        match self {
            ExperimentCliError::Experiment(e) => e.kind(),
            ExperimentCliError::Io { source, .. } => ErrorKind::of_io(source.kind()),
            ExperimentCliError::Csv(e) => e.kind(),
            ExperimentCliError::NoColumn { .. } => ErrorKind::NotFound,
            ExperimentCliError::BadCell { .. } | ExperimentCliError::Usage(_) => {
                ErrorKind::Validation
            }
        }
    }
}

impl From<ExperimentCliError> for unidb_common::Error {
    fn from(e: ExperimentCliError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}

type Result<T, E = ExperimentCliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;

/// The `unidb experiment` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ExperimentCommand {
    /// GrowthBook's hash of each value: `{"value", "hash"}` per value.
    Hash(HashArgs),
    /// Assign ids to variants: `{"id", "variant"}` per id (`variant` null
    /// when the id is not in the experiment).
    Assign(AssignArgs),
    /// Analyse an experiment from a JSON spec (a file or `-`) or a CSV event
    /// log: one result per treatment against the control.
    Analyze(AnalyzeArgs),
    /// Sample-ratio mismatch: chi-square of the counts against the weights.
    Srm(SrmArgs),
    /// Adjust p-values for multiple comparisons, in input order.
    Adjust(AdjustArgs),
    /// Aggregation throughput: seeded events into per-variant sufficient
    /// statistics on every core.
    Bench(BenchArgs),
}

fn parse_units(s: &str) -> Result<HashUnits, String> {
    match s {
        "utf16" => Ok(HashUnits::Utf16),
        "utf8" => Ok(HashUnits::Utf8),
        _ => Err(format!("{s:?}: expected utf16 or utf8")),
    }
}

fn parse_version(s: &str) -> Result<u32, String> {
    match s.trim() {
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err(format!("{s:?}: expected 1 or 2")),
    }
}

/// `NAME:START:END`.
fn parse_namespace(s: &str) -> Result<Namespace, String> {
    let mut parts = s.rsplitn(3, ':');
    let (Some(end), Some(start), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("{s:?}: expected NAME:START:END"));
    };
    let num = |x: &str| x.parse::<f64>().map_err(|e| format!("{x:?}: {e}"));
    Namespace::new(name, num(start)?, num(end)?).map_err(|e| e.to_string())
}

/// `ID=VARIANT`.
fn parse_forced(s: &str) -> Result<(String, usize), String> {
    let (id, v) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("{s:?}: expected ID=VARIANT"))?;
    let v = v.parse::<usize>().map_err(|e| format!("{v:?}: {e}"))?;
    Ok((id.to_owned(), v))
}

fn units_name(u: HashUnits) -> &'static str {
    match u {
        HashUnits::Utf16 => "utf16",
        HashUnits::Utf8 => "utf8",
    }
}

/// The arguments of `unidb experiment hash`.
#[derive(Debug, Clone, clap::Args)]
pub struct HashArgs {
    /// The hash seed.
    #[arg(long, default_value = "")]
    pub seed: String,
    /// GrowthBook hash version: 1 or 2.
    #[arg(long, value_parser = parse_version,
          default_value_t = ExperimentConfig::default().hash_version)]
    pub version: u32,
    /// Hash UTF-16 code units (the JavaScript and Python SDKs) or UTF-8
    /// bytes.
    #[arg(long, value_parser = parse_units,
          default_value = units_name(ExperimentConfig::default().units))]
    pub units: HashUnits,
    /// The values to hash.
    #[arg(required = true)]
    pub values: Vec<String>,
}

/// The arguments of `unidb experiment assign`; defaults from
/// [`ExperimentConfig::default`].
#[derive(Debug, Clone, clap::Args)]
pub struct AssignArgs {
    /// The experiment's key (also the seed unless `--seed` is given).
    #[arg(long)]
    pub key: String,
    /// The hash seed.
    #[arg(long)]
    pub seed: Option<String>,
    /// GrowthBook hash version: 1 or 2.
    #[arg(long, value_parser = parse_version,
          default_value_t = ExperimentConfig::default().hash_version)]
    pub hash_version: u32,
    /// One weight per variant, separated by commas, summing to 1.
    #[arg(long, value_delimiter = ',', default_values_t = ExperimentConfig::default().weights)]
    pub weights: Vec<f64>,
    /// The share of ids in the experiment, in [0, 1].
    #[arg(long, default_value_t = ExperimentConfig::default().coverage)]
    pub coverage: f64,
    /// The experiment's namespace share, NAME:START:END.
    #[arg(long, value_parser = parse_namespace)]
    pub namespace: Option<Namespace>,
    /// A forced variant, ID=VARIANT (repeatable).
    #[arg(long = "force", value_parser = parse_forced)]
    pub forced: Vec<(String, usize)>,
    /// Hash UTF-16 code units (the JavaScript and Python SDKs) or UTF-8
    /// bytes.
    #[arg(long, value_parser = parse_units,
          default_value = units_name(ExperimentConfig::default().units))]
    pub units: HashUnits,
    /// The ids to assign.
    #[arg(required = true)]
    pub ids: Vec<String>,
}

impl AssignArgs {
    /// The experiment settings these arguments describe.
    pub fn config(&self) -> ExperimentConfig {
        ExperimentConfig {
            key: self.key.clone(),
            seed: self.seed.clone(),
            hash_version: self.hash_version,
            weights: self.weights.clone(),
            coverage: self.coverage,
            namespace: self.namespace.clone(),
            forced: self.forced.iter().cloned().collect(),
            units: self.units,
        }
    }
}

fn parse_metric(s: &str) -> Result<Metric, String> {
    serde_json::from_value(json!(s))
        .map_err(|_| format!("{s:?}: expected mean, proportion or ratio"))
}

fn parse_test(s: &str) -> Result<TestKind, String> {
    serde_json::from_value(json!(s))
        .map_err(|_| format!("{s:?}: expected welch, student, ztest or gbstats"))
}

fn parse_correction(s: &str) -> Result<Correction, String> {
    s.parse::<Correction>().map_err(|e| e.to_string())
}

/// The arguments of `unidb experiment analyze`.
#[derive(Debug, Clone, clap::Args)]
pub struct AnalyzeArgs {
    /// The analysis as JSON (a file, or `-` for standard input).
    #[arg(required_unless_present = "events", conflicts_with = "events")]
    pub spec: Option<PathBuf>,
    /// A CSV event log with a header line, one unit per row.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// The event log's variant column.
    #[arg(long)]
    pub variant_col: Option<String>,
    /// The event log's value column (a ratio's numerator).
    #[arg(long)]
    pub value_col: Option<String>,
    /// The event log's pre-period column (turns CUPED on).
    #[arg(long)]
    pub pre_col: Option<String>,
    /// The event log's denominator column (for `--metric ratio`).
    #[arg(long)]
    pub den_col: Option<String>,
    /// How the event log's metric is summarised: mean (default),
    /// proportion or ratio.
    #[arg(long, value_parser = parse_metric)]
    pub metric: Option<Metric>,
    /// The test: welch (default), student, ztest or gbstats.
    #[arg(long, value_parser = parse_test)]
    pub test: Option<TestKind>,
    /// The significance level (default 0.05).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// GrowthBook's sequential tuning parameter (always-valid results).
    #[arg(long)]
    pub sequential_tuning: Option<f64>,
    /// The control variant (default: the first in the log).
    #[arg(long)]
    pub control: Option<String>,
    /// Adjust p-values across treatments: bonferroni, holm or bh.
    #[arg(long, value_parser = parse_correction)]
    pub correction: Option<Correction>,
}

/// The arguments of `unidb experiment srm`.
#[derive(Debug, Clone, clap::Args)]
pub struct SrmArgs {
    /// Units per variant, separated by commas.
    #[arg(long, value_delimiter = ',', required = true)]
    pub counts: Vec<u64>,
    /// The configured weights, separated by commas (default: equal).
    #[arg(long, value_delimiter = ',')]
    pub weights: Option<Vec<f64>>,
}

/// The arguments of `unidb experiment adjust`.
#[derive(Debug, Clone, clap::Args)]
pub struct AdjustArgs {
    /// bonferroni, holm or bh (Benjamini–Hochberg).
    #[arg(long, value_parser = parse_correction)]
    pub method: Correction,
    /// The p-values.
    #[arg(required = true, allow_negative_numbers = true)]
    pub p: Vec<f64>,
}

/// The arguments of `unidb experiment bench`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct BenchArgs {
    /// Events to aggregate.
    #[arg(long, default_value_t = 100_000_000, value_parser = crate::at_least_one::<usize>)]
    pub events: usize,
    /// Variants.
    #[arg(long, default_value_t = 2, value_parser = crate::at_least_one::<u32>)]
    pub variants: u32,
    /// Give each event a pre-period value too (CUPED's covariate).
    #[arg(long)]
    pub pre: bool,
    /// Timed repetitions (the best is reported).
    #[arg(long, default_value_t = 3, value_parser = crate::at_least_one::<u32>)]
    pub repeat: u32,
    /// Seed of the generated events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl ExperimentCommand {
    /// Runs the subcommand and returns what it prints.
    ///
    /// # Errors
    /// The library's typed errors; unreadable or malformed input files.
    pub fn run(&self, json: bool) -> Result<String> {
        match self {
            ExperimentCommand::Hash(a) => run_hash(a, json),
            ExperimentCommand::Assign(a) => run_assign(a, json),
            ExperimentCommand::Analyze(a) => run_analyze(a, json),
            ExperimentCommand::Srm(a) => {
                let r = srm(&a.counts, a.weights.as_deref())?;
                Ok(if json {
                    format!(
                        "{}\n",
                        json!({"chi2": r.chi2, "p": r.p, "mismatch": r.mismatch})
                    )
                } else {
                    format!(
                        "chi2 {}  p {}  {}\n",
                        sig3(r.chi2),
                        fmt_p(r.p),
                        if r.mismatch {
                            "MISMATCH (p < 0.001)"
                        } else {
                            "no mismatch"
                        }
                    )
                })
            }
            ExperimentCommand::Adjust(a) => {
                let adjusted = adjust(&a.p, a.method)?;
                let mut out = String::new();
                if !json {
                    let _ = writeln!(out, "{:>12} {:>12}", "p", "adjusted");
                }
                for (p, q) in a.p.iter().zip(adjusted) {
                    if json {
                        let _ = writeln!(out, "{}", json!({"p": p, "adjusted": q}));
                    } else {
                        let _ = writeln!(out, "{:>12} {:>12}", fmt_p(*p), fmt_p(q));
                    }
                }
                Ok(out)
            }
            ExperimentCommand::Bench(a) => run_bench(a, json),
        }
    }
}

fn run_hash(a: &HashArgs, json: bool) -> Result<String> {
    let mut out = String::new();
    for v in &a.values {
        let h = hash_with(&a.seed, v, a.version, a.units)?;
        if json {
            let _ = writeln!(out, "{}", json!({"value": v, "hash": h}));
        } else {
            let _ = writeln!(out, "{h}\t{v}");
        }
    }
    Ok(out)
}

fn run_assign(a: &AssignArgs, json: bool) -> Result<String> {
    let exp = Experiment::new(a.config())?;
    let mut out = String::new();
    for id in &a.ids {
        let e = exp.assign(id);
        if json {
            let _ = writeln!(out, "{}", json!({"id": id, "variant": e.variant}));
        } else {
            let v = e.variant.map_or("-".to_owned(), |v| v.to_string());
            let _ = writeln!(out, "{v}\t{id}");
        }
    }
    Ok(out)
}

fn read_input(path: &std::path::Path) -> Result<String> {
    let io = |source| ExperimentCliError::Io {
        path: path.display().to_string(),
        source,
    };
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(io)?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(io)
    }
}

fn run_analyze(a: &AnalyzeArgs, json: bool) -> Result<String> {
    let results = match (&a.spec, &a.events) {
        (Some(spec), None) => {
            // A spec carries its own settings; the event log's flags would
            // be silently ignored.
            let flags = [
                ("--variant-col", a.variant_col.is_some()),
                ("--value-col", a.value_col.is_some()),
                ("--pre-col", a.pre_col.is_some()),
                ("--den-col", a.den_col.is_some()),
                ("--metric", a.metric.is_some()),
                ("--test", a.test.is_some()),
                ("--alpha", a.alpha.is_some()),
                ("--sequential-tuning", a.sequential_tuning.is_some()),
                ("--control", a.control.is_some()),
                ("--correction", a.correction.is_some()),
            ];
            if let Some((flag, _)) = flags.iter().find(|f| f.1) {
                return Err(ExperimentCliError::Usage(format!(
                    "{flag} applies to --events; a JSON spec sets it as a key"
                )));
            }
            AnalysisSpec::from_json(&read_input(spec)?)?.run()?
        }
        (None, Some(events)) => analyze_events(a, events, json)?,
        _ => {
            return Err(ExperimentCliError::Usage(
                "give a JSON spec (a file or -) or --events".into(),
            ))
        }
    };
    Ok(format_results(&results, json))
}

/// A p-value for people: 3 significant digits, in scientific notation
/// below 0.0001.
fn fmt_p(p: f64) -> String {
    if p != 0.0 && p < 1e-4 {
        format!("{p:.2e}")
    } else {
        sig3(p)
    }
}

/// One line per treatment: its JSON object, or a human summary.
pub fn format_results(results: &[Comparison], json: bool) -> String {
    let mut out = String::new();
    for c in results {
        if json {
            let _ = writeln!(out, "{}", serde_json::to_value(c).unwrap_or_default());
            continue;
        }
        let ci = |e: &unidb_vectordb::experiments::Estimate| {
            format!("[{}, {}]", sig3(e.ci95[0]), sig3(e.ci95[1]))
        };
        let _ = write!(
            out,
            "{}: abs {} {} p {}",
            c.variant,
            sig3(c.abs.est),
            ci(&c.abs),
            fmt_p(c.abs.p)
        );
        if let Some(r) = &c.rel {
            let _ = write!(
                out,
                "  rel {}% [{}%, {}%] p {}",
                sig3(100.0 * r.est),
                sig3(100.0 * r.ci95[0]),
                sig3(100.0 * r.ci95[1]),
                fmt_p(r.p)
            );
        }
        if let Some(p) = c.p_adj {
            let _ = write!(out, "  p_adj {}", fmt_p(p));
        }
        if let Some(w) = c.chance_to_win {
            let _ = write!(out, "  chance to win {}%", sig3(100.0 * w));
        }
        if let Some(t) = c.theta {
            let _ = write!(out, "  theta {}", sig3(t));
        }
        out.push('\n');
    }
    out
}

/// Reads a CSV event log and analyses it: variants in order of first
/// appearance (the first is the control unless `--control` names one),
/// aggregated with the library's parallel aggregation.
fn analyze_events(a: &AnalyzeArgs, path: &PathBuf, json: bool) -> Result<Vec<Comparison>> {
    let spinner = Spinner::new(progress_enabled(json), "reading events");
    let file = std::fs::File::open(path).map_err(|source| ExperimentCliError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let table = read_csv(file, b',', &mut |_| {})?;
    let column = |name: &Option<String>, flag: &str| -> Result<Option<usize>> {
        let Some(name) = name else { return Ok(None) };
        match table.header.iter().position(|h| h == name) {
            Some(i) => Ok(Some(i)),
            None => {
                let _ = flag;
                Err(ExperimentCliError::NoColumn {
                    name: name.clone(),
                    known: table.header.clone(),
                })
            }
        }
    };
    let need = |name: &Option<String>, flag: &str| -> Result<usize> {
        column(name, flag)?
            .ok_or_else(|| ExperimentCliError::Usage(format!("--events needs {flag}")))
    };
    let variant_col = need(&a.variant_col, "--variant-col")?;
    let value_col = need(&a.value_col, "--value-col")?;
    let pre_col = column(&a.pre_col, "--pre-col")?;
    let den_col = column(&a.den_col, "--den-col")?;
    if pre_col.is_some() && den_col.is_some() {
        return Err(ExperimentCliError::Usage(
            "--pre-col (CUPED) and --den-col (ratio) cannot be combined".into(),
        ));
    }
    let defaults = AnalysisOptions::default();
    let metric = a.metric.unwrap_or(defaults.metric);
    if (metric == Metric::Ratio) != den_col.is_some() {
        return Err(ExperimentCliError::Usage(
            "--metric ratio and --den-col go together".into(),
        ));
    }
    let numbers = |col: usize| -> Result<Vec<f64>> {
        table.columns[col]
            .iter()
            .enumerate()
            .map(|(row, cell)| {
                cell.trim()
                    .parse::<f64>()
                    .map_err(|_| ExperimentCliError::BadCell {
                        column: table.header[col].clone(),
                        row: row + 1,
                        value: cell.to_owned(),
                    })
            })
            .collect()
    };
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let variant: Vec<u32> = table.columns[variant_col]
        .iter()
        .map(|name| {
            *index.entry(name).or_insert_with(|| {
                names.push(name.to_owned());
                (names.len() - 1) as u32
            })
        })
        .collect();
    let value = numbers(value_col)?;
    let second = pre_col.or(den_col).map(numbers).transpose()?;
    drop(spinner);
    let stats = aggregate(&EventLog {
        variant: &variant,
        value: &value,
        second: second.as_deref(),
        variants: names.len(),
    })?;
    let mut arms: Vec<Arm> = names
        .into_iter()
        .zip(stats)
        .map(|(name, stats)| Arm { name, stats })
        .collect();
    if let Some(control) = &a.control {
        let Some(i) = arms.iter().position(|arm| &arm.name == control) else {
            return Err(ExperimentError::UnknownVariant {
                name: control.clone(),
                known: arms.iter().map(|arm| arm.name.clone()).collect(),
            }
            .into());
        };
        let c = arms.remove(i);
        arms.insert(0, c);
    }
    let options = AnalysisOptions {
        metric,
        test: a.test.unwrap_or(defaults.test),
        alpha: a.alpha.unwrap_or(defaults.alpha),
        sequential_tuning: a.sequential_tuning,
        cuped: pre_col.is_some(),
        correction: a.correction,
        ..defaults
    };
    Ok(analyze(&arms, &options)?)
}

/// Seeded events: variant uniform, value and pre-period value correlated.
fn bench_events(a: &BenchArgs) -> (Vec<u32>, Vec<f64>, Option<Vec<f64>>) {
    let n = a.events;
    let mut rng = unidb_common::rng::SplitMix64::new(a.seed);
    let mut variant = Vec::with_capacity(n);
    let mut value = Vec::with_capacity(n);
    let mut pre = a.pre.then(|| Vec::with_capacity(n));
    for _ in 0..n {
        let k = rng.below(u64::from(a.variants)) as u32;
        let base = 10.0 + 3.0 * rng.f64();
        variant.push(k);
        value.push(base + 0.1 * f64::from(k) + rng.f64());
        if let Some(p) = pre.as_mut() {
            p.push(base);
        }
    }
    (variant, value, pre)
}

fn run_bench(a: &BenchArgs, json: bool) -> Result<String> {
    let spinner = Spinner::new(progress_enabled(json), "generating events");
    let (variant, value, pre) = bench_events(a);
    drop(spinner);
    let spinner = Spinner::new(progress_enabled(json), "aggregating");
    let log = EventLog {
        variant: &variant,
        value: &value,
        second: pre.as_deref(),
        variants: a.variants as usize,
    };
    let mut best = f64::INFINITY;
    let mut stats = Vec::new();
    for _ in 0..a.repeat {
        let t = Instant::now();
        stats = aggregate(&log)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    drop(spinner);
    let rate = a.events as f64 / best;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n: u64 = stats.iter().map(|s| s.n()).sum();
    Ok(if json {
        format!(
            "{}\n",
            json!({"events": a.events, "variants": a.variants, "pre": a.pre,
                   "threads": threads, "seconds": best, "events_per_s": rate, "counted": n})
        )
    } else {
        format!(
            "{} events, {} variants{}: {} s on {} threads, {} events/s\n",
            a.events,
            a.variants,
            if a.pre { " with pre-period values" } else { "" },
            sig3(best),
            threads,
            sig3(rate)
        )
    })
}
