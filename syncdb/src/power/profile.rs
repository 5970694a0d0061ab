//! Power profiles: what the client does on the radio, and the built-in
//! and user-defined profiles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use unidb_common::config::{check, check_range, Profiles, Validate};

use super::inputs::{Inputs, Network};

/// How urgent a change is. Each table has one
/// ([`ClientOptions::priorities`](crate::client::ClientOptions::priorities));
/// a profile says which priorities may use which networks.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Can wait for Wi-Fi (logs, analytics, prefetch hints).
    Low,
    /// The default.
    #[default]
    Normal,
    /// What the user is waiting for (a sent message).
    High,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Normal, Priority::High];

    /// Index into per-priority arrays (0 = low).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How hard the change batches' codecs try.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodecEffort {
    /// Only the cheap integer and dictionary codecs (less CPU per byte,
    /// somewhat more bytes).
    Fast,
    /// Every codec both sides decode (fewest bytes).
    #[default]
    Full,
}

impl CodecEffort {
    /// The cheap codecs [`CodecEffort::Fast`] declares.
    pub const FAST_CODECS: &'static [&'static str] = &[
        "one", "rle", "dict", "for", "delta", "varint", "svb", "front",
    ];

    /// The codec names a session with this effort declares (`None`: every
    /// registered codec).
    pub fn codecs(self) -> Option<Vec<String>> {
        match self {
            CodecEffort::Fast => Some(Self::FAST_CODECS.iter().map(|&c| c.to_owned()).collect()),
            CodecEffort::Full => None,
        }
    }
}

/// When tombstone garbage collection and snapshot compaction may run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Maintenance {
    /// Never.
    Never,
    /// Only while charging or on unmetered Wi-Fi.
    #[default]
    ChargingOrWifi,
    /// Only while charging.
    Charging,
}

impl Maintenance {
    /// Whether maintenance may run with these inputs.
    pub fn allowed(self, inputs: &Inputs) -> bool {
        match self {
            Maintenance::Never => false,
            Maintenance::Charging => inputs.charging,
            Maintenance::ChargingOrWifi => {
                inputs.charging || (inputs.network == Network::Wifi && !inputs.metered)
            }
        }
    }
}

/// What a profile makes the client do. Loadable from JSON or TOML through
/// [`PowerProfiles`] (unknown fields are errors naming them, and
/// [`Validate`] checks the ranges).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PowerProfile {
    /// Keep a connection open: local writes go up after the flush window
    /// and the server's changes come down as they happen. Otherwise the
    /// client connects for each round.
    pub live: bool,
    /// Local writes are coalesced for this long after the first one
    /// before the radio wakes to send them all (milliseconds).
    pub flush_window_ms: u64,
    /// A round runs at least this often to fetch the server's changes
    /// (seconds), when the connection is not live.
    pub poll_interval_s: u64,
    /// Largest encoded change batch (bytes).
    pub max_batch_bytes: usize,
    /// Most changes per batch.
    pub max_batch_changes: usize,
    /// The lowest priority that may be sent over cellular (`null`: none).
    pub cellular: Option<Priority>,
    /// The lowest priority that may be sent over a metered network
    /// (`null`: none). A metered cellular network obeys both.
    pub metered: Option<Priority>,
    /// First retry delay after a failed round (milliseconds); each
    /// further failure doubles it up to `backoff_cap_ms`.
    pub backoff_base_ms: u64,
    /// Largest retry delay (milliseconds).
    pub backoff_cap_ms: u64,
    /// Random spread of each retry delay: a delay `d` becomes uniform in
    /// `[d (1 - jitter), d]`, 0 to 1.
    pub backoff_jitter: f64,
    /// How hard the codecs try.
    pub codec_effort: CodecEffort,
    /// When tombstone GC and snapshot compaction run.
    pub maintenance: Maintenance,
    /// Below this battery level (percent), and not charging, only
    /// high-priority changes are sent.
    pub min_battery_pct: f64,
}

impl Default for PowerProfile {
    /// The `balanced` profile.
    fn default() -> Self {
        PowerProfile {
            live: false,
            flush_window_ms: 30_000,
            poll_interval_s: 900,
            max_batch_bytes: 64 << 10,
            max_batch_changes: 10_000,
            cellular: Some(Priority::Normal),
            metered: Some(Priority::Normal),
            backoff_base_ms: 5_000,
            backoff_cap_ms: 300_000,
            backoff_jitter: 0.5,
            codec_effort: CodecEffort::Full,
            maintenance: Maintenance::ChargingOrWifi,
            min_battery_pct: 5.0,
        }
    }
}

impl Validate for PowerProfile {
    fn validate(&self) -> unidb_common::Result<()> {
        check_range("flush_window_ms", self.flush_window_ms, 0..=86_400_000)?;
        check_range("poll_interval_s", self.poll_interval_s, 1..=7 * 86_400)?;
        check_range(
            "max_batch_bytes",
            self.max_batch_bytes,
            crate::SyncConfig::MIN_BATCH_BYTES..=crate::SyncConfig::MAX_BATCH_BYTES,
        )?;
        check_range("max_batch_changes", self.max_batch_changes, 1..=1 << 24)?;
        check_range("backoff_base_ms", self.backoff_base_ms, 1..=86_400_000)?;
        check_range(
            "backoff_cap_ms",
            self.backoff_cap_ms,
            self.backoff_base_ms..=86_400_000,
        )?;
        check(
            (0.0..=1.0).contains(&self.backoff_jitter),
            "backoff_jitter",
            format!("{} is outside 0..=1", self.backoff_jitter),
        )?;
        check(
            (0.0..=100.0).contains(&self.min_battery_pct),
            "min_battery_pct",
            format!("{} is outside 0..=100", self.min_battery_pct),
        )
    }
}

impl PowerProfile {
    /// The built-in profiles, by name.
    pub const BUILTIN: [&'static str; 4] = ["realtime", "balanced", "battery_saver", "background"];

    /// The built-in profile `name`, if there is one.
    pub fn builtin(name: &str) -> Option<PowerProfile> {
        let balanced = PowerProfile::default();
        Some(match name {
            "realtime" => PowerProfile {
                live: true,
                flush_window_ms: 1_000,
                poll_interval_s: 300,
                cellular: Some(Priority::Low),
                metered: Some(Priority::Normal),
                backoff_base_ms: 1_000,
                backoff_cap_ms: 60_000,
                min_battery_pct: 0.0,
                ..balanced
            },
            "balanced" => balanced,
            "battery_saver" => PowerProfile {
                flush_window_ms: 600_000,
                poll_interval_s: 3_600,
                cellular: Some(Priority::Normal),
                metered: Some(Priority::High),
                backoff_base_ms: 30_000,
                backoff_cap_ms: 300_000,
                codec_effort: CodecEffort::Fast,
                maintenance: Maintenance::Charging,
                min_battery_pct: 10.0,
                ..balanced
            },
            "background" => PowerProfile {
                flush_window_ms: 1_800_000,
                poll_interval_s: 4 * 3_600,
                cellular: Some(Priority::High),
                metered: Some(Priority::High),
                backoff_base_ms: 60_000,
                backoff_cap_ms: 1_800_000,
                codec_effort: CodecEffort::Fast,
                maintenance: Maintenance::Charging,
                min_battery_pct: 15.0,
                ..balanced
            },
            _ => return None,
        })
    }

    /// The declared staleness bound while a network is available: the
    /// flush window plus one backoff at its cap (milliseconds). A change
    /// this profile may send on the current network reaches the server
    /// within it unless the network goes away or rounds keep failing.
    pub fn staleness_bound_ms(&self) -> u64 {
        self.flush_window_ms + self.backoff_cap_ms
    }

    /// Whether a change of `priority` may be sent with these inputs.
    pub fn may_send(&self, priority: Priority, inputs: &Inputs) -> bool {
        let at_least = |min: Option<Priority>| min.is_some_and(|m| priority >= m);
        if !inputs.network.online() {
            return false;
        }
        if inputs.network == Network::Cellular && !at_least(self.cellular) {
            return false;
        }
        if inputs.metered && !at_least(self.metered) {
            return false;
        }
        if !inputs.charging && inputs.battery_pct < self.min_battery_pct {
            return priority == Priority::High;
        }
        true
    }

    /// The retry delay after `failures` consecutive failed rounds (at
    /// least 1), given a uniform random `u` in `[0, 1)`: the base doubled
    /// per failure, capped, minus up to `jitter` of itself.
    pub fn backoff_ms(&self, failures: u32, u: f64) -> u64 {
        let doubled = self
            .backoff_base_ms
            .saturating_mul(1u64 << failures.saturating_sub(1).min(40));
        let d = doubled.min(self.backoff_cap_ms) as f64;
        (d * (1.0 - self.backoff_jitter * u.clamp(0.0, 1.0))).round() as u64
    }
}

/// The profiles a client can use: the built-ins plus the user's, which
/// come as common's [`Profiles`] (named overrides over a base, each
/// resolved and validated), in JSON or TOML:
///
/// ```
/// use unidb_syncdb::power::PowerProfiles;
///
/// let p = PowerProfiles::from_toml_str(r#"
///     [base]
///     flush_window_ms = 60000
///
///     [profiles.commute]
///     cellular = "high"
///     poll_interval_s = 1800
/// "#)?;
/// let commute = p.resolve("commute")?;
/// assert_eq!((commute.flush_window_ms, commute.poll_interval_s), (60000, 1800));
/// assert!(p.resolve("battery_saver")?.flush_window_ms > 0); // built-ins stay
/// let err = PowerProfiles::from_json_str(r#"{"base": {}, "profiles": {"x": {"flush_windw_ms": 1}}}"#)
///     .unwrap_err();
/// assert_eq!(err.location(), Some("flush_windw_ms"));
/// # Ok::<(), unidb_common::Error>(())
/// ```
///
/// A user profile with a built-in's name replaces it.
#[derive(Debug, Clone)]
pub struct PowerProfiles {
    user: Profiles<PowerProfile>,
}

impl Default for PowerProfiles {
    fn default() -> Self {
        Self::builtin()
    }
}

impl PowerProfiles {
    /// The built-in profiles only.
    pub fn builtin() -> Self {
        PowerProfiles {
            user: Profiles::new(&PowerProfile::default()).expect("the default profile is valid"),
        }
    }

    /// The built-ins plus user profiles.
    pub fn with_user(user: Profiles<PowerProfile>) -> Self {
        PowerProfiles { user }
    }

    /// Parses user profiles from JSON (`{"base": {...}, "profiles":
    /// {"name": {...}}}`), checking each resolves and validates.
    ///
    /// # Errors
    /// A [`Configuration`](unidb_common::ErrorKind::Configuration) error
    /// naming the field.
    pub fn from_json_str(text: &str) -> unidb_common::Result<Self> {
        // The base may name only some fields: the others take the
        // defaults, and profiles may override any field.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            base: serde_json::Value,
            #[serde(default)]
            profiles: BTreeMap<String, serde_json::Value>,
        }
        impl Validate for Raw {
            fn validate(&self) -> unidb_common::Result<()> {
                Ok(())
            }
        }
        let raw: Raw = unidb_common::config::from_json_str(text, "power profiles")?;
        let base_value = match raw.base {
            serde_json::Value::Null => serde_json::json!({}),
            v => v,
        };
        let base: PowerProfile = unidb_common::config::from_json_value(base_value)
            .map_err(|e| e.context("reading the base profile"))?;
        let mut user = Profiles::new(&base)?;
        for (name, overrides) in raw.profiles {
            user.add_profile(&name, overrides)?;
        }
        Ok(Self::with_user(user))
    }

    /// Parses user profiles from TOML, laid out like the JSON (a `[base]`
    /// table and `[profiles.NAME]` tables).
    ///
    /// # Errors
    /// A [`Serialization`](unidb_common::ErrorKind::Serialization) error
    /// for text that is not TOML, else as [`PowerProfiles::from_json_str`].
    pub fn from_toml_str(text: &str) -> unidb_common::Result<Self> {
        let value: serde_json::Value = toml::from_str(text).map_err(|e| {
            unidb_common::Error::new(
                unidb_common::ErrorKind::Serialization,
                format!("not valid TOML: {e}"),
            )
            .with_source(e)
        })?;
        Self::from_json_str(&value.to_string())
    }

    /// Every profile name: the built-ins, then the user's.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = PowerProfile::BUILTIN
            .iter()
            .map(|&n| n.to_owned())
            .collect();
        for n in self.user.names() {
            if !names.iter().any(|m| m == n) {
                names.push(n.to_owned());
            }
        }
        names
    }

    /// The profile `name`: the user's if defined, else the built-in.
    ///
    /// # Errors
    /// [`NotFound`](unidb_common::ErrorKind::NotFound) naming the known
    /// profiles.
    pub fn resolve(&self, name: &str) -> unidb_common::Result<PowerProfile> {
        if self.user.overrides(name).is_some() {
            return self.user.resolve(name);
        }
        if let Some(p) = PowerProfile::builtin(name) {
            return Ok(p);
        }
        Err(unidb_common::Error::not_found(
            format!(
                "no power profile named {name:?}; known: {}",
                self.names().join(", ")
            ),
            "profile",
        ))
    }

    /// Every profile, resolved, by name.
    ///
    /// # Errors
    /// As [`PowerProfiles::resolve`].
    pub fn all(&self) -> unidb_common::Result<BTreeMap<String, PowerProfile>> {
        self.names()
            .into_iter()
            .map(|n| self.resolve(&n).map(|p| (n, p)))
            .collect()
    }
}
