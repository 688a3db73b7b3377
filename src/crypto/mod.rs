//! Key diversification (AN10922), the signed ELS structure (CMS) and key material handling: filled by the ELS and DESFire issues.

pub mod block;
pub mod diversify;

/// Where challenges (RndA, RndB) come from. Tests inject fixed bytes to replay recorded traces.
pub trait RandomSource: Send {
    fn fill(&mut self, out: &mut [u8]);
}

/// The operating system's generator: the one to use outside tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, out: &mut [u8]) {
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, out);
    }
}

impl<F: FnMut(&mut [u8]) + Send> RandomSource for F {
    fn fill(&mut self, out: &mut [u8]) {
        self(out)
    }
}
