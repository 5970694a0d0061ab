//! Definitions: [`EntityDef`] (the key columns that name an entity),
//! [`ViewDef`] (typed features of one entity over time, with a TTL),
//! [`FeatureType`]; and the time vocabulary: nanosecond timestamps
//! parsed from RFC 3339 or epoch numbers ([`parse_time`]), durations
//! ([`parse_duration`]).

use std::fmt;
use std::time::Duration;

use unidb_common::value::ColumnType;

use super::error::{FeatureError, FeatureResult};

/// The type of a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureType {
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// Boolean.
    Bool,
    /// UTF-8 text.
    Text,
    /// A UTC instant, nanoseconds since the epoch.
    Timestamp,
    /// An `f32` vector of a fixed dimension (at least 1).
    Vector {
        /// The dimension.
        dim: u32,
    },
}

impl FeatureType {
    /// The scalar types' common [`ColumnType`] (a timestamp feature keeps
    /// nanoseconds where `ColumnType::Timestamp` keeps milliseconds, so it
    /// has none; nor has a vector).
    pub fn column_type(self) -> Option<ColumnType> {
        Some(match self {
            FeatureType::Int => ColumnType::I64,
            FeatureType::Float => ColumnType::F64,
            FeatureType::Bool => ColumnType::Bool,
            FeatureType::Text => ColumnType::Text,
            FeatureType::Timestamp | FeatureType::Vector { .. } => return None,
        })
    }

    pub(crate) fn tag(self) -> u8 {
        match self {
            FeatureType::Int => 1,
            FeatureType::Float => 2,
            FeatureType::Bool => 3,
            FeatureType::Text => 4,
            FeatureType::Timestamp => 5,
            FeatureType::Vector { .. } => 6,
        }
    }

    pub(crate) fn from_tag(tag: u8, dim: u32) -> Option<Self> {
        Some(match tag {
            1 => FeatureType::Int,
            2 => FeatureType::Float,
            3 => FeatureType::Bool,
            4 => FeatureType::Text,
            5 => FeatureType::Timestamp,
            6 if dim > 0 => FeatureType::Vector { dim },
            _ => return None,
        })
    }
}

impl fmt::Display for FeatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureType::Int => f.write_str("int"),
            FeatureType::Float => f.write_str("float"),
            FeatureType::Bool => f.write_str("bool"),
            FeatureType::Text => f.write_str("text"),
            FeatureType::Timestamp => f.write_str("timestamp"),
            FeatureType::Vector { dim } => write!(f, "vector[{dim}]"),
        }
    }
}

/// A named, typed feature of a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// Its name (unique in the view).
    pub name: String,
    /// Its type.
    pub ty: FeatureType,
}

/// An entity: what feature rows are about, named by one or more key
/// columns of type [`ColumnType::I64`] or [`ColumnType::Text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityDef {
    /// The entity's name (`"driver"`).
    pub name: String,
    /// The key columns, in order (`[("driver_id", I64)]`).
    pub keys: Vec<(String, ColumnType)>,
}

impl EntityDef {
    /// An entity keyed by one column.
    pub fn new(name: impl Into<String>, key: impl Into<String>, ty: ColumnType) -> Self {
        EntityDef {
            name: name.into(),
            keys: vec![(key.into(), ty)],
        }
    }

    /// Adds a key column (a composite key).
    pub fn key(mut self, name: impl Into<String>, ty: ColumnType) -> Self {
        self.keys.push((name.into(), ty));
        self
    }

    pub(crate) fn validate(&self) -> FeatureResult<()> {
        if self.name.is_empty() {
            return Err(FeatureError::invalid("entity", "empty name"));
        }
        if self.keys.is_empty() {
            return Err(FeatureError::invalid(
                format!("entity {:?}", self.name),
                "no key column",
            ));
        }
        for (i, (name, ty)) in self.keys.iter().enumerate() {
            if !matches!(ty, ColumnType::I64 | ColumnType::Text) {
                return Err(FeatureError::invalid(
                    format!("entity {:?}, key {name:?}", self.name),
                    format!("key columns are i64 or text, not {ty}"),
                ));
            }
            if self.keys[..i].iter().any(|(n, _)| n == name) {
                return Err(FeatureError::AlreadyDefined {
                    what: "column",
                    name: name.clone(),
                });
            }
        }
        Ok(())
    }
}

/// A feature view: typed features of one entity over time.
///
/// Each row has an `event_timestamp` (when the facts were true) and a
/// `created_timestamp` (when they were recorded). A value is served for
/// `ttl` after its event time, inclusive; `None` serves it forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewDef {
    /// The view's name (unique in the store; output columns are
    /// `view__feature`).
    pub name: String,
    /// The entity it describes (an [`EntityDef`] of the store).
    pub entity: String,
    /// Its features, in order.
    pub features: Vec<Feature>,
    /// Time to live in nanoseconds (`None`: no limit).
    pub ttl: Option<i64>,
    /// Who owns it.
    pub owner: String,
    /// What it holds.
    pub description: String,
}

impl ViewDef {
    /// A view of `entity` without features, TTL, owner or description.
    pub fn new(name: impl Into<String>, entity: impl Into<String>) -> Self {
        ViewDef {
            name: name.into(),
            entity: entity.into(),
            features: Vec::new(),
            ttl: None,
            owner: String::new(),
            description: String::new(),
        }
    }

    /// Adds a feature.
    pub fn feature(mut self, name: impl Into<String>, ty: FeatureType) -> Self {
        self.features.push(Feature {
            name: name.into(),
            ty,
        });
        self
    }

    /// Sets the time to live (saturating at `i64::MAX` nanoseconds).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(i64::try_from(ttl.as_nanos()).unwrap_or(i64::MAX));
        self
    }

    /// Sets the owner.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// The index of feature `name`.
    ///
    /// # Errors
    /// [`FeatureError::UnknownFeature`].
    pub fn feature_index(&self, name: &str) -> FeatureResult<usize> {
        self.features
            .iter()
            .position(|f| f.name == name)
            .ok_or_else(|| FeatureError::UnknownFeature {
                view: self.name.clone(),
                name: name.to_owned(),
                known: self.features.iter().map(|f| f.name.clone()).collect(),
            })
    }

    pub(crate) fn validate(&self) -> FeatureResult<()> {
        let what = || format!("view {:?}", self.name);
        if self.name.is_empty() {
            return Err(FeatureError::invalid("view", "empty name"));
        }
        if self.name.contains("__") {
            return Err(FeatureError::invalid(
                what(),
                "a view name cannot hold \"__\" (it separates view and feature in output columns)",
            ));
        }
        if self.ttl.is_some_and(|t| t < 0) {
            return Err(FeatureError::invalid(what(), "negative TTL"));
        }
        for (i, f) in self.features.iter().enumerate() {
            if f.name.is_empty() {
                return Err(FeatureError::invalid(
                    what(),
                    "a feature with an empty name",
                ));
            }
            if matches!(f.ty, FeatureType::Vector { dim: 0 }) {
                return Err(FeatureError::invalid(
                    format!("view {:?}, feature {:?}", self.name, f.name),
                    "vector dimension 0",
                ));
            }
            if self.features[..i].iter().any(|g| g.name == f.name) {
                return Err(FeatureError::AlreadyDefined {
                    what: "feature",
                    name: f.name.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The unit of epoch numbers in timestamp cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeUnit {
    /// Seconds (the default; decimals to the nanosecond allowed).
    #[default]
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

impl TimeUnit {
    /// `"s"`, `"ms"`, `"us"` or `"ns"`.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "s",
            TimeUnit::Millis => "ms",
            TimeUnit::Micros => "us",
            TimeUnit::Nanos => "ns",
        }
    }

    fn nanos(self) -> i128 {
        match self {
            TimeUnit::Seconds => 1_000_000_000,
            TimeUnit::Millis => 1_000_000,
            TimeUnit::Micros => 1_000,
            TimeUnit::Nanos => 1,
        }
    }
}

impl std::str::FromStr for TimeUnit {
    type Err = FeatureError;
    fn from_str(s: &str) -> FeatureResult<Self> {
        Ok(match s {
            "s" => TimeUnit::Seconds,
            "ms" => TimeUnit::Millis,
            "us" => TimeUnit::Micros,
            "ns" => TimeUnit::Nanos,
            _ => {
                return Err(FeatureError::invalid(
                    "epoch unit",
                    format!("{s:?} is not one of s, ms, us, ns"),
                ))
            }
        })
    }
}

/// Parses a timestamp cell to UTC nanoseconds: an RFC 3339 / ISO-8601
/// date-time (no offset means UTC; see
/// [`unidb_common::csv::parse_timestamp_nanos`]) or an epoch number in
/// `unit`, with a fraction if it lands on a whole nanosecond. `None` when
/// it is neither, or does not fit an `i64` of nanoseconds.
///
/// ```
/// use unidb_vectordb::features::{parse_time, TimeUnit};
/// assert_eq!(parse_time("1970-01-01T00:00:01.5Z", TimeUnit::Seconds), Some(1_500_000_000));
/// assert_eq!(parse_time("1.5", TimeUnit::Seconds), Some(1_500_000_000));
/// assert_eq!(parse_time("-2", TimeUnit::Millis), Some(-2_000_000));
/// assert_eq!(parse_time("0.5", TimeUnit::Nanos), None); // not a whole nanosecond
/// ```
pub fn parse_time(cell: &str, unit: TimeUnit) -> Option<i64> {
    let s = cell.trim();
    let ns = match parse_epoch(s, unit.nanos()) {
        Some(ns) => ns,
        None => unidb_common::csv::parse_timestamp_nanos(s)?,
    };
    i64::try_from(ns).ok()
}

/// An epoch number `[-]digits[.digits]` times `scale` nanoseconds, exact.
fn parse_epoch(s: &str, scale: i128) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() > 30
        || frac.len() > 30
    {
        return None;
    }
    let int: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut v = int.checked_mul(scale)?;
    // The fraction: frac / 10^len of a unit, exact in nanoseconds or refused.
    let digits = frac.trim_end_matches('0');
    if !digits.is_empty() {
        let num: i128 = digits.parse().ok()?;
        let den = 10i128.checked_pow(digits.len() as u32)?;
        let scaled = num.checked_mul(scale)?;
        if scaled % den != 0 {
            return None;
        }
        v = v.checked_add(scaled / den)?;
    }
    Some(if neg { -v } else { v })
}

/// Formats nanoseconds since the epoch as RFC 3339 in UTC (`Z`), with as
/// many fraction digits as needed.
///
/// ```
/// use unidb_vectordb::features::format_time;
/// assert_eq!(format_time(1_500_000_000), "1970-01-01T00:00:01.5Z");
/// ```
pub fn format_time(ns: i64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(ts) => ts.to_string(),
        // Every i64 of nanoseconds is in jiff's range; kept total anyway.
        Err(_) => ns.to_string(),
    }
}

/// Parses a duration: a sequence of `<number><unit>` with units `w`, `d`,
/// `h`, `m`, `s`, `ms`, `us`, `ns` (`"1h30m"`, `"7d"`, `"250ms"`), or a
/// plain number of seconds. `"none"` or `"inf"` is no limit (`None`).
///
/// ```
/// use unidb_vectordb::features::parse_duration;
/// assert_eq!(parse_duration("1h30m").unwrap(), Some(5_400_000_000_000));
/// assert_eq!(parse_duration("90").unwrap(), Some(90_000_000_000));
/// assert_eq!(parse_duration("none").unwrap(), None);
/// assert!(parse_duration("3 parsecs").is_err());
/// ```
///
/// # Errors
/// [`FeatureError::Invalid`] naming the text.
pub fn parse_duration(text: &str) -> FeatureResult<Option<i64>> {
    let s = text.trim();
    let bad = |why: &str| FeatureError::invalid(format!("duration {text:?}"), why.to_owned());
    if matches!(s, "none" | "inf" | "infinite") {
        return Ok(None);
    }
    if s.is_empty() {
        return Err(bad("empty"));
    }
    if let Some(ns) = parse_epoch(s, 1_000_000_000) {
        return i64::try_from(ns)
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| bad("out of range (0 to 292 years, whole nanoseconds)"));
    }
    let mut total: i128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if n == 0 {
            return Err(bad("expected a number"));
        }
        let value: i128 = rest[..n].parse().map_err(|_| bad("number too large"))?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale: i128 = match &rest[..u] {
            "w" => 604_800_000_000_000,
            "d" => 86_400_000_000_000,
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" => 1_000,
            "ns" => 1,
            "" => return Err(bad("a number without a unit (w, d, h, m, s, ms, us, ns)")),
            _ => return Err(bad("unknown unit (w, d, h, m, s, ms, us, ns)")),
        };
        rest = &rest[u..];
        total = value
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("out of range"))?;
    }
    i64::try_from(total)
        .map(Some)
        .map_err(|_| bad("out of range (at most 292 years)"))
}
