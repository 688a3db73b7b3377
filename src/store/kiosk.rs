//! What the offline kiosk needs from the store besides cards: the issuer certificates it
//! trusts, the certificates it refuses (revoked by hand or by a loaded CRL), and its log of
//! validations (no personal data beyond the holder id).

use der::Decode;
use rusqlite::OptionalExtension;
use serde_json::json;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::name::Name;

use super::{Result, Store, StoreError, audit, now};
use crate::crypto::els_sig::Revoked;

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

/// A certificate to revoke by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRevocation {
    /// DER Name of the issuer; `None` revokes the serial whoever issued it.
    pub issuer_der: Option<Vec<u8>>,
    pub issuer_subject: Option<String>,
    /// Upper-case hex without leading zero bytes (`els_sig::serial_bytes`).
    pub serial_hex: String,
    /// The revoked certificate's subject, when it was given as a file.
    pub subject: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub id: i64,
    pub issuer_der: Option<Vec<u8>>,
    pub issuer_subject: Option<String>,
    pub serial_hex: String,
    pub subject: Option<String>,
    /// The CRL that listed it; `None` when revoked by hand.
    pub crl_id: Option<i64>,
    pub added_at: String,
}

/// A checked CRL to store (see [`Store::store_crl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCrl {
    pub issuer_der: Vec<u8>,
    pub issuer_subject: String,
    /// RFC 3339, UTC: compared as text to keep the newest CRL.
    pub this_update: String,
    pub next_update: Option<String>,
    pub der: Vec<u8>,
    pub serials_hex: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCrl {
    pub id: i64,
    pub issuer_subject: String,
    pub this_update: String,
    pub next_update: Option<String>,
    pub added_at: String,
    /// How many serials it revokes.
    pub revoked: i64,
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

    /// Stops trusting the issuer whose DER has this SHA-256 (hex, any case); `None` when no
    /// trusted issuer has it. The CRL it signed goes with it: nothing vouches for it any more.
    pub fn remove_trusted_issuer(
        &mut self,
        sha256: &str,
        operator: &str,
    ) -> Result<Option<TrustedIssuer>> {
        let fingerprint = sha256.trim().to_uppercase();
        let Some(issuer) = self
            .trusted_issuers()?
            .into_iter()
            .find(|issuer| issuer.sha256 == fingerprint)
        else {
            return Ok(None);
        };
        let subject_der = Certificate::from_der(&issuer.certificate_der)
            .ok()
            .and_then(|cert| der::Encode::to_der(&cert.tbs_certificate.subject).ok());
        self.write(|tx| {
            tx.execute("DELETE FROM trusted_issuers WHERE id = ?1", [issuer.id])?;
            // Another trusted certificate of the same name may still vouch for the CRL.
            let same_name_left = tx.query_row(
                "SELECT COUNT(*) FROM trusted_issuers WHERE subject = ?1",
                [&issuer.subject],
                |row| row.get::<_, i64>(0),
            )? > 0;
            if let Some(subject_der) = &subject_der
                && !same_name_left
            {
                tx.execute("DELETE FROM crls WHERE issuer = ?1", [subject_der])?;
            }
            let details = json!({"subject": issuer.subject, "sha256": issuer.sha256});
            audit::append(
                tx,
                operator,
                "issuer.untrust",
                &format!("issuer:{}", issuer.id),
                &details,
            )?;
            Ok(())
        })?;
        Ok(Some(issuer))
    }

    /// Revokes a certificate by hand. Revoking the same one again is a no-op returning the
    /// same id.
    pub fn revoke_certificate(
        &mut self,
        revocation: &NewRevocation,
        operator: &str,
    ) -> Result<i64> {
        let serial = revocation.serial_hex.to_uppercase();
        self.write(|tx| {
            let existing = tx
                .query_row(
                    "SELECT id FROM revoked_certificates
                     WHERE crl_id IS NULL AND serial = ?1 AND issuer IS ?2",
                    (&serial, &revocation.issuer_der),
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(id) = existing {
                return Ok(id);
            }
            tx.execute(
                "INSERT INTO revoked_certificates (issuer, issuer_subject, serial, subject, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                (
                    &revocation.issuer_der,
                    &revocation.issuer_subject,
                    &serial,
                    &revocation.subject,
                    now(),
                ),
            )?;
            let id = tx.last_insert_rowid();
            let details = json!({
                "serial": serial,
                "issuer": revocation.issuer_subject,
                "subject": revocation.subject,
            });
            audit::append(tx, operator, "certificate.revoke", &format!("revoked:{id}"), &details)?;
            Ok(id)
        })
    }

    /// Stores a CRL already checked against a trusted issuer (`els_sig::check_crl`) with its
    /// serials, replacing the older CRL of the same issuer. An older CRL than the one stored
    /// is refused: it could bring back a revoked certificate.
    pub fn store_crl(&mut self, crl: &NewCrl, operator: &str) -> Result<i64> {
        self.write(|tx| {
            let stored: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, this_update FROM crls WHERE issuer = ?1",
                    [&crl.issuer_der],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            if let Some((id, this_update)) = stored {
                if this_update == crl.this_update {
                    return Ok(id);
                }
                if this_update > crl.this_update {
                    return Err(StoreError::Invalid(format!(
                        "a newer CRL of {} is loaded (issued {this_update}; this one {})",
                        crl.issuer_subject, crl.this_update
                    )));
                }
                tx.execute("DELETE FROM crls WHERE id = ?1", [id])?;
            }
            tx.execute(
                "INSERT INTO crls (issuer, issuer_subject, this_update, next_update, crl, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                (
                    &crl.issuer_der,
                    &crl.issuer_subject,
                    &crl.this_update,
                    &crl.next_update,
                    &crl.der,
                    now(),
                ),
            )?;
            let id = tx.last_insert_rowid();
            let mut insert = tx.prepare_cached(
                "INSERT INTO revoked_certificates (issuer, issuer_subject, serial, crl_id, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let added = now();
            for serial in &crl.serials_hex {
                insert.execute((
                    &crl.issuer_der,
                    &crl.issuer_subject,
                    serial.to_uppercase(),
                    id,
                    &added,
                ))?;
            }
            let details = json!({
                "issuer": crl.issuer_subject,
                "this_update": crl.this_update,
                "revoked": crl.serials_hex.len(),
            });
            audit::append(tx, operator, "crl.add", &format!("crl:{id}"), &details)?;
            Ok(id)
        })
    }

    /// Every revocation, by hand and from CRLs, in the order they were added.
    pub fn revocations(&self) -> Result<Vec<Revocation>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, issuer, issuer_subject, serial, subject, crl_id, added_at
             FROM revoked_certificates ORDER BY id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(Revocation {
                id: row.get(0)?,
                issuer_der: row.get(1)?,
                issuer_subject: row.get(2)?,
                serial_hex: row.get(3)?,
                subject: row.get(4)?,
                crl_id: row.get(5)?,
                added_at: row.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The revocations as ELS verification takes them.
    pub fn revoked(&self) -> Result<Vec<Revoked>> {
        self.revocations()?
            .into_iter()
            .map(|revocation| {
                let damaged = |what: &str| {
                    StoreError::Invalid(format!(
                        "revocation {} has a damaged {what}",
                        revocation.id
                    ))
                };
                let issuer = match &revocation.issuer_der {
                    Some(der) => Some(Name::from_der(der).map_err(|_| damaged("issuer"))?),
                    None => None,
                };
                let serial = hex::decode(&revocation.serial_hex).map_err(|_| damaged("serial"))?;
                Ok(Revoked { issuer, serial })
            })
            .collect()
    }

    pub fn crls(&self) -> Result<Vec<StoredCrl>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT crls.id, issuer_subject, this_update, next_update, added_at,
                    (SELECT COUNT(*) FROM revoked_certificates WHERE crl_id = crls.id)
             FROM crls ORDER BY crls.id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(StoredCrl {
                id: row.get(0)?,
                issuer_subject: row.get(1)?,
                this_update: row.get(2)?,
                next_update: row.get(3)?,
                added_at: row.get(4)?,
                revoked: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A number that moves whenever the trusted issuers, the revocations or the CRLs change,
    /// by this connection or any other process on the file: one row, cheap enough to read
    /// before every tap.
    pub fn trust_generation(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT generation FROM trust_generation")?
            .query_row([], |row| row.get(0))?)
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
    fn revocations_by_hand_and_by_crl_and_removing_an_issuer() {
        let mut store = Store::open_in_memory().unwrap();
        let ca = self_signed_der("CN=ELS Test CA,C=PL");
        store.add_trusted_issuer(&ca, "admin").unwrap();
        let issuer_name = Certificate::from_der(&ca).unwrap().tbs_certificate.subject;
        let issuer_der = der::Encode::to_der(&issuer_name).unwrap();

        let by_hand = NewRevocation {
            issuer_der: None,
            issuer_subject: None,
            serial_hex: "4d".into(),
            subject: None,
        };
        let id = store.revoke_certificate(&by_hand, "admin").unwrap();
        assert_eq!(store.revoke_certificate(&by_hand, "admin").unwrap(), id);

        let crl = |this_update: &str, serials: &[&str]| NewCrl {
            issuer_der: issuer_der.clone(),
            issuer_subject: issuer_name.to_string(),
            this_update: this_update.into(),
            next_update: Some("2030-01-01T00:00:00Z".into()),
            der: vec![0x30, 0x00],
            serials_hex: serials.iter().map(|s| s.to_string()).collect(),
        };
        store
            .store_crl(&crl("2026-01-01T00:00:00Z", &["01", "02"]), "admin")
            .unwrap();
        // A newer CRL replaces the older one's serials; an older one is refused.
        let newer = store
            .store_crl(&crl("2026-02-01T00:00:00Z", &["03"]), "admin")
            .unwrap();
        let err = store
            .store_crl(&crl("2026-01-15T00:00:00Z", &["01"]), "admin")
            .unwrap_err();
        assert!(err.to_string().contains("newer CRL"), "{err}");

        let revoked = store.revoked().unwrap();
        assert_eq!(
            revoked,
            [
                Revoked {
                    issuer: None,
                    serial: vec![0x4D]
                },
                Revoked {
                    issuer: Some(issuer_name.clone()),
                    serial: vec![0x03]
                },
            ]
        );
        let crls = store.crls().unwrap();
        assert_eq!((crls.len(), crls[0].id, crls[0].revoked), (1, newer, 1));

        // Removing the issuer takes its CRL (nothing vouches for it) but not the revocation
        // made by hand.
        let fingerprint = hex::encode(Sha256::digest(&ca));
        let removed = store
            .remove_trusted_issuer(&fingerprint, "admin")
            .unwrap()
            .unwrap();
        assert!(removed.subject.contains("ELS Test CA"));
        assert!(store.trusted_issuers().unwrap().is_empty());
        assert!(store.crls().unwrap().is_empty());
        assert_eq!(
            store.revoked().unwrap(),
            [Revoked {
                issuer: None,
                serial: vec![0x4D]
            }]
        );
        assert_eq!(
            store.remove_trusted_issuer(&fingerprint, "admin").unwrap(),
            None
        );
        // trust, revoke, 3 CRL loads (one refused, rolled back), untrust.
        assert_eq!(store.audit_verify().unwrap(), 5);
    }

    /// What a running kiosk relies on: each trust change made through another connection (as
    /// `cardstation trust ...` makes it) moves the generation this one reads; a repeated add,
    /// a refused CRL and the kiosk's own validation log do not.
    #[test]
    fn every_trust_change_from_another_connection_moves_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let kiosk = Store::open(&path).unwrap();
        let mut admin = Store::open(&path).unwrap();
        let mut seen = kiosk.trust_generation().unwrap();
        let mut moved = |kiosk: &Store, what: &str, expected: bool| {
            let now = kiosk.trust_generation().unwrap();
            assert_eq!(now != seen, expected, "{what}: {seen} -> {now}");
            seen = now;
        };

        let ca = self_signed_der("CN=ELS Test CA,C=PL");
        admin.add_trusted_issuer(&ca, "admin").unwrap();
        moved(&kiosk, "trust add", true);
        admin.add_trusted_issuer(&ca, "admin").unwrap();
        moved(&kiosk, "the same trust add again", false);
        kiosk
            .record_validation(&[1, 2, 3, 4], Verdict::Valid, "ok", None)
            .unwrap();
        moved(&kiosk, "a validation logged", false);

        let revocation = NewRevocation {
            issuer_der: None,
            issuer_subject: None,
            serial_hex: "4D".into(),
            subject: None,
        };
        admin.revoke_certificate(&revocation, "admin").unwrap();
        moved(&kiosk, "trust revoke", true);

        let issuer_name = Certificate::from_der(&ca).unwrap().tbs_certificate.subject;
        let crl = |this_update: &str| NewCrl {
            issuer_der: der::Encode::to_der(&issuer_name).unwrap(),
            issuer_subject: issuer_name.to_string(),
            this_update: this_update.into(),
            next_update: None,
            der: vec![0x30, 0x00],
            serials_hex: vec!["01".into()],
        };
        admin
            .store_crl(&crl("2026-02-01T00:00:00Z"), "admin")
            .unwrap();
        moved(&kiosk, "trust crl add", true);
        admin
            .store_crl(&crl("2026-01-01T00:00:00Z"), "admin")
            .unwrap_err();
        moved(&kiosk, "an older CRL, refused", false);

        let fingerprint = hex::encode(Sha256::digest(&ca));
        admin.remove_trusted_issuer(&fingerprint, "admin").unwrap();
        moved(&kiosk, "trust remove (and its CRL with it)", true);
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
