//! NXP AN10922 key diversification: per-card keys derived from a master key and the card's
//! UID, application and a system identifier, for AES-128, 2-key and 3-key 3DES.

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroizing;

use super::block::{BlockCipher, KeyLengthError, pad_80, xor_into};

/// The key type of the master key and of the diversified key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum KeyAlgorithm {
    #[serde(rename = "aes")]
    Aes128,
    #[serde(rename = "2k3des")]
    TwoKey3Des,
    #[serde(rename = "3k3des")]
    ThreeKey3Des,
}

impl KeyAlgorithm {
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128 | Self::TwoKey3Des => 16,
            Self::ThreeKey3Des => 24,
        }
    }

    /// AN10922 diversification constants, one per derived key part.
    fn constants(self) -> &'static [u8] {
        match self {
            Self::Aes128 => &[0x01],
            Self::TwoKey3Des => &[0x21, 0x22],
            Self::ThreeKey3Des => &[0x31, 0x32, 0x33],
        }
    }

    pub(crate) fn cipher(self, key: &[u8]) -> Result<BlockCipher, KeyLengthError> {
        match self {
            Self::Aes128 => BlockCipher::aes128(key),
            Self::TwoKey3Des => BlockCipher::tdes_ede2(key),
            Self::ThreeKey3Des => BlockCipher::tdes_ede3(key),
        }
    }
}

impl FromStr for KeyAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "aes" | "aes128" => Ok(Self::Aes128),
            "2k3des" => Ok(Self::TwoKey3Des),
            "3k3des" => Ok(Self::ThreeKey3Des),
            other => Err(format!(
                "unknown key algorithm \"{other}\" (expected aes, 2k3des or 3k3des)"
            )),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Aes128 => "aes",
            Self::TwoKey3Des => "2k3des",
            Self::ThreeKey3Des => "3k3des",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DiversifyError {
    #[error("the {algorithm} master key must be {expected} bytes, got {got}")]
    MasterKeyLength {
        algorithm: KeyAlgorithm,
        expected: usize,
        got: usize,
    },
    #[error(
        "the diversification input (UID, AID, system identifier) is {got} bytes; {algorithm} allows 1 to {max}"
    )]
    InputLength {
        algorithm: KeyAlgorithm,
        max: usize,
        got: usize,
    },
}

/// Derives the card key: for each constant C of the algorithm, the AN10922 CMAC of
/// `C ‖ UID ‖ AID ‖ SystemIdentifier` under `master`, concatenated (8-byte parts for 3DES).
/// The 3DES parts keep the raw CMAC bits; DESFire ignores the parity bits that carry a key version.
pub fn diversify(
    alg: KeyAlgorithm,
    master: &[u8],
    uid: &[u8],
    aid: &[u8],
    system_id: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DiversifyError> {
    let cipher = alg
        .cipher(master)
        .map_err(|err| DiversifyError::MasterKeyLength {
            algorithm: alg,
            expected: err.expected,
            got: err.got,
        })?;
    let input_len = uid.len() + aid.len() + system_id.len();
    // M = constant ‖ input must fit the two cipher blocks the AN10922 CMAC takes.
    let max = 2 * cipher.block_size() - 1;
    if !(1..=max).contains(&input_len) {
        return Err(DiversifyError::InputLength {
            algorithm: alg,
            max,
            got: input_len,
        });
    }
    let mut key = Zeroizing::new(Vec::with_capacity(alg.key_len()));
    for &constant in alg.constants() {
        let mut m = Zeroizing::new(Vec::with_capacity(2 * cipher.block_size()));
        m.push(constant);
        m.extend_from_slice(uid);
        m.extend_from_slice(aid);
        m.extend_from_slice(system_id);
        key.extend_from_slice(&an10922_cmac(&cipher, &m));
    }
    Ok(key)
}

/// The AN10922 CMAC variant. It is not the plain NIST CMAC that the RustCrypto `cmac` crate
/// computes: the message is always padded to exactly two blocks, and K2 (padded) or K1 (M was
/// already two blocks) goes into the last block. NIST CMAC would pad only to one block for
/// a short M and give a different key (libfreefare issue #91).
fn an10922_cmac(cipher: &BlockCipher, m: &[u8]) -> Zeroizing<Vec<u8>> {
    let bs = cipher.block_size();
    let (k1, k2) = cipher.cmac_subkeys();
    let mut blocks = Zeroizing::new(m.to_vec());
    let subkey = if blocks.len() == 2 * bs {
        k1
    } else {
        pad_80(&mut blocks, 2 * bs);
        k2
    };
    xor_into(&mut blocks[bs..], &subkey);
    let mut iv = Zeroizing::new(vec![0; bs]);
    cipher.cbc_encrypt(&mut iv, &mut blocks);
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    const MASTER: &str = "00112233445566778899AABBCCDDEEFF";
    const UID: &str = "04782E21801D80";
    const AID: &str = "3042F5";

    #[test]
    fn nxp_example_subkeys() {
        let aes = BlockCipher::aes128(&h(MASTER)).unwrap();
        let (k1, k2) = aes.cmac_subkeys();
        assert_eq!(*k1, h("FBC9F75C9413C041DFEE452D3F0706D1"));
        assert_eq!(*k2, h("F793EEB928278083BFDC8A5A7E0E0D25"));
        let tdes2 = BlockCipher::tdes_ede2(&h(MASTER)).unwrap();
        let (k1, k2) = tdes2.cmac_subkeys();
        assert_eq!(*k1, h("F612EB32E46035F3"));
        assert_eq!(*k2, h("EC25D665C8C06BFD"));
        let tdes3 = BlockCipher::tdes_ede3(&h(&format!("{MASTER}0102030405060708"))).unwrap();
        let (k1, k2) = tdes3.cmac_subkeys();
        assert_eq!(*k1, h("A3ED58F8E6941BCA"));
        assert_eq!(*k2, h("47DAB1F1CD28378F"));
    }

    #[test]
    fn nxp_worked_example_aes128() {
        let key = diversify(
            KeyAlgorithm::Aes128,
            &h(MASTER),
            &h(UID),
            &h(AID),
            b"NXP Abu",
        )
        .unwrap();
        assert_eq!(*key, h("A8DD63A3B89D54B37CA802473FDA9175"));
    }

    #[test]
    fn nxp_worked_example_2k3des() {
        // 15 bytes of input: M is exactly two blocks, so K1 and no padding.
        let key = diversify(
            KeyAlgorithm::TwoKey3Des,
            &h(MASTER),
            &h(UID),
            &h(AID),
            b"NXP A",
        )
        .unwrap();
        assert_eq!(*key, h("16F8597C9E8910C86B9648D006107DD7"));
    }

    #[test]
    fn nxp_worked_example_3k3des() {
        let key = diversify(
            KeyAlgorithm::ThreeKey3Des,
            &h(&format!("{MASTER}0102030405060708")),
            &h(UID),
            &h(AID),
            b"NXP",
        )
        .unwrap();
        assert_eq!(*key, h("2F0DD03675D3FB9A5705AB0BDA91CA0B55B8E07FCDBF10EC"));
    }

    #[test]
    fn an10957_short_input_is_padded_to_two_blocks() {
        let key = diversify(
            KeyAlgorithm::Aes128,
            &h("F3F9377698707B688EAF84ABE39E3791"),
            &h("04DEADBEEFFEED"),
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(*key, h("0BB408BAFF98B6EE9F2E1585777F6A51"));
        // Plain NIST CMAC (libfreefare issue #91) gives another key, so the variant matters.
        let cipher = BlockCipher::aes128(&h("F3F9377698707B688EAF84ABE39E3791")).unwrap();
        let mut nist = vec![0; 16];
        cipher.cmac_chained(&mut nist, &h("0104DEADBEEFFEED"));
        assert_eq!(nist, h("721E2C01E81AF85D815633969CEA2607"));
    }

    #[test]
    fn rejects_wrong_master_length_and_oversized_input() {
        assert_eq!(
            diversify(KeyAlgorithm::ThreeKey3Des, &h(MASTER), &h(UID), &[], &[]),
            Err(DiversifyError::MasterKeyLength {
                algorithm: KeyAlgorithm::ThreeKey3Des,
                expected: 24,
                got: 16
            })
        );
        assert_eq!(
            diversify(
                KeyAlgorithm::TwoKey3Des,
                &h(MASTER),
                &h(UID),
                &h(AID),
                b"NXP Abu"
            ),
            Err(DiversifyError::InputLength {
                algorithm: KeyAlgorithm::TwoKey3Des,
                max: 15,
                got: 17
            })
        );
        assert!(diversify(KeyAlgorithm::Aes128, &h(MASTER), &[0; 31], &[], &[]).is_ok());
        assert!(diversify(KeyAlgorithm::Aes128, &h(MASTER), &[0; 32], &[], &[]).is_err());
        assert!(diversify(KeyAlgorithm::Aes128, &h(MASTER), &[], &[], &[]).is_err());
    }

    #[test]
    fn algorithm_names_parse() {
        assert_eq!("aes".parse(), Ok(KeyAlgorithm::Aes128));
        assert_eq!("2K3DES".parse(), Ok(KeyAlgorithm::TwoKey3Des));
        assert_eq!("3k3des".parse(), Ok(KeyAlgorithm::ThreeKey3Des));
        assert!("des".parse::<KeyAlgorithm>().is_err());
        assert_eq!(KeyAlgorithm::TwoKey3Des.to_string(), "2k3des");
    }
}
