//! ELS issuance and prolongation as plain logic over a card transport: read the UID, take the
//! data, sign it (or take the server's signed structure), write, read back and verify. A card
//! counts as issued only when what is on it verifies against the chip it sits on.

use der::{Decode, Encode};
use p256::ecdsa::SigningKey;
use time::Date;
use x509_cert::Certificate;

use crate::card::els::{self, CardKey, ElsCardError};
use crate::card::{Transport, TransportError, read_uid};
use crate::crypto::diversify::DiversifyError;
use crate::crypto::els_sig::{
    self, Certificates, ElsData, SignError, VerifiedEls, VerifyError, VerifyOptions,
};

/// The local signer: the authorised person's (or the university seal's) key and certificate.
pub struct Signer {
    pub key: SigningKey,
    pub certificate: Certificate,
}

/// What goes onto the card.
pub enum ElsSource<'a> {
    /// Sign locally; `chip_serial` is taken from the card (and must match if already set).
    Sign { data: ElsData, signer: &'a Signer },
    /// The server's ready-signed structure and certificate (USOS `student_card_data`).
    Signed {
        structure: Vec<u8>,
        certificate: Option<Vec<u8>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Card(#[from] ElsCardError),
    #[error(
        "this is not the card the data is for: the data names chip {data}, the card is chip {card}"
    )]
    WrongCard { card: String, data: String },
    #[error("the card data cannot be signed: {0}")]
    Sign(#[from] SignError),
    #[error("the card's write key cannot be derived: {0}")]
    Key(#[from] DiversifyError),
    #[error("the card was written but what it holds does not verify: {0}")]
    NotVerified(VerifyError),
    #[error("the card was written but reads back different bytes")]
    ReadBackMismatch,
    #[error("the certificate cannot be encoded: {0}")]
    Certificate(String),
}

impl IssueError {
    pub fn next_step(&self) -> &'static str {
        match self {
            IssueError::Card(err) => err.next_step(),
            IssueError::WrongCard { .. } => "put the right student's card on the reader",
            IssueError::Sign(_) => "correct the cardholder's data",
            IssueError::Key(_) => "check the card key in the profile",
            IssueError::NotVerified(_) | IssueError::ReadBackMismatch => {
                "write the card again; if it repeats, the card is faulty: issue a duplicate"
            }
            IssueError::Certificate(_) => "check the signer certificate",
        }
    }
}

impl From<TransportError> for IssueError {
    fn from(err: TransportError) -> Self {
        IssueError::Card(ElsCardError::Transport(err))
    }
}

/// An issued (or prolonged) card, verified on the chip.
#[derive(Debug)]
pub struct Issued {
    pub uid: Vec<u8>,
    pub verified: VerifiedEls,
}

pub fn chip_serial(uid: &[u8]) -> String {
    hex::encode_upper(uid)
}

/// Issues an ELS onto the card: UID, data, sign, write (EF.CERT then EF.ELS), read back, verify.
pub fn issue<T: Transport + ?Sized>(
    card: &mut T,
    source: ElsSource<'_>,
    card_key: &CardKey,
    trusted: &[Certificate],
    today: Date,
) -> Result<Issued, IssueError> {
    let uid = read_uid(card)?;
    let serial = chip_serial(&uid);
    let (structure, certificate) = match source {
        ElsSource::Sign { mut data, signer } => {
            if !data.chip_serial.is_empty() && !data.chip_serial.eq_ignore_ascii_case(&serial) {
                return Err(IssueError::WrongCard {
                    card: serial,
                    data: data.chip_serial,
                });
            }
            data.chip_serial = serial.clone();
            let structure = els_sig::sign(
                &data,
                &signer.key,
                &signer.certificate,
                Certificates::InEfCert,
                today,
            )?;
            let certificate = signer
                .certificate
                .to_der()
                .map_err(|e| IssueError::Certificate(e.to_string()))?;
            (structure, Some(certificate))
        }
        ElsSource::Signed {
            structure,
            certificate,
        } => (structure, certificate),
    };
    let key = card_key.for_card(&uid)?;
    els::write(card, Some(&key), &structure, certificate.as_deref())?;
    tracing::info!(chip = %serial, els_bytes = structure.len(), "issue: ELS written, reading back");
    let verified = read_back(card, &uid, &structure, trusted, today)?;
    tracing::info!(chip = %serial, expires = %verified.data.expires, "issue: card verified on the chip");
    Ok(Issued { uid, verified })
}

/// Prolongs a card: reads and verifies what is on it, then rewrites EF.ELS with the same data
/// and a new expiry date, signed now. The certificate on the card stays.
pub fn prolong<T: Transport + ?Sized>(
    card: &mut T,
    signer: &Signer,
    card_key: &CardKey,
    new_expiry: Date,
    trusted: &[Certificate],
    today: Date,
) -> Result<Issued, IssueError> {
    let reading = read_and_verify(card, trusted, today)?;
    let current = match reading.verdict {
        Ok(verified) => verified.data,
        // An expired card is exactly what prolongation is for; anything else is refused.
        Err(VerifyError::Expired(_)) => {
            els_sig::decode_unverified(&reading.structure).map_err(IssueError::NotVerified)?
        }
        Err(err) => return Err(IssueError::NotVerified(err)),
    };
    let uid = reading.uid;
    let data = ElsData {
        expires: new_expiry,
        ..current
    };
    let structure = els_sig::sign(
        &data,
        &signer.key,
        &signer.certificate,
        Certificates::InEfCert,
        today,
    )?;
    let key = card_key.for_card(&uid)?;
    els::write(card, Some(&key), &structure, None)?;
    let verified = read_back(card, &uid, &structure, trusted, today)?;
    tracing::info!(chip = %chip_serial(&uid), expires = %new_expiry, "prolong: card verified on the chip");
    Ok(Issued { uid, verified })
}

fn read_back<T: Transport + ?Sized>(
    card: &mut T,
    uid: &[u8],
    written: &[u8],
    trusted: &[Certificate],
    today: Date,
) -> Result<VerifiedEls, IssueError> {
    let reading = read_and_verify(card, trusted, today)?;
    if reading.uid != uid {
        return Err(IssueError::WrongCard {
            card: chip_serial(&reading.uid),
            data: chip_serial(uid),
        });
    }
    if reading.structure != written {
        return Err(IssueError::ReadBackMismatch);
    }
    reading.verdict.map_err(IssueError::NotVerified)
}

/// A card's ELS as read, with the verification verdict.
#[derive(Debug)]
pub struct Reading {
    pub uid: Vec<u8>,
    pub structure: Vec<u8>,
    pub verdict: Result<VerifiedEls, VerifyError>,
}

/// Reads the UID, then EF.ELS, and verifies it against that chip.
pub fn read_and_verify<T: Transport + ?Sized>(
    card: &mut T,
    trusted: &[Certificate],
    today: Date,
) -> Result<Reading, ElsCardError> {
    let uid = read_uid(card)?;
    read_els_and_verify(card, &uid, trusted, today)
}

/// Reads EF.ELS and verifies it against the chip `uid` it sits on. EF.CERT is read only when
/// the signer's certificate is neither embedded nor among the trusted ones.
pub fn read_els_and_verify<T: Transport + ?Sized>(
    card: &mut T,
    uid: &[u8],
    trusted: &[Certificate],
    today: Date,
) -> Result<Reading, ElsCardError> {
    let structure = els::read_els(card)?;
    let mut options = VerifyOptions {
        card_cert: None,
        trusted: trusted.to_vec(),
        chip_serial: Some(chip_serial(uid)),
        today,
    };
    let mut verdict = els_sig::verify(&structure, &options);
    if matches!(verdict, Err(VerifyError::MissingCertificate))
        && let Some(cert) = els::read_cert(card)?
    {
        options.card_cert =
            Some(
                Certificate::from_der(&cert).map_err(|e| ElsCardError::Malformed {
                    file: "EF.CERT",
                    reason: format!("not an X.509 certificate: {e}"),
                })?,
            );
        verdict = els_sig::verify(&structure, &options);
    }
    Ok(Reading {
        uid: uid.to_vec(),
        structure,
        verdict,
    })
}
