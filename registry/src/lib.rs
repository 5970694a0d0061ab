//! Plugins that register themselves, by name, from any crate.
//!
//! The registry knows no plugin types. A crate that owns a plugin *kind*
//! (vectordb's metrics and indexes, syncdb's codecs) defines a type for it,
//! implements [`Plugin`] and calls [`plugin_kind!`]. Plugins of that kind are
//! then registered statically with [`submit!`] (from any crate, without a
//! direct dependency on `inventory`) or at run time with
//! [`Registry::register`], and looked up by case-insensitive name.
//!
//! ```
//! use unidb_registry::{plugin_info, plugin_kind, submit, Plugin, PluginInfo, PluginKind};
//!
//! /// A toy plugin kind: named greeting functions.
//! #[derive(Debug)]
//! pub struct Greeter {
//!     info: PluginInfo,
//!     greet: fn(&str) -> String,
//! }
//! impl Plugin for Greeter {
//!     fn info(&self) -> &PluginInfo { &self.info }
//! }
//! plugin_kind!(Greeter, "greeter");
//!
//! fn hello(who: &str) -> String { format!("hello, {who}") }
//! submit!(Greeter { info: plugin_info!("hello", "says hello"), greet: hello });
//!
//! # fn main() -> Result<(), unidb_registry::RegistryError> {
//! let registry = Greeter::registry();
//! let g = registry.get("HELLO")?; // names are case-insensitive
//! assert_eq!((g.greet)("world"), "hello, world");
//! assert_eq!(g.info().crate_name, env!("CARGO_PKG_NAME"));
//!
//! registry.register(Greeter { info: PluginInfo::new("bye", "says goodbye", "app", "app::plugins"), greet: |w| format!("bye, {w}") })?;
//! assert_eq!(registry.names(), vec!["bye", "hello"]);
//! assert!(registry.get("nope").unwrap_err().to_string().contains("bye, hello"));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock};

#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use std::sync::OnceLock;
}

/// What every plugin says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PluginInfo {
    /// The name plugins are looked up by (case-insensitive).
    pub name: &'static str,
    /// A one-line description.
    pub description: &'static str,
    /// The crate that defined the plugin.
    pub crate_name: &'static str,
    /// The module that defined the plugin.
    pub module: &'static str,
}

impl PluginInfo {
    /// Describes a plugin. Prefer [`plugin_info!`], which fills in the crate
    /// and module of the call site.
    pub const fn new(
        name: &'static str,
        description: &'static str,
        crate_name: &'static str,
        module: &'static str,
    ) -> Self {
        PluginInfo {
            name,
            description,
            crate_name,
            module,
        }
    }

    /// `crate::module`, where the plugin was defined.
    pub fn origin(&self) -> String {
        // Module paths spell the crate name with `_` where Cargo has `-`.
        let crate_path = self.crate_name.replace('-', "_");
        if self.module == crate_path || self.module.starts_with(&format!("{crate_path}::")) {
            self.module.to_owned()
        } else {
            format!("{} ({})", self.module, self.crate_name)
        }
    }
}

/// Builds a [`PluginInfo`] with the calling crate and module filled in.
#[macro_export]
macro_rules! plugin_info {
    ($name:expr, $description:expr $(,)?) => {
        $crate::PluginInfo::new(
            $name,
            $description,
            ::core::env!("CARGO_PKG_NAME"),
            ::core::module_path!(),
        )
    };
}

/// A plugin: anything that can describe itself.
pub trait Plugin: Send + Sync + 'static {
    /// The plugin's name and origin.
    fn info(&self) -> &PluginInfo;
}

/// A plugin kind with a global registry. Implement it with [`plugin_kind!`].
pub trait PluginKind: Plugin + Sized {
    /// The kind's name, used in errors ("metric", "index", "codec").
    const KIND: &'static str;

    /// The global registry of this kind.
    fn registry() -> &'static Registry<Self>;

    #[doc(hidden)]
    fn static_plugins() -> Vec<&'static Self>;
}

/// Declares a plugin kind: collects its statically submitted plugins and
/// gives it a global [`Registry`]. Call it in the crate that defines the type.
#[macro_export]
macro_rules! plugin_kind {
    ($ty:ty, $kind:expr $(,)?) => {
        $crate::__private::inventory::collect!($ty);

        $crate::__private::inventory::submit! {
            $crate::KindEntry::of::<$ty>()
        }

        impl $crate::PluginKind for $ty {
            const KIND: &'static str = $kind;

            fn registry() -> &'static $crate::Registry<Self> {
                static REGISTRY: $crate::__private::OnceLock<$crate::Registry<$ty>> =
                    $crate::__private::OnceLock::new();
                REGISTRY.get_or_init($crate::Registry::new)
            }

            fn static_plugins() -> ::std::vec::Vec<&'static Self> {
                $crate::__private::inventory::iter::<$ty>
                    .into_iter()
                    .collect()
            }
        }
    };
}

/// One plugin kind in the process-wide catalogue: every [`plugin_kind!`]
/// adds its kind here, so tools can list all kinds without knowing them.
#[derive(Debug, Clone, Copy)]
pub struct KindEntry {
    kind: &'static str,
    list: fn() -> Vec<PluginInfo>,
    validate: fn() -> Vec<RegistryError>,
}

fn infos_of<T: PluginKind>() -> Vec<PluginInfo> {
    T::registry().list().iter().map(|p| *p.info()).collect()
}

fn problems_of<T: PluginKind>() -> Vec<RegistryError> {
    T::registry().validate().err().unwrap_or_default()
}

impl KindEntry {
    /// The catalogue entry of kind `T` (used by [`plugin_kind!`]).
    pub const fn of<T: PluginKind>() -> Self {
        KindEntry {
            kind: T::KIND,
            list: infos_of::<T>,
            validate: problems_of::<T>,
        }
    }
}

inventory::collect!(KindEntry);

/// What a plugin kind holds right now: its plugins (static and run-time)
/// and the problems [`Registry::validate`] finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindReport {
    /// The kind's name ("metric", "codec", ...).
    pub kind: &'static str,
    /// Every plugin, sorted by name, duplicates included.
    pub plugins: Vec<PluginInfo>,
    /// Invalid names and duplicate names, as [`Registry::validate`] reports them.
    pub problems: Vec<RegistryError>,
}

/// Every plugin kind linked into this program, sorted by kind name, with
/// its plugins: what `unidb info` lists.
///
/// ```
/// use unidb_registry::{plugin_info, plugin_kind, submit, Plugin, PluginInfo};
///
/// #[derive(Debug)]
/// pub struct Shape { info: PluginInfo }
/// impl Plugin for Shape {
///     fn info(&self) -> &PluginInfo { &self.info }
/// }
/// plugin_kind!(Shape, "shape");
/// submit!(Shape { info: plugin_info!("square", "four equal sides") });
///
/// let shapes = unidb_registry::catalog().into_iter().find(|k| k.kind == "shape").unwrap();
/// assert_eq!(shapes.plugins[0].name, "square");
/// assert!(shapes.problems.is_empty());
/// ```
pub fn catalog() -> Vec<KindReport> {
    let mut kinds: Vec<KindReport> = inventory::iter::<KindEntry>
        .into_iter()
        .map(|entry| KindReport {
            kind: entry.kind,
            plugins: (entry.list)(),
            problems: (entry.validate)(),
        })
        .collect();
    kinds.sort_by_key(|k| k.kind);
    kinds
}

/// Registers a plugin statically, from any crate: `submit!(expr)` where
/// `expr` is a const expression of a plugin kind's type.
#[macro_export]
macro_rules! submit {
    ($value:expr $(,)?) => {
        $crate::__private::inventory::submit! { $value }
    };
}

/// Errors of the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No plugin of this kind has the name.
    #[error("unknown {kind} {name:?}; known: {}", known.join(", "))]
    Unknown {
        /// The plugin kind.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The registered names, sorted.
        known: Vec<&'static str>,
    },
    /// Two plugins of one kind share a name.
    #[error("duplicate {kind} {name:?}: defined in {first} and in {second}")]
    Duplicate {
        /// The plugin kind.
        kind: &'static str,
        /// The shared name.
        name: String,
        /// Where the first definition lives (`crate::module`).
        first: String,
        /// Where the second definition lives.
        second: String,
    },
    /// A name that is empty or has characters other than ASCII letters,
    /// digits, `-`, `_` and `.`.
    #[error(
        "invalid {kind} name {name:?} (from {origin}): use ASCII letters, digits, '-', '_' or '.'"
    )]
    InvalidName {
        /// The plugin kind.
        kind: &'static str,
        /// The name given.
        name: String,
        /// Where the plugin was defined.
        origin: String,
    },
}

impl RegistryError {
    /// The project-wide category: an unknown name is
    /// [`ErrorKind::NotFound`](unidb_common::ErrorKind::NotFound), two
    /// plugins sharing a name
    /// [`ErrorKind::Conflict`](unidb_common::ErrorKind::Conflict), an
    /// invalid plugin name
    /// [`ErrorKind::Configuration`](unidb_common::ErrorKind::Configuration)
    /// (the plugin was defined wrong).
    pub fn kind(&self) -> unidb_common::ErrorKind {
        use unidb_common::ErrorKind;
        match self {
            RegistryError::Unknown { .. } => ErrorKind::NotFound,
            RegistryError::Duplicate { .. } => ErrorKind::Conflict,
            RegistryError::InvalidName { .. } => ErrorKind::Configuration,
        }
    }
}

impl From<RegistryError> for unidb_common::Error {
    fn from(e: RegistryError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}

/// The plugins of one kind: the statically submitted ones (collected on
/// first use) and those registered at run time.
///
/// Reads take a shared lock and one hash lookup; registering takes the
/// write lock briefly, so it is safe while other threads read.
pub struct Registry<T: PluginKind> {
    state: OnceLock<RwLock<State<T>>>,
}

struct State<T: 'static> {
    /// Lowercased name → every plugin with that name (more than one is a
    /// duplicate, reported at lookup).
    by_name: HashMap<String, Vec<&'static T>>,
}

impl<T: PluginKind> fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("kind", &T::KIND)
            .field("names", &self.names())
            .finish()
    }
}

impl<T: PluginKind> Default for Registry<T> {
    fn default() -> Self {
        Registry::new()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl<T: PluginKind> Registry<T> {
    /// An empty registry; statically submitted plugins are collected on first use.
    pub const fn new() -> Self {
        Registry {
            state: OnceLock::new(),
        }
    }

    fn state(&self) -> &RwLock<State<T>> {
        self.state.get_or_init(|| {
            let mut by_name: HashMap<String, Vec<&'static T>> = HashMap::new();
            for plugin in T::static_plugins() {
                by_name
                    .entry(plugin.info().name.to_ascii_lowercase())
                    .or_default()
                    .push(plugin);
            }
            RwLock::new(State { by_name })
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State<T>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (insertions are single operations), so a poisoned lock is still valid.
        self.state().read().unwrap_or_else(|e| e.into_inner())
    }

    fn duplicate(name: &str, found: &[&'static T]) -> RegistryError {
        RegistryError::Duplicate {
            kind: T::KIND,
            name: name.to_owned(),
            first: found[0].info().origin(),
            second: found[1].info().origin(),
        }
    }

    /// Looks a plugin up by case-insensitive name.
    ///
    /// # Errors
    /// [`RegistryError::Unknown`] (listing the known names) or
    /// [`RegistryError::Duplicate`] (naming both definitions).
    pub fn get(&self, name: &str) -> Result<&'static T, RegistryError> {
        let key = name.to_ascii_lowercase();
        let state = self.read();
        match state.by_name.get(&key).map(Vec::as_slice) {
            Some([one]) => Ok(*one),
            Some(found @ [_, _, ..]) => Err(Self::duplicate(found[0].info().name, found)),
            _ => {
                drop(state);
                Err(RegistryError::Unknown {
                    kind: T::KIND,
                    name: name.to_owned(),
                    known: self.names(),
                })
            }
        }
    }

    /// Whether a plugin with this name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.read().by_name.contains_key(&name.to_ascii_lowercase())
    }

    /// Every plugin, sorted by name (duplicates included, so that
    /// [`Registry::validate`] can report them).
    pub fn list(&self) -> Vec<&'static T> {
        let state = self.read();
        let mut all: Vec<&'static T> = state.by_name.values().flatten().copied().collect();
        all.sort_by(|a, b| (a.info().name, a.info().module).cmp(&(b.info().name, b.info().module)));
        all
    }

    /// Number of registered names (a duplicated name counts once). Names
    /// are only ever added, so a caller can tell from it, without listing,
    /// whether plugins were registered since it last looked.
    pub fn len(&self) -> usize {
        self.read().by_name.len()
    }

    /// Whether no plugin is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The registered names, sorted, each once.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.list().iter().map(|p| p.info().name).collect();
        names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        names
    }

    /// Checks every name: reports invalid names and duplicates.
    ///
    /// # Errors
    /// Every problem found, sorted by name.
    pub fn validate(&self) -> Result<(), Vec<RegistryError>> {
        let mut errors = Vec::new();
        for plugin in self.list() {
            let info = plugin.info();
            if !valid_name(info.name) {
                errors.push(RegistryError::InvalidName {
                    kind: T::KIND,
                    name: info.name.to_owned(),
                    origin: info.origin(),
                });
            }
        }
        let state = self.read();
        let mut dups: Vec<_> = state
            .by_name
            .values()
            .filter(|found| found.len() > 1)
            .map(|found| Self::duplicate(found[0].info().name, found))
            .collect();
        dups.sort_by_key(|e| e.to_string());
        errors.extend(dups);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Registers a plugin at run time and returns it. The plugin lives for
    /// the rest of the process (it is leaked, like static plugins).
    ///
    /// # Errors
    /// [`RegistryError::InvalidName`], or [`RegistryError::Duplicate`] when
    /// the name is taken (the registry is left unchanged).
    pub fn register(&self, plugin: T) -> Result<&'static T, RegistryError> {
        let info = *plugin.info();
        if !valid_name(info.name) {
            return Err(RegistryError::InvalidName {
                kind: T::KIND,
                name: info.name.to_owned(),
                origin: info.origin(),
            });
        }
        let key = info.name.to_ascii_lowercase();
        let mut state = self.state().write().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = state.by_name.get(&key).and_then(|v| v.first()) {
            return Err(RegistryError::Duplicate {
                kind: T::KIND,
                name: info.name.to_owned(),
                first: existing.info().origin(),
                second: info.origin(),
            });
        }
        let leaked: &'static T = Box::leak(Box::new(plugin));
        state.by_name.insert(key, vec![leaked]);
        Ok(leaked)
    }
}

#[cfg(test)]
mod tests;
