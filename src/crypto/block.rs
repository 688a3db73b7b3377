//! The block ciphers DESFire and AN10922 use (AES-128, two- and three-key 3DES), with CBC and
//! NIST SP 800-38B CMAC that take a caller-held IV: DESFire EV1 secure messaging chains every
//! CMAC from the previous one, which the RustCrypto `cmac` crate cannot express.

use aes::Aes128;
use cipher::generic_array::GenericArray;
use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use des::{TdesEde2, TdesEde3};
use zeroize::Zeroizing;

/// CMAC subkey constants: the irreducible polynomials for 128- and 64-bit blocks.
const RB_128: u8 = 0x87;
const RB_64: u8 = 0x1B;

/// A keyed block cipher. A single-DES key is used as the 2-key 3DES key `K‖K`, which computes DES.
/// The cipher structs wipe their key schedules on drop (the crates' `zeroize` feature).
pub enum BlockCipher {
    Aes128(Box<Aes128>),
    TdesEde2(Box<TdesEde2>),
    TdesEde3(Box<TdesEde3>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {expected}-byte key was expected, got {got} bytes")]
pub struct KeyLengthError {
    pub expected: usize,
    pub got: usize,
}

impl BlockCipher {
    pub fn aes128(key: &[u8]) -> Result<Self, KeyLengthError> {
        Aes128::new_from_slice(key)
            .map(|c| Self::Aes128(Box::new(c)))
            .map_err(|_| KeyLengthError {
                expected: 16,
                got: key.len(),
            })
    }

    pub fn tdes_ede2(key: &[u8]) -> Result<Self, KeyLengthError> {
        TdesEde2::new_from_slice(key)
            .map(|c| Self::TdesEde2(Box::new(c)))
            .map_err(|_| KeyLengthError {
                expected: 16,
                got: key.len(),
            })
    }

    pub fn tdes_ede3(key: &[u8]) -> Result<Self, KeyLengthError> {
        TdesEde3::new_from_slice(key)
            .map(|c| Self::TdesEde3(Box::new(c)))
            .map_err(|_| KeyLengthError {
                expected: 24,
                got: key.len(),
            })
    }

    pub fn block_size(&self) -> usize {
        match self {
            Self::Aes128(_) => 16,
            Self::TdesEde2(_) | Self::TdesEde3(_) => 8,
        }
    }

    /// Encrypts one block in place; `block` must be exactly one block long.
    pub fn encrypt_block(&self, block: &mut [u8]) {
        match self {
            Self::Aes128(c) => c.encrypt_block(GenericArray::from_mut_slice(block)),
            Self::TdesEde2(c) => c.encrypt_block(GenericArray::from_mut_slice(block)),
            Self::TdesEde3(c) => c.encrypt_block(GenericArray::from_mut_slice(block)),
        }
    }

    pub fn decrypt_block(&self, block: &mut [u8]) {
        match self {
            Self::Aes128(c) => c.decrypt_block(GenericArray::from_mut_slice(block)),
            Self::TdesEde2(c) => c.decrypt_block(GenericArray::from_mut_slice(block)),
            Self::TdesEde3(c) => c.decrypt_block(GenericArray::from_mut_slice(block)),
        }
    }

    /// CBC-encrypts whole blocks in place; `iv` becomes the last ciphertext block.
    /// `data.len()` must be a multiple of the block size and `iv` one block long.
    pub fn cbc_encrypt(&self, iv: &mut [u8], data: &mut [u8]) {
        for block in data.chunks_exact_mut(self.block_size()) {
            xor_into(block, iv);
            self.encrypt_block(block);
            iv.copy_from_slice(block);
        }
    }

    /// CBC-decrypts whole blocks in place; `iv` becomes the last ciphertext block.
    pub fn cbc_decrypt(&self, iv: &mut [u8], data: &mut [u8]) {
        let mut cipher_block = Zeroizing::new(vec![0; self.block_size()]);
        for block in data.chunks_exact_mut(self.block_size()) {
            cipher_block.copy_from_slice(block);
            self.decrypt_block(block);
            xor_into(block, iv);
            iv.copy_from_slice(&cipher_block);
        }
    }

    /// The CMAC subkeys K1 and K2 (NIST SP 800-38B).
    pub fn cmac_subkeys(&self) -> (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>) {
        let rb = if self.block_size() == 16 {
            RB_128
        } else {
            RB_64
        };
        let mut l = Zeroizing::new(vec![0; self.block_size()]);
        self.encrypt_block(&mut l);
        let k1 = Zeroizing::new(double(&l, rb));
        let k2 = Zeroizing::new(double(&k1, rb));
        (k1, k2)
    }

    /// NIST CMAC of `message`, started from `iv` instead of zeros; `iv` becomes the full CMAC
    /// block, as the next DESFire EV1 secure-messaging step needs.
    pub fn cmac_chained(&self, iv: &mut [u8], message: &[u8]) {
        let bs = self.block_size();
        let (k1, k2) = self.cmac_subkeys();
        let mut padded = Zeroizing::new(message.to_vec());
        let complete = !message.is_empty() && message.len().is_multiple_of(bs);
        if !complete {
            pad_80(&mut padded, bs);
        }
        let last = padded.len() - bs;
        xor_into(&mut padded[last..], if complete { &k1 } else { &k2 });
        self.cbc_encrypt(iv, &mut padded);
    }
}

/// Appends `80 00..` up to a multiple of `block_size` (ISO/IEC 9797-1 method 2).
pub fn pad_80(data: &mut Vec<u8>, block_size: usize) {
    data.push(0x80);
    pad_zeros(data, block_size);
}

/// Appends zeros up to a multiple of `block_size`.
pub fn pad_zeros(data: &mut Vec<u8>, block_size: usize) {
    let rem = data.len() % block_size;
    if rem != 0 {
        data.resize(data.len() + block_size - rem, 0);
    }
}

pub fn xor_into(target: &mut [u8], other: &[u8]) {
    for (t, o) in target.iter_mut().zip(other) {
        *t ^= o;
    }
}

/// Multiplication by x in GF(2^n): shift left by one bit, reduce with `rb` on carry.
fn double(block: &[u8], rb: u8) -> Vec<u8> {
    let mut out = vec![0; block.len()];
    let mut carry = 0;
    for (o, b) in out.iter_mut().zip(block).rev() {
        *o = (b << 1) | carry;
        carry = b >> 7;
    }
    if carry == 1
        && let Some(last) = out.last_mut()
    {
        *last ^= rb;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn aes_cmac_matches_nist_sp800_38b_examples() {
        let cipher = BlockCipher::aes128(&h("2b7e151628aed2a6abf7158809cf4f3c")).unwrap();
        let (k1, k2) = cipher.cmac_subkeys();
        assert_eq!(*k1, h("fbeed618357133667c85e08f7236a8de"));
        assert_eq!(*k2, h("f7ddac306ae266ccf90bc11ee46d513b"));
        let mut iv = vec![0; 16];
        cipher.cmac_chained(&mut iv, &[]);
        assert_eq!(iv, h("bb1d6929e95937287fa37d129b756746"));
        let mut iv = vec![0; 16];
        cipher.cmac_chained(&mut iv, &h("6bc1bee22e409f96e93d7e117393172a"));
        assert_eq!(iv, h("070a16b46b4d4144f79bdd9dd04a287c"));
        let mut iv = vec![0; 16];
        cipher.cmac_chained(
            &mut iv,
            &h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411"),
        );
        assert_eq!(iv, h("dfa66747de9ae63030ca32611497c827"));
    }

    #[test]
    fn tdes_cmac_matches_nist_sp800_38b_example() {
        // SP 800-38B D.4, three-key TDEA: the empty message and one block.
        let cipher =
            BlockCipher::tdes_ede3(&h("8aa83bf8cbda1062 0bc1bf19fbb6cd58 bc313d4a371ca8b5"))
                .unwrap();
        let mut iv = vec![0; 8];
        cipher.cmac_chained(&mut iv, &[]);
        assert_eq!(iv, h("b7a688e122ffaf95"));
        let mut iv = vec![0; 8];
        cipher.cmac_chained(&mut iv, &h("6bc1bee22e409f96"));
        assert_eq!(iv, h("8e8f293136283797"));
    }

    #[test]
    fn cbc_round_trips_and_chains_the_iv() {
        let cipher = BlockCipher::aes128(&[7; 16]).unwrap();
        let plain: Vec<u8> = (0..48).collect();
        let mut data = plain.clone();
        let mut iv = vec![1; 16];
        cipher.cbc_encrypt(&mut iv, &mut data);
        assert_eq!(iv, data[32..]);
        let mut iv = vec![1; 16];
        cipher.cbc_decrypt(&mut iv, &mut data);
        assert_eq!(data, plain);
        assert_eq!(
            BlockCipher::tdes_ede2(&[0; 8]).err(),
            Some(KeyLengthError {
                expected: 16,
                got: 8
            })
        );
    }
}
