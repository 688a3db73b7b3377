//! Loading the ELS signing key and X.509 certificates the profile names from disk (here, not
//! in `crypto`, because an encrypted key's passphrase is a secret the profile names).
//!
//! Every buffer that holds secret material (PEM text, DER, passphrase) is a
//! [`Zeroizing`] value, and no error message ever carries key bytes or the
//! passphrase: errors name the file, the environment variable or the kind of
//! problem only.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::Problem;
use der::{Decode, DecodePem};
use p256::ecdsa::{SigningKey, VerifyingKey};
use pkcs8::{DecodePrivateKey, DecodePublicKey, EncryptedPrivateKeyInfo, SecretDocument};
use thiserror::Error;
use x509_cert::Certificate;
use zeroize::Zeroizing;

const PEM_LABEL_PRIVATE_KEY: &str = "PRIVATE KEY";
const PEM_LABEL_ENCRYPTED_PRIVATE_KEY: &str = "ENCRYPTED PRIVATE KEY";

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {} is accessible by group or others (mode {mode:04o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("key file {} is not PEM text", path.display())]
    NotPem { path: PathBuf },
    #[error(
        "key file {} holds a PEM block labelled {label:?}; expected \"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\" (PKCS#8)",
        path.display()
    )]
    UnsupportedPemLabel { path: PathBuf, label: String },
    #[error("key file {} is encrypted but no passphrase environment variable is configured", path.display())]
    PassphraseNotConfigured { path: PathBuf },
    /// The passphrase's variable is set nowhere, or the keyring holding it cannot be read:
    /// the one secret lookup's own error, with its own next step.
    #[error("the signer key's passphrase: {0}")]
    Passphrase(#[from] super::ConfigError),
    #[error("cannot decrypt key file {} (wrong passphrase or unsupported encryption scheme)", path.display())]
    DecryptionFailed { path: PathBuf },
    #[error("key file {} is not a PKCS#8 ECDSA P-256 private key", path.display())]
    NotP256Key { path: PathBuf },
    #[error("{} is not an X.509 certificate in PEM or DER form: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error(
        "{} holds neither an ECDSA P-256 public key (PEM or DER SubjectPublicKeyInfo) nor a certificate with one",
        path.display()
    )]
    NotP256PublicKey { path: PathBuf },
}

/// The record signer's key files are the profile's DESFire keys.
impl From<KeyError> for super::ConfigError {
    fn from(err: KeyError) -> Self {
        Self::RecordKey(Box::new(err))
    }
}

impl Problem for KeyError {
    fn next_step(&self) -> &'static str {
        match self {
            KeyError::Io { .. } => "check the path in the profile and that the file is readable",
            KeyError::InsecurePermissions { .. } => "run the chmod named above, then start again",
            KeyError::NotPem { .. }
            | KeyError::UnsupportedPemLabel { .. }
            | KeyError::NotP256Key { .. } => {
                "convert the key to PKCS#8 PEM (openssl pkcs8 -topk8) with an ECDSA P-256 key"
            }
            KeyError::PassphraseNotConfigured { .. } => {
                "name the passphrase's variable in the profile's [els] signer_passphrase_env"
            }
            KeyError::Passphrase(err) => err.next_step(),
            KeyError::DecryptionFailed { .. } => {
                "check the passphrase in the variable named by [els] signer_passphrase_env"
            }
            KeyError::BadCertificate { .. } => {
                "point the profile at the signer's X.509 certificate (PEM or DER)"
            }
            KeyError::NotP256PublicKey { .. } => {
                "export the signer's public key with `openssl pkey -in KEY.pem -pubout`, or \
                 point the profile at its certificate"
            }
        }
    }
}

/// Loads a PKCS#8 P-256 signing key from a PEM file, decrypting it (PBES2)
/// with the passphrase held in the environment variable `passphrase_env` if
/// the file is encrypted.
///
/// On unix the file must not be accessible by group or others.
pub fn load_signing_key(path: &Path, passphrase_env: Option<&str>) -> Result<SigningKey, KeyError> {
    let pem_text = read_secret_file(path)?;
    let (label, document) = SecretDocument::from_pem(&pem_text).map_err(|_| KeyError::NotPem {
        path: path.to_owned(),
    })?;

    let private_key_info = match label {
        PEM_LABEL_PRIVATE_KEY => document,
        PEM_LABEL_ENCRYPTED_PRIVATE_KEY => {
            let var = passphrase_env.ok_or_else(|| KeyError::PassphraseNotConfigured {
                path: path.to_owned(),
            })?;
            let passphrase = super::Secret::lookup(var)?;
            let decryption_failed = || KeyError::DecryptionFailed {
                path: path.to_owned(),
            };
            EncryptedPrivateKeyInfo::from_der(document.as_bytes())
                .map_err(|_| decryption_failed())?
                .decrypt(passphrase.expose().as_bytes())
                .map_err(|_| decryption_failed())?
        }
        other => {
            return Err(KeyError::UnsupportedPemLabel {
                path: path.to_owned(),
                label: other.to_owned(),
            });
        }
    };

    SigningKey::from_pkcs8_der(private_key_info.as_bytes()).map_err(|_| KeyError::NotP256Key {
        path: path.to_owned(),
    })
}

/// Loads an X.509 certificate stored as PEM (`-----BEGIN CERTIFICATE-----`)
/// or as raw DER.
pub fn load_certificate(path: &Path) -> Result<Certificate, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    let looks_like_pem = bytes.trim_ascii_start().starts_with(b"-----BEGIN");
    let parsed = if looks_like_pem {
        Certificate::from_pem(&bytes)
    } else {
        Certificate::from_der(&bytes)
    };
    parsed.map_err(|err| KeyError::BadCertificate {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

/// Loads an ECDSA P-256 public key: a SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----` or
/// DER), or the key of an X.509 certificate (PEM or DER). Public: no permission check.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    let not_p256 = || KeyError::NotP256PublicKey {
        path: path.to_owned(),
    };
    let text = std::str::from_utf8(&bytes).ok();
    let from_spki = match text {
        Some(pem) if pem.contains("-----BEGIN PUBLIC KEY-----") => {
            VerifyingKey::from_public_key_pem(pem).ok()
        }
        _ => VerifyingKey::from_public_key_der(&bytes).ok(),
    };
    if let Some(key) = from_spki {
        return Ok(key);
    }
    let certificate = load_certificate(path).map_err(|_| not_p256())?;
    let spki = der::Encode::to_der(&certificate.tbs_certificate.subject_public_key_info)
        .map_err(|_| not_p256())?;
    VerifyingKey::from_public_key_der(&spki).map_err(|_| not_p256())
}

/// Reads a whole file into a zeroizing buffer after checking its permissions.
fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    let io_error = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io_error)?;
    // Check the opened file rather than the path, so a swapped file cannot slip through.
    let metadata = file.metadata().map_err(io_error)?;
    refuse_shared_permissions(path, &metadata)?;

    // Reserve the full size up front: a growing String would leave
    // unzeroized copies of the key behind in freed memory.
    let capacity = usize::try_from(metadata.len())
        .unwrap_or(0)
        .saturating_add(1);
    let mut text = Zeroizing::new(String::with_capacity(capacity));
    file.read_to_string(&mut text).map_err(io_error)?;
    Ok(text)
}

#[cfg(unix)]
fn refuse_shared_permissions(path: &Path, metadata: &std::fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;

    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_shared_permissions(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

// The tests set file modes and run /usr/bin/openssl.
#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use pkcs8::EncodePrivateKey;
    use pkcs8::LineEnding;
    use rand::rngs::OsRng;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    const PASSPHRASE: &str = "correct horse battery staple";

    fn write_file(dir: &Path, name: &str, contents: &[u8], mode: u32) -> PathBuf {
        let path = dir.join(name);
        let mut file = File::create(&path).unwrap();
        file.write_all(contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// Environment variables are process-wide: every test uses its own name.
    fn set_passphrase_var(name: &str, value: &str) {
        // SAFETY: std serialises its own environment access, and these tests
        // run no C code that reads the environment while it changes.
        unsafe { std::env::set_var(name, value) };
    }

    #[test]
    fn loads_unencrypted_pkcs8_pem() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::random(&mut OsRng);
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let path = write_file(dir.path(), "key.pem", pem.as_bytes(), 0o600);

        let loaded = load_signing_key(&path, None).unwrap();
        assert_eq!(loaded.verifying_key(), key.verifying_key());
    }

    #[test]
    fn refuses_key_readable_by_group_or_others() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::random(&mut OsRng);
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        for mode in [0o640, 0o604, 0o644, 0o660] {
            let path = write_file(dir.path(), "key.pem", pem.as_bytes(), mode);
            let err = load_signing_key(&path, None).unwrap_err();
            assert!(
                matches!(err, KeyError::InsecurePermissions { mode: m, .. } if m == mode),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(
                message.contains(&format!("chmod 600 {}", path.display())),
                "{message}"
            );
        }
    }

    #[test]
    fn loads_encrypted_pkcs8_pem_with_passphrase_from_env() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::random(&mut OsRng);
        let pem = key
            .to_pkcs8_encrypted_pem(&mut OsRng, PASSPHRASE, LineEnding::LF)
            .unwrap();
        let path = write_file(dir.path(), "key.pem", pem.as_bytes(), 0o600);
        set_passphrase_var("ELS_TEST_PASSPHRASE_RUST", PASSPHRASE);

        let loaded = load_signing_key(&path, Some("ELS_TEST_PASSPHRASE_RUST")).unwrap();
        assert_eq!(loaded.verifying_key(), key.verifying_key());
    }

    #[test]
    fn loads_key_encrypted_by_openssl() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openssl-key.pem");
        let status = Command::new("/usr/bin/openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-aes-256-cbc",
                "-pass",
                &format!("pass:{PASSPHRASE}"),
                "-out",
            ])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        set_passphrase_var("ELS_TEST_PASSPHRASE_OPENSSL", PASSPHRASE);

        load_signing_key(&path, Some("ELS_TEST_PASSPHRASE_OPENSSL")).unwrap();
    }

    #[test]
    fn encrypted_key_errors_never_reveal_the_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::random(&mut OsRng);
        let pem = key
            .to_pkcs8_encrypted_pem(&mut OsRng, PASSPHRASE, LineEnding::LF)
            .unwrap();
        let path = write_file(dir.path(), "key.pem", pem.as_bytes(), 0o600);

        let err = load_signing_key(&path, None).unwrap_err();
        assert!(
            matches!(err, KeyError::PassphraseNotConfigured { .. }),
            "{err:?}"
        );

        let err = load_signing_key(&path, Some("ELS_TEST_PASSPHRASE_UNSET")).unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::Passphrase(crate::config::ConfigError::MissingSecret(_))
            ),
            "{err:?}"
        );
        assert!(
            err.next_step().contains("secret set"),
            "{}",
            err.next_step()
        );

        let wrong = "wrong passphrase 12345";
        set_passphrase_var("ELS_TEST_PASSPHRASE_WRONG", wrong);
        let err = load_signing_key(&path, Some("ELS_TEST_PASSPHRASE_WRONG")).unwrap_err();
        assert!(matches!(err, KeyError::DecryptionFailed { .. }), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(wrong) && !shown.contains(PASSPHRASE));
    }

    #[test]
    fn rejects_other_key_types_and_formats() {
        let dir = tempfile::tempdir().unwrap();

        let p384_key = p384::ecdsa::SigningKey::random(&mut OsRng);
        let pem = p384_key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let path = write_file(dir.path(), "p384.pem", pem.as_bytes(), 0o600);
        let err = load_signing_key(&path, None).unwrap_err();
        assert!(matches!(err, KeyError::NotP256Key { .. }), "{err:?}");

        let sec1 = p256::SecretKey::random(&mut OsRng)
            .to_sec1_pem(LineEnding::LF)
            .unwrap();
        let path = write_file(dir.path(), "sec1.pem", sec1.as_bytes(), 0o600);
        let err = load_signing_key(&path, None).unwrap_err();
        assert!(
            matches!(&err, KeyError::UnsupportedPemLabel { label, .. } if label == "EC PRIVATE KEY"),
            "{err:?}"
        );

        let path = write_file(dir.path(), "garbage.pem", b"not a key", 0o600);
        let err = load_signing_key(&path, None).unwrap_err();
        assert!(matches!(err, KeyError::NotPem { .. }), "{err:?}");

        let err = load_signing_key(&dir.path().join("missing.pem"), None).unwrap_err();
        assert!(matches!(err, KeyError::Io { .. }), "{err:?}");
    }

    #[test]
    fn loads_verifying_key_from_spki_or_certificate() {
        use pkcs8::EncodePublicKey;
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::random(&mut OsRng);
        let public = key.verifying_key();
        let pem = public.to_public_key_pem(LineEnding::LF).unwrap();
        let pem_path = write_file(dir.path(), "record.pub.pem", pem.as_bytes(), 0o644);
        assert_eq!(load_verifying_key(&pem_path).unwrap(), *public);
        let der = public.to_public_key_der().unwrap();
        let der_path = write_file(dir.path(), "record.pub.der", der.as_bytes(), 0o644);
        assert_eq!(load_verifying_key(&der_path).unwrap(), *public);

        let p384 = p384::ecdsa::SigningKey::random(&mut OsRng);
        let other = p384
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let other_path = write_file(dir.path(), "p384.pub.pem", other.as_bytes(), 0o644);
        let err = load_verifying_key(&other_path).unwrap_err();
        assert!(matches!(err, KeyError::NotP256PublicKey { .. }), "{err:?}");
        // A private key where the public key belongs is refused too, without echoing it.
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let private_path = write_file(dir.path(), "key.pem", private.as_bytes(), 0o600);
        let err = load_verifying_key(&private_path).unwrap_err();
        assert!(matches!(err, KeyError::NotP256PublicKey { .. }), "{err:?}");
    }

    #[test]
    fn loads_certificate_as_pem_and_der() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("key.pem");
        let pem_path = dir.path().join("cert.pem");
        let der_path = dir.path().join("cert.der");
        let status = Command::new("/usr/bin/openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-subj", "/CN=ELS test", "-days", "1", "-keyout"])
            .arg(&key_path)
            .arg("-out")
            .arg(&pem_path)
            .status()
            .unwrap();
        assert!(status.success());
        let from_pem = load_certificate(&pem_path).unwrap();
        std::fs::write(&der_path, der::Encode::to_der(&from_pem).unwrap()).unwrap();
        let from_der = load_certificate(&der_path).unwrap();
        assert_eq!(from_pem, from_der);
        // A kiosk may name the record signer's certificate instead of its bare public key.
        assert_eq!(
            load_verifying_key(&pem_path).unwrap(),
            load_verifying_key(&der_path).unwrap()
        );
        assert_eq!(from_pem.tbs_certificate.subject.to_string(), "CN=ELS test");

        let bad_path = write_file(dir.path(), "bad.der", b"\x30\x03\x02\x01", 0o644);
        let err = load_certificate(&bad_path).unwrap_err();
        assert!(matches!(err, KeyError::BadCertificate { .. }), "{err:?}");
    }
}
