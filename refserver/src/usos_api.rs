//! The reference USOS API (`/services/{module}/{method}`): the `cards`, `events2` and `phones`
//! methods the station uses, over demo data held in memory. Every request is checked as USOS
//! does: a known consumer (and token where the method acts for a user), HMAC-SHA1 signature,
//! timestamp within the window and a nonce used once. `student_card_data` signs a real ELS
//! structure for the card's chip with the server's signer.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use der::Encode;
use p256::ecdsa::SigningKey;
use serde_json::{Map, Value, json};
use time::{Date, Duration as Days, OffsetDateTime};
use x509_cert::Certificate;
use zeroize::Zeroizing;

use cardstation::card::els::WriteKey;
use cardstation::config::Secret;
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::crypto::els_sig::{self, Certificates, ElsData};
use cardstation::remote::oauth1;

/// The consumer the reference server knows (an administrative one).
pub const TEST_CONSUMER_KEY: &str = "cardstation-test-consumer";
pub const TEST_CONSUMER_SECRET: &str = "cardstation-test-consumer-secret";
/// The access token of the demo student (user 1001).
pub const TEST_TOKEN_KEY: &str = "cardstation-test-token";
pub const TEST_TOKEN_SECRET: &str = "cardstation-test-token-secret";
/// How far a request's timestamp may be from the server's clock, and how long nonces are kept.
pub const TIMESTAMP_WINDOW_SECS: u64 = 300;
/// Calls kept for tests; a long-running demo server forgets the oldest.
const MAX_KEPT_CALLS: usize = 10_000;
/// The system identifier the per-card write keys are diversified with (as `[els] system_id`).
const ELS_SYSTEM_ID: &[u8] = b"ELS";

/// What `student_card_data` signs with and derives write keys from.
pub struct UsosOptions {
    pub signer: Option<(SigningKey, Certificate)>,
    /// The `card_key` master; each card's write key is diversified from it and its chip UID.
    pub card_key: Option<(KeyAlgorithm, Zeroizing<Vec<u8>>)>,
    pub university: String,
}

impl Default for UsosOptions {
    fn default() -> Self {
        Self {
            signer: None,
            card_key: None,
            university: "Uniwersytet Testowy".into(),
        }
    }
}

/// A USOS error answer: `{"message", "error", "param_name"}`.
pub(super) struct UsosFailure {
    status: StatusCode,
    code: &'static str,
    message: String,
    param: Option<String>,
}

impl UsosFailure {
    fn auth(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code,
            message: message.into(),
            param: None,
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "object_not_found",
            message: message.into(),
            param: None,
        }
    }

    fn param(name: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "param_invalid",
            message: message.into(),
            param: Some(name.to_owned()),
        }
    }
}

impl IntoResponse for UsosFailure {
    fn into_response(self) -> Response {
        let mut body = json!({"message": self.message, "error": self.code});
        if let Some(param) = self.param {
            body["param_name"] = param.into();
        }
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    first_names: Vec<String>,
    last_name: String,
    pesel: String,
    album: String,
    phones: Vec<Value>,
}

#[derive(Debug, Clone)]
struct CardRecord {
    id: String,
    user_id: String,
    contact_uid: String,
    contactless_uid: Option<String>,
    barcode: String,
    card_type: &'static str,
    expires: Date,
    issued: Date,
    written: Option<Date>,
    /// Why the card may not be written (blocked, lost...), in Polish and English.
    refusal: Option<(String, String)>,
}

#[derive(Debug, Clone)]
struct Order {
    id: String,
    user_id: String,
    date: String,
    status: &'static str,
}

/// One method call the server accepted, for tests: method and its parameters without `oauth_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsosCall {
    pub method: String,
    pub params: BTreeMap<String, String>,
}

#[derive(Default)]
struct Data {
    users: Vec<User>,
    cards: Vec<CardRecord>,
    orders: Vec<Order>,
    notifications: Vec<Value>,
    calls: Vec<UsosCall>,
    refused_replays: u64,
    /// `mark_student_card_prolonged` calls that succeeded (card id, date prolonged).
    prolonged: Vec<(String, Date)>,
    /// Every `mark_student_card_prolonged` fails with HTTP 503 while set (a test's fault).
    fail_marks: bool,
}

pub(super) struct UsosState {
    consumer_secret: Secret,
    token_secret: Secret,
    nonces: Mutex<HashMap<String, u64>>,
    data: Mutex<Data>,
    options: UsosOptions,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl UsosState {
    pub(super) fn new(options: UsosOptions) -> Self {
        Self {
            consumer_secret: Secret::new(TEST_CONSUMER_SECRET),
            token_secret: Secret::new(TEST_TOKEN_SECRET),
            nonces: Mutex::new(HashMap::new()),
            data: Mutex::new(demo_data()),
            options,
        }
    }

    pub(super) fn calls(&self) -> Vec<UsosCall> {
        lock(&self.data).calls.clone()
    }

    pub(super) fn refused_replays(&self) -> u64 {
        lock(&self.data).refused_replays
    }

    pub(super) fn notifications(&self) -> Vec<Value> {
        lock(&self.data).notifications.clone()
    }

    pub(super) fn prolonged(&self) -> Vec<(String, Date)> {
        lock(&self.data).prolonged.clone()
    }

    pub(super) fn fail_marks(&self, fail: bool) {
        lock(&self.data).fail_marks = fail;
    }

    /// Sets a card's validity as the office would in USOS (a new semester sticker).
    pub(super) fn set_expiration(&self, contact_uid: &str, expires: Date) -> bool {
        let mut data = lock(&self.data);
        let found = data
            .cards
            .iter_mut()
            .find(|card| card.contact_uid.eq_ignore_ascii_case(contact_uid));
        found.map(|card| card.expires = expires).is_some()
    }

    /// Checks consumer, token, signature, timestamp and nonce; returns the token's user.
    fn authenticate(
        &self,
        method: &str,
        url: &str,
        params: &[(String, String)],
        needs_token: bool,
    ) -> Result<Option<String>, UsosFailure> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        match get("oauth_consumer_key") {
            Some(TEST_CONSUMER_KEY) => {}
            Some(_) => {
                return Err(UsosFailure::auth(
                    "invalid_consumer",
                    "unknown consumer key",
                ));
            }
            None => {
                return Err(UsosFailure::auth(
                    "invalid_consumer",
                    "this method requires OAuth consumer signing",
                ));
            }
        }
        if get("oauth_signature_method") != Some("HMAC-SHA1") {
            return Err(UsosFailure::auth(
                "invalid_signature_method",
                "only HMAC-SHA1 signatures are accepted",
            ));
        }
        let timestamp: u64 = get("oauth_timestamp")
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| UsosFailure::auth("invalid_timestamp", "oauth_timestamp missing"))?;
        let now = unix_now();
        if now.abs_diff(timestamp) > TIMESTAMP_WINDOW_SECS {
            return Err(UsosFailure::auth(
                "invalid_timestamp",
                format!(
                    "oauth_timestamp {timestamp} is more than {TIMESTAMP_WINDOW_SECS} s from the server clock ({now})"
                ),
            ));
        }
        let nonce = get("oauth_nonce")
            .filter(|nonce| !nonce.is_empty())
            .ok_or_else(|| UsosFailure::auth("invalid_nonce", "oauth_nonce missing"))?;
        let user = match get("oauth_token") {
            Some(TEST_TOKEN_KEY) => Some("1001".to_owned()),
            Some(_) => return Err(UsosFailure::auth("invalid_token", "unknown access token")),
            None if needs_token => {
                return Err(UsosFailure::auth(
                    "token_required",
                    "this method acts for a user: sign it with an access token",
                ));
            }
            None => None,
        };
        let token_secret = user.as_ref().map(|_| &self.token_secret);
        if !oauth1::verify(method, url, params, &self.consumer_secret, token_secret) {
            return Err(UsosFailure::auth(
                "invalid_signature",
                "the OAuth signature does not match the request (wrong consumer or token secret?)",
            ));
        }
        let mut nonces = lock(&self.nonces);
        nonces.retain(|_, seen| now.abs_diff(*seen) <= TIMESTAMP_WINDOW_SECS);
        let key = format!("{TEST_CONSUMER_KEY}\n{nonce}");
        if nonces.contains_key(&key) {
            drop(nonces);
            lock(&self.data).refused_replays += 1;
            return Err(UsosFailure::auth(
                "nonce_used",
                "this oauth_nonce was already used: a replayed request",
            ));
        }
        nonces.insert(key, timestamp);
        Ok(user)
    }
}

/// The demo installation: a student who may get a card written, one whose card is blocked,
/// a staff member; notification types and channels.
fn demo_data() -> Data {
    let today = today();
    let next_year = today + Days::days(365);
    let user = |id: &str, first: &[&str], last: &str, pesel: &str, album: &str| User {
        id: id.into(),
        first_names: first.iter().map(|name| (*name).to_owned()).collect(),
        last_name: last.into(),
        pesel: pesel.into(),
        album: album.into(),
        phones: vec![
            json!({"number": "+48 600 100 200", "comment": {"pl": "komórka", "en": "mobile"}, "type_id": "KOM"}),
        ],
    };
    Data {
        users: vec![
            user(
                "1001",
                &["Anna", "Maria"],
                "Żółkiewska",
                "02070803628",
                "123456",
            ),
            user("1002", &["Jan"], "Nowak", "44051401359", "654321"),
        ],
        cards: vec![
            CardRecord {
                id: "501".into(),
                user_id: "1001".into(),
                contact_uid: "04A1B2C3D4E5F6".into(),
                contactless_uid: Some("04A1B2C3D4E5F7".into()),
                barcode: "2900000123456".into(),
                card_type: "student",
                expires: next_year,
                issued: today,
                written: None,
                refusal: None,
            },
            CardRecord {
                id: "502".into(),
                user_id: "1002".into(),
                contact_uid: "04112233445566".into(),
                contactless_uid: None,
                barcode: "2900000654321".into(),
                card_type: "student",
                expires: next_year,
                issued: today,
                written: None,
                refusal: Some((
                    "Legitymacja jest zastrzeżona (zgłoszona jako zgubiona)".into(),
                    "The card is blocked (reported lost)".into(),
                )),
            },
        ],
        ..Data::default()
    }
}

fn event_types() -> Vec<Map<String, Value>> {
    [
        ("custom", "Powiadomienie", "Notification", true),
        ("card_ready", "Legitymacja gotowa", "Card ready", false),
    ]
    .iter()
    .map(|(id, pl, en, mandatory)| {
        object(json!({
            "id": id, "name": {"pl": pl, "en": en},
            "description": {"pl": format!("{pl} (USOS)"), "en": format!("{en} (USOS)")},
            "is_enabled": true, "is_mandatory": mandatory, "send_by_default": true,
            "default_message": null,
        }))
    })
    .collect()
}

fn channels() -> Vec<Map<String, Value>> {
    [("email", "E-mail", "E-mail"), ("mobile", "Aplikacja mobilna", "Mobile app")]
        .iter()
        .map(|(id, pl, en)| {
            object(json!({"id": id, "name": {"pl": pl, "en": en},
                          "description": {"pl": format!("Kanał: {pl}"), "en": format!("Channel: {en}")}}))
        })
        .collect()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Keeps the `fields` selector's fields (or `defaults`); a field the method lacks is refused.
fn select(
    full: Map<String, Value>,
    fields: Option<&str>,
    defaults: &str,
    available: &[&str],
) -> Result<Value, UsosFailure> {
    let wanted = fields.filter(|text| !text.is_empty()).unwrap_or(defaults);
    let mut out = Map::new();
    for field in wanted.split('|') {
        if !available.contains(&field) {
            return Err(UsosFailure::param(
                "fields",
                format!(
                    "unknown field {field:?}; available: {}",
                    available.join("|")
                ),
            ));
        }
        out.insert(
            field.into(),
            full.get(field).cloned().unwrap_or(Value::Null),
        );
    }
    Ok(Value::Object(out))
}

const CARD_FIELDS: &[&str] = &[
    "user",
    "id",
    "contact_chip_uid",
    "contactless_chip_uid",
    "barcode_number",
    "type",
    "expiration_date",
    "date_of_issue",
    "student_number",
];
const CARD_DEFAULT: &str = "id|user|contact_chip_uid|contactless_chip_uid|barcode_number|type|expiration_date|date_of_issue|student_number";
const DATA_FIELDS: &[&str] = &[
    "certificate",
    "system_key",
    "card_key",
    "structure",
    "expiration_date",
    "date_of_write",
    "student_number",
    "can_be_written",
    "card",
    "why_cannot_write",
];
const DATA_DEFAULT: &str = "certificate|system_key|card_key|structure|expiration_date|date_of_write|student_number|can_be_written|card";
const ORDER_FIELDS: &[&str] = &[
    "id",
    "order_date",
    "status",
    "token",
    "distribution_pass",
    "student_number",
    "expiration_date",
];
const ORDER_DEFAULT: &str =
    "id|order_date|status|token|distribution_pass|student_number|expiration_date";
const EVENT_TYPE_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "is_enabled",
    "is_mandatory",
    "send_by_default",
    "default_message",
];
const EVENT_TYPE_DEFAULT: &str = "id|name|description|is_enabled|is_mandatory|send_by_default";

/// A request's parameters without the OAuth ones, by name.
struct Params(BTreeMap<String, String>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, UsosFailure> {
        self.get(name)
            .ok_or_else(|| UsosFailure::param(name, format!("{name} is required")))
    }

    fn fields(&self) -> Option<&str> {
        self.get("fields")
    }
}

fn card_json(data: &Data, card: &CardRecord) -> Map<String, Value> {
    let user = data.users.iter().find(|user| user.id == card.user_id);
    let album = user.map(|user| user.album.clone());
    object(json!({
        "id": card.id,
        "user": user.map(|user| json!({"id": user.id, "first_name": user.first_names.join(" "),
                                       "last_name": user.last_name})),
        "contact_chip_uid": card.contact_uid,
        "contactless_chip_uid": card.contactless_uid,
        "barcode_number": card.barcode,
        "type": card.card_type,
        "expiration_date": card.expires.to_string(),
        "date_of_issue": card.issued.to_string(),
        "student_number": album,
    }))
}

/// The one card `params` name (`id`, a chip UID or the barcode).
fn find_card<'a>(
    data: &'a Data,
    params: &Params,
    keys: &[&str],
) -> Result<&'a CardRecord, UsosFailure> {
    let given: Vec<(&str, &str)> = keys
        .iter()
        .filter_map(|key| params.get(key).map(|value| (*key, value)))
        .collect();
    let [(key, value)] = given[..] else {
        return Err(UsosFailure::param(
            keys[0],
            format!("give exactly one of: {}", keys.join(", ")),
        ));
    };
    data.cards
        .iter()
        .find(|card| match key {
            "id" => card.id == value,
            "contact_chip_uid" => card.contact_uid.eq_ignore_ascii_case(value),
            "contactless_chip_uid" => card
                .contactless_uid
                .as_deref()
                .is_some_and(|uid| uid.eq_ignore_ascii_case(value)),
            _ => card.barcode == value,
        })
        .ok_or_else(|| UsosFailure::not_found(format!("no card with {key} {value}")))
}

impl UsosState {
    fn student_card_data(
        &self,
        data: &Data,
        card: &CardRecord,
        fields: Option<&str>,
    ) -> Result<Value, UsosFailure> {
        let wanted = fields.unwrap_or(DATA_DEFAULT);
        let user = data
            .users
            .iter()
            .find(|user| user.id == card.user_id)
            .ok_or_else(|| UsosFailure::not_found(format!("card {} has no user", card.id)))?;
        let mut full = object(json!({
            "expiration_date": card.expires.to_string(),
            "date_of_write": card.written.map(|date| date.to_string()),
            "student_number": user.album,
            "can_be_written": card.refusal.is_none(),
            "card": card_json(data, card),
            "why_cannot_write": card.refusal.as_ref().map(|(pl, en)| json!({"pl": pl, "en": en})),
            "system_key": null,
        }));
        let wants = |field: &str| wanted.split('|').any(|item| item == field);
        if card.refusal.is_none() && (wants("structure") || wants("certificate")) {
            let (key, certificate) = self.options.signer.as_ref().ok_or_else(|| UsosFailure {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "no_signer",
                message: "this reference server has no ELS signer: start it with --usos-signer-key and --usos-signer-cert".into(),
                param: None,
            })?;
            let els = ElsData {
                chip_serial: card.contact_uid.to_ascii_uppercase(),
                university: self.options.university.clone(),
                surnames: vec![user.last_name.clone()],
                given_names: user.first_names.clone(),
                album_number: user.album.clone(),
                edition: "A".into(),
                pesel: user.pesel.clone(),
                expires: card.expires,
            };
            let structure = els_sig::sign(&els, key, certificate, Certificates::InEfCert, today())
                .map_err(|err| UsosFailure {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "internal_error",
                    message: format!("cannot sign the structure: {err}"),
                    param: None,
                })?;
            full.insert("structure".into(), BASE64.encode(structure).into());
            let der = certificate.to_der().unwrap_or_default();
            full.insert("certificate".into(), BASE64.encode(der).into());
        }
        if card.refusal.is_none()
            && let Some((algorithm, master)) = &self.options.card_key
        {
            let uid = hex::decode(&card.contact_uid).unwrap_or_default();
            let key =
                WriteKey::diversified(*algorithm, master, &uid, ELS_SYSTEM_ID).map_err(|err| {
                    UsosFailure {
                        status: StatusCode::INTERNAL_SERVER_ERROR,
                        code: "internal_error",
                        message: format!("cannot derive the card key: {err}"),
                        param: None,
                    }
                })?;
            full.insert("card_key".into(), hex::encode_upper(key.expose()).into());
        }
        let refusal = full.get("why_cannot_write").cloned();
        let mut answer = select(full, fields, DATA_DEFAULT, DATA_FIELDS)?;
        // This server's extension: a refusal always says why, whatever the selector asked.
        if card.refusal.is_some()
            && let (Value::Object(answer), Some(reason)) = (&mut answer, refusal)
        {
            answer.insert("why_cannot_write".into(), reason);
        }
        Ok(answer)
    }

    fn order_json(order: &Order, user: Option<&User>, expires: Option<Date>) -> Map<String, Value> {
        let ready = order.status == "ready_to_receive";
        object(json!({
            "id": order.id, "order_date": order.date, "status": order.status,
            "token": ready.then(|| format!("mobywatel-{}", order.id)),
            "distribution_pass": ready.then(|| format!("pass-{}", order.id)),
            "student_number": user.map(|user| user.album.clone()),
            "expiration_date": expires.map(|date| date.to_string()),
        }))
    }

    /// Handles one authenticated call.
    fn handle(
        &self,
        name: &str,
        user_id: Option<&str>,
        params: &Params,
    ) -> Result<Value, UsosFailure> {
        let mut data = lock(&self.data);
        let data = &mut *data;
        let user_expires = |data: &Data| {
            data.cards
                .iter()
                .find(|card| Some(card.user_id.as_str()) == user_id)
                .map(|card| card.expires)
        };
        let token_user = || {
            user_id.ok_or_else(|| {
                UsosFailure::auth(
                    "token_required",
                    "this method acts for a user: sign it with an access token",
                )
            })
        };
        match name {
            "cards/card" => {
                let card = find_card(
                    data,
                    params,
                    &["contact_chip_uid", "contactless_chip_uid", "barcode_number"],
                )?;
                select(
                    card_json(data, card),
                    params.fields(),
                    CARD_DEFAULT,
                    CARD_FIELDS,
                )
            }
            "cards/user" => {
                let user = token_user()?;
                data.cards
                    .iter()
                    .filter(|card| card.user_id == user)
                    .map(|card| {
                        select(
                            card_json(data, card),
                            params.fields(),
                            CARD_DEFAULT,
                            CARD_FIELDS,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            "cards/user_cards" => {
                let user = token_user()?;
                data.cards
                    .iter()
                    .filter(|card| card.user_id == user)
                    .map(|card| self.student_card_data(data, card, params.fields()))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            "cards/student_card_data" => {
                let card = find_card(
                    data,
                    params,
                    &[
                        "id",
                        "contact_chip_uid",
                        "contactless_chip_uid",
                        "barcode_number",
                    ],
                )?;
                self.student_card_data(data, card, params.fields())
            }
            "cards/mark_student_card_prolonged" => {
                if data.fail_marks {
                    return Err(UsosFailure {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        code: "service_unavailable",
                        message: "USOS is down for maintenance (injected fault)".into(),
                        param: None,
                    });
                }
                let date = params.required("date_prolonged")?;
                let date = Date::parse(
                    date,
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .map_err(|_| {
                    UsosFailure::param("date_prolonged", format!("{date:?} is not YYYY-MM-DD"))
                })?;
                let id = find_card(
                    data,
                    params,
                    &[
                        "id",
                        "contact_chip_uid",
                        "contactless_chip_uid",
                        "barcode_number",
                    ],
                )?
                .id
                .clone();
                if let Some(card) = data.cards.iter_mut().find(|card| card.id == id) {
                    card.written = Some(date);
                }
                data.prolonged.push((id, date));
                Ok(json!({}))
            }
            "cards/check_orders_status" => Ok(json!({})),
            "cards/mcard" => {
                let user = token_user()?.to_owned();
                let expires = user_expires(data);
                let person = data.users.iter().find(|candidate| candidate.id == user);
                let orders: Vec<Value> = data
                    .orders
                    .iter()
                    .filter(|order| order.user_id == user)
                    .map(|order| Value::Object(Self::order_json(order, person, expires)))
                    .collect();
                let active = data
                    .orders
                    .iter()
                    .any(|order| order.user_id == user && order.status != "revoked");
                let full = object(json!({
                    "why_cannot_order": active.then(|| json!({"pl": "Zamówienie już złożono", "en": "An order was already made"})),
                    "why_cannot_revoke": (!active).then(|| json!({"pl": "Brak zamówienia", "en": "There is no order"})),
                    "orders": orders,
                }));
                select(
                    full,
                    params.fields(),
                    "why_cannot_order|why_cannot_revoke|orders",
                    &["why_cannot_order", "why_cannot_revoke", "orders"],
                )
            }
            "cards/mcard_order" => {
                let user = token_user()?.to_owned();
                let id = params.required("order_id")?;
                let expires = user_expires(data);
                let order = data
                    .orders
                    .iter()
                    .find(|order| order.id == id && order.user_id == user)
                    .ok_or_else(|| UsosFailure::not_found(format!("no mcard order {id}")))?;
                let person = data.users.iter().find(|candidate| candidate.id == user);
                select(
                    Self::order_json(order, person, expires),
                    params.fields(),
                    ORDER_DEFAULT,
                    ORDER_FIELDS,
                )
            }
            "cards/make_mcard_order" => {
                let user = token_user()?.to_owned();
                if data
                    .orders
                    .iter()
                    .any(|order| order.user_id == user && order.status != "revoked")
                {
                    return Ok(json!({"success": false}));
                }
                let id = (data.orders.len() + 1).to_string();
                data.orders.push(Order {
                    id,
                    user_id: user,
                    date: OffsetDateTime::now_utc().date().to_string(),
                    status: "pending",
                });
                Ok(json!({"success": true}))
            }
            "cards/revoke_mcard" => {
                let user = token_user()?.to_owned();
                let id = params.required("order_id")?;
                let order = data
                    .orders
                    .iter_mut()
                    .find(|order| order.id == id && order.user_id == user)
                    .ok_or_else(|| UsosFailure::not_found(format!("no mcard order {id}")))?;
                order.status = "revoked";
                Ok(json!({"success": true}))
            }
            "events2/send_notification" => {
                let message_pl = params.required("message_pl")?;
                let users: Vec<String> = match (params.get("user_id"), params.get("user_ids")) {
                    (Some(_), Some(_)) => {
                        return Err(UsosFailure::param(
                            "user_ids",
                            "user_id and user_ids cannot be used together",
                        ));
                    }
                    (Some(id), None) => vec![id.to_owned()],
                    (None, Some(ids)) => ids.split('|').map(str::to_owned).collect(),
                    (None, None) => {
                        return Err(UsosFailure::param(
                            "user_id",
                            "user_id or user_ids is required",
                        ));
                    }
                };
                for user in &users {
                    if !data.users.iter().any(|known| &known.id == user) {
                        return Err(UsosFailure::not_found(format!("no user {user}")));
                    }
                }
                let event_type = params.get("event_type_id").unwrap_or("custom");
                if !event_types().iter().any(|known| known["id"] == event_type) {
                    return Err(UsosFailure::not_found(format!(
                        "no event type {event_type}"
                    )));
                }
                data.notifications.push(json!({
                    "user_ids": users, "message_pl": message_pl,
                    "message_en": params.get("message_en"), "event_type_id": event_type,
                }));
                Ok(json!({}))
            }
            "events2/event_type" => {
                let id = params.required("id")?;
                let found = event_types()
                    .into_iter()
                    .find(|known| known["id"] == id)
                    .ok_or_else(|| UsosFailure::not_found(format!("no event type {id}")))?;
                select(
                    found,
                    params.fields(),
                    EVENT_TYPE_DEFAULT,
                    EVENT_TYPE_FIELDS,
                )
            }
            "events2/event_types_index" => event_types()
                .into_iter()
                .map(|known| {
                    select(
                        known,
                        params.fields(),
                        EVENT_TYPE_DEFAULT,
                        EVENT_TYPE_FIELDS,
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            "events2/notification_channels_index" => channels()
                .into_iter()
                .map(|channel| {
                    select(
                        channel,
                        params.fields(),
                        "id|name|description",
                        &["id", "name", "description"],
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            "events2/distribution_channel" => {
                let id = params.required("id")?;
                let channel = channels()
                    .into_iter()
                    .find(|channel| channel["id"] == id)
                    .ok_or_else(|| UsosFailure::not_found(format!("no channel {id}")))?;
                select(
                    channel,
                    params.fields(),
                    "id|name",
                    &["id", "name", "description"],
                )
            }
            "events2/event_channel" => {
                let event_type_id = params.required("event_type_id")?;
                let channel_id = params.required("channel_id")?;
                let event_type = event_types()
                    .into_iter()
                    .find(|known| known["id"] == event_type_id)
                    .ok_or_else(|| {
                        UsosFailure::not_found(format!("no event type {event_type_id}"))
                    })?;
                let channel = channels()
                    .into_iter()
                    .find(|channel| channel["id"] == channel_id)
                    .ok_or_else(|| UsosFailure::not_found(format!("no channel {channel_id}")))?;
                let full = object(json!({
                    "id": format!("{event_type_id}:{channel_id}"),
                    "channel": channel,
                    "event_type": event_type,
                    "is_enabled": true,
                    "is_mandatory": event_type["is_mandatory"],
                    "send_by_default": true,
                    "user_preferences": [],
                }));
                select(
                    full,
                    params.fields(),
                    "id|channel|event_type|is_enabled|is_mandatory|send_by_default|user_preferences",
                    &[
                        "id",
                        "channel",
                        "event_type",
                        "is_enabled",
                        "is_mandatory",
                        "send_by_default",
                        "user_preferences",
                    ],
                )
            }
            "phones/select" => {
                let ids = params.get("user_ids").ok_or_else(|| {
                    UsosFailure::param("user_ids", "give at least one of fac_ids, user_ids, building_ids, dorm_ids (this server keeps users' numbers only)")
                })?;
                let mut out = Map::new();
                for id in ids.split('|') {
                    let phones = data
                        .users
                        .iter()
                        .find(|user| user.id == id)
                        .map(|user| user.phones.clone())
                        .unwrap_or_default();
                    let selected = phones
                        .into_iter()
                        .map(|phone| {
                            select(
                                object(phone),
                                params.fields(),
                                "number|comment",
                                &["number", "comment", "type_id"],
                            )
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    out.insert(id.to_owned(), Value::Array(selected));
                }
                Ok(Value::Object(out))
            }
            "phones/replace" => {
                let user_id = params.required("user_id")?;
                let list: Vec<Value> =
                    serde_json::from_str(params.required("data")?).map_err(|err| {
                        UsosFailure::param("data", format!("data is not a JSON list: {err}"))
                    })?;
                let mut phones = Vec::with_capacity(list.len());
                for (index, entry) in list.into_iter().enumerate() {
                    let number = entry
                        .get("number")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let valid = !number.trim().is_empty()
                        && number
                            .chars()
                            .all(|c| c.is_ascii_digit() || " +-()".contains(c));
                    if !valid || entry.get("comment").is_none() {
                        return Err(UsosFailure::param(
                            "data",
                            format!(
                                "entry {index}: number must be digits, spaces, + - ( ) and comment is required; nothing was saved"
                            ),
                        ));
                    }
                    // Only the Polish part of the comment is stored.
                    let comment = entry["comment"].get("pl").cloned().unwrap_or(Value::Null);
                    phones.push(json!({"number": number, "comment": {"pl": comment, "en": null},
                                       "type_id": entry.get("type_id").cloned().unwrap_or_else(|| "KOM".into())}));
                }
                let user = data
                    .users
                    .iter_mut()
                    .find(|user| user.id == user_id)
                    .ok_or_else(|| UsosFailure::not_found(format!("no user {user_id}")))?;
                user.phones = phones;
                Ok(json!({"success": true}))
            }
            _ => Err(UsosFailure {
                status: StatusCode::BAD_REQUEST,
                code: "method_not_found",
                message: format!("this reference server has no method services/{name}"),
                param: None,
            }),
        }
    }
}

/// Methods that act for a user and need an access token.
const TOKEN_METHODS: &[&str] = &[
    "cards/user",
    "cards/user_cards",
    "cards/mcard",
    "cards/mcard_order",
    "cards/make_mcard_order",
    "cards/revoke_mcard",
];

async fn call(
    State(state): State<Arc<UsosState>>,
    UrlPath((module, method)): UrlPath<(String, String)>,
    http_method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    let url = format!("http://{host}/services/{module}/{method}");
    let name = format!("{module}/{method}");
    let user = match state.authenticate(
        http_method.as_str(),
        &url,
        &params,
        TOKEN_METHODS.contains(&name.as_str()),
    ) {
        Ok(user) => user,
        Err(failure) => return failure.into_response(),
    };
    let params = Params(
        params
            .into_iter()
            .filter(|(key, _)| !key.starts_with("oauth_"))
            .collect(),
    );
    {
        let mut data = lock(&state.data);
        if data.calls.len() >= MAX_KEPT_CALLS {
            data.calls.remove(0);
        }
        data.calls.push(UsosCall {
            method: name.clone(),
            params: params.0.clone(),
        });
    }
    match state.handle(&name, user.as_deref(), &params) {
        Ok(answer) => (StatusCode::OK, axum::Json(answer)).into_response(),
        Err(failure) => failure.into_response(),
    }
}

pub(super) fn router(state: Arc<UsosState>) -> Router {
    Router::new()
        .route("/services/{module}/{method}", any(call))
        .with_state(state)
}
