//! The simulated ELS and DESFire cards answer whatever a reader (or vpcd) sends them; a
//! simulator panic would take down a test run or the demo, so arbitrary APDU sequences must
//! always get a response APDU (at least SW1 SW2).
//!
//! Input: one configuration byte, then APDUs, each prefixed by its length (one byte; 0xFF
//! means a two-byte big-endian length follows, for extended APDUs). A zero length resets
//! the card instead.
#![no_main]

use cardstation::card::desfire::{AccessRights, Aid, CommMode, DesfireKey};
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::sim::VirtualCard;
use cardstation::sim::desfire_card::{Application, DataFile, DesfireCard, DesfireCardState};
use cardstation::sim::els_card::{CardWriteKey, ElsCard, ElsCardState};
use libfuzzer_sys::fuzz_target;

const UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];

fn els_card(config: u8) -> ElsCard {
    let mut state = ElsCardState::blank(&UID);
    state.force_get_response = config & 0x02 != 0;
    state.max_response_len = [256, 255, 128, 1][usize::from(config >> 2 & 3)];
    if config & 0x10 != 0 {
        state.write_key = Some(CardWriteKey {
            algorithm: KeyAlgorithm::Aes128,
            key: vec![0x11; 16],
        });
    }
    if config & 0x20 != 0 {
        state.ef_els[..4].copy_from_slice(&[0x30, 0x82, 0x01, 0x00]);
    }
    ElsCard::new(state)
}

fn desfire_card(config: u8) -> DesfireCard {
    let mut state = DesfireCardState::blank(&UID);
    if config & 0x02 != 0 {
        let key = if config & 0x04 != 0 {
            DesfireKey::zero(KeyAlgorithm::Aes128)
        } else {
            DesfireKey::des([0; 8])
        };
        let files = [CommMode::Plain, CommMode::Maced, CommMode::Enciphered]
            .into_iter()
            .enumerate()
            .map(|(i, comm)| DataFile {
                file_no: i as u8,
                backup: i == 2,
                comm,
                access: AccessRights {
                    read: AccessRights::FREE,
                    write: 0,
                    read_write: 0,
                    change: 0,
                },
                data: vec![i as u8; 32],
            })
            .collect();
        state.applications.push(Application {
            aid: Aid(0x0000_0001),
            key_settings: 0x0F,
            keys: vec![key.clone(), key],
            files,
        });
    }
    DesfireCard::with_random(state, |out: &mut [u8]| out.fill(0x5A))
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, mut rest)) = data.split_first() else {
        return;
    };
    let mut card: Box<dyn VirtualCard> = if config & 1 == 0 {
        Box::new(els_card(config))
    } else {
        Box::new(desfire_card(config))
    };
    let _ = card.atr();
    while let Some((&len, tail)) = rest.split_first() {
        rest = tail;
        let len = match len {
            0 => {
                card.reset();
                continue;
            }
            0xFF => {
                let Some((hi_lo, tail)) = rest.split_first_chunk::<2>() else {
                    break;
                };
                rest = tail;
                usize::from(u16::from_be_bytes(*hi_lo))
            }
            n => usize::from(n),
        };
        let (apdu, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        let answer = card.process(apdu);
        assert!(answer.len() >= 2, "every answer ends in a status word");
    }
});
