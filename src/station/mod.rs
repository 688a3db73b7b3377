//! The station workflows as plain logic over a transport (and later a store), with no UI
//! types: the DESFire university application so far; ELS issuance, printing and validation
//! follow in their issues.

pub mod desfire;
