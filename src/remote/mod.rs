//! Typed clients for CardExchange Cloud, USOS and ID123, and the reference server (all three
//! APIs) the tests and the demo run against.

pub mod cardexchange;
pub mod http;
pub mod id123;
pub mod oauth1;
pub mod retry;
pub mod server;
pub mod usos;
