//! Typed configuration: validation, named profiles, JSON load and save.
//!
//! * [`Validate`] checks a config; helpers such as [`check_range`] produce
//!   [`ErrorKind::Configuration`] errors whose location is the field path and
//!   whose message states the allowed range.
//! * [`Profiles`] holds a base config plus named overrides (e.g.
//!   `"low-power"`). Overrides are JSON objects merged field by field into
//!   the base, so any field, however deeply nested, can be overridden, and a
//!   misspelt field is an error rather than silently ignored.
//! * [`from_json_str`], [`from_json_value`], [`load_json`] and [`save_json`]
//!   read and write configs; type errors name the field path
//!   (`cache.max_bytes: invalid type ...`).
//! * [`unknown_field`] finds a key of a set of overrides that a config
//!   does not have, and [`merge_json`] merges overrides into its defaults:
//!   with [`from_json_value`], how a plugin reads the parameters it is given.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use unidb_common::config::{check_range, Profiles, Validate};
//! use unidb_common::{ErrorKind, Result};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! struct Engine { threads: u32, cache_mb: u64 }
//!
//! impl Validate for Engine {
//!     fn validate(&self) -> Result<()> {
//!         check_range("threads", self.threads, 1..=256)?;
//!         check_range("cache_mb", self.cache_mb, 1..=1 << 20)
//!     }
//! }
//!
//! let profiles = Profiles::new(&Engine { threads: 8, cache_mb: 512 })?
//!     .with_profile("low-power", serde_json::json!({ "threads": 1, "cache_mb": 32 }))?;
//! assert_eq!(profiles.resolve("low-power")?, Engine { threads: 1, cache_mb: 32 });
//!
//! // A profile whose merged config is invalid is rejected when added:
//! let err = profiles.with_profile("broken", serde_json::json!({ "threads": 0 })).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Configuration);
//! assert_eq!(err.location(), Some("threads"));
//! assert!(err.message().contains("1..=256"));
//! # Ok::<(), unidb_common::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::RangeInclusive;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// A configuration that can check itself.
pub trait Validate {
    /// `Ok(())` if every field is acceptable, else a
    /// [`ErrorKind::Configuration`] error naming the first bad field.
    fn validate(&self) -> Result<()>;
}

/// Fails unless `value` lies in `range`; the error's location is `field` and
/// its message states the value and the allowed range.
pub fn check_range<T: PartialOrd + fmt::Display>(
    field: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<()> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(Error::configuration(
            format!(
                "{value} is outside the allowed range {}..={}",
                range.start(),
                range.end()
            ),
            field.to_owned(),
        ))
    }
}

/// Fails unless `value` is one of `allowed`; the message lists them.
pub fn check_one_of(field: &str, value: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(Error::configuration(
            format!("{value:?} is not one of {}", allowed.join(", ")),
            field.to_owned(),
        ))
    }
}

/// Fails with `message` at `field` unless `ok`.
pub fn check(ok: bool, field: &str, message: impl fmt::Display) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::configuration(message.to_string(), field.to_owned()))
    }
}

/// Validates a nested config, prefixing error locations with `prefix`
/// (`"cache"` + `"max_bytes"` gives `"cache.max_bytes"`).
pub fn validate_nested(prefix: &str, nested: &impl Validate) -> Result<()> {
    nested.validate().map_err(|e| {
        let loc = match e.location() {
            Some(l) if !l.is_empty() => format!("{prefix}.{l}"),
            _ => prefix.to_owned(),
        };
        e.with_location(loc)
    })
}

/// Parses a config from JSON text and validates it. Type errors name the
/// field path; `source` (a file name, "defaults", ...) is added as context.
pub fn from_json_str<C: DeserializeOwned + Validate>(text: &str, source: &str) -> Result<C> {
    let c = parse_json_path::<C>(text).map_err(|e| e.context(format!("reading {source}")))?;
    c.validate()
        .map_err(|e| e.context(format!("validating {source}")))?;
    Ok(c)
}

/// Serializes a config as pretty-printed JSON.
pub fn to_json_string<C: Serialize>(config: &C) -> Result<String> {
    serde_json::to_string_pretty(config).map_err(Error::from)
}

/// Reads, parses and validates a JSON config file (at most 16 MiB).
pub fn load_json<C: DeserializeOwned + Validate>(path: impl AsRef<Path>) -> Result<C> {
    let path = path.as_ref();
    let text = read_bounded(path)?;
    from_json_str(&text, &path.display().to_string())
}

/// Writes `config` as pretty-printed JSON to `path` (after validating it),
/// through a temporary file renamed into place.
pub fn save_json<C: Serialize + Validate>(path: impl AsRef<Path>, config: &C) -> Result<()> {
    config.validate()?;
    write_atomic(path.as_ref(), &to_json_string(config)?)
}

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

fn read_bounded(path: &Path) -> Result<String> {
    let here = || path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::from(e).with_location(here()))?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(Error::configuration(
            format!(
                "config file is {} bytes; the limit is {MAX_CONFIG_BYTES}",
                meta.len()
            ),
            here(),
        ));
    }
    std::fs::read_to_string(path).map_err(|e| Error::from(e).with_location(here()))
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let here = || path.display().to_string();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(|e| Error::from(e).with_location(here()))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::from(e).with_location(here()))
}

fn parse_json_path<C: DeserializeOwned>(text: &str) -> Result<C> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let c: C = serde_path_to_error::deserialize(de).map_err(path_error)?;
    Ok(c)
}

fn from_value_path<C: DeserializeOwned>(v: Value) -> Result<C> {
    serde_path_to_error::deserialize(v).map_err(path_error)
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let location = if path == "." { String::new() } else { path };
    let err = Error::new(ErrorKind::Configuration, inner.to_string());
    let err = if location.is_empty() {
        err
    } else {
        err.with_location(location)
    };
    err.with_source(inner)
}

/// Merges `overlay` into `base`: objects merge key by key (recursively);
/// any other overlay value (including `null` and arrays) replaces the base
/// value.
pub fn merge_json(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, ov) in o {
                match b.get_mut(k) {
                    Some(bv) => merge_json(bv, ov),
                    None => {
                        b.insert(k.clone(), ov.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The first key path in `overlay` that `base` does not have: objects are
/// compared key by key, recursively, and the path joins keys with `.`
/// (`"cache.max_bytse"`). `None` when every key of `overlay` is a key of
/// `base` (or either is not an object). With the JSON of a config's
/// defaults as `base`, this finds a misspelt or foreign field in a set of
/// overrides before they are merged with [`merge_json`].
///
/// ```
/// use serde_json::json;
/// use unidb_common::config::unknown_field;
///
/// let base = json!({"threads": 8, "cache": {"max_bytes": 1024}});
/// assert_eq!(unknown_field(&base, &json!({"cache": {"max_bytse": 1}})).as_deref(), Some("cache.max_bytse"));
/// assert_eq!(unknown_field(&base, &json!({"threads": 2})), None);
/// ```
pub fn unknown_field(base: &Value, overlay: &Value) -> Option<String> {
    unknown_field_at(base, overlay, "")
}

fn unknown_field_at(base: &Value, overlay: &Value, prefix: &str) -> Option<String> {
    let (Value::Object(b), Value::Object(o)) = (base, overlay) else {
        return None;
    };
    for (k, ov) in o {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match b.get(k) {
            None => return Some(path),
            Some(bv) => {
                if let Some(p) = unknown_field_at(bv, ov, &path) {
                    return Some(p);
                }
            }
        }
    }
    None
}

/// Deserializes a config from a JSON value and validates it. A type error
/// is a [`ErrorKind::Configuration`] error whose location is the field
/// path; a validation error is the config's own (naming its field).
pub fn from_json_value<C: DeserializeOwned + Validate>(value: Value) -> Result<C> {
    let c: C = from_value_path(value)?;
    c.validate()?;
    Ok(c)
}

/// A base config and named overrides ("profiles") of type `C`.
///
/// The base is stored as the JSON serialization of a `C`; each profile is
/// a JSON object holding only the fields it changes. Serializes as
/// `{"base": {...}, "profiles": {"name": {...}}}`, so a whole set of
/// profiles is one file ([`Profiles::load`], [`Profiles::save`]).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Profiles<C> {
    base: Value,
    #[serde(default)]
    profiles: BTreeMap<String, Value>,
    #[serde(skip)]
    _config: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for Profiles<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profiles")
            .field("base", &self.base)
            .field("profiles", &self.profiles)
            .finish()
    }
}

impl<C> Clone for Profiles<C> {
    fn clone(&self) -> Self {
        Self {
            base: self.base.clone(),
            profiles: self.profiles.clone(),
            _config: PhantomData,
        }
    }
}

impl<C> PartialEq for Profiles<C> {
    fn eq(&self, other: &Self) -> bool {
        self.base == other.base && self.profiles == other.profiles
    }
}

impl<C: Serialize + DeserializeOwned + Validate> Profiles<C> {
    /// Profiles over `base` (validated first), with no named profile yet.
    pub fn new(base: &C) -> Result<Self> {
        base.validate()
            .map_err(|e| e.context("validating the base config"))?;
        let base = serde_json::to_value(base)?;
        if !base.is_object() {
            return Err(Error::configuration(
                "a config with profiles must serialize to a JSON object",
                "base",
            ));
        }
        Ok(Self {
            base,
            profiles: BTreeMap::new(),
            _config: PhantomData,
        })
    }

    /// Adds (or replaces) the profile `name` and returns `self`.
    pub fn with_profile(mut self, name: &str, overrides: Value) -> Result<Self> {
        self.add_profile(name, overrides)?;
        Ok(self)
    }

    /// Adds (or replaces) the profile `name`: `overrides` must be a JSON
    /// object naming only fields the config has, and the merged config must
    /// deserialize and validate.
    pub fn add_profile(&mut self, name: &str, overrides: Value) -> Result<()> {
        if name.is_empty() {
            return Err(Error::configuration("profile name is empty", "profiles"));
        }
        if !overrides.is_object() {
            return Err(Error::configuration(
                format!("profile overrides must be a JSON object, got {overrides}"),
                format!("profiles.{name}"),
            ));
        }
        self.merged(name, &overrides)?;
        self.profiles.insert(name.to_owned(), overrides);
        Ok(())
    }

    /// Names of the profiles, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.profiles.keys().map(String::as_str)
    }

    /// The overrides of profile `name`.
    pub fn overrides(&self, name: &str) -> Option<&Value> {
        self.profiles.get(name)
    }

    /// The base config.
    pub fn base(&self) -> Result<C> {
        let c: C =
            from_value_path(self.base.clone()).map_err(|e| e.context("reading the base config"))?;
        c.validate()
            .map_err(|e| e.context("validating the base config"))?;
        Ok(c)
    }

    /// The config of profile `name`: the base with its overrides merged in,
    /// validated. `"base"` (unless a profile has that name) gives the base.
    pub fn resolve(&self, name: &str) -> Result<C> {
        match self.profiles.get(name) {
            Some(o) => self.merged(name, o),
            None if name == "base" => self.base(),
            None => {
                let known: Vec<&str> = self.names().collect();
                Err(Error::not_found(
                    format!(
                        "no profile named {name:?}; known profiles: base{}{}",
                        if known.is_empty() { "" } else { ", " },
                        known.join(", ")
                    ),
                    "profiles",
                ))
            }
        }
    }

    fn merged(&self, name: &str, overrides: &Value) -> Result<C> {
        if let Some(path) = unknown_field(&self.base, overrides) {
            return Err(Error::configuration(
                format!("profile {name:?} overrides unknown field {path:?}"),
                path,
            ));
        }
        let mut v = self.base.clone();
        merge_json(&mut v, overrides);
        let ctx = format!("applying profile {name:?}");
        let c: C = from_value_path(v).map_err(|e| e.context(ctx.clone()))?;
        c.validate().map_err(|e| e.context(ctx))?;
        Ok(c)
    }

    /// Parses profiles from JSON text, checking every profile resolves.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let p: Self = parse_json_path(text)?;
        if !p.base.is_object() {
            return Err(Error::configuration(
                "the base config must be a JSON object",
                "base",
            ));
        }
        p.base()?;
        for (name, o) in &p.profiles {
            if !o.is_object() {
                return Err(Error::configuration(
                    format!("profile overrides must be a JSON object, got {o}"),
                    format!("profiles.{name}"),
                ));
            }
            p.merged(name, o)?;
        }
        Ok(p)
    }

    /// The profiles as pretty-printed JSON.
    pub fn to_json_string(&self) -> Result<String> {
        to_json_string(self)
    }

    /// Reads profiles from a JSON file (at most 16 MiB).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = read_bounded(path)?;
        Self::from_json_str(&text).map_err(|e| e.context(format!("reading {}", path.display())))
    }

    /// Writes the profiles to a JSON file through a temporary file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), &self.to_json_string()?)
    }
}
