//! EF.ELS contents from a card are attacker-controlled: the CMS/DER parser, the signature
//! check and the field decoding must reject anything without panicking.
#![no_main]

use std::sync::LazyLock;

use cardstation::crypto::els_sig::{VerifyOptions, decode_unverified, verify};
use libfuzzer_sys::fuzz_target;

static OPTIONS: LazyLock<VerifyOptions<'static>> = LazyLock::new(|| {
    let now = time::OffsetDateTime::now_utc();
    VerifyOptions {
        card_cert: None,
        trusted: &[],
        chip_serial: Some("04A1B2C3D4E5F6".into()),
        today: now.date(),
    }
});

fuzz_target!(|data: &[u8]| {
    let verified = verify(data, &OPTIONS);
    let decoded = decode_unverified(data);
    // Every structure verify() gets past parsing on also decodes (verify parses first).
    if let Err(err) = &verified {
        let _ = err.kind();
        let _ = err.to_string();
    }
    if verified.is_ok() {
        assert!(decoded.is_ok());
    }
    if let Ok(els) = decoded {
        let _ = els.validate(OPTIONS.today);
    }
});
