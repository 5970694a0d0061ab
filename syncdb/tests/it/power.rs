//! Power management: profiles, rules with hysteresis, the scheduler, the
//! energy model and the simulated day.

use unidb_common::rng::SplitMix64;
use unidb_common::ErrorKind;
use unidb_syncdb::power::energy::{EnergyModel, Radio, RadioParams};
use unidb_syncdb::power::sim::{power_sim, simulate_day, Mode, PowerSimConfig};
use unidb_syncdb::power::{
    Inputs, Network, PowerProfile, PowerProfiles, Priority, Reason, Rules, Scheduler, Switcher,
};

fn day(names: &[&str]) -> Vec<unidb_syncdb::power::sim::PowerSimRun> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    power_sim(
        &PowerSimConfig::default(),
        &names,
        &PowerProfiles::builtin(),
    )
    .unwrap()
}

#[test]
fn every_builtin_profile_converges_with_no_lost_writes() {
    let runs = day(&[
        "realtime",
        "balanced",
        "battery_saver",
        "background",
        "always_connected",
    ]);
    for r in &runs {
        eprintln!("{r:?}");
        assert!(r.report.converged, "{}", r.report.profile);
        assert_eq!(r.report.lost_writes, 0, "{}", r.report.profile);
        assert!(
            r.report.writes > 300,
            "a day has writes: {}",
            r.report.writes
        );
    }
    assert!(
        runs.iter().map(|r| r.failed_rounds).sum::<u64>() > 0,
        "failures are exercised"
    );
    let wakes = |n: &str| {
        runs.iter()
            .find(|r| r.report.profile == n)
            .unwrap()
            .report
            .radio_wakes
    };
    assert!(
        4 * wakes("battery_saver") <= wakes("realtime"),
        "battery_saver {} vs realtime {}",
        wakes("battery_saver"),
        wakes("realtime")
    );
}

#[test]
fn staleness_bounds_and_metered_rules_hold_over_the_day() {
    let runs = day(&[
        "realtime",
        "balanced",
        "battery_saver",
        "background",
        "always_connected",
    ]);
    for r in &runs {
        let name = r.report.profile.as_str();
        let bound = r.staleness_bound_s.unwrap();
        // Writes the profile could send all along reach the server within
        // the flush window plus one backoff.
        assert!(
            r.max_staleness_online_s <= bound,
            "{name}: {} s > bound {bound} s",
            r.max_staleness_online_s
        );
        if name == "always_connected" {
            // The baseline ignores the metered rule: the witness sees it.
            assert!(r.low_priority_on_metered > 0, "{name}");
        } else {
            assert_eq!(r.low_priority_on_metered, 0, "{name}");
        }
        assert!(r.report.p95_staleness_s <= r.report.max_staleness_s);
        assert!(r.report.battery_used_pct > 0.0 && r.report.bytes_up > 0);
    }
    let saver = runs
        .iter()
        .find(|r| r.report.profile == "battery_saver")
        .unwrap();
    assert!(saver.max_staleness_online_s > 0.0);
    assert_eq!(
        saver.staleness_bound_s,
        Some((600_000 + 300_000) as f64 / 1000.0),
        "flush window plus one backoff at its cap"
    );
}

#[test]
fn the_same_seed_gives_the_same_day_and_auto_switches_profiles() {
    let config = PowerSimConfig {
        hours: 24,
        seed: 7,
        ..PowerSimConfig::default()
    };
    let p = PowerProfiles::builtin();
    let a = simulate_day(&config, &Mode::named("balanced", &p).unwrap()).unwrap();
    let b = simulate_day(&config, &Mode::named("balanced", &p).unwrap()).unwrap();
    assert_eq!(a, b);
    let auto = simulate_day(&config, &Mode::named("auto", &p).unwrap()).unwrap();
    assert!(auto.report.converged && auto.report.lost_writes == 0);
    assert_eq!(
        auto.report.writes, a.report.writes,
        "one day for every mode"
    );
    assert!(
        auto.switches >= 2,
        "a day has foreground, idle and low battery"
    );
    assert!(auto.switches <= 24 * 60 / 5, "at most one switch per dwell");
    let err = Mode::named("turbo", &p).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

fn drained(battery_pct: f64) -> Inputs {
    Inputs {
        battery_pct,
        foreground: false,
        ..Inputs::default()
    }
}

#[test]
fn switching_follows_the_rules_with_hysteresis_on_a_noisy_battery() {
    let rules = Rules::default();
    let pick = |i: Inputs| rules.pick(&i, "balanced").to_owned();
    assert_eq!(
        pick(Inputs {
            power_save: true,
            ..Inputs::default()
        }),
        "battery_saver"
    );
    assert_eq!(pick(drained(15.0)), "battery_saver");
    assert_eq!(
        pick(Inputs {
            battery_pct: 15.0,
            charging: true,
            ..Inputs::default()
        }),
        "realtime"
    );
    assert_eq!(
        pick(Inputs {
            idle: true,
            ..drained(80.0)
        }),
        "background"
    );
    assert_eq!(
        pick(Inputs {
            battery_pct: 80.0,
            ..Inputs::default()
        }),
        "realtime"
    );
    assert_eq!(
        pick(Inputs {
            battery_pct: 40.0,
            ..Inputs::default()
        }),
        "balanced"
    );
    assert_eq!(pick(drained(40.0)), "balanced");
    // Hysteresis: battery_saver, entered below 20 %, is kept up to 25 %.
    assert_eq!(rules.pick(&drained(23.0), "battery_saver"), "battery_saver");
    assert_eq!(rules.pick(&drained(23.0), "balanced"), "balanced");
    assert_eq!(rules.pick(&drained(26.0), "battery_saver"), "balanced");

    // A battery hovering around 20 % with noise of up to 3 points either
    // way (less than the hysteresis), sampled every 10 s for 4 hours.
    let noisy = |rules: Rules| {
        let mut rng = SplitMix64::new(3);
        let mut s = Switcher::new(rules);
        let mut times = Vec::new();
        for step in 0..4 * 360u64 {
            let i = drained(20.0 + 6.0 * (rng.f64() - 0.5));
            if s.update(&i, step * 10_000).is_some() {
                times.push(step * 10);
            }
        }
        times
    };
    let with = noisy(Rules::default());
    assert_eq!(
        with,
        [0],
        "one switch into battery_saver, kept by hysteresis"
    );
    let without = noisy(Rules {
        battery_hysteresis_pct: 0.0,
        min_dwell_s: 0,
        ..Rules::default()
    });
    assert!(
        without.len() > 50,
        "the signal is noisy enough to flap: {}",
        without.len()
    );
    let dwell_only = noisy(Rules {
        battery_hysteresis_pct: 0.0,
        min_dwell_s: 600,
        ..Rules::default()
    });
    assert!(dwell_only.len() > 2);
    assert!(
        dwell_only.windows(2).all(|w| w[1] - w[0] >= 600),
        "no more than one switch per 10 minutes: {dwell_only:?}"
    );
}

#[test]
fn the_scheduler_coalesces_writes_backs_off_and_obeys_the_network_rules() {
    let p = PowerProfile::builtin("balanced").unwrap();
    let wifi = Inputs::default();
    let mut s = Scheduler::new(0, 1);
    assert_eq!(s.next_round(&p, &wifi), Some((900_000, Reason::Poll)));
    s.on_write(Priority::Normal, 1_000);
    s.on_write(Priority::Normal, 5_000);
    assert_eq!(
        s.next_round(&p, &wifi),
        Some((31_000, Reason::Flush)),
        "from the first write"
    );
    let offline = Inputs {
        network: Network::Offline,
        ..wifi
    };
    assert_eq!(s.next_round(&p, &offline), None);
    // Failures back off exponentially with jitter, up to the cap.
    let mut last = 0;
    for k in 1..=8u32 {
        s.on_round(false, 31_000, 31_000, &p, &wifi);
        let (at, why) = s.next_round(&p, &wifi).unwrap();
        assert_eq!(why, Reason::Retry);
        let d = (p.backoff_base_ms << (k - 1)).min(p.backoff_cap_ms) as f64;
        let delay = (at - 31_000) as f64;
        assert!(
            delay <= d && delay >= d * (1.0 - p.backoff_jitter) - 1.0,
            "{k}: {delay} vs {d}"
        );
        last = at;
    }
    assert!(last - 31_000 <= p.backoff_cap_ms);
    s.on_round(true, 40_000, 40_100, &p, &wifi);
    assert!(!s.pending(Priority::Normal));
    assert_eq!(s.next_round(&p, &wifi), Some((940_100, Reason::Poll)));
    // A low-priority write on a metered network does not wake the radio
    // under battery_saver, and stays pending after a round there.
    let saver = PowerProfile::builtin("battery_saver").unwrap();
    let metered = Inputs {
        network: Network::Cellular,
        metered: true,
        ..wifi
    };
    let mut s = Scheduler::new(0, 1);
    s.on_write(Priority::Low, 0);
    assert_eq!(s.next_round(&saver, &metered).unwrap().1, Reason::Poll);
    assert!(!saver.may_send(Priority::Low, &metered) && saver.may_send(Priority::High, &metered));
    s.on_round(true, 10, 20, &saver, &metered);
    assert!(s.pending(Priority::Low));
    assert_eq!(
        s.next_round(&saver, &wifi).unwrap(),
        (600_000, Reason::Flush)
    );
    // Below its minimum battery only high priority goes.
    let low_battery = Inputs {
        battery_pct: 5.0,
        ..wifi
    };
    assert!(!saver.may_send(Priority::Normal, &low_battery));
    assert!(saver.may_send(Priority::High, &low_battery));
}

#[test]
fn the_radio_pays_one_wake_and_one_tail_per_burst() {
    let model = EnergyModel::default();
    let lte = RadioParams::lte();
    let mut r = Radio::new(model);
    let d = r.transfer(0.0, Network::Cellular, 1, 1000, 0, 0);
    let air = lte.rtt_ms + 8000.0 / lte.up_bps * 1e3;
    assert!((d - (lte.promotion_ms + air)).abs() < 1e-9);
    let expected = lte.promotion_ms * lte.promotion_mw * 1e-6
        + air * lte.active_mw * 1e-6
        + 1000.0 * lte.up_nj_per_byte * 1e-9
        + lte.tail_ms * lte.tail_mw * 1e-6;
    assert!(
        (r.energy_j() - expected).abs() < 1e-9,
        "{} vs {expected}",
        r.energy_j()
    );
    assert_eq!(r.wakes(), 1);
    // Inside the tail: no new wake, the tail is cut short.
    r.transfer(d + 5_000.0, Network::Cellular, 1, 0, 0, 0);
    assert_eq!(r.wakes(), 1);
    // After the tail: a new wake.
    r.transfer(d + 60_000.0, Network::Cellular, 1, 0, 0, 0);
    assert_eq!(r.wakes(), 2);
    // Another radio is another wake; offline costs nothing.
    r.transfer(d + 61_000.0, Network::Wifi, 1, 0, 0, 0);
    assert_eq!(r.wakes(), 3);
    assert_eq!(
        r.transfer(d + 62_000.0, Network::Offline, 1, 10, 10, 0),
        0.0
    );
    // A wake plus tail costs far more than a small payload on LTE.
    let tail_j = lte.tail_ms * lte.tail_mw * 1e-6;
    assert!(tail_j > 12.0 && tail_j < 13.0);
}

#[test]
fn profiles_load_from_toml_and_json_and_are_validated() {
    let p = PowerProfiles::builtin();
    for name in PowerProfile::BUILTIN {
        let profile = p.resolve(name).unwrap();
        unidb_common::config::Validate::validate(&profile).unwrap();
    }
    assert_eq!(
        p.names(),
        ["realtime", "balanced", "battery_saver", "background"]
    );
    let user = PowerProfiles::from_toml_str(
        "[base]\nflush_window_ms = 60000\n[profiles.commute]\ncellular = \"high\"\n[profiles.realtime]\nflush_window_ms = 100\n",
    )
    .unwrap();
    let commute = user.resolve("commute").unwrap();
    assert_eq!(commute.cellular, Some(Priority::High));
    assert_eq!(commute.flush_window_ms, 60_000);
    assert_eq!(
        user.resolve("realtime").unwrap().flush_window_ms,
        100,
        "the user's wins"
    );
    assert_eq!(user.names().len(), 5);
    let e =
        PowerProfiles::from_json_str(r#"{"base": {}, "profiles": {"x": {"backoff_jitter": 2.0}}}"#)
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert_eq!(e.location(), Some("backoff_jitter"));
    let e = PowerProfiles::from_toml_str("[base\n").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Serialization);
    let e = p.resolve("nope").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("battery_saver"), "{e}");
}
