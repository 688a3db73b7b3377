//! The DESFire card record as a hostile card could hand it over: `CardRecord::decode` must turn
//! any bytes into a record or an error, never a panic, and a record it accepts must encode back
//! to exactly the bytes it came from (no two byte strings mean the same record, so the signature
//! over the bytes is a signature over the record).
#![no_main]

use cardstation::card::desfire_record::{CardRecord, SIGNATURE_OFFSET};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = CardRecord::decode(data) else {
        return;
    };
    let encoded = record.encode().expect("a decoded record fits the layout");
    assert_eq!(encoded.len(), SIGNATURE_OFFSET);
    assert_eq!(&encoded[..], &data[..SIGNATURE_OFFSET]);
});
