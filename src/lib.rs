//! Cardstation: issuance desk, print station and offline validation kiosk for Polish
//! electronic student cards (ELS/ELD/ELN) and MIFARE DESFire university applications.
//!
//! Layering: `card` speaks APDUs through a `Transport`; only `card::pcsc` knows the pcsc
//! crate, and only `ui` knows iced. Workflows in `station` take a transport and a store, so
//! they run the same in tests, in the CLI and behind the window.

pub mod card;
pub mod config;
pub mod crypto;
pub mod error;
pub mod logging;
pub mod polish;
pub mod remote;
pub mod render;
/// Simulated cards for tests, benches and the demo: compiled for the crate's own unit tests
/// and with the `sim` feature (which the test-support crate `cardstation-refserver` turns on
/// for every test and bench build), never into a station's build.
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod station;
pub mod store;
pub mod sync;
#[cfg(feature = "gui")]
pub mod ui;
