//! Signing: the validated data as DER `SELSInfo` in a CMS `SignedData`, SHA-256 + ECDSA P-256.

use cms::builder::{SignedDataBuilder, SignerInfoBuilder, create_signing_time_attribute};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use const_oid::db::rfc5912;
use der::{Any, Encode, Tag};
use p256::ecdsa::{DerSignature, SigningKey};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use thiserror::Error;
use time::Date;
use x509_cert::Certificate;

use super::der::SelsInfo;
use super::{ELS_CONTENT_TYPE, ElsData, ValidationError};

#[derive(Debug, Error)]
pub enum SignError {
    #[error("invalid ELS data: {0}")]
    Invalid(#[from] ValidationError),
    #[error("the signing key does not belong to the signer certificate {0}")]
    KeyDoesNotMatchCertificate(String),
    #[error("cannot encode the ELS data object: {0}")]
    Encoding(String),
}

/// Whether the signer's certificate goes inside the SignedData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certificates {
    /// Self-contained: an offline file that any CMS tool verifies alone.
    Embed,
    /// Left out: on a card, EF.CERT already holds it, and 500-odd bytes fewer in EF.ELS
    /// save two READ BINARY round trips at every tap.
    InEfCert,
}

/// Validates `data` and returns the DER `ContentInfo` to write to EF.ELS:
/// SignedData with attached SELSInfo, SHA-256 + ECDSA P-256, signed
/// attributes (content-type, message-digest, signing-time), the signer named
/// by issuer and serial number, its certificate included or not.
pub fn sign(
    data: &ElsData,
    key: &SigningKey,
    cert: &Certificate,
    certificates: Certificates,
    today: Date,
) -> Result<Vec<u8>, SignError> {
    data.validate(today)?;
    ensure_key_matches_certificate(key, cert)?;

    let content = SelsInfo::from_els_data(data)
        .and_then(|sels| sels.to_der())
        .map_err(encoding_error)?;
    let encapsulated = EncapsulatedContentInfo {
        econtent_type: ELS_CONTENT_TYPE,
        econtent: Some(Any::new(Tag::OctetString, content).map_err(encoding_error)?),
    };
    let sha256 = AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: None,
    };
    let signer_id = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: cert.tbs_certificate.issuer.clone(),
        serial_number: cert.tbs_certificate.serial_number.clone(),
    });

    let mut signer_info =
        SignerInfoBuilder::new(key, signer_id, sha256.clone(), &encapsulated, None)
            .map_err(encoding_error)?;
    signer_info
        .add_signed_attribute(create_signing_time_attribute().map_err(encoding_error)?)
        .map_err(encoding_error)?;

    let mut signed_data = SignedDataBuilder::new(&encapsulated);
    signed_data
        .add_digest_algorithm(sha256)
        .map_err(encoding_error)?;
    if certificates == Certificates::Embed {
        signed_data
            .add_certificate(CertificateChoices::Certificate(cert.clone()))
            .map_err(encoding_error)?;
    }
    signed_data
        .add_signer_info::<SigningKey, DerSignature>(signer_info)
        .map_err(encoding_error)?;
    let content_info = signed_data.build().map_err(encoding_error)?;
    content_info.to_der().map_err(encoding_error)
}

fn encoding_error(err: impl std::fmt::Display) -> SignError {
    SignError::Encoding(err.to_string())
}

fn ensure_key_matches_certificate(key: &SigningKey, cert: &Certificate) -> Result<(), SignError> {
    let key_spki =
        SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(encoding_error)?;
    if key_spki != cert.tbs_certificate.subject_public_key_info {
        return Err(SignError::KeyDoesNotMatchCertificate(
            cert.tbs_certificate.subject.to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use const_oid::db::rfc5911;
    use der::pem::LineEnding;
    use der::{Decode, EncodePem};
    use rand::rngs::OsRng;

    use super::*;
    use crate::crypto::els_sig::test_fixtures::{
        TODAY, issuer_and_serial, options, pki, run_openssl, sample_data, sels_der, signed_sample,
    };
    use crate::crypto::els_sig::{VerifyError, VerifyOptions, verify};

    #[test]
    fn sign_then_verify_returns_the_same_data() {
        let verified = verify(&signed_sample(), &options()).unwrap();
        assert_eq!(verified.data, sample_data());
        assert_eq!(
            verified.signer_subject,
            pki().p256_cert.tbs_certificate.subject.to_string()
        );
    }

    #[test]
    fn signed_output_has_the_promised_cms_shape() {
        let der = signed_sample();
        let content_info = ContentInfo::from_der(&der).unwrap();
        let signed_data: SignedData = content_info.content.decode_as().unwrap();
        let certs = signed_data.certificates.as_ref().unwrap();
        assert!(
            certs
                .0
                .iter()
                .any(|c| matches!(c, CertificateChoices::Certificate(c) if *c == pki().p256_cert))
        );
        let signer = signed_data.signer_infos.0.get(0).unwrap();
        assert_eq!(signer.sid, issuer_and_serial(&pki().p256_cert));
        assert_eq!(signer.digest_alg.oid, rfc5912::ID_SHA_256);
        assert_eq!(signer.signature_algorithm.oid, rfc5912::ECDSA_WITH_SHA_256);
        let attribute_oids: Vec<_> = signer
            .signed_attrs
            .as_ref()
            .unwrap()
            .iter()
            .map(|a| a.oid)
            .collect();
        for oid in [
            rfc5911::ID_CONTENT_TYPE,
            rfc5911::ID_MESSAGE_DIGEST,
            rfc5911::ID_SIGNING_TIME,
        ] {
            assert!(
                attribute_oids.contains(&oid),
                "missing signed attribute {oid}"
            );
        }
    }

    #[test]
    fn without_an_embedded_certificate_the_signer_comes_from_trust_or_ef_cert() {
        let pki = pki();
        let bare = sign(
            &sample_data(),
            &pki.p256_key,
            &pki.p256_cert,
            Certificates::InEfCert,
            TODAY,
        )
        .unwrap();
        let embedded = signed_sample();
        assert!(
            bare.len() + 400 < embedded.len(),
            "{} vs {} bytes",
            bare.len(),
            embedded.len()
        );
        // Only the CA is trusted: the signer's certificate must come from EF.CERT.
        assert!(matches!(
            verify(&bare, &options()),
            Err(VerifyError::MissingCertificate)
        ));
        let with_ef_cert = VerifyOptions {
            card_cert: Some(pki.p256_cert.clone()),
            ..options()
        };
        assert_eq!(verify(&bare, &with_ef_cert).unwrap().data, sample_data());
        // The signer itself is trusted (a kiosk's store): no EF.CERT needed.
        let signer_trusted = VerifyOptions {
            trusted: std::slice::from_ref(&pki.p256_cert),
            ..options()
        };
        assert_eq!(verify(&bare, &signer_trusted).unwrap().data, sample_data());
    }

    #[test]
    fn sign_refuses_a_key_that_does_not_match_the_certificate() {
        let other_key = SigningKey::random(&mut OsRng);
        let err = sign(
            &sample_data(),
            &other_key,
            &pki().p256_cert,
            Certificates::Embed,
            TODAY,
        )
        .unwrap_err();
        assert!(
            matches!(err, SignError::KeyDoesNotMatchCertificate(_)),
            "{err:?}"
        );
    }

    #[test]
    fn sign_refuses_invalid_data() {
        let mut data = sample_data();
        data.pesel = "02070803629".into();
        let err = sign(
            &data,
            &pki().p256_key,
            &pki().p256_cert,
            Certificates::Embed,
            TODAY,
        )
        .unwrap_err();
        assert!(
            matches!(err, SignError::Invalid(ValidationError::Pesel(_))),
            "{err:?}"
        );
    }

    #[test]
    fn openssl_accepts_what_sign_writes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("els.der"), signed_sample()).unwrap();
        std::fs::write(
            dir.path().join("ca.pem"),
            pki().ca_cert.to_pem(LineEnding::LF).unwrap(),
        )
        .unwrap();

        let output = run_openssl(
            &[
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-in",
                "els.der",
                "-CAfile",
                "ca.pem",
                "-purpose",
                "any",
                "-out",
                "content.der",
            ],
            dir.path(),
        );
        assert!(
            output.status.success(),
            "openssl cms -verify failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let content = std::fs::read(dir.path().join("content.der")).unwrap();
        assert_eq!(content, sels_der(&sample_data()));
    }
}
