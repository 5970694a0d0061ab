//! A simulated day of one phone syncing with a server through the
//! in-process transport, under a power profile, measured with the
//! [`energy`](super::energy) model.
//!
//! # The day
//!
//! Seeded, minute by minute (a longer run repeats the day):
//!
//! * 00:00–07:00 asleep on home Wi-Fi, charging; 07:00–08:00 at home;
//!   08:00–09:00 commuting on metered cellular, with a 15-minute offline
//!   stretch (a tunnel); 09:00–12:00 office Wi-Fi; 12:00–13:00 out on
//!   metered cellular; 13:00–17:30 office Wi-Fi; 17:30–18:15 commuting
//!   (cellular, 10 minutes offline); then home Wi-Fi, charging 20:00–21:00
//!   and from 23:00. Offline stretches start at a seeded minute.
//! * The screen is on in sessions of 2 to 8 minutes (a session starts
//!   with probability 0.1 per awake minute); after 30 minutes with the
//!   screen off the device is idle (Doze). During a session each second
//!   brings a write with probability 1/20: a transaction on one row of
//!   `messages` (high priority, 15 %), `notes` (normal, 55 %) or `events`
//!   (low, 30 %); in the background an `events` row is written every 10
//!   minutes with probability 1/2.
//! * The battery charges 0.8 % a minute, drains 0.25 % a minute with the
//!   screen on and 0.05 % off; the level the phone reports carries
//!   Gaussian noise (σ = 1 point), and power-save mode turns on below 15 %.
//! * Another device of the user writes a note to the server every 15
//!   minutes on average between 08:00 and 23:00.
//! * A round fails (the server cannot be reached) with probability 2 % on
//!   Wi-Fi and 5 % on cellular; the scheduler backs off and retries.
//!
//! A *live* profile keeps its connection (dropped on a change of
//! network) and receives the other device's notes as they reach the
//! server; the others fetch them when they poll. At the end of the
//! period the phone is put on unmetered Wi-Fi and charging and syncs until
//! nothing is pending, then both devices and the server must hold the
//! same rows ([`PowerSimReport::converged`]) and every phone write must be
//! on the server ([`PowerSimReport::lost_writes`]).
//!
//! Staleness is the time from a local commit to the end of the round
//! after which the server holds it. [`PowerSimRun::max_staleness_online_s`]
//! is the largest over the writes that the profile could send all the
//! time from commit to acknowledgement (a network up, their priority
//! allowed on it): the figure a profile's
//! [staleness bound](super::PowerProfile::staleness_bound_ms) speaks of.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use unidb_common::id::ReplicaId;
use unidb_common::rng::SplitMix64;
use unidb_common::time::ManualClock;

use crate::client::{sync_round, Connection, InProcess, Transport};
use crate::db::Database;
use crate::error::Result;
use crate::schema::{ColumnDef, Migration, TableDef};
use crate::sync::{sync_pair, Session, SyncConfig};
use unidb_common::value::{ColumnType, Value};

use super::energy::{EnergyModel, Radio};
use super::inputs::{Inputs, Network};
use super::profile::{PowerProfile, PowerProfiles, Priority};
use super::rules::{Rules, Switcher};
use super::scheduler::Scheduler;

/// Settings of a simulated day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PowerSimConfig {
    /// Simulated hours (the day repeats past 24).
    pub hours: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// The energy model.
    pub energy: EnergyModel,
}

impl Default for PowerSimConfig {
    fn default() -> Self {
        PowerSimConfig {
            hours: 24,
            seed: 1,
            energy: EnergyModel::default(),
        }
    }
}

/// What the phone runs.
#[derive(Debug, Clone)]
pub enum Mode {
    /// One profile all day.
    Profile(String, PowerProfile),
    /// The baseline: a kept connection, every write sent at once, a
    /// heartbeat round every minute, no network rules.
    AlwaysConnected,
    /// Profiles switched by rules.
    Auto(Rules, PowerProfiles),
}

impl Mode {
    /// The mode a name asks for: a profile of `profiles`,
    /// `always_connected`, or `auto` (the built-in rules).
    ///
    /// # Errors
    /// A [`NotFound`](unidb_common::ErrorKind::NotFound) error naming the
    /// known names.
    pub fn named(name: &str, profiles: &PowerProfiles) -> unidb_common::Result<Mode> {
        match name {
            "always_connected" => Ok(Mode::AlwaysConnected),
            "auto" => Ok(Mode::Auto(Rules::default(), profiles.clone())),
            _ => profiles
                .resolve(name)
                .map(|p| Mode::Profile(name.to_owned(), p)),
        }
    }

    /// The name reported.
    pub fn name(&self) -> &str {
        match self {
            Mode::Profile(n, _) => n,
            Mode::AlwaysConnected => "always_connected",
            Mode::Auto(..) => "auto",
        }
    }

    /// The baseline's profile.
    pub fn always_connected_profile() -> PowerProfile {
        PowerProfile {
            live: true,
            flush_window_ms: 0,
            poll_interval_s: 60,
            cellular: Some(Priority::Low),
            metered: Some(Priority::Low),
            backoff_base_ms: 1_000,
            backoff_cap_ms: 30_000,
            min_battery_pct: 0.0,
            ..PowerProfile::default()
        }
    }
}

/// One row of the power simulation's table (the command's JSON keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerSimReport {
    /// The profile (or `always_connected`, `auto`).
    pub profile: String,
    /// Radio promotions from idle.
    pub radio_wakes: u64,
    /// Radio wakes per simulated hour.
    pub wakes_per_hour: f64,
    /// Bytes sent to the server.
    pub bytes_up: u64,
    /// Bytes received from it.
    pub bytes_down: u64,
    /// Local write transactions.
    pub writes: u64,
    /// 95th percentile of staleness (seconds), over every write.
    pub p95_staleness_s: f64,
    /// Largest staleness (seconds), over every write.
    pub max_staleness_s: f64,
    /// Phone writes the server lacks at the end.
    pub lost_writes: u64,
    /// Whether phone, server and the other device hold the same rows.
    pub converged: bool,
    /// Energy spent on sync, in percent of the battery.
    pub battery_used_pct: f64,
}

/// A simulated day's report and what the tests check besides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerSimRun {
    /// The reported figures.
    pub report: PowerSimReport,
    /// The profile's declared staleness bound (seconds; fixed profiles).
    pub staleness_bound_s: Option<f64>,
    /// Largest staleness of the writes the profile could send all along.
    pub max_staleness_online_s: f64,
    /// Low-priority changes that reached the server in a round on a
    /// metered network (the server's log is the witness).
    pub low_priority_on_metered: u64,
    /// Rounds run, and how many failed.
    pub rounds: u64,
    /// Failed rounds.
    pub failed_rounds: u64,
    /// Profile switches (auto mode).
    pub switches: u64,
}

/// The phone's tables and their priorities.
const TABLES: [(&str, Priority); 3] = [
    ("messages", Priority::High),
    ("notes", Priority::Normal),
    ("events", Priority::Low),
];

fn schema() -> Vec<Migration> {
    TABLES
        .iter()
        .map(|(t, _)| {
            Migration::AddTable(
                TableDef::new(*t, "id", ColumnType::I64)
                    .column(ColumnDef::new("body", ColumnType::Text).default_value(""))
                    .column(ColumnDef::new("n", ColumnType::I64).default_value(0i64)),
            )
        })
        .collect()
}

/// The device during one minute.
#[derive(Debug, Clone, Copy)]
struct Minute {
    inputs: Inputs,
    /// Writes per second while the screen is on.
    foreground: bool,
}

/// The seeded timeline of the device, minute by minute.
fn timeline(hours: u32, rng: &mut SplitMix64) -> Vec<Minute> {
    let minutes = hours as usize * 60;
    let mut out = Vec::with_capacity(minutes);
    let mut battery: f64 = 60.0;
    let mut session_left = 0u32;
    let mut screen_off_for = 0u32;
    let mut tunnels = (0u32, 0u32);
    for m in 0..minutes {
        let day_min = (m % 1440) as u32;
        if day_min == 0 {
            tunnels = (
                8 * 60 + 5 + rng.below(30) as u32,
                17 * 60 + 35 + rng.below(25) as u32,
            );
        }
        let h = day_min as f64 / 60.0;
        let asleep = !(7.0..23.0).contains(&h);
        let (network, metered) =
            if (8.0..9.0).contains(&h) || (12.0..13.0).contains(&h) || (17.5..18.25).contains(&h) {
                (Network::Cellular, true)
            } else {
                (Network::Wifi, false)
            };
        let offline = (tunnels.0..tunnels.0 + 15).contains(&day_min)
            || (tunnels.1..tunnels.1 + 10).contains(&day_min);
        let network = if offline { Network::Offline } else { network };
        let charging = asleep || (20.0..21.0).contains(&h);
        if !asleep && session_left == 0 && rng.chance(0.1) {
            session_left = 2 + rng.below(7) as u32;
        }
        let foreground = session_left > 0;
        session_left = session_left.saturating_sub(1);
        screen_off_for = if foreground { 0 } else { screen_off_for + 1 };
        battery = if charging {
            (battery + 0.8).min(100.0)
        } else if foreground {
            (battery - 0.25).max(1.0)
        } else {
            (battery - 0.05).max(1.0)
        };
        let reported = (battery + rng.normal()).clamp(0.0, 100.0);
        out.push(Minute {
            inputs: Inputs {
                battery_pct: reported,
                charging,
                power_save: battery < 15.0 && !charging,
                network,
                metered: metered && !offline,
                foreground,
                idle: screen_off_for >= 30,
            },
            foreground,
        });
    }
    out
}

/// One phone write being tracked until the server holds it.
#[derive(Debug)]
struct Write {
    at_ms: u64,
    priority: Priority,
    seqs: (u64, u64),
    acked_ms: Option<u64>,
    /// The profile could not send it at some point before its ack.
    disturbed: bool,
}

/// The phone: database, session, kept connection, scheduler, radio.
struct Phone {
    session: Session,
    conn: Option<(Box<dyn Connection>, Network)>,
    scheduler: Scheduler,
    radio: Radio,
    bytes_up: u64,
    bytes_down: u64,
    rounds: u64,
    failed: u64,
}

/// Runs one simulated period in `mode`.
///
/// # Errors
/// A database error (none is expected: the workload is valid).
pub fn simulate_day(config: &PowerSimConfig, mode: &Mode) -> Result<PowerSimRun> {
    // One stream per concern, so that every mode sees the same day.
    let stream = |k: u64| SplitMix64::new(config.seed ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let days = timeline(config.hours.max(1), &mut stream(1));
    let (mut rng, mut other, mut faults) = (stream(2), stream(3), stream(4));
    let start_ms = 1_700_000_000_000u64;
    let clock = Arc::new(ManualClock::new(start_ms));
    let schema = schema();
    let server = Arc::new(Database::open(
        ReplicaId::from_u64(100),
        clock.clone(),
        &schema,
    )?);
    let laptop = Arc::new(Database::open(
        ReplicaId::from_u64(2),
        clock.clone(),
        &schema,
    )?);
    let phone_db = Arc::new(Database::open(
        ReplicaId::from_u64(1),
        clock.clone(),
        &schema,
    )?);
    let me = phone_db.replica();
    let transport = InProcess::new(server.clone(), SyncConfig::default());
    let (mut laptop_s, mut server_for_laptop) = (
        Session::new(laptop.clone(), SyncConfig::default()),
        Session::new(server.clone(), SyncConfig::default()),
    );
    let mut phone = Phone {
        session: Session::new(phone_db.clone(), SyncConfig::default()),
        conn: None,
        scheduler: Scheduler::new(start_ms, config.seed ^ 0x9e37_79b9),
        radio: Radio::new(config.energy),
        bytes_up: 0,
        bytes_down: 0,
        rounds: 0,
        failed: 0,
    };
    let mut switcher = match mode {
        Mode::Auto(rules, _) => Some(Switcher::new(rules.clone())),
        _ => None,
    };
    let fixed = match mode {
        Mode::Profile(_, p) => Some(p.clone()),
        Mode::AlwaysConnected => Some(Mode::always_connected_profile()),
        Mode::Auto(..) => None,
    };
    let profile_of = |switcher: &Option<Switcher>| -> PowerProfile {
        match (&fixed, switcher, mode) {
            (Some(p), _, _) => p.clone(),
            (None, Some(s), Mode::Auto(_, profiles)) => {
                profiles.resolve(s.active()).unwrap_or_default()
            }
            _ => PowerProfile::default(),
        }
    };
    let mut writes: Vec<Write> = Vec::new();
    let mut low_on_metered = 0u64;
    let mut next_id = [0i64; 3];
    let total_s = days.len() as u64 * 60;
    for s in 0..total_s {
        let now = start_ms + s * 1000;
        clock.set(now);
        let minute = days[(s / 60) as usize];
        let inputs = minute.inputs;
        if let Some(sw) = &mut switcher {
            sw.update(&inputs, now);
        }
        let profile = profile_of(&switcher);
        // The phone's writes.
        let write_p = if minute.foreground {
            1.0 / 20.0
        } else if s % 600 == 0 {
            0.5
        } else {
            0.0
        };
        if write_p > 0.0 && rng.chance(write_p) {
            let t = if minute.foreground {
                let u = rng.f64();
                if u < 0.15 {
                    0
                } else if u < 0.70 {
                    1
                } else {
                    2
                }
            } else {
                2
            };
            let (table, priority) = TABLES[t];
            let before = phone_db.version_vector().get(me);
            let mut tx = phone_db.transaction();
            if next_id[t] > 0 && rng.chance(0.3) {
                let key = rng.below(next_id[t] as u64) as i64 + 1;
                tx.update(table, key, [("n", Value::I64(s as i64))]);
            } else {
                next_id[t] += 1;
                tx.insert(
                    table,
                    [
                        ("id", Value::I64(next_id[t])),
                        (
                            "body",
                            Value::from(format!("{table} {} at {s}", next_id[t])),
                        ),
                    ],
                );
            }
            // An update of a row this phone deleted cannot happen here
            // (no deletes), so every write commits.
            if tx.commit().is_ok() {
                let after = phone_db.version_vector().get(me);
                writes.push(Write {
                    at_ms: now,
                    priority,
                    seqs: (before + 1, after),
                    acked_ms: None,
                    disturbed: false,
                });
                phone.scheduler.on_write(priority, now);
            }
        }
        // The other device.
        let h = (s % 86_400) as f64 / 3600.0;
        let mut pushed = false;
        if (8.0..23.0).contains(&h) && other.chance(1.0 / 900.0) {
            let id = 1_000_000 + s as i64;
            laptop.insert(
                "notes",
                [
                    ("id", Value::I64(id)),
                    ("body", Value::from("from the laptop")),
                ],
            )?;
            sync_pair(&mut laptop_s, &mut server_for_laptop)?;
            pushed = true;
        }
        for w in writes.iter_mut().filter(|w| w.acked_ms.is_none()) {
            if !profile.may_send(w.priority, &inputs) {
                w.disturbed = true;
            }
        }
        // Rounds.
        if phone
            .conn
            .as_ref()
            .is_some_and(|(_, n)| *n != inputs.network)
        {
            phone.conn = None;
        }
        let due = phone
            .scheduler
            .next_round(&profile, &inputs)
            .is_some_and(|(at, _)| at <= now);
        let push = pushed && profile.live && inputs.network.online();
        if due || push {
            let fail = faults.chance(if inputs.network == Network::Cellular {
                0.05
            } else {
                0.02
            });
            let before: Vec<bool> = writes.iter().map(|w| w.acked_ms.is_some()).collect();
            let ok = phone.round(&transport, &profile, &inputs, fail, now);
            if let Some(end) = ok {
                for (w, was) in writes.iter_mut().zip(before) {
                    if !was && (w.seqs.0..=w.seqs.1).all(|q| server.holds(me, q)) {
                        w.acked_ms = Some(end);
                        if inputs.metered && w.priority == Priority::Low {
                            low_on_metered += 1;
                        }
                    }
                }
            }
        }
    }
    // Back home: unmetered Wi-Fi, charging; sync until nothing is pending.
    let home = Inputs {
        charging: true,
        network: Network::Wifi,
        metered: false,
        ..Inputs::default()
    };
    let end_ms = start_ms + total_s * 1000;
    let settle_profile = profile_of(&switcher);
    for i in 0..20 {
        let now = end_ms + i * 60_000;
        clock.set(now);
        if let Some(end) = phone.round(&transport, &settle_profile, &home, false, now) {
            for w in writes.iter_mut().filter(|w| w.acked_ms.is_none()) {
                if (w.seqs.0..=w.seqs.1).all(|q| server.holds(me, q)) {
                    w.acked_ms = Some(end);
                }
            }
        }
        if writes.iter().all(|w| w.acked_ms.is_some()) {
            break;
        }
    }
    sync_pair(&mut laptop_s, &mut server_for_laptop)?;
    phone.round(
        &transport,
        &settle_profile,
        &home,
        false,
        end_ms + 3_600_000,
    );
    let dump = server.read().dump();
    let converged = phone_db.read().dump() == dump && laptop.read().dump() == dump;
    let lost = writes
        .iter()
        .filter(|w| !(w.seqs.0..=w.seqs.1).all(|q| server.holds(me, q)))
        .count() as u64;
    let mut staleness: Vec<f64> = writes
        .iter()
        .filter_map(|w| w.acked_ms.map(|a| (a - w.at_ms) as f64 / 1000.0))
        .collect();
    staleness.sort_by(f64::total_cmp);
    let p95 = quantile(&staleness, 0.95);
    let max = staleness.last().copied().unwrap_or(0.0);
    let max_online = writes
        .iter()
        .filter(|w| !w.disturbed)
        .filter_map(|w| w.acked_ms.map(|a| (a - w.at_ms) as f64 / 1000.0))
        .fold(0.0, f64::max);
    let hours = config.hours.max(1) as f64;
    let report = PowerSimReport {
        profile: mode.name().to_owned(),
        radio_wakes: phone.radio.wakes(),
        wakes_per_hour: phone.radio.wakes() as f64 / hours,
        bytes_up: phone.bytes_up,
        bytes_down: phone.bytes_down,
        writes: writes.len() as u64,
        p95_staleness_s: p95,
        max_staleness_s: max,
        lost_writes: lost,
        converged,
        battery_used_pct: phone.radio.energy_j() / config.energy.battery_j * 100.0,
    };
    Ok(PowerSimRun {
        report,
        staleness_bound_s: fixed.map(|p| p.staleness_bound_ms() as f64 / 1000.0),
        max_staleness_online_s: max_online,
        low_priority_on_metered: low_on_metered,
        rounds: phone.rounds,
        failed_rounds: phone.failed,
        switches: switcher.map_or(0, |s| s.switches()),
    })
}

/// numpy's linear-interpolation quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Phone {
    /// One round at `now` (or a failed attempt when `fail`); returns when
    /// it ended, on success.
    fn round(
        &mut self,
        transport: &InProcess,
        profile: &PowerProfile,
        inputs: &Inputs,
        fail: bool,
        now: u64,
    ) -> Option<u64> {
        if !inputs.network.online() {
            return None;
        }
        self.rounds += 1;
        let allowed: Vec<bool> = TABLES
            .iter()
            .map(|(_, p)| profile.may_send(*p, inputs))
            .collect();
        self.session
            .set_send_filter(Some(Arc::new(move |c: &crate::change::Change| {
                allowed.get(c.table as usize).copied().unwrap_or(false)
            })));
        self.session
            .set_max_batch_changes(profile.max_batch_changes);
        if fail {
            transport.fail_next(1);
        }
        let first = self.conn.is_none();
        let result = if first {
            transport
                .connect()
                .map_err(crate::SyncError::from)
                .map(|c| self.conn = Some((c, inputs.network)))
        } else {
            Ok(())
        };
        let result = result.and_then(|()| {
            let (conn, _) = self.conn.as_mut().expect("connected");
            sync_round(
                &mut self.session,
                conn.as_mut(),
                first,
                Duration::from_secs(30),
            )
        });
        if result.is_err() || !profile.live {
            self.conn = None;
        }
        let stats = result.as_ref().ok().copied().unwrap_or_default();
        self.bytes_up += stats.bytes_up;
        self.bytes_down += stats.bytes_down;
        let trips = stats.messages_down.max(1);
        let ms = self.radio.transfer(
            now as f64,
            inputs.network,
            trips,
            stats.bytes_up,
            stats.bytes_down,
            stats.bytes_up + stats.bytes_down,
        );
        let end = now + ms.ceil() as u64;
        let ok = result.is_ok();
        if !ok {
            self.failed += 1;
        }
        self.scheduler.on_round(ok, now, end, profile, inputs);
        ok.then_some(end)
    }
}

/// Runs each mode named in `names` (profiles of `profiles`,
/// `always_connected`, `auto`) over the same seeded day.
///
/// # Errors
/// An unknown name ([`SyncError::Config`](crate::SyncError::Config)), or
/// a database error.
pub fn power_sim(
    config: &PowerSimConfig,
    names: &[String],
    profiles: &PowerProfiles,
) -> Result<Vec<PowerSimRun>> {
    names
        .iter()
        .map(|n| {
            let mode = Mode::named(n, profiles).map_err(crate::SyncError::Config)?;
            simulate_day(config, &mode)
        })
        .collect()
}
