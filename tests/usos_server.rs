//! The USOS and ID123 clients against the reference server over real HTTP on 127.0.0.1:
//! every method with its fields selector, typed errors, OAuth failures (a wrong secret, a
//! replayed nonce), the `usos call` command, and ID123 paging into a SQLite store file.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use cardstation::config::Secret;
use cardstation::config::keys;
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::crypto::els_sig::{self, VerifyOptions};
use cardstation::remote::id123::{Id123Client, Id123Error};
use cardstation::remote::oauth1::Credential;
use cardstation::remote::retry::RetryPolicy;
use cardstation::remote::usos::{CardLookup, LangDict, Notification, Phone, UsosClient, UsosError};
use cardstation::store::Store;
use cardstation::sync::id123;
use cardstation_refserver::{
    ID123_DEMO_TEMPLATE, ID123_TEST_KEY, ReferenceServer, ServerFaults, USOS_CONSUMER_KEY,
    USOS_CONSUMER_SECRET, USOS_TOKEN_KEY, USOS_TOKEN_SECRET, UsosOptions,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

const ANNA_CHIP: &str = "04A1B2C3D4E5F6";
const BLOCKED_CHIP: &str = "04112233445566";
const CARD_KEY: &str = "00112233445566778899AABBCCDDEEFF";

struct Fixture {
    server: ReferenceServer,
    pki: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let pki = tempfile::tempdir().unwrap();
    common::make_signer_files(
        pki.path(),
        "/CN=USOS test signer/O=Uniwersytet Testowy/C=PL",
    );
    let options = UsosOptions {
        signer: Some((
            keys::load_signing_key(&pki.path().join("key.pem"), None).unwrap(),
            keys::load_certificate(&pki.path().join("cert.pem")).unwrap(),
        )),
        card_key: Some((
            KeyAlgorithm::Aes128,
            Zeroizing::new(hex::decode(CARD_KEY).unwrap()),
        )),
        ..UsosOptions::default()
    };
    let server = ReferenceServer::start_with(0, None, ServerFaults::default(), options).unwrap();
    Fixture { server, pki }
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        request_timeout: Duration::from_secs(10),
    }
}

fn admin(url: &str, secret: &str) -> UsosClient {
    UsosClient::new(
        url,
        Credential::new(USOS_CONSUMER_KEY, Secret::new(secret)),
        quick(),
    )
    .unwrap()
}

fn for_user(url: &str) -> UsosClient {
    admin(url, USOS_CONSUMER_SECRET).with_token(Credential::new(
        USOS_TOKEN_KEY,
        Secret::new(USOS_TOKEN_SECRET),
    ))
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn cards_methods_answer_typed_with_the_fields_selector() {
    let f = fixture();
    let url = f.server.url();
    let client = admin(&url, USOS_CONSUMER_SECRET);
    block_on(async {
        let chip = CardLookup::ContactChipUid(ANNA_CHIP.into());
        let full = client.card(&chip, None).await.unwrap();
        assert_eq!(full.id.as_deref(), Some("501"));
        assert_eq!(full.card_type.as_deref(), Some("student"));
        assert_eq!(full.user.unwrap().last_name.as_deref(), Some("Żółkiewska"));
        let narrow = client
            .card(&chip, Some(&["id", "barcode_number"]))
            .await
            .unwrap();
        assert_eq!(narrow.barcode_number.as_deref(), Some("2900000123456"));
        assert!(
            narrow.user.is_none() && narrow.card_type.is_none(),
            "{narrow:?}"
        );
        let by_barcode = client
            .card(
                &CardLookup::Barcode("2900000123456".into()),
                Some(&["contact_chip_uid"]),
            )
            .await
            .unwrap();
        assert_eq!(by_barcode.contact_chip_uid.as_deref(), Some(ANNA_CHIP));

        let data = client.student_card_data(&chip, None).await.unwrap();
        assert_eq!(data.can_be_written, Some(true));
        assert_eq!(data.card.as_ref().unwrap().id.as_deref(), Some("501"));
        let certificate = keys::load_certificate(&f.pki.path().join("cert.pem")).unwrap();
        let today = OffsetDateTime::now_utc().date();
        let verified = els_sig::verify(
            &data.structure_der().unwrap(),
            &VerifyOptions {
                card_cert: None,
                trusted: std::slice::from_ref(&certificate),
                revoked: &[],
                chip_serial: Some(ANNA_CHIP.into()),
                today,
                now: OffsetDateTime::now_utc(),
            },
        )
        .expect("the server's structure verifies for its chip");
        assert_eq!(verified.data.album_number, "123456");
        assert_eq!(verified.data.given_names, ["Anna", "Maria"]);
        assert!(data.card_key(KeyAlgorithm::Aes128).is_ok());
        let only_date = client
            .student_card_data(&chip, Some(&["expiration_date", "can_be_written"]))
            .await
            .unwrap();
        assert!(only_date.structure.is_none() && only_date.card_key.is_none());
        assert_eq!(only_date.expiration_date, data.expiration_date);

        let blocked = client
            .student_card_data(&CardLookup::ContactChipUid(BLOCKED_CHIP.into()), None)
            .await
            .unwrap();
        assert_eq!(blocked.can_be_written, Some(false));
        assert!(blocked.structure.is_none() && blocked.card_key.is_none());
        assert!(
            blocked
                .why_cannot_write
                .unwrap()
                .text()
                .contains("zastrzeżona")
        );

        client
            .mark_student_card_prolonged(&chip, &today.to_string())
            .await
            .unwrap();
        client.check_orders_status().await.unwrap();
        let written = client
            .student_card_data(&chip, Some(&["date_of_write"]))
            .await
            .unwrap();
        assert_eq!(written.date_of_write, Some(today.to_string()));
    });

    let user = for_user(&url);
    block_on(async {
        let cards = user.user(Some(&["id", "type"])).await.unwrap();
        assert_eq!(cards.len(), 1);
        assert_eq!(cards[0].id.as_deref(), Some("501"));
        let all = user
            .user_cards(Some(&["student_number", "can_be_written"]))
            .await
            .unwrap();
        assert_eq!(all[0].student_number.as_deref(), Some("123456"));

        let before = user.mcard(None).await.unwrap();
        assert!(before.orders.unwrap().is_empty());
        assert!(before.why_cannot_revoke.is_some());
        assert!(user.make_mcard_order().await.unwrap().success);
        assert!(
            !user.make_mcard_order().await.unwrap().success,
            "one order at a time"
        );
        let after = user
            .mcard(Some(&["orders", "why_cannot_order"]))
            .await
            .unwrap();
        let order_id = after.orders.unwrap()[0].id.clone().unwrap();
        assert!(after.why_cannot_order.is_some());
        let order = user
            .mcard_order(&order_id, Some(&["id", "status"]))
            .await
            .unwrap();
        assert_eq!(order.status.as_deref(), Some("pending"));
        assert!(order.token.is_none());
        assert!(user.revoke_mcard(&order_id).await.unwrap().success);
        let revoked = user.mcard_order(&order_id, None).await.unwrap();
        assert_eq!(revoked.status.as_deref(), Some("revoked"));
    });
    let methods: Vec<String> = f
        .server
        .usos_calls()
        .into_iter()
        .map(|call| call.method)
        .collect();
    for method in [
        "cards/card",
        "cards/mark_student_card_prolonged",
        "cards/revoke_mcard",
    ] {
        assert!(
            methods.iter().any(|seen| seen == method),
            "{method} in {methods:?}"
        );
    }
}

#[test]
fn events2_and_phones_methods() {
    let f = fixture();
    let client = admin(&f.server.url(), USOS_CONSUMER_SECRET);
    block_on(async {
        let types = client.event_types_index(None).await.unwrap();
        assert!(types.iter().any(|t| t.id.as_deref() == Some("card_ready")));
        let one = client
            .event_type("card_ready", Some(&["id", "name"]))
            .await
            .unwrap();
        assert_eq!(one.name.unwrap().en.as_deref(), Some("Card ready"));
        assert!(one.is_enabled.is_none());
        let channels = client.notification_channels_index(None).await.unwrap();
        assert_eq!(channels.len(), 2);
        let channel = client.distribution_channel("email", None).await.unwrap();
        assert_eq!(channel.id.as_deref(), Some("email"));
        let link = client
            .event_channel(
                "card_ready",
                "mobile",
                Some(&["id", "channel", "is_mandatory"]),
            )
            .await
            .unwrap();
        assert_eq!(link.channel.unwrap().id.as_deref(), Some("mobile"));
        assert_eq!(link.is_mandatory, Some(false));

        client
            .send_notification(&Notification {
                user_id: "1001".into(),
                message: LangDict {
                    pl: Some("Legitymacja gotowa".into()),
                    en: Some("Card ready".into()),
                },
                event_type_id: Some("card_ready".into()),
            })
            .await
            .unwrap();

        let before = client.phones_select(&["1001", "1002"], None).await.unwrap();
        assert_eq!(before["1001"].len(), 1);
        let phones = vec![
            Phone {
                number: "+48 601 234 567".into(),
                comment: LangDict {
                    pl: Some("prywatny".into()),
                    en: None,
                },
                type_id: Some("KOM".into()),
            },
            Phone {
                number: "(42) 635 40 00".into(),
                comment: LangDict {
                    pl: Some("dom".into()),
                    en: None,
                },
                type_id: None,
            },
        ];
        client.phones_replace("1001", &phones).await.unwrap();
        let after = client
            .phones_select(&["1001"], Some(&["number"]))
            .await
            .unwrap();
        let numbers: Vec<&str> = after["1001"].iter().map(|p| p.number.as_str()).collect();
        assert_eq!(numbers, ["+48 601 234 567", "(42) 635 40 00"]);
        let mut bad = phones.clone();
        bad.push(Phone {
            number: "call me maybe".into(),
            ..Phone::default()
        });
        let err = client.phones_replace("1001", &bad[1..]).await.unwrap_err();
        assert!(
            matches!(err, UsosError::ParamInvalid { ref param, .. } if param == "data"),
            "{err}"
        );
        let unchanged = client.phones_select(&["1001"], None).await.unwrap();
        assert_eq!(unchanged["1001"].len(), 2, "replace is all or nothing");
    });
    let sent = f.server.usos_notifications();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["message_en"], "Card ready");
}

#[test]
fn usos_errors_are_typed_and_name_their_cause() {
    let f = fixture();
    let url = f.server.url();
    let client = admin(&url, USOS_CONSUMER_SECRET);
    block_on(async {
        let missing = client
            .card(&CardLookup::ContactChipUid("04FFFFFFFFFFFF".into()), None)
            .await
            .unwrap_err();
        assert!(matches!(missing, UsosError::NotFound { .. }), "{missing}");
        assert!(
            missing.to_string().contains("object_not_found"),
            "{missing}"
        );
        let bad_field = client
            .card(
                &CardLookup::ContactChipUid(ANNA_CHIP.into()),
                Some(&["colour"]),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&bad_field, UsosError::ParamInvalid { param, .. } if param == "fields"),
            "{bad_field}"
        );
        assert!(bad_field.to_string().contains("colour"), "{bad_field}");
        let bad_date = client
            .mark_student_card_prolonged(&CardLookup::Id("501".into()), "31.12.2027")
            .await
            .unwrap_err();
        assert!(
            bad_date.to_string().contains("date_prolonged"),
            "{bad_date}"
        );
        let no_token = client.user(None).await.unwrap_err();
        assert!(
            matches!(no_token, UsosError::TokenRequired { .. }),
            "{no_token}"
        );

        let wrong = admin(&url, "not-the-consumer-secret");
        let refused = wrong
            .card(&CardLookup::ContactChipUid(ANNA_CHIP.into()), None)
            .await
            .unwrap_err();
        assert!(refused.is_authentication(), "{refused}");
        let message = refused.to_string();
        assert!(message.contains("invalid_signature"), "{message}");
        assert!(!message.contains("not-the-consumer-secret"), "{message}");
        assert!(!format!("{refused:?}").contains("not-the-consumer-secret"));
    });
}

#[test]
fn a_replayed_nonce_is_refused_and_the_client_retries_with_a_fresh_one() {
    let f = fixture();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    // The first two requests carry the same nonce, as a replay would; later ones are fresh.
    let client = admin(&f.server.url(), USOS_CONSUMER_SECRET).with_nonces(move || {
        match counter.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => "replayed-nonce".to_owned(),
            n => format!("fresh-nonce-{n}"),
        }
    });
    let chip = CardLookup::ContactChipUid(ANNA_CHIP.into());
    block_on(async {
        client.card(&chip, Some(&["id"])).await.unwrap();
        let second = client.card(&chip, Some(&["id"])).await.unwrap();
        assert_eq!(second.id.as_deref(), Some("501"));
    });
    assert_eq!(f.server.usos_refused_replays(), 1, "the replay was refused");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "and retried once, signed anew"
    );
    assert_eq!(f.server.usos_calls().len(), 2);

    // A client that can only replay gives up with an authentication failure naming the cause.
    let stuck =
        admin(&f.server.url(), USOS_CONSUMER_SECRET).with_nonces(|| "replayed-nonce".into());
    let err = block_on(stuck.card(&chip, None)).unwrap_err();
    assert!(err.to_string().contains("nonce_used"), "{err}");
}

fn cardstation(args: &[&str], dir: &Path, url: &str, secret: &str) -> std::process::Output {
    std::fs::write(
        dir.join("desk.toml"),
        format!(
            "role = \"issuance\"\ndatabase = \"{}\"\n[usos]\nurl = \"{url}\"\nconsumer_key_env = \"USOS_TEST_KEY\"\nconsumer_secret_env = \"USOS_TEST_SECRET\"\n[id123]\nurl = \"{url}\"\napi_key_env = \"ID123_TEST_KEY\"\ncard_template_id = \"{ID123_DEMO_TEMPLATE}\"\n",
            dir.join("desk.sqlite").display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .arg("--profile")
        .arg(dir.join("desk.toml"))
        .args(args)
        .env("USOS_TEST_KEY", USOS_CONSUMER_KEY)
        .env("USOS_TEST_SECRET", secret)
        .env("ID123_TEST_KEY", ID123_TEST_KEY)
        .output()
        .unwrap()
}

#[test]
fn usos_call_prints_the_answer_or_the_usos_error() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let url = f.server.url();
    let ok = cardstation(
        &[
            "usos",
            "call",
            "services/cards/card",
            &format!("contact_chip_uid={ANNA_CHIP}"),
            "fields=id|type",
            "--json",
        ],
        dir.path(),
        &url,
        USOS_CONSUMER_SECRET,
    );
    common::assert_success(&ok);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last, serde_json::json!({"id": "501", "type": "student"}));

    let missing = cardstation(
        &["usos", "call", "cards/card", "barcode_number=0000"],
        dir.path(),
        &url,
        USOS_CONSUMER_SECRET,
    );
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("object_not_found") && stderr.contains("next step"),
        "{stderr}"
    );

    let wrong = cardstation(
        &["usos", "call", "cards/card", "barcode_number=0000"],
        dir.path(),
        &url,
        "wrong-secret",
    );
    assert_eq!(wrong.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("OAuth") && !stderr.contains("wrong-secret"),
        "{stderr}"
    );

    f.server.seed_id123(12);
    let import = cardstation(&["import", "id123"], dir.path(), &url, USOS_CONSUMER_SECRET);
    common::assert_success(&import);
    assert!(String::from_utf8_lossy(&import.stdout).contains("new 12"));
}

#[test]
fn id123_pages_into_a_sqlite_store_file() {
    let f = fixture();
    f.server.seed_id123(23);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let client = Id123Client::new(&f.server.url(), Secret::new(ID123_TEST_KEY), quick()).unwrap();
    let mut store = Store::open(&path).unwrap();
    let summary = block_on(id123::import(
        &client,
        &mut store,
        Some(ID123_DEMO_TEMPLATE),
        10,
    ))
    .unwrap();
    assert_eq!(summary.pages, 3);
    assert_eq!((summary.stored.inserted, summary.stored.updated), (23, 0));
    drop(store);

    let store = Store::open(&path).unwrap();
    let cards = store.mobile_cards("id123").unwrap();
    assert_eq!(cards.len(), 23);
    assert_eq!(cards[0].remote_id, "id123-card-00000");
    assert_eq!(cards[0].barcode.as_deref(), Some("2900000000000"));
    assert_eq!(cards[2].status.as_deref(), Some("suspended"));
    assert_eq!(cards[2].sub_status.as_deref(), Some("revoked"));
    assert!(
        cards[22]
            .photo_url
            .as_deref()
            .unwrap()
            .ends_with("/00022.jpg")
    );
    assert_eq!(cards[5].name.as_deref(), Some("Student5 Kowalski"));

    let mut store = store;
    let again = block_on(id123::import(
        &client,
        &mut store,
        Some(ID123_DEMO_TEMPLATE),
        23,
    ))
    .unwrap();
    assert_eq!(
        (again.pages, again.stored.inserted, again.stored.updated),
        (2, 0, 23)
    );
    let other = block_on(id123::import(
        &client,
        &mut store,
        Some("no-such-template"),
        10,
    ))
    .unwrap();
    assert_eq!(other.stored.inserted, 0);

    let wrong = Id123Client::new(&f.server.url(), Secret::new("nope"), quick()).unwrap();
    let err = block_on(wrong.list_cards(None, 10, 0)).unwrap_err();
    assert!(matches!(err, Id123Error::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("nope"));
}

#[test]
fn base64_of_the_served_certificate_is_the_signer_certificate() {
    let f = fixture();
    let client = admin(&f.server.url(), USOS_CONSUMER_SECRET);
    let data =
        block_on(client.student_card_data(&CardLookup::Id("501".into()), Some(&["certificate"])))
            .unwrap();
    let served = data.certificate_der().unwrap().unwrap();
    let pem = std::fs::read_to_string(f.pki.path().join("cert.pem")).unwrap();
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    assert_eq!(
        served,
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    );
}
