//! Loading a signer revocation list into the store: what `cardstation trust crl add` and the
//! background sync's CRL sources (`[trust] crl_sources`) both do with a CRL's bytes.

use std::time::SystemTime;

use der::{Decode, Encode};
use thiserror::Error;
use x509_cert::Certificate;

use super::{NewCrl, Store, StoreError};
use crate::crypto::els_sig::{CrlError, check_crl};
use crate::error::Problem;

#[derive(Debug, Error)]
pub enum AddCrlError {
    #[error(transparent)]
    Check(#[from] CrlError),
    /// Also a CRL older than the one held of its issuer: that one stays.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Problem for AddCrlError {
    fn next_step(&self) -> &'static str {
        match self {
            Self::Check(CrlError::Malformed(_)) => "give the CRL file in DER or PEM",
            Self::Check(CrlError::UnknownIssuer(_)) => {
                "trust its issuer first (`cardstation trust add CA.pem`), or check the file"
            }
            Self::Check(CrlError::BadSignature { .. }) => {
                "the CRL is damaged or forged: fetch it again from the issuing CA"
            }
            Self::Check(CrlError::NotACrlSigner(_)) => {
                "ask the CA for a CRL signed with its CRL key"
            }
            Self::Check(CrlError::Outdated { .. }) => "fetch the current CRL from the issuing CA",
            Self::Check(CrlError::NotYetIssued { .. }) => "check this station's clock",
            Self::Store(err) => err.next_step(),
        }
    }
}

/// Checks `bytes` (DER or PEM) against the store's trusted certificates at `now` and stores
/// the serials it revokes in place of its issuer's older CRL. The same CRL again changes
/// nothing; an older one is refused.
pub fn add_crl(
    store: &mut Store,
    bytes: &[u8],
    operator: &str,
    now: SystemTime,
) -> Result<NewCrl, AddCrlError> {
    let trusted = store
        .trusted_issuers()?
        .into_iter()
        .filter_map(|issuer| Certificate::from_der(&issuer.certificate_der).ok())
        .collect::<Vec<_>>();
    let checked = check_crl(bytes, &trusted, now)?;
    let crl = NewCrl {
        issuer_der: checked
            .issuer
            .to_der()
            .map_err(|err| CrlError::Malformed(err.to_string()))?,
        issuer_subject: checked.issuer.to_string(),
        this_update: rfc3339(checked.this_update),
        next_update: checked.next_update.map(rfc3339),
        der: checked.der,
        serials_hex: checked.revoked.iter().map(hex::encode_upper).collect(),
    };
    store.store_crl(&crl, operator)?;
    Ok(crl)
}

fn rfc3339(moment: SystemTime) -> String {
    time::OffsetDateTime::from(moment)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "?".into())
}
