//! Power management: the device's state ([`Inputs`]), what the client may
//! do on the radio ([`PowerProfile`], built-in and user profiles through
//! common's config), which profile is in force ([`Rules`], [`Switcher`]),
//! when the radio wakes ([`Scheduler`], over an injected clock), and the
//! energy model and simulated day that measure it ([`energy`], [`sim`]).

pub mod energy;
mod inputs;
mod profile;
mod rules;
mod scheduler;
pub mod sim;

pub use inputs::{Inputs, Network};
pub use profile::{CodecEffort, Maintenance, PowerProfile, PowerProfiles, Priority};
pub use rules::{Condition, Rule, Rules, Switcher};
pub use scheduler::{Reason, Scheduler};
