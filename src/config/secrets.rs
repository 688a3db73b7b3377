//! The secrets a profile names: the environment variable first, else the OS keyring entry of
//! that name. Values are zeroized on drop and never printed.

use std::fmt;

use zeroize::Zeroizing;

use super::ConfigError;

/// The keyring service every cardstation secret is stored under; the entry's user is the
/// name of the environment variable the profile names (e.g. `USOS_CONSUMER_SECRET`).
pub const KEYRING_SERVICE: &str = "cardstation";

/// Where a secret named by the profile would come from (`cardstation secret status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Environment,
    Keyring,
    Nowhere,
}

/// A secret from the environment or the keyring: zeroized on drop, never printed.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// A secret that came from elsewhere than the environment (a test fixture, a prompt).
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The one lookup behind every secret the profile names: the environment variable `var`
    /// first (so a deployment's exported value always wins), else the keyring entry
    /// (service [`KEYRING_SERVICE`], user `var`), else [`ConfigError::MissingSecret`]. A
    /// keyring that cannot be read is reported as such ([`ConfigError::Keyring`], the
    /// keyring's reason, never a value), not as a secret nobody set.
    pub fn lookup(var: &str) -> Result<Self, ConfigError> {
        if let Some(value) = env_value(var) {
            return Ok(Self(value));
        }
        match keyring::read(var)? {
            Some(value) => Ok(Self(value)),
            None => Err(ConfigError::MissingSecret(var.to_owned())),
        }
    }

    /// Whether the environment sets `var` the way [`Secret::lookup`] reads it (non-empty
    /// UTF-8), so that it takes precedence over the keyring.
    pub fn in_environment(var: &str) -> bool {
        env_value(var).is_some()
    }

    /// Where [`Secret::lookup`] would find `var`, without keeping the value.
    pub fn source(var: &str) -> Result<SecretSource, ConfigError> {
        if Self::in_environment(var) {
            return Ok(SecretSource::Environment);
        }
        Ok(match keyring::read(var)? {
            Some(_) => SecretSource::Keyring,
            None => SecretSource::Nowhere,
        })
    }

    /// Stores `value` as the keyring entry for `var` (`cardstation secret set`); `Ok(true)`
    /// when the persistent keyring holds it too (it then survives a logout).
    pub fn store_in_keyring(var: &str, value: &str) -> Result<bool, ConfigError> {
        keyring::write(var, value)
    }

    /// Removes the keyring entry for `var`; `Ok(false)` when there was none.
    pub fn delete_from_keyring(var: &str) -> Result<bool, ConfigError> {
        keyring::delete(var)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A non-empty environment value, zeroized on drop.
fn env_value(var: &str) -> Option<Zeroizing<String>> {
    std::env::var(var)
        .ok()
        .map(Zeroizing::new)
        .filter(|value| !value.is_empty())
}

/// The OS keyring, through the `keyring` crate built with only its `linux-native` backend:
/// the kernel's keyutils key store, reached by system calls. It needs no D-Bus session, no
/// Secret Service daemon and no system library, so it works on headless stations, kiosks
/// and CI runners alike. Per the crate's docs (keyring 3, module `keyutils`) an entry is
/// kept in the user's *persistent* kernel keyring and linked into the *session* keyring:
/// it survives a logout as long as the persistent keyring has not expired (a few days by
/// default, `/proc/sys/kernel/keys/persistent_keyring_expiry`; every lookup renews it),
/// but nothing survives a reboot: the store is in kernel memory only. Stations that must
/// come up unattended after a reboot export the variables (e.g. a systemd `EnvironmentFile`)
/// or re-run `cardstation secret set` at login.
mod keyring {
    use ::keyring::keyutils::KeyutilsCredential;
    use ::keyring::{Entry, Error};
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    use zeroize::Zeroizing;

    use super::{ConfigError, KEYRING_SERVICE};

    /// The crate's keyutils credential for `var`, and whether the persistent keyring holds
    /// it. A thread without its own session keyring (no PAM login: CI runners, service
    /// managers, containers) first gets an anonymous one: otherwise the crate would note the
    /// user-session keyring's id, its `KEYCTL_GET_PERSISTENT` would then install a new
    /// session keyring, and the kernel would refuse the noted keyring's keys (EACCES, which
    /// the crate reports as "no entry"). Keys reach later processes through the persistent
    /// keyring, which every session of the user links in.
    fn entry(var: &str) -> Result<(Entry, bool), Error> {
        KeyRing::from_special_id(KeyRingIdentifier::Session, true)
            .map_err(|err| Error::NoStorageAccess(Box::new(err)))?;
        let credential = KeyutilsCredential::new_with_target(None, KEYRING_SERVICE, var)?;
        let persistent = credential.persistent.is_some();
        Ok((Entry::new_with_credential(Box::new(credential)), persistent))
    }

    /// The keyring's error as text, without anything that could hold a value
    /// (`BadEncoding` carries the stored bytes, `Ambiguous` the credentials).
    fn failure(action: &'static str, var: &str, err: &Error) -> ConfigError {
        let reason = match err {
            Error::PlatformFailure(inner) | Error::NoStorageAccess(inner) => inner.to_string(),
            Error::BadEncoding(_) => "the stored value is not UTF-8".to_owned(),
            Error::Ambiguous(_) => "more than one entry matches".to_owned(),
            other => other.to_string(),
        };
        ConfigError::Keyring {
            action,
            var: var.to_owned(),
            reason,
        }
    }

    pub fn read(var: &str) -> Result<Option<Zeroizing<String>>, ConfigError> {
        let got = entry(var).and_then(|(entry, _)| entry.get_secret());
        let mut bytes = match got {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(Error::NoEntry) => return Ok(None),
            Err(Error::BadEncoding(bytes)) => {
                drop(Zeroizing::new(bytes));
                return Err(failure("read", var, &Error::BadEncoding(Vec::new())));
            }
            Err(err) => return Err(failure("read", var, &err)),
        };
        if std::str::from_utf8(&bytes).is_err() {
            return Err(failure("read", var, &Error::BadEncoding(Vec::new())));
        }
        // Moves the buffer (no copy left behind); the emptied Vec is zeroized on drop.
        let text = String::from_utf8(std::mem::take(&mut *bytes)).unwrap_or_default();
        Ok(Some(Zeroizing::new(text)).filter(|value| !value.is_empty()))
    }

    /// Stores the value; `Ok(true)` when it is also in the persistent keyring (survives a
    /// logout), `Ok(false)` when the kernel has none and only the session keyring holds it.
    pub fn write(var: &str, value: &str) -> Result<bool, ConfigError> {
        entry(var)
            .and_then(|(entry, persistent)| {
                entry.set_secret(value.as_bytes())?;
                Ok(persistent)
            })
            .map_err(|err| failure("store", var, &err))
    }

    pub fn delete(var: &str) -> Result<bool, ConfigError> {
        match entry(var).and_then(|(entry, _)| entry.delete_credential()) {
            Ok(()) => Ok(true),
            Err(Error::NoEntry) => Ok(false),
            Err(err) => Err(failure("delete", var, &err)),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_the_environment_and_never_print() {
        let var = "CARDSTATION_TEST_SECRET_VALUE";
        // SAFETY: no other test reads or writes this variable.
        unsafe { std::env::set_var(var, "sk_test_abcdef123") };
        let secret = Secret::lookup(var).unwrap();
        assert_eq!(secret.expose(), "sk_test_abcdef123");
        assert!(!format!("{secret:?}").contains("abcdef"));
        let missing = Secret::lookup("CARDSTATION_TEST_SECRET_UNSET")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("CARDSTATION_TEST_SECRET_UNSET"));
    }
}
