//! Typed clients for CardExchange Cloud, USOS and ID123. The reference server the tests and
//! the demo run against is the `cardstation-refserver` crate (refserver/), not part of the
//! station.

pub mod cardexchange;
pub mod http;
pub mod id123;
pub mod oauth1;
pub mod retry;
pub mod usos;
