//! What the demo profile needs to be tried on a fresh machine: a demo signer (self-signed,
//! marked as a demo, never a university's), demo cardholders with valid PESELs, and one
//! operator per role with PINs shown on the sign-in screen.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use der::EncodePem;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rand::rngs::OsRng;
use spki::SubjectPublicKeyInfoOwned;
use time::{Date, Month};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use crate::config::keys::KeyError;
use crate::crypto::pesel;
use crate::store::{CardType, ImportedPerson, OperatorRole, PersonFields, Store};

const SIGNER_KEY_FILE: &str = "demo-signer.key";
const SIGNER_CERT_FILE: &str = "demo-signer.crt";

/// The demo operators: (name, role, PIN). Shown on the demo's sign-in screen.
pub const OPERATORS: [(&str, OperatorRole, &str); 3] = [
    ("anna", OperatorRole::Operator, "1111"),
    ("piotr", OperatorRole::Printer, "2222"),
    ("admin", OperatorRole::Admin, "0000"),
];

/// The demo signer's key and certificate files in `dir`, made on first use.
pub fn ensure_signer(dir: &Path) -> Result<(PathBuf, PathBuf), KeyError> {
    let key_path = dir.join(SIGNER_KEY_FILE);
    let cert_path = dir.join(SIGNER_CERT_FILE);
    if key_path.exists() && cert_path.exists() {
        return Ok((key_path, cert_path));
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| KeyError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let key = SigningKey::random(&mut OsRng);
    let certificate = self_signed(&key).map_err(|reason| KeyError::BadCertificate {
        path: cert_path.clone(),
        reason,
    })?;
    let key_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| KeyError::NotP256Key {
            path: key_path.clone(),
        })?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&key_path)
        .and_then(|mut file| file.write_all(key_pem.as_bytes()))
        .map_err(io(&key_path))?;
    std::fs::write(&cert_path, certificate).map_err(io(&cert_path))?;
    tracing::info!(dir = %dir.display(), "demo: made a demo ELS signer");
    Ok((key_path, cert_path))
}

fn self_signed(key: &SigningKey) -> Result<String, String> {
    let spki =
        SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(|e| e.to_string())?;
    let validity =
        Validity::from_now(Duration::from_secs(5 * 365 * 24 * 3600)).map_err(|e| e.to_string())?;
    let subject = Name::from_str(
        "CN=DEMO osoba uprawniona do wystawiania legitymacji,O=Cardstation demo (not a university),C=PL",
    )
    .map_err(|e| e.to_string())?;
    CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(1u32),
        validity,
        subject,
        spki,
        key,
    )
    .map_err(|e| e.to_string())?
    .build::<DerSignature>()
    .map_err(|e| e.to_string())?
    .to_pem(LineEnding::LF)
    .map_err(|e| e.to_string())
}

/// Placeholder portraits for the demo students (`<album number>.png` in `dir`, made on first
/// use): a silhouette on a tinted background, so the card layouts' photo frames are filled.
pub fn ensure_photos(dir: &Path) -> std::io::Result<PathBuf> {
    const WIDTH: u32 = 240;
    const HEIGHT: u32 = 300;
    let folder = dir.join("demo-photos");
    std::fs::create_dir_all(&folder)?;
    for (index, (.., album)) in PEOPLE.iter().enumerate() {
        let path = folder.join(format!("{album}.png"));
        if path.exists() {
            continue;
        }
        let tint = (index * 37 % 60) as f64 / 100.0;
        let background = [
            (180.0 + 60.0 * tint) as u8,
            200,
            (235.0 - 50.0 * tint) as u8,
        ];
        let mut rgb = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let (fx, fy) = (f64::from(x), f64::from(y));
                let head = (fx - 120.0).powi(2) / 55.0_f64.powi(2)
                    + (fy - 115.0).powi(2) / 68.0_f64.powi(2)
                    <= 1.0;
                let shoulders = fy > 200.0
                    && (fx - 120.0).powi(2) / 110.0_f64.powi(2)
                        + (fy - 310.0).powi(2) / 115.0_f64.powi(2)
                        <= 1.0;
                let pixel = if head || shoulders {
                    [70, 78, 92]
                } else {
                    background
                };
                rgb.extend_from_slice(&pixel);
            }
        }
        let mut png_bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut png_bytes, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .and_then(|mut writer| writer.write_image_data(&rgb))
            .map_err(std::io::Error::other)?;
        std::fs::write(&path, png_bytes)?;
    }
    Ok(folder)
}

/// How many of the demo students have a card waiting at the print station.
const PRINT_QUEUE: usize = 6;

/// Made-up students: (first name, last name, birth year, month, day, album number).
const PEOPLE: [(&str, &str, i32, u8, u8, &str); 24] = [
    ("Anna", "Kowalska", 2004, 3, 14, "100231"),
    ("Jakub", "Nowak", 2003, 11, 2, "100232"),
    ("Zofia", "Wiśniewska", 2005, 1, 27, "100233"),
    ("Łukasz", "Wójcik", 2004, 7, 9, "100234"),
    ("Małgorzata", "Kamińska", 2002, 5, 30, "100235"),
    ("Szymon", "Lewandowski", 2005, 9, 18, "100236"),
    ("Julia", "Zielińska", 2004, 12, 5, "100237"),
    ("Michał", "Szymański", 2003, 2, 21, "100238"),
    ("Oliwia", "Woźniak", 2005, 4, 3, "100239"),
    ("Paweł", "Dąbrowski", 2002, 8, 12, "100240"),
    ("Maja", "Kozłowska", 2004, 6, 25, "100241"),
    ("Mateusz", "Jankowski", 2003, 10, 8, "100242"),
    ("Hanna", "Mazur", 2005, 2, 16, "100243"),
    ("Kacper", "Kwiatkowski", 2004, 1, 7, "100244"),
    ("Natalia", "Krawczyk", 2003, 9, 29, "100245"),
    ("Filip", "Piotrowski", 2005, 5, 11, "100246"),
    ("Agnieszka", "Grabowska", 2002, 3, 3, "100247"),
    ("Wojciech", "Nowakowski", 2004, 11, 19, "100248"),
    ("Katarzyna", "Pawłowska", 2003, 7, 22, "100249"),
    ("Bartłomiej", "Michalski", 2005, 12, 1, "100250"),
    ("Ewa", "Zając", 2004, 4, 28, "100251"),
    ("Tomasz", "Król", 2003, 6, 15, "100252"),
    ("Aleksandra", "Wieczorek", 2005, 8, 6, "100253"),
    ("Grzegorz", "Jabłoński", 2002, 10, 24, "100254"),
];

/// A valid PESEL for a birth date (born 2000-2099: month + 20) and serial; the serial's
/// last digit is even for women, odd for men, as in real PESELs.
fn demo_pesel(year: i32, month: u8, day: u8, serial: u16, female: bool) -> String {
    let serial = serial % 1000 * 10 + u16::from(!female);
    let first_ten = format!("{:02}{:02}{:02}{:04}", year % 100, month + 20, day, serial);
    pesel::with_check_digit(&first_ten).expect("ten digits")
}

/// Fills an empty store with the demo students (each a person and a cardholder) and the demo
/// operators. A store that has people or operators is left as it is.
pub fn seed(store: &mut Store) -> crate::store::Result<usize> {
    if store.operators()?.is_empty() {
        for (name, role, pin) in OPERATORS {
            store.set_operator(name, role, pin, "demo")?;
        }
    }
    if store.status()?.persons > 0 {
        return Ok(0);
    }
    let rows: Vec<ImportedPerson> = PEOPLE
        .iter()
        .zip(1u64..)
        .map(|(&(first, last, year, month, day, album), line)| {
            let female = last.ends_with('a');
            let birth_date =
                Date::from_calendar_date(year, Month::try_from(month).expect("1-12"), day)
                    .expect("a real date");
            ImportedPerson {
                line,
                person: PersonFields {
                    person_number: Some(format!("P{album}")),
                    first_name: first.to_owned(),
                    middle_name: None,
                    last_name: last.to_owned(),
                    birth_date,
                    phone_number: None,
                    mobile_number: None,
                    album_number: Some(album.to_owned()),
                    pesel: Some(demo_pesel(year, month, day, line as u16 * 7, female)),
                },
                email: Some(format!("{album}@student.demo.edu.pl")),
            }
        })
        .collect();
    let report = store.import_persons("demo", "demo", &rows)?;
    // The last six students have a card ordered, so the print station has a queue.
    let expires = super::issue::default_expiry(time::OffsetDateTime::now_utc().date());
    for (_, _, _, _, _, album) in &PEOPLE[PEOPLE.len() - PRINT_QUEUE..] {
        let person = &store.search_people(album, 1)?[0];
        if let Some(cardholder) = store.cardholders_of_person(person.id)?.first() {
            let card_number = format!("2026{album}");
            store.order_card(
                cardholder.id,
                CardType::Student,
                Some(&card_number),
                Some(expires),
                "demo",
            )?;
        }
    }
    Ok(report.imported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys;

    #[test]
    fn the_demo_store_gets_24_students_with_valid_pesels_and_three_operators_once() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(seed(&mut store).unwrap(), 24);
        assert_eq!(seed(&mut store).unwrap(), 0);
        assert_eq!(store.status().unwrap().cardholders, 24);
        assert_eq!(store.operators().unwrap().len(), 3);
        let queue = store.productions_to_produce(100).unwrap();
        assert_eq!(queue.len(), PRINT_QUEUE);
        assert_eq!(
            queue[0].name_on_card.as_deref(),
            Some("Katarzyna Pawłowska")
        );
        let found = store.search_people("wisniewska", 5).unwrap();
        assert_eq!(found[0].fields.last_name, "Wiśniewska");
        for person in store.search_people("100", 50).unwrap() {
            pesel::validate(person.fields.pesel.as_deref().unwrap()).unwrap();
        }
    }

    #[test]
    fn the_demo_signer_is_made_once_with_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let (key_path, cert_path) = ensure_signer(dir.path()).unwrap();
        let key = keys::load_signing_key(&key_path, None).unwrap();
        let cert = keys::load_certificate(&cert_path).unwrap();
        assert!(cert.tbs_certificate.subject.to_string().contains("DEMO"));
        ensure_signer(dir.path()).unwrap();
        let again = keys::load_signing_key(&key_path, None).unwrap();
        assert_eq!(key.to_bytes(), again.to_bytes());
    }

    // The demo data exercised by the layers below (they cannot use the demo themselves).
    #[test]
    fn the_sync_summary_agrees_with_the_full_status() {
        let mut store = Store::open_in_memory().unwrap();
        let empty = store.sync_summary().unwrap();
        assert_eq!((empty.last_sync, empty.outbox_pending), (None, 0));
        seed(&mut store).unwrap();
        let status = store.status().unwrap();
        let summary = store.sync_summary().unwrap();
        assert!(summary.outbox_pending > 0);
        assert_eq!(
            (summary.last_sync, summary.outbox_pending),
            (status.last_sync, status.outbox_pending)
        );
        assert_eq!(store.outbox_len().unwrap(), status.outbox_pending);
    }

    #[test]
    fn a_portrait_is_cropped_to_fill_and_a_broken_file_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let folder = ensure_photos(dir.path()).unwrap();
        let small = crate::render::photo::thumbnail(&folder.join("100231.png"), 60, 60).unwrap();
        assert_eq!((small.width, small.height), (60, 60));
        assert_eq!(small.rgba.len(), 60 * 60 * 4);
        assert!(small.rgba.chunks_exact(4).all(|pixel| pixel[3] == 255));
        // The demo silhouette's dark head sits in the middle of the square.
        let centre = &small.rgba[(30 * 60 + 30) * 4..][..3];
        assert!(centre.iter().all(|channel| *channel < 120), "{centre:?}");

        let broken = dir.path().join("broken.png");
        std::fs::write(&broken, b"\x89PNG\r\n\x1a\nnot really").unwrap();
        let err = crate::render::photo::thumbnail(&broken, 60, 60).unwrap_err();
        assert!(err.contains("could not be decoded"), "{err}");
        let err =
            crate::render::photo::thumbnail(&dir.path().join("missing.png"), 60, 60).unwrap_err();
        assert!(err.contains("cannot read"), "{err}");
    }
}
