//! Cryptography for cards: the signed ELS structure (CMS SignedData), PESEL rules, key
//! material loading (zeroized, permission-checked), block ciphers and AN10922 key
//! diversification.

pub mod block;
pub mod diversify;
pub mod els_sig;
pub mod pesel;
#[cfg(test)]
pub(crate) mod test_pki;

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
