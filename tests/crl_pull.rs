//! `[trust] crl_sources`: the background sync loads CRLs from a URL and from a directory as
//! `trust crl add` does, and a CRL that fails is reported and leaves the held one in place.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use cardstation::config::CrlSource;
use cardstation::remote::cardexchange::{ApiKey, Client};
use cardstation::remote::retry::RetryPolicy;
use cardstation::store::Store;
use cardstation::sync::background::{self, Schedule};
use cardstation::sync::{Cancel, SyncOptions, crl};

/// A store trusting the [`common::openssl_crl_ca`] in `dir`.
fn store_trusting(dir: &Path) -> Store {
    let mut store = Store::open(&dir.join("kiosk.sqlite")).unwrap();
    let ca = cardstation::config::keys::load_certificate(&dir.join("ca.pem")).unwrap();
    store
        .add_trusted_issuer(&der::Encode::to_der(&ca).unwrap(), "test")
        .unwrap();
    store
}

fn revoked_serials(store: &Store) -> Vec<String> {
    store
        .revocations()
        .unwrap()
        .into_iter()
        .filter(|revocation| revocation.crl_id.is_some())
        .map(|revocation| revocation.serial_hex)
        .collect()
}

/// Serves `body` at `/els.crl` on loopback, 503 for any other path, until the test ends.
fn serve_crl(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request_line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // The headers, up to the empty line.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (status, body) = if request_line.starts_with("GET /els.crl ") {
                ("200 OK", body.as_slice())
            } else {
                ("503 Service Unavailable", &b"down"[..])
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        }
    });
    format!("http://{address}")
}

/// `sync --watch`'s loop pulls the CRL at its start, before the first full sync (which
/// fails here: the server is down), and the store then refuses the serial it lists.
#[test]
fn the_background_sync_loads_a_crl_served_over_http() {
    let dir = tempfile::tempdir().unwrap();
    common::openssl_crl_ca(dir.path(), "/CN=Pull Test CA/C=PL");
    common::openssl_gencrl(dir.path(), &["1234"], "ca.crl");
    let mut store = store_trusting(dir.path());
    let server = serve_crl(std::fs::read(dir.path().join("ca.crl")).unwrap());
    let schedule = Schedule {
        pull_every: Duration::from_secs(3600),
        revocation_every: None,
        stale_after: Duration::from_secs(60),
        crl_every: Some(Duration::from_secs(3600)),
        crl_sources: vec![CrlSource::Url(format!("{server}/els.crl"))],
    };
    let policy = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let client = Client::new(&server, ApiKey::new("test-key"), policy).unwrap();
    let cancel = Cancel::default();
    let stop = cancel.clone();
    let db = dir.path().join("kiosk.sqlite");
    let watcher = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(background::run(
            &mut store,
            &client,
            &SyncOptions::default(),
            &schedule,
            &|_| {},
            &|_| {},
            &cancel,
        ))
    });
    let reader = Store::open(&db).unwrap();
    common::wait_until(Duration::from_secs(20), || {
        revoked_serials(&reader) == ["1234"]
    });
    stop.cancel();
    watcher.join().unwrap().unwrap();
    let crls = reader.crls().unwrap();
    assert_eq!(crls.len(), 1);
    assert!(crls[0].issuer_subject.contains("Pull Test CA"), "{crls:?}");
}

fn pull(store: &mut Store, sources: &[CrlSource]) -> Vec<crl::Pulled> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(crl::pull(store, sources, &RetryPolicy::default()))
}

/// A directory's CRL files are each loaded; a newer CRL replaces the older one's serials.
#[test]
fn a_directory_of_crls_is_loaded_and_a_newer_crl_replaces_the_older() {
    let dir = tempfile::tempdir().unwrap();
    common::openssl_crl_ca(dir.path(), "/CN=Directory CA/C=PL");
    let crls = dir.path().join("crl");
    std::fs::create_dir(&crls).unwrap();
    common::openssl_gencrl(dir.path(), &["0A01"], "crl/ca.crl");
    // Not a CRL by its name: left alone.
    std::fs::write(crls.join("README.txt"), "CRLs of the ELS CA").unwrap();
    let mut store = store_trusting(dir.path());
    let sources = [CrlSource::Path(crls.clone())];

    let pulled = pull(&mut store, &sources);
    assert_eq!(pulled.len(), 1, "{pulled:?}");
    assert!(pulled[0].source.ends_with("ca.crl"), "{pulled:?}");
    assert!(pulled[0].outcome.is_ok(), "{pulled:?}");
    assert_eq!(revoked_serials(&store), ["0A01"]);

    // thisUpdate has a resolution of one second.
    std::thread::sleep(Duration::from_millis(1100));
    common::openssl_gencrl(dir.path(), &["0A01", "0B02"], "crl/ca.crl");
    let pulled = pull(&mut store, &sources);
    assert!(pulled[0].outcome.is_ok(), "{pulled:?}");
    assert_eq!(revoked_serials(&store), ["0A01", "0B02"]);
}

/// Garbage, a CRL of an issuer the store does not trust, an older CRL and a dead URL each
/// fail with their source and reason; the CRL held stays, and the good one beside them loads.
#[test]
fn a_bad_crl_is_reported_and_leaves_the_held_one() {
    let dir = tempfile::tempdir().unwrap();
    common::openssl_crl_ca(dir.path(), "/CN=Held CA/C=PL");
    common::openssl_gencrl(dir.path(), &["01"], "old.crl");
    std::thread::sleep(Duration::from_millis(1100));
    common::openssl_gencrl(dir.path(), &["01", "02"], "new.crl");
    let stranger = tempfile::tempdir().unwrap();
    common::openssl_crl_ca(stranger.path(), "/CN=Stranger CA/C=PL");
    common::openssl_gencrl(stranger.path(), &["03"], "ca.crl");
    let mut store = store_trusting(dir.path());
    let garbage = dir.path().join("garbage.crl");
    std::fs::write(&garbage, b"not a CRL").unwrap();
    // A port nothing listens on.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let pulled = pull(
        &mut store,
        &[
            CrlSource::Path(dir.path().join("new.crl")),
            CrlSource::Path(garbage.clone()),
            CrlSource::Path(stranger.path().join("ca.crl")),
            CrlSource::Path(dir.path().join("old.crl")),
            CrlSource::Url(format!("http://{dead}/els.crl")),
            CrlSource::Path(dir.path().join("missing.crl")),
        ],
    );
    let reasons: Vec<(&str, &str)> = pulled
        .iter()
        .map(|pulled| {
            (
                pulled.source.as_str(),
                pulled.outcome.as_ref().err().map_or("", String::as_str),
            )
        })
        .collect();
    assert!(pulled[0].outcome.is_ok(), "{reasons:?}");
    assert!(reasons[1].0.ends_with("garbage.crl"), "{reasons:?}");
    assert!(
        reasons[1].1.contains("not a certificate revocation list"),
        "{reasons:?}"
    );
    assert!(reasons[2].1.contains("Stranger CA"), "{reasons:?}");
    assert!(
        reasons[2].1.contains("not a trusted certificate"),
        "{reasons:?}"
    );
    assert!(reasons[3].1.contains("a newer CRL"), "{reasons:?}");
    assert!(reasons[4].0.starts_with("http://127.0.0.1:"), "{reasons:?}");
    assert!(reasons[4].1.contains("cannot download it"), "{reasons:?}");
    assert!(reasons[5].1.contains("cannot read it"), "{reasons:?}");
    assert_eq!(revoked_serials(&store), ["01", "02"]);
}
