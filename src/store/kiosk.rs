//! What the offline kiosk needs from the store besides cards: the issuer certificates it
//! trusts, and its log of validations (no personal data beyond the holder id).

use der::Decode;
use serde_json::json;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use super::{Result, Store, StoreError, audit, now};

text_enum! {
    pub enum Verdict {
        Valid = "valid",
        Expired = "expired",
        Blocked = "blocked",
        Unknown = "unknown",
        Forged = "forged",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    pub id: i64,
    /// SHA-256 of the DER, upper-case hex.
    pub sha256: String,
    pub subject: String,
    pub certificate_der: Vec<u8>,
    pub added_at: String,
}

impl Store {
    /// Trusts an issuer certificate (DER) for ELS verification. Adding it again is a no-op
    /// that returns the same id.
    pub fn add_trusted_issuer(&mut self, certificate_der: &[u8], operator: &str) -> Result<i64> {
        let certificate = Certificate::from_der(certificate_der)
            .map_err(|err| StoreError::Invalid(format!("not a DER X.509 certificate: {err}")))?;
        let subject = certificate.tbs_certificate.subject.to_string();
        let fingerprint = hex::encode_upper(Sha256::digest(certificate_der));
        self.write(|tx| {
            let added = tx.execute(
                "INSERT INTO trusted_issuers (sha256, subject, certificate, added_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (sha256) DO NOTHING",
                (&fingerprint, &subject, certificate_der, now()),
            )?;
            let id = tx.query_row(
                "SELECT id FROM trusted_issuers WHERE sha256 = ?1",
                [&fingerprint],
                |row| row.get(0),
            )?;
            if added > 0 {
                let details = json!({"subject": subject, "sha256": fingerprint});
                audit::append(
                    tx,
                    operator,
                    "issuer.trust",
                    &format!("issuer:{id}"),
                    &details,
                )?;
            }
            Ok(id)
        })
    }

    pub fn trusted_issuers(&self) -> Result<Vec<TrustedIssuer>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, sha256, subject, certificate, added_at FROM trusted_issuers ORDER BY id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(TrustedIssuer {
                id: row.get(0)?,
                sha256: row.get(1)?,
                subject: row.get(2)?,
                certificate_der: row.get(3)?,
                added_at: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Logs one tap. The UID is kept only as its SHA-256, enough to match repeated taps.
    pub fn record_validation(
        &self,
        uid: &[u8],
        verdict: Verdict,
        reason: &str,
        cardholder_id: Option<i64>,
    ) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO validations (at, uid_hash, verdict, reason, cardholder_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute((
                now(),
                hex::encode(Sha256::digest(uid)),
                verdict,
                reason,
                cardholder_id,
            ))?;
        Ok(self.conn.last_insert_rowid())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::Duration;

    use der::Encode;
    use p256::ecdsa::{DerSignature, SigningKey};
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Validity;

    use super::*;

    fn self_signed_der(subject: &str) -> Vec<u8> {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap();
        CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            Validity::from_now(Duration::from_secs(3600)).unwrap(),
            Name::from_str(subject).unwrap(),
            spki,
            &key,
        )
        .unwrap()
        .build::<DerSignature>()
        .unwrap()
        .to_der()
        .unwrap()
    }

    #[test]
    fn trusted_issuers_are_kept_once_and_audited() {
        let mut store = Store::open_in_memory().unwrap();
        let der = self_signed_der("CN=ELS Test CA,O=Uniwersytet Testowy,C=PL");
        let id = store.add_trusted_issuer(&der, "admin").unwrap();
        assert_eq!(store.add_trusted_issuer(&der, "admin").unwrap(), id);
        let issuers = store.trusted_issuers().unwrap();
        assert_eq!(issuers.len(), 1);
        assert_eq!(issuers[0].certificate_der, der);
        assert!(issuers[0].subject.contains("CN=ELS Test CA"), "{issuers:?}");
        assert_eq!(store.audit_verify().unwrap(), 1);

        let err = store.add_trusted_issuer(b"not DER", "admin").unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    }

    #[test]
    fn validations_keep_only_a_hash_of_the_uid() {
        let store = Store::open_in_memory().unwrap();
        let uid = [0x04, 0xA1, 0xB2, 0xC3];
        store
            .record_validation(&uid, Verdict::Unknown, "not in the store", None)
            .unwrap();
        let (hash, verdict): (String, Verdict) = store
            .conn
            .query_row("SELECT uid_hash, verdict FROM validations", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        assert_eq!(hash, hex::encode(Sha256::digest(uid)));
        assert!(!hash.to_uppercase().contains("04A1B2C3"));
        assert_eq!(verdict, Verdict::Unknown);
    }
}
