//! EF.ELS contents from a card are attacker-controlled: the CMS/DER parser, the signature
//! check, the certification path and the field decoding must reject anything without
//! panicking.
#![no_main]

use std::sync::LazyLock;

use cardstation::crypto::els_sig::{Revoked, VerifyOptions, decode_unverified, verify};
use der::Decode;
use libfuzzer_sys::fuzz_target;
use x509_cert::Certificate;

/// A fixed OpenSSL-made test CA (P-256, `CN=Cardstation fuzz CA`, valid to 2046). Two corpus
/// seeds are signed under it through an embedded intermediate (pathlen 0), so mutations reach
/// the path search and its checks instead of stopping at "untrusted issuer".
static TRUSTED: LazyLock<Vec<Certificate>> = LazyLock::new(|| {
    let anchor = Certificate::from_der(include_bytes!("../anchors/els_fuzz_ca.der"))
        .expect("the fuzz anchor is a DER certificate");
    vec![anchor]
});

/// A serial no seed uses, by any issuer: every path is also matched against a revocation.
static REVOKED: LazyLock<Vec<Revoked>> = LazyLock::new(|| {
    vec![Revoked {
        issuer: None,
        serial: vec![0x7F, 0x01],
    }]
});

static OPTIONS: LazyLock<VerifyOptions<'static>> = LazyLock::new(|| {
    let now = time::OffsetDateTime::now_utc();
    VerifyOptions {
        card_cert: None,
        trusted: &TRUSTED,
        revoked: &REVOKED,
        chip_serial: Some("04A1B2C3D4E5F6".into()),
        today: now.date(),
        now,
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
