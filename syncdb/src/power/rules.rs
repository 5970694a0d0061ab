//! Automatic profile switching: rules on the [`Inputs`], with hysteresis.

use serde::{Deserialize, Serialize};
use unidb_common::config::{check, check_range, Validate};

use super::inputs::{Inputs, Network};
use super::profile::PowerProfiles;

/// A condition on the inputs: every field that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Condition {
    /// Battery strictly below this percentage.
    pub battery_below: Option<f64>,
    /// Battery at or above this percentage.
    pub battery_at_least: Option<f64>,
    /// Charging or not.
    pub charging: Option<bool>,
    /// Power-save mode on or off.
    pub power_save: Option<bool>,
    /// On this network.
    pub network: Option<Network>,
    /// Metered or not.
    pub metered: Option<bool>,
    /// In the foreground or not.
    pub foreground: Option<bool>,
    /// Device idle or not.
    pub idle: Option<bool>,
}

impl Condition {
    /// Whether the condition holds, with battery thresholds moved by
    /// `slack` percent in the direction that keeps it holding (the
    /// hysteresis of the rule that is in force).
    pub fn holds(&self, i: &Inputs, slack: f64) -> bool {
        let eq = |want: Option<bool>, have: bool| want.is_none_or(|w| w == have);
        self.battery_below.is_none_or(|b| i.battery_pct < b + slack)
            && self
                .battery_at_least
                .is_none_or(|b| i.battery_pct >= b - slack)
            && eq(self.charging, i.charging)
            && eq(self.power_save, i.power_save)
            && self.network.is_none_or(|n| n == i.network)
            && eq(self.metered, i.metered)
            && eq(self.foreground, i.foreground)
            && eq(self.idle, i.idle)
    }
}

/// One rule: when the condition holds, use the profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The condition.
    pub when: Condition,
    /// The profile's name.
    pub profile: String,
}

impl Rule {
    fn new(when: Condition, profile: &str) -> Self {
        Rule {
            when,
            profile: profile.to_owned(),
        }
    }
}

/// The switching rules: the first rule whose condition holds names the
/// profile, else `default`. Two mechanisms keep the profile from
/// flapping on a noisy signal:
///
/// * hysteresis: the rules naming the profile in force are evaluated with
///   their battery thresholds relaxed by `battery_hysteresis_pct` (a
///   profile entered below 20 % is left only at 20 % + hysteresis);
/// * dwell: after a switch, no other switch for `min_dwell_s` seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// The profile when no rule holds.
    pub default: String,
    /// Battery hysteresis, in percentage points.
    pub battery_hysteresis_pct: f64,
    /// Least time between two switches, in seconds.
    pub min_dwell_s: u64,
}

impl Default for Rules {
    /// The built-in rules:
    /// 1. power-save mode → `battery_saver`;
    /// 2. battery below 20 % and not charging → `battery_saver`;
    /// 3. device idle and not charging → `background`;
    /// 4. foreground and charging → `realtime`;
    /// 5. foreground with at least 50 % battery → `realtime`;
    /// 6. otherwise `balanced`;
    ///
    /// with 5 points of battery hysteresis and 5 minutes of dwell.
    fn default() -> Self {
        Rules {
            rules: vec![
                Rule::new(
                    Condition {
                        power_save: Some(true),
                        ..Condition::default()
                    },
                    "battery_saver",
                ),
                Rule::new(
                    Condition {
                        battery_below: Some(20.0),
                        charging: Some(false),
                        ..Condition::default()
                    },
                    "battery_saver",
                ),
                Rule::new(
                    Condition {
                        idle: Some(true),
                        charging: Some(false),
                        ..Condition::default()
                    },
                    "background",
                ),
                Rule::new(
                    Condition {
                        foreground: Some(true),
                        charging: Some(true),
                        ..Condition::default()
                    },
                    "realtime",
                ),
                Rule::new(
                    Condition {
                        foreground: Some(true),
                        battery_at_least: Some(50.0),
                        ..Condition::default()
                    },
                    "realtime",
                ),
            ],
            default: "balanced".into(),
            battery_hysteresis_pct: 5.0,
            min_dwell_s: 300,
        }
    }
}

impl Validate for Rules {
    fn validate(&self) -> unidb_common::Result<()> {
        check(
            (0.0..=50.0).contains(&self.battery_hysteresis_pct),
            "battery_hysteresis_pct",
            format!("{} is outside 0..=50", self.battery_hysteresis_pct),
        )?;
        check_range("min_dwell_s", self.min_dwell_s, 0..=86_400)?;
        check(!self.default.is_empty(), "default", "empty profile name")
    }
}

impl Rules {
    /// Checks that every profile named exists in `profiles`.
    ///
    /// # Errors
    /// [`NotFound`](unidb_common::ErrorKind::NotFound) naming the first
    /// unknown profile.
    pub fn check_profiles(&self, profiles: &PowerProfiles) -> unidb_common::Result<()> {
        profiles.resolve(&self.default)?;
        for r in &self.rules {
            profiles.resolve(&r.profile)?;
        }
        Ok(())
    }

    /// The profile the rules pick for `inputs` when `current` is in force.
    pub fn pick(&self, inputs: &Inputs, current: &str) -> &str {
        self.rules
            .iter()
            .find(|r| {
                let slack = if r.profile == current {
                    self.battery_hysteresis_pct
                } else {
                    0.0
                };
                r.when.holds(inputs, slack)
            })
            .map_or(self.default.as_str(), |r| r.profile.as_str())
    }
}

/// Applies [`Rules`] over time: the profile in force and when it last
/// changed (times in milliseconds of an injected clock).
#[derive(Debug, Clone)]
pub struct Switcher {
    rules: Rules,
    active: String,
    since_ms: Option<u64>,
    switches: u64,
}

impl Switcher {
    /// A switcher starting with the rules' default profile (the first
    /// [`update`](Self::update) may switch at once).
    pub fn new(rules: Rules) -> Self {
        let active = rules.default.clone();
        Switcher {
            rules,
            active,
            since_ms: None,
            switches: 0,
        }
    }

    /// The profile in force.
    pub fn active(&self) -> &str {
        &self.active
    }

    /// Switches made so far.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Re-evaluates the rules at `now_ms`; returns the new profile's name
    /// when it switched.
    pub fn update(&mut self, inputs: &Inputs, now_ms: u64) -> Option<&str> {
        let pick = self.rules.pick(inputs, &self.active);
        if pick == self.active {
            return None;
        }
        let dwell = self.rules.min_dwell_s.saturating_mul(1000);
        if self
            .since_ms
            .is_some_and(|s| now_ms.saturating_sub(s) < dwell)
        {
            return None;
        }
        self.active = pick.to_owned();
        self.since_ms = Some(now_ms);
        self.switches += 1;
        Some(&self.active)
    }
}
