//! What the tests of sign, verify and the encoding share: one test PKI, the sample student and
//! a hand-built SignedData for what the cms builder cannot make.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

use cms::builder::{create_content_type_attribute, create_message_digest_attribute};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier,
    SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Encode, Tag};
use p256::ecdsa::{DerSignature, SigningKey};
use rand::rngs::OsRng;
use signature::{SignatureEncoding, Signer};
use spki::AlgorithmIdentifierOwned;
use time::Date;
use time::macros::date;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::time::Time;

use super::der::SelsInfo;
use super::verify::DigestAlgorithm;
use super::{Certificates, ELS_CONTENT_TYPE, ElsData, VerifyOptions, sign};
use crate::crypto::test_pki::{issue_leaf, spki_of, test_ca};

pub(super) const TODAY: Date = date!(2026 - 01 - 15);
pub(super) const CHIP: &str = "04A1B2C3D4E5F6";
pub(super) const SAMPLE_JSON: &str = r#"{"chip_serial":"04A1B2C3D4E5F6","university":"Uniwersytet Warszawski","surnames":["Kowalska"],"given_names":["Anna","Maria"],"album_number":"123456","edition":"A","pesel":"02070803628","expires":"2027-03-31"}"#;

/// One CA and signers of every supported key type, made once per test run
/// because RSA key generation is slow.
pub(super) struct TestPki {
    pub(super) ca_key: SigningKey,
    pub(super) ca_cert: Certificate,
    pub(super) p256_key: SigningKey,
    pub(super) p256_cert: Certificate,
    pub(super) p384_key: p384::ecdsa::SigningKey,
    pub(super) p384_cert: Certificate,
    pub(super) rsa_key: rsa::RsaPrivateKey,
    pub(super) rsa_cert: Certificate,
}

pub(super) fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let (ca_key, ca_cert) = test_ca();
        let p256_key = SigningKey::random(&mut OsRng);
        let p256_cert = issue_leaf(
            &ca_cert,
            &ca_key,
            2,
            "P-256",
            spki_of(*p256_key.verifying_key()),
        );
        let p384_key = p384::ecdsa::SigningKey::random(&mut OsRng);
        let p384_cert = issue_leaf(
            &ca_cert,
            &ca_key,
            3,
            "P-384",
            spki_of(*p384_key.verifying_key()),
        );
        let rsa_key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let rsa_cert = issue_leaf(
            &ca_cert,
            &ca_key,
            4,
            "RSA",
            spki_of(rsa_key.to_public_key()),
        );
        TestPki {
            ca_key,
            ca_cert,
            p256_key,
            p256_cert,
            p384_key,
            p384_cert,
            rsa_key,
            rsa_cert,
        }
    })
}

pub(super) fn sample_data() -> ElsData {
    serde_json::from_str(SAMPLE_JSON).unwrap()
}

pub(super) fn options() -> VerifyOptions<'static> {
    VerifyOptions {
        card_cert: None,
        trusted: std::slice::from_ref(&pki().ca_cert),
        revoked: &[],
        chip_serial: Some(CHIP.to_owned()),
        today: TODAY,
        // The test certificates are made valid from the moment they are made.
        now: time::OffsetDateTime::now_utc(),
    }
}

pub(super) fn signed_sample() -> Vec<u8> {
    let pki = pki();
    sign(
        &sample_data(),
        &pki.p256_key,
        &pki.p256_cert,
        Certificates::Embed,
        TODAY,
    )
    .unwrap()
}

pub(super) fn sels_der(data: &ElsData) -> Vec<u8> {
    SelsInfo::from_els_data(data).unwrap().to_der().unwrap()
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

pub(super) fn digest_oid(digest: DigestAlgorithm) -> AlgorithmIdentifierOwned {
    let oid = match digest {
        DigestAlgorithm::Sha256 => rfc5912::ID_SHA_256,
        DigestAlgorithm::Sha384 => rfc5912::ID_SHA_384,
        DigestAlgorithm::Sha512 => rfc5912::ID_SHA_512,
    };
    AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    }
}

pub(super) fn algorithm(oid: ObjectIdentifier, null_params: bool) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: null_params.then(Any::null),
    }
}

/// Builds SignedData by hand, for what the cms builder cannot make
/// (no signed attributes, other content types, missing pieces).
pub(super) struct HandSigned<'a> {
    pub(super) content_type: ObjectIdentifier,
    pub(super) content: Vec<u8>,
    pub(super) digest: DigestAlgorithm,
    pub(super) signature_algorithm: AlgorithmIdentifierOwned,
    pub(super) sign: &'a dyn Fn(&[u8]) -> Vec<u8>,
    pub(super) sid: SignerIdentifier,
    pub(super) certificates: Vec<Certificate>,
    pub(super) signed_attributes: bool,
    /// A signing-time signed attribute (with `signed_attributes`).
    pub(super) signing_time: Option<SystemTime>,
}

impl HandSigned<'_> {
    pub(super) fn build(&self) -> Vec<u8> {
        let (signed_attrs, signature) = if self.signed_attributes {
            let mut attributes = vec![
                create_content_type_attribute(self.content_type).unwrap(),
                create_message_digest_attribute(&self.digest.hash(&self.content)).unwrap(),
            ];
            if let Some(signing_time) = self.signing_time {
                let time = Any::encode_from(&Time::try_from(signing_time).unwrap()).unwrap();
                attributes.push(Attribute {
                    oid: rfc5911::ID_SIGNING_TIME,
                    values: SetOfVec::try_from(vec![time]).unwrap(),
                });
            }
            let attributes: SignedAttributes = SetOfVec::try_from(attributes).unwrap();
            let signature = (self.sign)(&attributes.to_der().unwrap());
            (Some(attributes), signature)
        } else {
            (None, (self.sign)(&self.content))
        };
        let version = match self.sid {
            SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
            SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
        };
        let signer_info = SignerInfo {
            version,
            sid: self.sid.clone(),
            digest_alg: digest_oid(self.digest),
            signed_attrs,
            signature_algorithm: self.signature_algorithm.clone(),
            signature: OctetString::new(signature).unwrap(),
            unsigned_attrs: None,
        };
        let certificates = (!self.certificates.is_empty()).then(|| {
            let choices = self
                .certificates
                .iter()
                .map(|cert| CertificateChoices::Certificate(cert.clone()));
            CertificateSet(SetOfVec::try_from(choices.collect::<Vec<_>>()).unwrap())
        });
        let signed_data = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![digest_oid(self.digest)]).unwrap(),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: self.content_type,
                econtent: Some(Any::new(Tag::OctetString, self.content.clone()).unwrap()),
            },
            certificates,
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).unwrap()),
        };
        ContentInfo {
            content_type: rfc5911::ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).unwrap(),
        }
        .to_der()
        .unwrap()
    }
}

pub(super) fn issuer_and_serial(cert: &Certificate) -> SignerIdentifier {
    SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: cert.tbs_certificate.issuer.clone(),
        serial_number: cert.tbs_certificate.serial_number.clone(),
    })
}

pub(super) fn sign_p256(message: &[u8]) -> Vec<u8> {
    let signature: DerSignature = pki().p256_key.sign(message);
    signature.to_vec()
}

/// A P-256 hand-signed object over `content`; tests change one thing.
pub(super) fn hand_signed_p256(content: Vec<u8>) -> HandSigned<'static> {
    HandSigned {
        content_type: ELS_CONTENT_TYPE,
        content,
        digest: DigestAlgorithm::Sha256,
        signature_algorithm: algorithm(rfc5912::ECDSA_WITH_SHA_256, false),
        sign: &sign_p256,
        sid: issuer_and_serial(&pki().p256_cert),
        certificates: vec![pki().p256_cert.clone()],
        signed_attributes: true,
        signing_time: None,
    }
}

pub(super) fn run_openssl(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("/usr/bin/openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run /usr/bin/openssl")
}
