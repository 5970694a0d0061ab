//! Typed plugin parameters: each plugin declares its own parameter types
//! and reads what it is given through [`Params::get`].

use std::any::Any;
use std::borrow::Cow;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use unidb_common::config::{self, Validate};

use crate::error::{Result, VectorError};

/// The typed parameters of a plugin: what an index is built with or
/// searched with (e.g. [`HnswConfig`](crate::hnsw::HnswConfig) and
/// [`HnswSearch`](crate::hnsw::HnswSearch)).
///
/// A parameter type is a struct whose `Default` holds every default, so a
/// caller names only what it changes; serde gives its fields their names
/// (the keys of [`Params::json`]); [`Validate`] checks the values, naming
/// the field (see [`unidb_common::config::check_range`]). Every type with
/// those traits is one: a plugin defined in another crate declares its
/// own.
pub trait PluginConfig:
    Serialize + DeserializeOwned + Default + Validate + Clone + Send + Sync + 'static
{
}

impl<T> PluginConfig for T where
    T: Serialize + DeserializeOwned + Default + Validate + Clone + Send + Sync + 'static
{
}

/// The parameters of a plugin without any: no key is accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl Validate for NoParams {
    fn validate(&self) -> unidb_common::Result<()> {
        Ok(())
    }
}

/// A typed value with its type erased, so [`Params`] can carry any plugin's
/// parameter type.
trait Erased: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn to_json(&self) -> serde_json::Result<Value>;
    fn type_name(&self) -> &'static str;
}

impl<C: PluginConfig> Erased for C {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn to_json(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<C>()
    }
}

#[derive(Clone, Copy, Default)]
enum Source<'a> {
    #[default]
    Defaults,
    Typed(&'a dyn Erased),
    Json(&'a Value),
}

/// The parameters handed to a plugin: none (every default), a typed value,
/// or a JSON object naming the parameters to change.
///
/// The plugin reads them as its own parameter type with [`Params::get`]:
/// a typed value of that type as it is (no parsing, so the search hot
/// path pays a type check), anything else by field name over the
/// defaults, so a key the type does not have is a
/// [`VectorError::UnknownParam`] and a bad value a
/// [`VectorError::InvalidParam`], both naming the key.
///
/// ```
/// use serde_json::json;
/// use unidb_vectordb::hnsw::HnswConfig;
/// use unidb_vectordb::{Collection, CollectionConfig, Params, VectorError};
/// # fn main() -> Result<(), VectorError> {
/// let mut c = Collection::new(CollectionConfig::new(2, "l2"))?;
/// c.insert(1u64, &[0.0, 1.0], None)?;
/// // Typed, for a plugin whose type the caller knows.
/// let config = HnswConfig { m: 8, ..HnswConfig::default() };
/// c.create_index("typed", "hnsw", Params::typed(&config))?;
/// // By name, e.g. from a configuration file.
/// let config = json!({"m": 8, "ef_search": 32});
/// c.create_index("by-name", "hnsw", Params::json(&config))?;
/// // Another plugin's parameter: an error naming it.
/// let config = json!({"m": 8});
/// let err = c.create_index("bad", "ivf", Params::json(&config)).unwrap_err();
/// assert!(matches!(err, VectorError::UnknownParam { ref key, .. } if key == "m"));
/// assert!(err.to_string().contains("nlist, nprobe"), "{err}");
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Default)]
pub struct Params<'a>(Source<'a>);

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Source::Defaults => f.write_str("Params::defaults()"),
            Source::Typed(t) => write!(f, "Params::typed(<{}>)", t.type_name()),
            Source::Json(v) => write!(f, "Params::json({v})"),
        }
    }
}

impl<'a> Params<'a> {
    /// Every parameter at its default.
    pub const fn defaults() -> Self {
        Params(Source::Defaults)
    }

    /// A typed value. A plugin whose parameter type is `C` reads it as it
    /// is; another plugin reads its fields by name, as from
    /// [`Params::json`].
    pub fn typed<C: PluginConfig>(config: &'a C) -> Self {
        Params(Source::Typed(config))
    }

    /// A JSON object naming the parameters to change; the others keep
    /// their defaults.
    pub fn json(object: &'a Value) -> Self {
        Params(Source::Json(object))
    }

    /// Whether no parameter was given.
    pub fn is_defaults(&self) -> bool {
        matches!(self.0, Source::Defaults)
    }

    /// The parameters as `plugin`'s parameter type `C`: the defaults, the
    /// typed value when it is a `C`, or else the given fields (of the JSON
    /// object, or of the typed value of another type) merged over the
    /// defaults. The result is validated.
    ///
    /// # Errors
    /// [`VectorError::UnknownParam`] for a key `C` does not have,
    /// [`VectorError::InvalidParam`] for a value of the wrong type or that
    /// `C`'s [`Validate`] refuses, [`VectorError::InvalidConfig`] when the
    /// JSON is not an object.
    pub fn get<C: PluginConfig>(&self, plugin: &str) -> Result<Cow<'a, C>> {
        let given = match self.0 {
            Source::Defaults => return Ok(Cow::Owned(C::default())),
            Source::Typed(t) => {
                if let Some(c) = t.as_any().downcast_ref::<C>() {
                    c.validate().map_err(|e| invalid(plugin, &e))?;
                    return Ok(Cow::Borrowed(c));
                }
                Cow::Owned(t.to_json().map_err(|e| {
                    VectorError::InvalidConfig(format!(
                        "{plugin} parameters: {} does not serialize: {e}",
                        t.type_name()
                    ))
                })?)
            }
            Source::Json(v) => Cow::Borrowed(v),
        };
        if !given.is_object() {
            return Err(VectorError::InvalidConfig(format!(
                "{plugin} parameters must be a JSON object, got {given}"
            )));
        }
        let mut merged = defaults_json::<C>()?;
        if let Some(key) = config::unknown_field(&merged, &given) {
            return Err(VectorError::UnknownParam {
                plugin: plugin.to_owned(),
                key,
                known: merged
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default(),
            });
        }
        config::merge_json(&mut merged, &given);
        config::from_json_value::<C>(merged)
            .map(Cow::Owned)
            .map_err(|e| invalid(plugin, &e))
    }
}

/// The defaults of the parameter type `C` as a JSON object: the keys a
/// plugin reading `C` accepts, with their default values.
///
/// # Errors
/// [`VectorError::InvalidConfig`] when `C` does not serialize to a JSON
/// object (every struct with named fields does).
pub fn defaults_json<C: PluginConfig>() -> Result<Value> {
    match serde_json::to_value(C::default()) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(v) => Err(VectorError::InvalidConfig(format!(
            "parameter type {} serializes to {v}, not to an object",
            std::any::type_name::<C>()
        ))),
        Err(e) => Err(VectorError::InvalidConfig(format!(
            "parameter type {} does not serialize: {e}",
            std::any::type_name::<C>()
        ))),
    }
}

fn invalid(plugin: &str, e: &unidb_common::Error) -> VectorError {
    VectorError::InvalidParam {
        plugin: plugin.to_owned(),
        key: e.location().unwrap_or_default().to_owned(),
        reason: e.message().to_owned(),
    }
}
