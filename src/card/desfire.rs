//! MIFARE DESFire EV1 native commands wrapped in ISO 7816-4 (CLA 90, answers `91 xx`).

/// The native DESFire status byte (SW2 of a `91xx` answer) in words.
pub fn status_meaning(status: u8) -> &'static str {
    match status {
        0x00 => "DESFire: success",
        0x0C => "DESFire: no changes made",
        0x0E => "DESFire: out of EEPROM (the card is full)",
        0x1C => "DESFire: illegal command code",
        0x1E => "DESFire: integrity error (CRC, MAC or padding wrong)",
        0x40 => "DESFire: no such key",
        0x7E => "DESFire: length error",
        0x9D => "DESFire: permission denied (authenticate with the right key)",
        0x9E => "DESFire: parameter error",
        0xA0 => "DESFire: application not found",
        0xA1 => "DESFire: application integrity error",
        0xAE => "DESFire: authentication error",
        0xAF => "DESFire: additional frame expected",
        0xBE => "DESFire: boundary error (outside the file)",
        0xC1 => "DESFire: card integrity error",
        0xCA => "DESFire: command aborted",
        0xCD => "DESFire: card disabled",
        0xCE => "DESFire: count error (too many applications or files)",
        0xDE => "DESFire: duplicate (application or file already exists)",
        0xEE => "DESFire: EEPROM error",
        0xF0 => "DESFire: file not found",
        0xF1 => "DESFire: file integrity error",
        _ => "DESFire: unknown status",
    }
}
