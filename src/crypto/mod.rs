//! Key diversification (AN10922), the signed ELS structure (CMS) and key material handling: filled by the ELS and DESFire issues.
