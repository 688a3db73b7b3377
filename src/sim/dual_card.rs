//! A dual-interface card: one chip (one UID) with the ELS application and the DESFire
//! university application, as the print station encodes them. Native DESFire commands
//! (CLA 90) go to the DESFire part, everything else (ISO commands, GET UID) to the ELS part.

use super::{DesfireCard, ElsCard, VirtualCard};

pub struct DualInterfaceCard {
    pub els: ElsCard,
    pub desfire: DesfireCard,
}

impl DualInterfaceCard {
    /// Both parts must be made with the same UID.
    pub fn new(els: ElsCard, desfire: DesfireCard) -> Self {
        Self { els, desfire }
    }

    fn part(&mut self, apdu: &[u8]) -> &mut dyn VirtualCard {
        match apdu.first() {
            Some(0x90) => &mut self.desfire,
            _ => &mut self.els,
        }
    }
}

impl VirtualCard for DualInterfaceCard {
    fn atr(&self) -> Vec<u8> {
        self.els.atr()
    }

    fn reset(&mut self) {
        self.els.reset();
        self.desfire.reset();
    }

    fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.part(apdu).process(apdu)
    }

    fn tear(&mut self, apdu: &[u8]) {
        self.part(apdu).tear(apdu);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{DesfireCardState, ElsCardState};

    #[test]
    fn native_desfire_commands_reach_the_desfire_part() {
        let uid = [4, 1, 2, 3, 4, 5, 6];
        let mut card = DualInterfaceCard::new(
            ElsCard::new(ElsCardState::blank(&uid)),
            DesfireCard::new(DesfireCardState::blank(&uid)),
        );
        // GetVersion answers with an additional frame on DESFire only.
        assert_eq!(card.process(&[0x90, 0x60, 0, 0, 0]).last(), Some(&0xAF));
        // SELECT DF.SELS is the ELS part's.
        let select = [
            0x00, 0xA4, 0x04, 0x00, 0x07, 0xD6, 0x16, 0x00, 0x00, 0x30, 0x01, 0x01,
        ];
        assert_eq!(card.process(&select)[..], card.els.process(&select)[..]);
    }
}
