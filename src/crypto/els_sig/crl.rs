//! Certificate revocation lists an administrator loads into a kiosk (`cardstation trust crl
//! add`, or the background sync from `[trust] crl_sources`): checked once when loaded, then
//! kept as the serials they revoke, so the kiosk decides offline.

use std::time::SystemTime;

use der::{Decode, Encode};
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::KeyUsage;
use x509_cert::name::Name;

use super::path::{CLOCK_SKEW, serial_bytes, show_moment};
use super::verify::{CryptoFailure, verify_signed};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CrlError {
    #[error("not a certificate revocation list (DER or PEM \"X509 CRL\"): {0}")]
    Malformed(String),
    #[error("the CRL's issuer {0} is not a trusted certificate in this store")]
    UnknownIssuer(String),
    #[error("the CRL's signature does not verify with the key of {issuer}: {reason}")]
    BadSignature { issuer: String, reason: String },
    #[error("{0} may not sign CRLs: its keyUsage lacks cRLSign")]
    NotACrlSigner(String),
    #[error("the CRL is out of date: its next update was due {next_update} (it is now {now})")]
    Outdated { next_update: String, now: String },
    #[error("the CRL is not valid yet: it was issued for {this_update} (it is now {now})")]
    NotYetIssued { this_update: String, now: String },
}

/// A CRL whose signature verified with a trusted certificate's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCrl {
    pub issuer: Name,
    /// Which of the trusted certificates signed it.
    pub issuer_index: usize,
    pub this_update: SystemTime,
    pub next_update: Option<SystemTime>,
    /// The revoked serials (see [`serial_bytes`]).
    pub revoked: Vec<Vec<u8>>,
    /// The CRL as DER, whatever form it was given in.
    pub der: Vec<u8>,
}

/// Reads a CRL (DER, or PEM "X509 CRL"), finds its issuer among `trusted`, checks its
/// signature, that the issuer may sign CRLs, and that the CRL is current at `now`.
pub fn check_crl(
    input: &[u8],
    trusted: &[Certificate],
    now: SystemTime,
) -> Result<CheckedCrl, CrlError> {
    let der = match der::pem::decode_vec(input) {
        Ok(("X509 CRL", der)) => der,
        Ok((label, _)) => {
            return Err(CrlError::Malformed(format!(
                "PEM label {label:?}, not \"X509 CRL\""
            )));
        }
        Err(_) => input.to_vec(),
    };
    let crl = CertificateList::from_der(&der).map_err(|e| CrlError::Malformed(e.to_string()))?;
    let tbs = &crl.tbs_cert_list;
    if crl.signature_algorithm != tbs.signature {
        return Err(CrlError::Malformed(
            "inner and outer signature algorithms differ".into(),
        ));
    }
    let tbs_der = tbs
        .to_der()
        .map_err(|e| CrlError::Malformed(e.to_string()))?;

    let mut named = trusted
        .iter()
        .enumerate()
        .filter(|(_, cert)| cert.tbs_certificate.subject == tbs.issuer)
        .peekable();
    if named.peek().is_none() {
        return Err(CrlError::UnknownIssuer(tbs.issuer.to_string()));
    }
    let mut failure = None;
    let mut verified = None;
    for (index, cert) in named {
        let spki = &cert.tbs_certificate.subject_public_key_info;
        match verify_signed(&crl.signature_algorithm, &tbs_der, &crl.signature, spki) {
            Ok(()) => {
                verified = Some((index, cert));
                break;
            }
            Err(CryptoFailure::Invalid(reason) | CryptoFailure::Unsupported(reason))
            | Err(CryptoFailure::Refused(reason)) => {
                failure.get_or_insert(CrlError::BadSignature {
                    issuer: tbs.issuer.to_string(),
                    reason,
                });
            }
        }
    }
    let Some((issuer_index, issuer)) = verified else {
        return Err(failure.expect("a trusted certificate of that name was tried"));
    };
    match issuer.tbs_certificate.get::<KeyUsage>() {
        Ok(None) => {}
        Ok(Some((_, usage))) if usage.crl_sign() => {}
        _ => return Err(CrlError::NotACrlSigner(tbs.issuer.to_string())),
    }

    let this_update = tbs.this_update.to_system_time();
    let next_update = tbs.next_update.map(|time| time.to_system_time());
    if this_update > now + CLOCK_SKEW {
        return Err(CrlError::NotYetIssued {
            this_update: tbs.this_update.to_string(),
            now: show_moment(now),
        });
    }
    if let Some(next) = tbs.next_update
        && next.to_system_time() < now
    {
        return Err(CrlError::Outdated {
            next_update: next.to_string(),
            now: show_moment(now),
        });
    }
    let revoked = tbs
        .revoked_certificates
        .iter()
        .flatten()
        .map(|entry| serial_bytes(entry.serial_number.as_bytes()))
        .collect();
    Ok(CheckedCrl {
        issuer: tbs.issuer.clone(),
        issuer_index,
        this_update,
        next_update,
        revoked,
        der,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use der::asn1::BitString;
    use der::pem::LineEnding;
    use der::{DecodePem, Encode};
    use p256::ecdsa::{DerSignature, SigningKey};
    use p256::pkcs8::DecodePrivateKey;
    use rand::rngs::OsRng;
    use signature::{SignatureEncoding, Signer};
    use spki::AlgorithmIdentifierOwned;
    use x509_cert::certificate::Version;
    use x509_cert::crl::{RevokedCert, TbsCertList};
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::Time;

    use super::*;
    use crate::crypto::els_sig::test_fixtures::{options, run_openssl, sample_data};
    use crate::crypto::els_sig::{Certificates, Revoked, VerifyOptions, sign, verify};
    use crate::crypto::test_pki::{DAY, test_ca};

    fn crl_der(
        issuer: &Certificate,
        key: &SigningKey,
        serials: &[u32],
        this_update: SystemTime,
        next_update: SystemTime,
    ) -> Vec<u8> {
        let algorithm = AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
            parameters: None,
        };
        let revoked = serials
            .iter()
            .map(|&serial| RevokedCert {
                serial_number: SerialNumber::from(serial),
                revocation_date: Time::try_from(this_update).unwrap(),
                crl_entry_extensions: None,
            })
            .collect();
        let tbs = TbsCertList {
            version: Version::V2,
            signature: algorithm.clone(),
            issuer: issuer.tbs_certificate.subject.clone(),
            this_update: Time::try_from(this_update).unwrap(),
            next_update: Some(Time::try_from(next_update).unwrap()),
            revoked_certificates: Some(revoked),
            crl_extensions: None,
        };
        let signature: DerSignature = key.sign(&tbs.to_der().unwrap());
        CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: algorithm,
            signature: BitString::from_bytes(&signature.to_vec()).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn a_crl_signed_by_a_trusted_ca_gives_its_serials_in_der_and_pem() {
        let (key, ca) = test_ca();
        let now = SystemTime::now();
        let der = crl_der(&ca, &key, &[0x4D, 0x80], now - DAY, now + 7 * DAY);
        let checked = check_crl(&der, std::slice::from_ref(&ca), now).unwrap();
        assert_eq!(checked.revoked, [vec![0x4D], vec![0x80]]);
        assert_eq!(checked.issuer, ca.tbs_certificate.subject);
        assert_eq!(checked.der, der);

        let pem = der::pem::encode_string("X509 CRL", LineEnding::LF, &der).unwrap();
        let from_pem = check_crl(pem.as_bytes(), std::slice::from_ref(&ca), now).unwrap();
        assert_eq!(from_pem, checked);
        let wrong_label = der::pem::encode_string("CERTIFICATE", LineEnding::LF, &der).unwrap();
        let err = check_crl(wrong_label.as_bytes(), std::slice::from_ref(&ca), now).unwrap_err();
        assert!(matches!(err, CrlError::Malformed(_)), "{err}");
    }

    #[test]
    fn a_crl_with_a_bad_signature_or_an_unknown_issuer_is_refused() {
        let (key, ca) = test_ca();
        let now = SystemTime::now();
        let mut der = crl_der(&ca, &key, &[7], now - DAY, now + DAY);
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let err = check_crl(&der, std::slice::from_ref(&ca), now).unwrap_err();
        assert!(matches!(err, CrlError::BadSignature { .. }), "{err}");

        // Same name, another key: an impostor's CRL.
        let impostor = SigningKey::random(&mut OsRng);
        let forged = crl_der(&ca, &impostor, &[7], now - DAY, now + DAY);
        let err = check_crl(&forged, std::slice::from_ref(&ca), now).unwrap_err();
        assert!(matches!(err, CrlError::BadSignature { .. }), "{err}");
        assert!(err.to_string().contains("does not verify"), "{err}");

        let (_, other_ca) = test_ca();
        let err = check_crl(&crl_der(&ca, &key, &[7], now - DAY, now + DAY), &[], now).unwrap_err();
        assert!(matches!(err, CrlError::UnknownIssuer(_)), "{err}");
        // A trusted CA of the same name but another key is tried and fails.
        let err = check_crl(
            &crl_der(&ca, &key, &[7], now - DAY, now + DAY),
            std::slice::from_ref(&other_ca),
            now,
        )
        .unwrap_err();
        assert!(matches!(err, CrlError::BadSignature { .. }), "{err}");

        let err = check_crl(b"not a CRL", std::slice::from_ref(&ca), now).unwrap_err();
        assert!(matches!(err, CrlError::Malformed(_)), "{err}");
    }

    #[test]
    fn a_crl_past_its_next_update_is_refused() {
        let (key, ca) = test_ca();
        let now = SystemTime::now();
        let der = crl_der(&ca, &key, &[7], now - 10 * DAY, now - DAY);
        let err = check_crl(&der, std::slice::from_ref(&ca), now).unwrap_err();
        assert!(matches!(err, CrlError::Outdated { .. }), "{err}");
        assert!(err.to_string().contains("out of date"), "{err}");

        let future = crl_der(&ca, &key, &[7], now + DAY, now + 10 * DAY);
        let err = check_crl(&future, std::slice::from_ref(&ca), now).unwrap_err();
        assert!(matches!(err, CrlError::NotYetIssued { .. }), "{err}");
    }

    /// OpenSSL's own CA, signer and CRL (`openssl ca -gencrl`): the signer verifies until the
    /// CRL that lists it is loaded.
    #[test]
    fn an_openssl_crl_revokes_an_openssl_signer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        let openssl = |args: &[&str]| {
            let output = run_openssl(args, path);
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        std::fs::write(
            path.join("ca.cnf"),
            "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
             default_md = sha256\ndefault_crl_days = 7\n\
             [ca_ext]\nbasicConstraints = critical,CA:true\nkeyUsage = critical,keyCertSign,cRLSign\n\
             [signer_ext]\nbasicConstraints = CA:false\nkeyUsage = critical,digitalSignature,nonRepudiation\n",
        )
        .unwrap();
        std::fs::write(path.join("index.txt"), "").unwrap();
        std::fs::write(path.join("crlnumber"), "01\n").unwrap();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=OpenSSL Test CA/C=PL",
            "-days",
            "30",
            "-config",
            "ca.cnf",
            "-extensions",
            "ca_ext",
        ]);
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "signer.key",
            "-out",
            "signer.csr",
            "-subj",
            "/CN=OpenSSL signer/C=PL",
            "-config",
            "ca.cnf",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "signer.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "0x1234",
            "-days",
            "30",
            "-out",
            "signer.pem",
            "-extfile",
            "ca.cnf",
            "-extensions",
            "signer_ext",
        ]);
        // The CA's database: the signer revoked (V = valid, R = revoked).
        let subject = "/CN=OpenSSL signer/C=PL";
        std::fs::write(
            path.join("index.txt"),
            format!("R\t491231235959Z\t260101000000Z\t1234\tunknown\t{subject}\n"),
        )
        .unwrap();
        openssl(&[
            "ca", "-gencrl", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem", "-out",
            "crl.pem",
        ]);

        let pem =
            |name: &str| Certificate::from_pem(std::fs::read(path.join(name)).unwrap()).unwrap();
        let (ca, signer) = (pem("ca.pem"), pem("signer.pem"));
        let key =
            SigningKey::from_pkcs8_pem(&std::fs::read_to_string(path.join("signer.key")).unwrap())
                .unwrap();
        let structure = sign(
            &sample_data(),
            &key,
            &signer,
            Certificates::Embed,
            crate::crypto::els_sig::test_fixtures::TODAY,
        )
        .unwrap();
        let trusted = std::slice::from_ref(&ca);
        let opts = VerifyOptions {
            trusted,
            ..options()
        };
        assert!(verify(&structure, &opts).is_ok());

        let checked = check_crl(
            &std::fs::read(path.join("crl.pem")).unwrap(),
            trusted,
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(checked.revoked, [vec![0x12, 0x34]]);
        assert!(checked.next_update.unwrap() > SystemTime::now() + Duration::from_secs(6 * 86400));
        let revoked: Vec<Revoked> = checked
            .revoked
            .iter()
            .map(|serial| Revoked {
                issuer: Some(checked.issuer.clone()),
                serial: serial.clone(),
            })
            .collect();
        let opts = VerifyOptions {
            revoked: &revoked,
            ..opts
        };
        let err = verify(&structure, &opts).unwrap_err();
        assert_eq!(err.kind(), "revoked", "{err}");
        assert!(err.to_string().contains("serial 1234"), "{err}");
    }
}
