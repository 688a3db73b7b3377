//! The station's workflows as plain logic over a card transport (and, as it lands, the
//! store): no UI types, so each one runs the same from the CLI, the window and the tests.

pub mod auth;
pub mod demo;
pub mod desfire;
pub mod desk;
pub mod import;
pub mod issue;
pub mod person;
pub mod photo;
pub mod print;
pub mod usos;
pub mod validate;
