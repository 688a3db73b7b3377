//! Command handlers of the `cardstation` binary, one module per area. Each returns
//! `Result<(), Failure>`; `main` prints a failure as cause + next step and exits 1.

pub mod card;
pub mod desfire;
pub mod desk;
pub mod els;
pub mod kiosk;
pub mod print;
pub mod render;
pub mod secret;
pub mod store;
pub mod sync;
pub mod usos;

use cardstation::config::Profile;
use cardstation::station::auth::{Action, Session};
use cardstation::store::OperatorRole;

/// Who the audit log and the production records name for a command-line action: the shell
/// user, marked as the command line (the window names its signed-in operator).
pub fn operator() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Refuses what the station's role forbids (a kiosk issuing cards). The command line acts as
/// the station's local administrator otherwise: whoever has its shell can open the store
/// file directly, so a PIN there would guard nothing.
pub fn require(profile: &Profile, action: Action) -> Result<(), Failure> {
    session(profile).require(action).map_err(Failure::from)
}

/// The command line's session: the local operator as the station's administrator (see
/// [`require`]).
pub fn session(profile: &Profile) -> Session {
    Session {
        operator: operator(),
        role: OperatorRole::Admin,
        station: profile.role,
    }
}

pub use cardstation::error::Failure;
