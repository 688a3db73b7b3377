//! Typed clients for CardExchange Cloud, USOS and ID123, and the reference CardExchange
//! server the tests and the demo run against.

pub mod cardexchange;
pub mod server;
