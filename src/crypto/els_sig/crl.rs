//! Certificate revocation lists an administrator loads into a kiosk (`cardstation trust crl
//! add`): checked once when loaded, then kept as the serials they revoke. The kiosk works
//! offline, so it never fetches a CRL itself.

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
        Ok((label, der)) if label == "X509 CRL" => der,
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
