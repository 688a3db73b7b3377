//! The signer revocation lists a profile names (`[trust] crl_sources`), pulled by the
//! background sync: each URL downloaded, each file or directory read, and every CRL loaded as
//! `cardstation trust crl add` loads it ([`crate::store::trust::add_crl`]). A CRL that fails
//! is logged with its source and reason and changes nothing: the one held stays.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::CrlSource;
use crate::error::Problem;
use crate::remote::http::{self, Unreachable};
use crate::remote::retry::{Attempt, RetryPolicy};
use crate::store::trust::add_crl;
use crate::store::{NewCrl, Store};

/// The largest CRL downloaded: a CA revoking a million certificates stays under this.
pub const MAX_CRL_BYTES: u64 = 32 << 20;

/// What became of one CRL: `source` is the URL, or the file's path.
#[derive(Debug)]
pub struct Pulled {
    pub source: String,
    pub outcome: Result<NewCrl, String>,
}

/// The operator the audit log names for a CRL the sync loaded.
const OPERATOR: &str = "crl-sync";

/// Loads every CRL of `sources`, one [`Pulled`] each (a source that cannot be read is one,
/// failed), logging each: loaded at info, failed as a warning.
pub async fn pull(store: &mut Store, sources: &[CrlSource], policy: &RetryPolicy) -> Vec<Pulled> {
    let mut pulled = Vec::new();
    for source in sources {
        let blobs = match source {
            CrlSource::Url(url) => vec![(url.clone(), download(url, policy).await)],
            CrlSource::Path(path) => read_path(path),
        };
        for (source, bytes) in blobs {
            let outcome = bytes.and_then(|bytes| {
                super::blocking(|| add_crl(store, &bytes, OPERATOR, SystemTime::now()))
                    .map_err(|err| format!("{err} ({})", err.next_step()))
            });
            match &outcome {
                Ok(crl) => tracing::info!(
                    "CRL from {source} loaded: {} of {} revoked certificate(s), issued {}",
                    crl.issuer_subject,
                    crl.serials_hex.len(),
                    crl.this_update
                ),
                Err(reason) => {
                    tracing::warn!("CRL from {source} not loaded, the one held stays: {reason}")
                }
            }
            pulled.push(Pulled { source, outcome });
        }
    }
    pulled
}

#[derive(Debug)]
struct Fetch(String);

impl Unreachable for Fetch {
    fn unreachable(_url: &str, cause: String) -> Self {
        Self(cause)
    }
}

/// The body of a 2xx answer, at most [`MAX_CRL_BYTES`]; one try (the next round is the retry).
async fn download(url: &str, policy: &RetryPolicy) -> Result<Vec<u8>, String> {
    let client = http::client::<Fetch>(policy, url).map_err(|Fetch(cause)| cause)?;
    let answer = http::send_limited::<Fetch>(client.get(url), url, MAX_CRL_BYTES)
        .await
        .map_err(|attempt| match attempt {
            Attempt::Retry(Fetch(cause))
            | Attempt::RetryAfter(Fetch(cause), _)
            | Attempt::Final(Fetch(cause)) => format!("cannot download it: {cause}"),
        })?;
    if !answer.status.is_success() {
        return Err(format!(
            "the server answered {}: {}",
            answer.status,
            http::excerpt(&answer.body)
        ));
    }
    Ok(answer.body.to_vec())
}

/// A file's bytes, or those of each `.crl`, `.pem` and `.der` file of a directory (by name).
fn read_path(path: &Path) -> Vec<(String, Result<Vec<u8>, String>)> {
    let unreadable = |path: &Path, err: std::io::Error| {
        vec![(
            path.display().to_string(),
            Err(format!("cannot read it: {err}")),
        )]
    };
    if !path.is_dir() {
        return vec![(
            path.display().to_string(),
            std::fs::read(path).map_err(|err| format!("cannot read it: {err}")),
        )];
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(err) => return unreadable(path, err),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|file| {
            file.is_file()
                && file
                    .extension()
                    .and_then(|ext| ext.to_str())
                    .is_some_and(|ext| ["crl", "pem", "der"].contains(&ext))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let bytes = std::fs::read(&file).map_err(|err| format!("cannot read it: {err}"));
            (file.display().to_string(), bytes)
        })
        .collect()
}
