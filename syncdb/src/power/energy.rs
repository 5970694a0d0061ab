//! The energy model of the power simulation: a radio state machine with
//! promotion and tail per network, energy per byte sent and received,
//! and CPU energy per encoded byte.
//!
//! # The model
//!
//! A cellular or Wi-Fi radio idles at (near) zero power. To send, it is
//! *promoted* to its active state (a delay at a promotion power: a
//! **radio wake**), transfers, and then stays in a high-power *tail* for
//! a fixed time before it demotes to idle; a transfer that starts inside
//! the tail needs no promotion and cuts the tail short. So a round of sync
//! costs
//!
//! ```text
//! E = [promotion_ms * promotion_mw]          (if the radio was idle: a wake)
//!   + transfer_ms * active_mw                (round trips and bytes on the air)
//!   + bytes_up * up_nj_per_byte + bytes_down * down_nj_per_byte
//!   + min(tail_ms, time to the next transfer) * tail_mw
//!   + encoded bytes * cpu_nj_per_byte
//! ```
//!
//! and coalescing writes into fewer rounds saves one promotion and one
//! tail per round saved, which dominates for small payloads: on LTE a
//! wake plus its tail is about 12.6 J, the energy of sending ~3.6 MB.
//!
//! # Constants
//!
//! [`RadioParams::lte`] and [`RadioParams::wifi`] are the measurements of
//! J. Huang, F. Qian, A. Gerber, Z. M. Mao, S. Sen, O. Spatscheck, *A
//! Close Examination of Performance and Power Characteristics of 4G LTE
//! Networks*, MobiSys 2012, tables 3 and 4: LTE promotion 260.1 ms at
//! 1210.7 mW, tail 11 576 ms at 1060.0 mW, power model `P = αu·tu +
//! αd·td + β` with αu = 438.39 mW/Mbps, αd = 51.97 mW/Mbps, β = 1288.04
//! mW; Wi-Fi promotion 79.1 ms at 124.4 mW, tail 238.1 ms at 119.3 mW,
//! αu = 283.17, αd = 137.01 mW/Mbps, β = 132.86 mW. An α of `a` mW per
//! Mbps is `a` nJ per bit on the air, hence the per-byte energies (8a nJ).
//! Round-trip times (70 ms LTE, 20 ms Wi-Fi) and throughputs (5 Mbps up,
//! 12 Mbps down on LTE; 20 Mbps both ways on Wi-Fi) are the orders of
//! magnitude that paper reports. The size of the tail effect agrees with
//! N. Balasubramanian, A. Balasubramanian, A. Venkataramani, *Energy
//! Consumption in Mobile Phones: A Measurement Study and Implications for
//! Network Applications*, IMC 2009 (3G tail ~12.5 s at ~0.62 J/s; about
//! 60 % of the energy of a small transfer is tail).
//!
//! The CPU cost of encoding (20 nJ per encoded byte: a phone core at about
//! 1 W encoding and decoding at about 50 MB/s) and the battery (3000 mAh
//! at 3.85 V, 41.6 kJ) are assumptions of this model, not measurements.

use serde::{Deserialize, Serialize};

use super::inputs::Network;

/// One radio's constants (see the [module docs](self) for their source).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RadioParams {
    /// Promotion from idle to active (milliseconds).
    pub promotion_ms: f64,
    /// Power during promotion (milliwatts).
    pub promotion_mw: f64,
    /// Tail after the last transfer (milliseconds).
    pub tail_ms: f64,
    /// Power in the tail (milliwatts).
    pub tail_mw: f64,
    /// Base power while transferring (β, milliwatts).
    pub active_mw: f64,
    /// Energy per byte sent (8 αu, nanojoules).
    pub up_nj_per_byte: f64,
    /// Energy per byte received (8 αd, nanojoules).
    pub down_nj_per_byte: f64,
    /// Round-trip time (milliseconds).
    pub rtt_ms: f64,
    /// Upload throughput (bits per second).
    pub up_bps: f64,
    /// Download throughput (bits per second).
    pub down_bps: f64,
}

impl RadioParams {
    /// LTE (Huang et al. 2012).
    pub const fn lte() -> Self {
        RadioParams {
            promotion_ms: 260.1,
            promotion_mw: 1210.7,
            tail_ms: 11_576.0,
            tail_mw: 1060.0,
            active_mw: 1288.04,
            up_nj_per_byte: 8.0 * 438.39,
            down_nj_per_byte: 8.0 * 51.97,
            rtt_ms: 70.0,
            up_bps: 5e6,
            down_bps: 12e6,
        }
    }

    /// Wi-Fi (Huang et al. 2012).
    pub const fn wifi() -> Self {
        RadioParams {
            promotion_ms: 79.1,
            promotion_mw: 124.4,
            tail_ms: 238.1,
            tail_mw: 119.3,
            active_mw: 132.86,
            up_nj_per_byte: 8.0 * 283.17,
            down_nj_per_byte: 8.0 * 137.01,
            rtt_ms: 20.0,
            up_bps: 20e6,
            down_bps: 20e6,
        }
    }
}

/// The whole energy model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnergyModel {
    /// The cellular radio.
    pub cellular: RadioParams,
    /// The Wi-Fi radio.
    pub wifi: RadioParams,
    /// CPU energy per encoded or decoded byte (nanojoules).
    pub cpu_nj_per_byte: f64,
    /// Battery capacity (joules).
    pub battery_j: f64,
}

impl Default for EnergyModel {
    fn default() -> Self {
        EnergyModel {
            cellular: RadioParams::lte(),
            wifi: RadioParams::wifi(),
            cpu_nj_per_byte: 20.0,
            battery_j: 3.0 * 3.85 * 3600.0,
        }
    }
}

impl EnergyModel {
    /// The constants of a network's radio (`None` offline).
    pub fn radio(&self, network: Network) -> Option<&RadioParams> {
        match network {
            Network::Offline => None,
            Network::Wifi => Some(&self.wifi),
            Network::Cellular => Some(&self.cellular),
        }
    }
}

/// The radios of one device over time: wakes, the tail in progress, and
/// the energy spent (joules).
#[derive(Debug, Clone)]
pub struct Radio {
    model: EnergyModel,
    /// The radio in its tail, and when its last transfer ended.
    tail: Option<(Network, f64)>,
    wakes: u64,
    energy_j: f64,
}

impl Radio {
    /// An idle radio.
    pub fn new(model: EnergyModel) -> Self {
        Radio {
            model,
            tail: None,
            wakes: 0,
            energy_j: 0.0,
        }
    }

    /// Radio wakes (promotions from idle) so far.
    pub fn wakes(&self) -> u64 {
        self.wakes
    }

    /// Energy spent so far, counting tails up to their end.
    pub fn energy_j(&self) -> f64 {
        let tail = self.tail.map_or(0.0, |(n, _)| {
            let r = self.model.radio(n).copied().unwrap_or(RadioParams::wifi());
            r.tail_ms * r.tail_mw * 1e-6
        });
        self.energy_j + tail
    }

    /// Ends the tail in progress at `now_ms` (or at its natural end).
    fn settle(&mut self, now_ms: f64, network: Network) -> bool {
        let Some((n, ended)) = self.tail else {
            return false;
        };
        let r = self.model.radio(n).copied().unwrap_or(RadioParams::wifi());
        let in_tail = n == network && now_ms < ended + r.tail_ms;
        let tail = if in_tail {
            (now_ms - ended).max(0.0)
        } else {
            r.tail_ms
        };
        self.energy_j += tail * r.tail_mw * 1e-6;
        self.tail = None;
        in_tail
    }

    /// A transfer of `round_trips` round trips carrying `up` and `down`
    /// bytes (and `encoded` bytes through the codecs) starting at
    /// `now_ms` on `network`; returns its duration in milliseconds
    /// (promotion included). Offline it costs nothing and takes no time.
    pub fn transfer(
        &mut self,
        now_ms: f64,
        network: Network,
        round_trips: u64,
        up: u64,
        down: u64,
        encoded: u64,
    ) -> f64 {
        let Some(r) = self.model.radio(network).copied() else {
            return 0.0;
        };
        let mut ms = 0.0;
        if !self.settle(now_ms, network) {
            self.wakes += 1;
            self.energy_j += r.promotion_ms * r.promotion_mw * 1e-6;
            ms += r.promotion_ms;
        }
        let air_ms = round_trips as f64 * r.rtt_ms
            + up as f64 * 8.0 / r.up_bps * 1e3
            + down as f64 * 8.0 / r.down_bps * 1e3;
        self.energy_j += air_ms * r.active_mw * 1e-6
            + (up as f64 * r.up_nj_per_byte + down as f64 * r.down_nj_per_byte) * 1e-9
            + encoded as f64 * self.model.cpu_nj_per_byte * 1e-9;
        ms += air_ms;
        self.tail = Some((network, now_ms + ms));
        ms
    }
}
