//! What the device tells the client about itself: battery, charging,
//! power-save mode, network, foreground, idle. The application sets them
//! from the operating system's callbacks (tests and simulations inject
//! them).

use serde::{Deserialize, Serialize};

/// The kind of network the device is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// No network.
    Offline,
    /// Wi-Fi (or wired).
    Wifi,
    /// A cellular data connection.
    Cellular,
}

impl Network {
    /// Whether any network is available.
    pub fn online(self) -> bool {
        self != Network::Offline
    }

    /// The name (`offline`, `wifi`, `cellular`).
    pub fn name(self) -> &'static str {
        match self {
            Network::Offline => "offline",
            Network::Wifi => "wifi",
            Network::Cellular => "cellular",
        }
    }
}

/// The device's state as the power management sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Inputs {
    /// Battery level in percent, 0 to 100.
    pub battery_pct: f64,
    /// Whether the device is charging.
    pub charging: bool,
    /// Whether the operating system's power-save mode is on.
    pub power_save: bool,
    /// The current network.
    pub network: Network,
    /// Whether the network is metered (a data plan: most cellular
    /// connections, a phone's hotspot).
    pub metered: bool,
    /// Whether the application is in the foreground (screen on, in use).
    pub foreground: bool,
    /// Whether the device is idle (Doze-like: screen off and still for a
    /// while; the OS batches background work).
    pub idle: bool,
}

impl Default for Inputs {
    /// A charged phone on unmetered Wi-Fi, in the foreground.
    fn default() -> Self {
        Inputs {
            battery_pct: 100.0,
            charging: false,
            power_save: false,
            network: Network::Wifi,
            metered: false,
            foreground: true,
            idle: false,
        }
    }
}
