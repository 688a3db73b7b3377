//! The signed ELS data object; verify.rs still holds all of it until the split that follows.

mod verify;

pub use verify::*;
