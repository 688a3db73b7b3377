//! Cryptography for cards: the signed ELS structure (CMS SignedData), PESEL rules, and key
//! material loading (zeroized, permission-checked). Key diversification (AN10922) joins with
//! the DESFire work.

pub mod els_sig;
pub mod keys;
pub mod pesel;
