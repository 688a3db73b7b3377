//! Trust in the signer: a certification path from the signer's certificate, through the
//! intermediates the structure (or the trust list) carries, to a trusted certificate. Every
//! link is checked the way RFC 5280 §6 does for what a kiosk needs: the issuer's signature,
//! validity, revocation, key strength, key usage, basicConstraints and pathLenConstraint.

use std::time::{Duration, SystemTime};

use der::Encode;
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::name::Name;

use super::verify::{CryptoFailure, PublicKey, VerifyError, verify_certificate_signature};

/// Signer, at most three intermediates, anchor: deeper paths are refused, and the search
/// stays bounded whatever an attacker embeds in the structure.
const MAX_PATH_LEN: usize = 5;
/// Issuer signatures tried while searching, at most: a structure full of same-named
/// certificates must not make a tap slow.
const MAX_SIGNATURE_CHECKS: usize = 16;
/// How far a claimed signing time may lie ahead of this clock: station clocks drift.
pub(super) const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// A revoked certificate, as `cardstation trust revoke` or a CRL names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The issuer that revoked it; `None` revokes the serial whoever issued it (a serial given
    /// alone on the command line).
    pub issuer: Option<Name>,
    /// The serial number's big-endian bytes without leading zero bytes (see [`serial_bytes`]).
    pub serial: Vec<u8>,
}

impl Revoked {
    fn matches(&self, cert: &Certificate) -> bool {
        let tbs = &cert.tbs_certificate;
        self.serial == serial_bytes(tbs.serial_number.as_bytes())
            && self
                .issuer
                .as_ref()
                .is_none_or(|issuer| *issuer == tbs.issuer)
    }
}

/// A serial number's bytes as compared: DER adds a zero byte before a high bit, a hex string
/// typed by hand may have any number of leading zeros.
pub fn serial_bytes(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

/// When the certificates must have been valid.
#[derive(Debug, Clone, Copy)]
pub(super) struct Moments {
    pub now: SystemTime,
    /// The signing-time signed attribute, when the structure has one.
    pub signed_at: Option<SystemTime>,
}

pub(super) struct PathInputs<'a> {
    pub trusted: &'a [Certificate],
    /// Untrusted certificates that may link the signer to a trusted one: the structure's
    /// `certificates` and EF.CERT.
    pub intermediates: Vec<&'a Certificate>,
    pub revoked: &'a [Revoked],
    pub at: Moments,
}

/// Finds a path from `signer` to a trusted certificate whose every link verifies, and
/// checks its constraints. The first path that passes wins; if none does, the error of the
/// first complete path (else of a refused key, else untrusted issuer) says why.
pub(super) fn check_path(signer: &Certificate, inputs: &PathInputs<'_>) -> Result<(), VerifyError> {
    let mut search = Search {
        inputs,
        path: vec![signer],
        signature_checks: 0,
        first_error: None,
        refused_key: None,
    };
    if search.extend() {
        return Ok(());
    }
    Err(search
        .first_error
        .or(search.refused_key)
        .unwrap_or_else(|| {
            VerifyError::UntrustedIssuer(signer.tbs_certificate.subject.to_string())
        }))
}

struct Search<'a, 'i> {
    inputs: &'i PathInputs<'a>,
    /// Signer first; each next certificate issued the one before.
    path: Vec<&'a Certificate>,
    signature_checks: usize,
    first_error: Option<VerifyError>,
    refused_key: Option<VerifyError>,
}

impl<'a> Search<'a, '_> {
    /// Depth first from the last certificate of `path`; true once a path passes.
    fn extend(&mut self) -> bool {
        let current = *self.path.last().expect("the path starts with the signer");
        if self.inputs.trusted.contains(current) {
            match check_constraints(&self.path, self.inputs) {
                Ok(()) => return true,
                Err(err) => {
                    self.first_error.get_or_insert(err);
                    return false;
                }
            }
        }
        if self.path.len() >= MAX_PATH_LEN {
            return false;
        }
        let Ok(tbs_der) = current.tbs_certificate.to_der() else {
            return false;
        };
        let inputs = self.inputs;
        let candidates = inputs
            .trusted
            .iter()
            .chain(inputs.intermediates.iter().copied());
        for issuer in candidates {
            if issuer.tbs_certificate.subject != current.tbs_certificate.issuer
                || self.path.contains(&issuer)
            {
                continue;
            }
            if self.signature_checks >= MAX_SIGNATURE_CHECKS {
                return false;
            }
            self.signature_checks += 1;
            match verify_certificate_signature(current, &tbs_der, issuer) {
                Ok(()) => {
                    self.path.push(issuer);
                    let passed = self.extend();
                    self.path.pop();
                    if passed {
                        return true;
                    }
                }
                Err(CryptoFailure::Refused(reason)) => {
                    self.refused_key.get_or_insert(weak_key(issuer, reason));
                }
                Err(_) => {}
            }
        }
        false
    }
}

fn subject(cert: &Certificate) -> String {
    cert.tbs_certificate.subject.to_string()
}

fn weak_key(cert: &Certificate, reason: String) -> VerifyError {
    VerifyError::WeakKey {
        subject: subject(cert),
        reason,
    }
}

/// Everything but the signatures (the search checked those) on a path from the signer
/// (`path[0]`) to a trusted certificate (its last).
fn check_constraints(path: &[&Certificate], inputs: &PathInputs<'_>) -> Result<(), VerifyError> {
    let anchor_index = path.len() - 1;
    for (index, cert) in path.iter().enumerate() {
        check_revocation(cert, inputs.revoked)?;
        check_key(cert)?;
        check_validity(cert, inputs.at)?;
        if index == 0 {
            // A signer that is itself trusted keeps the administrator's word: its key usage
            // is then only its holder's own statement (self-signed signers, the demo's).
            if anchor_index != 0 {
                check_signer_usage(cert)?;
            }
        } else {
            // Below path[index]: the signer and index - 1 intermediate CAs.
            check_issuing_ca(cert, index - 1, index == anchor_index)?;
        }
    }
    Ok(())
}

fn check_revocation(cert: &Certificate, revoked: &[Revoked]) -> Result<(), VerifyError> {
    if revoked.iter().any(|entry| entry.matches(cert)) {
        return Err(VerifyError::Revoked {
            subject: subject(cert),
            serial: hex::encode_upper(serial_bytes(cert.tbs_certificate.serial_number.as_bytes())),
        });
    }
    Ok(())
}

/// RSA under 2048 bits and curves other than P-256/P-384 are refused anywhere in the path.
fn check_key(cert: &Certificate) -> Result<(), VerifyError> {
    match PublicKey::from_spki(&cert.tbs_certificate.subject_public_key_info) {
        Err(CryptoFailure::Refused(reason)) => Err(weak_key(cert, reason)),
        // Keys we cannot parse or do not implement failed (or will fail) their signature
        // check; the search only links certificates whose issuer key verified.
        _ => Ok(()),
    }
}

/// With a signing time, each certificate must have been valid when the structure was signed;
/// without one, now.
///
/// A certificate that was valid when signing but has expired since is accepted: a kiosk
/// checks the card's own expiry date separately (`dataWaznosci`), and refusing every card a
/// retired signer certificate signed would lock out whole years of students the day that
/// certificate expires. A signing time is the signer's claim, so it may not lie in the future,
/// and a signer key that leaks after its certificate expired is handled by revoking it (the
/// revocation list keeps serials however old). A certificate not yet valid when the structure
/// says it was signed is refused: that signature cannot be genuine.
fn check_validity(cert: &Certificate, at: Moments) -> Result<(), VerifyError> {
    let validity = &cert.tbs_certificate.validity;
    let not_before = validity.not_before.to_system_time();
    let not_after = validity.not_after.to_system_time();
    let (moment, when) = match at.signed_at {
        Some(signed_at) => (signed_at, "when the structure was signed"),
        None => (at.now, "now"),
    };
    if moment < not_before || moment > not_after {
        return Err(VerifyError::CertificateNotValid {
            subject: subject(cert),
            when: format!("{when} ({})", show_moment(moment)),
            not_before: validity.not_before.to_string(),
            not_after: validity.not_after.to_string(),
        });
    }
    Ok(())
}

pub(super) fn show_moment(moment: SystemTime) -> String {
    der::DateTime::from_system_time(moment)
        .map(|time| time.to_string())
        .unwrap_or_else(|_| "a time out of range".into())
}

/// A signer's keyUsage, when present, must allow signatures.
fn check_signer_usage(cert: &Certificate) -> Result<(), VerifyError> {
    match cert.tbs_certificate.get::<KeyUsage>() {
        Ok(None) => Ok(()),
        Ok(Some((_, usage))) if usage.digital_signature() || usage.non_repudiation() => Ok(()),
        Ok(Some(_)) => Err(VerifyError::KeyUsage {
            subject: subject(cert),
            reason: "its keyUsage allows neither digitalSignature nor nonRepudiation".into(),
        }),
        Err(_) => Err(VerifyError::KeyUsage {
            subject: subject(cert),
            reason: "its keyUsage extension cannot be read".into(),
        }),
    }
}

/// An issuing certificate must say it is a CA (basicConstraints cA, only v1 roots have no
/// extensions to say it with), allow certificate signing (keyUsage keyCertSign, when
/// present), and its pathLenConstraint must allow the intermediates below it.
fn check_issuing_ca(
    cert: &Certificate,
    intermediates_below: usize,
    is_anchor: bool,
) -> Result<(), VerifyError> {
    let tbs = &cert.tbs_certificate;
    let not_a_ca = |reason: &str| VerifyError::NotACa {
        subject: subject(cert),
        reason: reason.into(),
    };
    match tbs.get::<BasicConstraints>() {
        Ok(Some((_, constraints))) if constraints.ca => {
            if let Some(max) = constraints.path_len_constraint
                && intermediates_below > usize::from(max)
            {
                return Err(VerifyError::PathLength {
                    subject: subject(cert),
                    allowed: max,
                    found: intermediates_below,
                });
            }
        }
        Ok(Some(_)) => return Err(not_a_ca("its basicConstraints say cA = false")),
        Ok(None) if is_anchor && tbs.version == Version::V1 => {}
        Ok(None) => return Err(not_a_ca("it has no basicConstraints extension")),
        Err(_) => return Err(not_a_ca("its basicConstraints extension cannot be read")),
    }
    match tbs.get::<KeyUsage>() {
        Ok(None) => Ok(()),
        Ok(Some((_, usage))) if usage.key_cert_sign() => Ok(()),
        Ok(Some(_)) => Err(VerifyError::KeyUsage {
            subject: subject(cert),
            reason: "it issued a certificate but its keyUsage lacks keyCertSign".into(),
        }),
        Err(_) => Err(VerifyError::KeyUsage {
            subject: subject(cert),
            reason: "its keyUsage extension cannot be read".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use const_oid::ObjectIdentifier;
    use der::asn1::BitString;
    use p256::ecdsa::SigningKey;
    use rand::rngs::OsRng;
    use sha2::Sha256;
    use signature::{SignatureEncoding, Signer};
    use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::ext::pkix::KeyUsages;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::Validity;

    use super::*;
    use crate::crypto::els_sig::test_fixtures::{
        HandSigned, algorithm, hand_signed_p256, issuer_and_serial, options, pki, sample_data,
        sels_der,
    };
    use crate::crypto::els_sig::{VerifyOptions, verify};
    use crate::crypto::test_pki::{
        Custom, DAY, basic_constraints, ca_extensions, key_usage, signer_extensions, spki_of,
        valid_now,
    };

    /// A P-256 key and the certificate `issuer_key` made for it.
    struct Holder {
        key: SigningKey,
        cert: Certificate,
    }

    fn holder(
        serial: u32,
        subject: &str,
        issuer: Option<&Holder>,
        (not_before, not_after): (SystemTime, SystemTime),
        extensions: Vec<x509_cert::ext::Extension>,
    ) -> Holder {
        let key = SigningKey::random(&mut OsRng);
        let cert = Custom {
            serial,
            subject,
            issuer: issuer.map(|issuer| &issuer.cert),
            spki: spki_of(*key.verifying_key()),
            not_before,
            not_after,
            extensions,
        }
        .sign(issuer.map_or(&key, |issuer| &issuer.key));
        Holder { key, cert }
    }

    fn root(path_len: Option<u8>) -> Holder {
        holder(
            1,
            "CN=Root,C=PL",
            None,
            valid_now(),
            ca_extensions(path_len),
        )
    }

    fn intermediate(root: &Holder, path_len: Option<u8>) -> Holder {
        let extensions = ca_extensions(path_len);
        holder(
            2,
            "CN=Intermediate,C=PL",
            Some(root),
            valid_now(),
            extensions,
        )
    }

    fn signer(issuer: &Holder) -> Holder {
        holder(
            77,
            "CN=Signer,C=PL",
            Some(issuer),
            valid_now(),
            signer_extensions(),
        )
    }

    /// The sample structure signed by `signer`, carrying `certificates`.
    fn structure(
        signer: &Holder,
        certificates: &[&Certificate],
        signing_time: Option<SystemTime>,
    ) -> Vec<u8> {
        let sign = |message: &[u8]| {
            let signature: p256::ecdsa::DerSignature = signer.key.sign(message);
            signature.to_vec()
        };
        HandSigned {
            sign: &sign,
            sid: issuer_and_serial(&signer.cert),
            certificates: certificates.iter().map(|&cert| cert.clone()).collect(),
            signing_time,
            ..hand_signed_p256(sels_der(&sample_data()))
        }
        .build()
    }

    fn check(der: &[u8], trusted: &[Certificate], revoked: &[Revoked]) -> Result<(), VerifyError> {
        let opts = VerifyOptions {
            trusted,
            revoked,
            ..options()
        };
        verify(der, &opts).map(|verified| assert_eq!(verified.data, sample_data()))
    }

    fn kind(result: Result<(), VerifyError>) -> String {
        match result {
            Ok(()) => "accepted".into(),
            Err(err) => format!("{}: {err}", err.kind()),
        }
    }

    #[test]
    fn a_two_level_chain_is_accepted_through_the_embedded_intermediate() {
        let root = root(None);
        let intermediate = intermediate(&root, Some(0));
        let signer = signer(&intermediate);
        let trusted = std::slice::from_ref(&root.cert);

        let with_chain = structure(&signer, &[&signer.cert, &intermediate.cert], None);
        assert_eq!(kind(check(&with_chain, trusted, &[])), "accepted");

        // Without the intermediate nothing links the signer to the root.
        let alone = structure(&signer, &[&signer.cert], None);
        let result = kind(check(&alone, trusted, &[]));
        assert!(result.starts_with("untrusted_issuer"), "{result}");
        // A trusted intermediate does.
        let both = [root.cert.clone(), intermediate.cert.clone()];
        assert_eq!(kind(check(&alone, &both, &[])), "accepted");
    }

    #[test]
    fn an_expired_or_not_yet_valid_signer_is_refused() {
        let now = SystemTime::now();
        // A root valid long before and after: only the signer's dates decide.
        let validity = (now - 1000 * DAY, now + 1000 * DAY);
        let root = holder(1, "CN=Root,C=PL", None, validity, ca_extensions(None));
        let expired = holder(
            5,
            "CN=Expired signer,C=PL",
            Some(&root),
            (now - 400 * DAY, now - 35 * DAY),
            signer_extensions(),
        );
        let trusted = std::slice::from_ref(&root.cert);
        let unsigned_time = structure(&expired, &[&expired.cert], None);
        let result = kind(check(&unsigned_time, trusted, &[]));
        assert!(result.starts_with("certificate_not_valid"), "{result}");
        assert!(
            result.contains("CN=Expired signer") && result.contains("now"),
            "{result}"
        );

        // Signed (it says) after the certificate expired: refused.
        let late = structure(&expired, &[&expired.cert], Some(now - DAY));
        let result = kind(check(&late, trusted, &[]));
        assert!(result.contains("when the structure was signed"), "{result}");

        // Signed while the certificate was valid: accepted although it has expired since
        // (the card's own expiry date is what ends a card; see check_validity).
        let in_time = structure(&expired, &[&expired.cert], Some(now - 100 * DAY));
        assert_eq!(kind(check(&in_time, trusted, &[])), "accepted");

        let not_yet = holder(
            6,
            "CN=Future signer,C=PL",
            Some(&root),
            (now + 10 * DAY, now + 400 * DAY),
            signer_extensions(),
        );
        let early = structure(&not_yet, &[&not_yet.cert], None);
        let result = kind(check(&early, trusted, &[]));
        assert!(result.starts_with("certificate_not_valid"), "{result}");
        // Nor does a signing time in the future make it valid.
        let claims_future = structure(&not_yet, &[&not_yet.cert], Some(now + 20 * DAY));
        let result = kind(check(&claims_future, trusted, &[]));
        assert!(
            result.starts_with("forged") && result.contains("later than now"),
            "{result}"
        );
    }

    #[test]
    fn an_expired_intermediate_is_refused() {
        let root = root(None);
        let now = SystemTime::now();
        let intermediate = holder(
            2,
            "CN=Old intermediate,C=PL",
            Some(&root),
            (now - 400 * DAY, now - DAY),
            ca_extensions(None),
        );
        let signer = signer(&intermediate);
        let der = structure(&signer, &[&signer.cert, &intermediate.cert], None);
        let result = kind(check(&der, std::slice::from_ref(&root.cert), &[]));
        assert!(result.contains("CN=Old intermediate"), "{result}");
    }

    #[test]
    fn a_signer_whose_key_usage_forbids_signatures_is_refused() {
        let root = root(None);
        let extensions = vec![
            basic_constraints(false, None),
            key_usage(KeyUsages::KeyEncipherment),
        ];
        let signer = holder(
            8,
            "CN=Encryption only,C=PL",
            Some(&root),
            valid_now(),
            extensions,
        );
        let der = structure(&signer, &[&signer.cert], None);
        let result = kind(check(&der, std::slice::from_ref(&root.cert), &[]));
        assert!(result.starts_with("key_usage"), "{result}");

        // nonRepudiation alone is enough, and so is no keyUsage at all.
        for extensions in [
            vec![key_usage(KeyUsages::NonRepudiation)],
            vec![basic_constraints(false, None)],
        ] {
            let signer = holder(9, "CN=Signer,C=PL", Some(&root), valid_now(), extensions);
            let der = structure(&signer, &[&signer.cert], None);
            assert_eq!(
                kind(check(&der, std::slice::from_ref(&root.cert), &[])),
                "accepted"
            );
        }
    }

    #[test]
    fn an_intermediate_that_is_not_a_ca_is_refused() {
        let root = root(None);
        let cases = [
            ("cA = false", vec![basic_constraints(false, None)]),
            (
                "no basicConstraints",
                vec![key_usage(KeyUsages::KeyCertSign)],
            ),
            (
                "lacks keyCertSign",
                vec![
                    basic_constraints(true, None),
                    key_usage(KeyUsages::DigitalSignature),
                ],
            ),
        ];
        for (expected, extensions) in cases {
            let not_ca = holder(3, "CN=Not a CA,C=PL", Some(&root), valid_now(), extensions);
            let signer = signer(&not_ca);
            let der = structure(&signer, &[&signer.cert, &not_ca.cert], None);
            let result = kind(check(&der, std::slice::from_ref(&root.cert), &[]));
            assert!(
                result.contains(expected) && result.contains("CN=Not a CA"),
                "{expected}: {result}"
            );
        }
    }

    #[test]
    fn a_path_longer_than_a_path_len_constraint_allows_is_refused() {
        let root = root(Some(0));
        let intermediate = intermediate(&root, None);
        let signer = signer(&intermediate);
        let der = structure(&signer, &[&signer.cert, &intermediate.cert], None);
        let result = kind(check(&der, std::slice::from_ref(&root.cert), &[]));
        assert!(result.starts_with("path_length"), "{result}");
        assert!(
            result.contains("allows 0") && result.contains("has 1"),
            "{result}"
        );

        // pathLen 0 on the intermediate itself still lets it issue the signer.
        let root = self::root(Some(1));
        let intermediate = self::intermediate(&root, Some(0));
        let signer = self::signer(&intermediate);
        let der = structure(&signer, &[&signer.cert, &intermediate.cert], None);
        assert_eq!(
            kind(check(&der, std::slice::from_ref(&root.cert), &[])),
            "accepted"
        );
    }

    #[test]
    fn a_revoked_signer_or_intermediate_is_refused() {
        let root = root(None);
        let intermediate = intermediate(&root, None);
        let signer = signer(&intermediate);
        let der = structure(&signer, &[&signer.cert, &intermediate.cert], None);
        let trusted = std::slice::from_ref(&root.cert);
        let revoke = |cert: &Certificate, by_issuer: bool| Revoked {
            issuer: by_issuer.then(|| cert.tbs_certificate.issuer.clone()),
            serial: serial_bytes(cert.tbs_certificate.serial_number.as_bytes()),
        };

        for revoked in [
            revoke(&signer.cert, true),
            revoke(&signer.cert, false),
            revoke(&intermediate.cert, true),
        ] {
            let result = kind(check(&der, trusted, &[revoked]));
            assert!(result.starts_with("revoked"), "{result}");
        }
        let result = kind(check(&der, trusted, &[revoke(&signer.cert, true)]));
        assert!(
            result.contains("CN=Signer") && result.contains("serial 4D"),
            "{result}"
        );

        // The same serial from another issuer, or another serial: not this certificate.
        let other_issuer = Revoked {
            issuer: Some(root.cert.tbs_certificate.subject.clone()),
            serial: vec![77],
        };
        let other_serial = Revoked {
            issuer: Some(intermediate.cert.tbs_certificate.subject.clone()),
            serial: vec![78],
        };
        assert_eq!(
            kind(check(&der, trusted, &[other_issuer, other_serial])),
            "accepted"
        );
    }

    #[test]
    fn serials_compare_without_leading_zero_bytes() {
        assert_eq!(serial_bytes(&[0x00, 0x00, 0x80, 0x01]), [0x80, 0x01]);
        assert_eq!(serial_bytes(&[0x4D]), [0x4D]);
        assert!(serial_bytes(&[0x00]).is_empty());
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_refused_as_signer_and_as_ca() {
        let rsa_1024 = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let root = root(None);
        let signer_cert = crate::crypto::test_pki::issue_leaf(
            &root.cert,
            &root.key,
            12,
            "RSA-1024",
            spki_of(rsa_1024.to_public_key()),
        );
        let rsa_signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(rsa_1024.clone());
        let sign = |message: &[u8]| rsa_signer.sign(message).to_vec();
        let der = HandSigned {
            sign: &sign,
            signature_algorithm: algorithm(
                const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                true,
            ),
            sid: issuer_and_serial(&signer_cert),
            certificates: vec![signer_cert.clone()],
            ..hand_signed_p256(sels_der(&sample_data()))
        }
        .build();
        let result = kind(check(&der, std::slice::from_ref(&root.cert), &[]));
        assert!(
            result.starts_with("weak_key") && result.contains("1024 bits"),
            "{result}"
        );

        // An RSA-1024 root that issued a good P-256 signer.
        let weak_root = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            Validity::from_now(365 * DAY).unwrap(),
            "CN=Weak root,C=PL".parse().unwrap(),
            spki_of(rsa_1024.to_public_key()),
            &rsa_signer,
        )
        .unwrap()
        .build::<rsa::pkcs1v15::Signature>()
        .unwrap();
        let signer_key = SigningKey::random(&mut OsRng);
        let signer_cert = CertificateBuilder::new(
            Profile::Leaf {
                issuer: weak_root.tbs_certificate.subject.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            SerialNumber::from(2u32),
            Validity::from_now(365 * DAY).unwrap(),
            "CN=Signer under a weak root,C=PL".parse().unwrap(),
            spki_of(*signer_key.verifying_key()),
            &rsa_signer,
        )
        .unwrap()
        .build::<rsa::pkcs1v15::Signature>()
        .unwrap();
        let signer = Holder {
            key: signer_key,
            cert: signer_cert,
        };
        let der = structure(&signer, &[&signer.cert], None);
        let result = kind(check(&der, std::slice::from_ref(&weak_root), &[]));
        assert!(
            result.starts_with("weak_key") && result.contains("CN=Weak root"),
            "{result}"
        );
    }

    #[test]
    fn curves_other_than_p256_and_p384_are_refused() {
        let root = root(None);
        for (curve, name) in [
            (const_oid::db::rfc5912::SECP_521_R_1, "secp521r1"),
            (ObjectIdentifier::new_unwrap("1.3.132.0.10"), "1.3.132.0.10"),
        ] {
            // The point is never read: the curve alone refuses the key.
            let spki = SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: const_oid::db::rfc5912::ID_EC_PUBLIC_KEY,
                    parameters: Some(der::Any::encode_from(&curve).unwrap()),
                },
                subject_public_key: BitString::from_bytes(&[0x04; 65]).unwrap(),
            };
            let cert = Custom {
                serial: 13,
                subject: "CN=Odd curve,C=PL",
                issuer: Some(&root.cert),
                spki,
                not_before: valid_now().0,
                not_after: valid_now().1,
                extensions: signer_extensions(),
            }
            .sign(&root.key);
            let der = HandSigned {
                sid: issuer_and_serial(&cert),
                certificates: vec![cert.clone()],
                ..hand_signed_p256(sels_der(&sample_data()))
            }
            .build();
            let result = kind(check(&der, std::slice::from_ref(&root.cert), &[]));
            assert!(
                result.starts_with("weak_key") && result.contains(name),
                "{name}: {result}"
            );
        }
    }

    #[test]
    fn the_existing_test_pki_still_verifies() {
        // The shared fixtures (CA-issued P-256, P-384 and RSA-2048 signers) pass every check.
        let opts = options();
        let der = structure(
            &Holder {
                key: pki().p256_key.clone(),
                cert: pki().p256_cert.clone(),
            },
            &[&pki().p256_cert],
            Some(SystemTime::now()),
        );
        assert!(verify(&der, &opts).is_ok());
    }
}
