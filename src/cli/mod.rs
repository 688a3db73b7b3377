//! Command handlers of the `cardstation` binary, one module per area. Each returns
//! `Result<(), Failure>`; `main` prints a failure as cause + next step and exits 1.

pub mod card;
pub mod desfire;
pub mod els;
pub mod kiosk;
pub mod render;
pub mod store;
pub mod sync;
pub mod usos;

use cardstation::card::TransportError;

/// A failed operation: what happened and what to do about it.
pub struct Failure {
    pub cause: String,
    pub next_step: String,
}

impl From<TransportError> for Failure {
    fn from(err: TransportError) -> Self {
        Failure {
            next_step: err.next_step().to_owned(),
            cause: err.to_string(),
        }
    }
}

impl From<cardstation::config::ConfigError> for Failure {
    fn from(err: cardstation::config::ConfigError) -> Self {
        Failure {
            next_step: err.next_step().to_owned(),
            cause: err.to_string(),
        }
    }
}

impl From<cardstation::store::StoreError> for Failure {
    fn from(err: cardstation::store::StoreError) -> Self {
        Failure {
            next_step: err.next_step().to_owned(),
            cause: err.to_string(),
        }
    }
}

impl Failure {
    pub fn new(cause: impl Into<String>, next_step: impl Into<String>) -> Self {
        Self {
            cause: cause.into(),
            next_step: next_step.into(),
        }
    }
}
