//! The reference CardExchange Cloud v1 server (`cardstation-refserver`): the documented subset for
//! persons, addresses, anonymous sets, cardholders, cards and productions over its own SQLite file, with
//! `sk_test_` keys, page/per_page lists with `X-Total-Count` and `Link`, `q=` search,
//! problem+json errors and seeded fault injection; beside it the USOS API (`usos_api`) and
//! ID123 `list-cards` (`id123_api`). For tests and the demo only.

mod id123_api;
mod usos_api;

pub use id123_api::{DEMO_TEMPLATE_ID as ID123_DEMO_TEMPLATE, TEST_API_KEY as ID123_TEST_KEY};
pub use usos_api::{
    TEST_CONSUMER_KEY as USOS_CONSUMER_KEY, TEST_CONSUMER_SECRET as USOS_CONSUMER_SECRET,
    TEST_TOKEN_KEY as USOS_TOKEN_KEY, TEST_TOKEN_SECRET as USOS_TOKEN_SECRET,
    TIMESTAMP_WINDOW_SECS as USOS_TIMESTAMP_WINDOW_SECS, UsosCall, UsosOptions,
};

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::oneshot;
use uuid::Uuid;

const MAX_PER_PAGE: u32 = 100;
const DEFAULT_PER_PAGE: u32 = 15;
/// Largest body the truncation fault reads back before cutting it.
const MAX_BODY: usize = 64 << 20;

/// ServerFaults injected into authenticated requests, drawn from a seeded RNG so runs repeat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerFaults {
    /// Share of requests answered 503 before they are handled.
    pub error_rate: f64,
    /// Every Nth request is answered 429 with `Retry-After: 1`.
    pub too_many_every: Option<u64>,
    /// The 429's `Retry-After` in seconds instead of 1 (0: come back at once, so a long
    /// test can meet many 429s without waiting a second for each).
    pub retry_after_s: Option<u64>,
    /// Added to every request.
    pub delay: Duration,
    /// How long a create takes; it is made even if the client is gone by then.
    pub create_delay: Duration,
    /// Share of responses whose body is cut in half after the request was handled.
    pub truncate_rate: f64,
    /// Every request after the first N (counted from the start, or from `set_faults`) is
    /// answered 503: a server that dies in the middle of a sync.
    pub fail_after: Option<u64>,
    /// Injected errors (503, the outage) come as a proxy's HTML page instead of problem+json.
    pub html_errors: bool,
    /// Every answer is replaced by this many bytes of JSON white space, streamed (never held
    /// in memory), with its `Content-Length`.
    pub huge_body: Option<u64>,
    /// As `huge_body`, without `Content-Length` (chunked): the client finds out by reading.
    pub huge_body_unsized: Option<u64>,
    pub seed: u64,
}

impl FromStr for ServerFaults {
    type Err = String;

    /// `error_rate=0.1,429_every=7,retry_after_s=0,delay_ms=20,create_delay_ms=300,truncate_rate=0.05,fail_after=50,seed=3`,
    /// `html_errors=true`, `huge_body=BYTES`, `huge_body_unsized=BYTES`; all optional.
    fn from_str(spec: &str) -> Result<Self, String> {
        let mut faults = ServerFaults::default();
        for item in spec
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not name=value"))?;
            let bad = || format!("{name}: {value:?} is not a number");
            match name {
                "error_rate" => faults.error_rate = value.parse().map_err(|_| bad())?,
                "truncate_rate" => faults.truncate_rate = value.parse().map_err(|_| bad())?,
                "429_every" => faults.too_many_every = Some(value.parse().map_err(|_| bad())?),
                "retry_after_s" => faults.retry_after_s = Some(value.parse().map_err(|_| bad())?),
                "delay_ms" => {
                    faults.delay = Duration::from_millis(value.parse().map_err(|_| bad())?)
                }
                "create_delay_ms" => {
                    faults.create_delay = Duration::from_millis(value.parse().map_err(|_| bad())?)
                }
                "fail_after" => faults.fail_after = Some(value.parse().map_err(|_| bad())?),
                "html_errors" => faults.html_errors = value.parse().map_err(|_| bad())?,
                "huge_body" => faults.huge_body = Some(value.parse().map_err(|_| bad())?),
                "huge_body_unsized" => {
                    faults.huge_body_unsized = Some(value.parse().map_err(|_| bad())?)
                }
                "seed" => faults.seed = value.parse().map_err(|_| bad())?,
                _ => {
                    return Err(format!(
                        "unknown fault {name:?} (known: error_rate, 429_every, retry_after_s, delay_ms, create_delay_ms, truncate_rate, fail_after, html_errors, huge_body, huge_body_unsized, seed)"
                    ));
                }
            }
        }
        for (name, rate) in [
            ("error_rate", faults.error_rate),
            ("truncate_rate", faults.truncate_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if faults.too_many_every == Some(0) {
            return Err("429_every must be at least 1".into());
        }
        Ok(faults)
    }
}

/// The resources this server knows, by URL segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Persons,
    Addresses,
    Cardholders,
    Cards,
    Productions,
    AnonymousSets,
}

impl Kind {
    fn parse(segment: &str) -> Option<Kind> {
        Some(match segment {
            "persons" => Kind::Persons,
            "addresses" => Kind::Addresses,
            "cardholders" => Kind::Cardholders,
            "cards" => Kind::Cards,
            "productions" => Kind::Productions,
            "anonymous-sets" => Kind::AnonymousSets,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Persons => "persons",
            Kind::Addresses => "addresses",
            Kind::Cardholders => "cardholders",
            Kind::Cards => "cards",
            Kind::Productions => "productions",
            Kind::AnonymousSets => "anonymous-sets",
        }
    }

    fn required_on_create(self) -> &'static [&'static str] {
        match self {
            Kind::Persons => &["firstName", "lastName", "birthDate"],
            Kind::Addresses => &[
                "person",
                "type",
                "streetAddress",
                "locality",
                "region",
                "postalCode",
                "country",
            ],
            Kind::Cardholders => &["profile"],
            Kind::Cards => &["cardholder"],
            Kind::Productions => &[],
            Kind::AnonymousSets => &["profile", "defaultName", "quantity"],
        }
    }
}

const CARD_STATUSES: &[&str] = &[
    "initialized",
    "in_production",
    "personalized",
    "withdrawn",
    "activated",
    "blocked",
    "expired",
    "blacklisted",
    "issued",
    "returned",
    "destroyed",
    "bulk_blocked",
    "linked",
    "unlinked",
];
const HOLDER_STATUSES: &[&str] = &[
    "activated",
    "blocked",
    "expired",
    "blacklisted",
    "linked",
    "unlinked",
];
const PERSON_STATUSES: &[&str] = &[
    "none",
    "activated",
    "blocked",
    "expired",
    "blacklisted",
    "linked",
    "unlinked",
];

/// An error answered as `application/problem+json`.
#[derive(Debug)]
struct ProblemDocument {
    status: StatusCode,
    detail: String,
    errors: Map<String, Value>,
}

impl ProblemDocument {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: Map::new(),
        }
    }

    fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut problem = Self::new(StatusCode::BAD_REQUEST, message.clone());
        problem.errors.insert(field.into(), json!([message]));
        problem
    }

    fn not_found(kind: Kind, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("no {} with id {id}", kind.name()),
        )
    }
}

impl From<rusqlite::Error> for ProblemDocument {
    fn from(err: rusqlite::Error) -> Self {
        ProblemDocument::new(StatusCode::INTERNAL_SERVER_ERROR, format!("storage: {err}"))
    }
}

impl IntoResponse for ProblemDocument {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "errors": self.errors,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// The server's connection with the unfiltered lists' row order, so a page is found by
/// position instead of an `OFFSET` that walks every row before it (quadratic over a full
/// listing: at 100k objects it, not the network, bounded a concurrent pull).
struct ServerData {
    conn: Connection,
    /// `seq`s of each resource in list order, valid while the connection's
    /// `total_changes()` is the one recorded (every write goes through this connection).
    positions: HashMap<&'static str, (u64, Arc<Vec<i64>>)>,
}

impl ServerData {
    fn positions(&mut self, kind: Kind) -> rusqlite::Result<Arc<Vec<i64>>> {
        let changes = self.conn.total_changes();
        if let Some((seen, seqs)) = self.positions.get(kind.name())
            && *seen == changes
        {
            return Ok(seqs.clone());
        }
        let seqs: Vec<i64> = self
            .conn
            .prepare_cached("SELECT seq FROM objects WHERE resource = ?1 ORDER BY seq")?
            .query_map([kind.name()], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let seqs = Arc::new(seqs);
        self.positions.insert(kind.name(), (changes, seqs.clone()));
        Ok(seqs)
    }
}

impl std::ops::Deref for ServerData {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for ServerData {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

struct ServerState {
    db: Mutex<ServerData>,
    faults: Mutex<ServerFaults>,
    rng: Mutex<StdRng>,
    requests: AtomicU64,
}

impl ServerState {
    fn db(&self) -> MutexGuard<'_, ServerData> {
        // A handler that panicked left no half-written transaction (rusqlite rolls back on
        // drop), so the connection is still usable.
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn faults(&self) -> ServerFaults {
        self.faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn roll(&self, rate: f64) -> bool {
        rate > 0.0
            && self
                .rng
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .gen_bool(rate)
    }
}

/// The server's data: one table of JSON documents, in creation order.
fn open_db(path: Option<&Path>) -> rusqlite::Result<Connection> {
    let conn = match path {
        Some(path) => Connection::open(path)?,
        None => Connection::open_in_memory()?,
    };
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS objects (
             seq      INTEGER PRIMARY KEY,
             resource TEXT NOT NULL,
             id       TEXT NOT NULL UNIQUE,
             body     TEXT NOT NULL CHECK (json_valid(body))
         );
         CREATE INDEX IF NOT EXISTS objects_resource ON objects (resource, seq);
         -- A card's production is looked up on every card change.
         CREATE INDEX IF NOT EXISTS objects_production_card ON objects (json_extract(body, '$.card'))
             WHERE resource = 'productions';",
    )?;
    Ok(conn)
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

fn load(
    conn: &Connection,
    kind: Kind,
    id: &str,
) -> Result<Option<Map<String, Value>>, ProblemDocument> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM objects WHERE resource = ?1 AND id = ?2")?
        .query_row((kind.name(), id), |row| row.get(0))
        .optional()?;
    Ok(body.and_then(|body| match serde_json::from_str(&body) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }))
}

const INSERT_OBJECT: &str = "INSERT INTO objects (resource, id, body) VALUES (?1, ?2, ?3)";
const UPDATE_OBJECT: &str = "UPDATE objects SET body = ?3 WHERE resource = ?1 AND id = ?2";

/// Runs `sql` with the object's resource, id and body as ?1, ?2 and ?3.
fn write(
    conn: &Connection,
    sql: &str,
    kind: Kind,
    object: &Map<String, Value>,
) -> Result<(), ProblemDocument> {
    let id = object.get("id").and_then(Value::as_str).unwrap_or_default();
    conn.prepare_cached(sql)?.execute((
        kind.name(),
        id,
        Value::Object(object.clone()).to_string(),
    ))?;
    Ok(())
}

/// Checks field types and references of a create or update body.
fn validate(
    conn: &Connection,
    kind: Kind,
    fields: &Map<String, Value>,
) -> Result<(), ProblemDocument> {
    if let Some(metadata) = fields.get("metadata")
        && !metadata.is_object()
    {
        return Err(ProblemDocument::field(
            "metadata",
            "metadata must be an object",
        ));
    }
    let statuses = match kind {
        Kind::Cards => CARD_STATUSES,
        Kind::Cardholders => HOLDER_STATUSES,
        Kind::Persons => PERSON_STATUSES,
        _ => &[],
    };
    if let Some(status) = fields.get("status").filter(|status| !status.is_null()) {
        let known = status.as_str().is_some_and(|text| statuses.contains(&text));
        if !known {
            return Err(ProblemDocument::field(
                "status",
                format!("status must be one of: {}", statuses.join(", ")),
            ));
        }
    }
    for (field, nullable) in [("birthDate", false), ("endDate", true)] {
        let Some(value) = fields.get(field) else {
            continue;
        };
        let valid = (nullable && value.is_null())
            || value.as_str().is_some_and(|text| {
                time::Date::parse(
                    text,
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .is_ok()
            });
        if !valid {
            return Err(ProblemDocument::field(
                field,
                format!("{field} must be YYYY-MM-DD"),
            ));
        }
    }
    if kind == Kind::Persons
        && let Some(photo) = fields.get("photo").filter(|photo| !photo.is_null())
    {
        // The station's own checks (README "Photos"): base64 of a JPEG or PNG of at most
        // 1 MiB with a sane size in pixels.
        use cardstation::render::portrait;
        let checked = photo
            .as_str()
            .ok_or(portrait::PhotoError::NotBase64)
            .and_then(portrait::from_base64)
            .and_then(|image| portrait::check_stored(&image));
        if let Err(err) = checked {
            return Err(ProblemDocument::field("photo", err.to_string()));
        }
    }
    for (field, target) in [("person", Kind::Persons), ("cardholder", Kind::Cardholders)] {
        if let Some(reference) = fields.get(field).filter(|value| !value.is_null()) {
            let exists = match reference.as_str() {
                Some(id) => load(conn, target, id)?.is_some(),
                None => false,
            };
            if !exists {
                return Err(ProblemDocument::field(
                    field,
                    format!("no {} {reference}", target.name()),
                ));
            }
        }
    }
    Ok(())
}

fn json_body(body: &str) -> Result<Map<String, Value>, ProblemDocument> {
    match serde_json::from_str(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(ProblemDocument::new(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        )),
        Err(err) => Err(ProblemDocument::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {err}"),
        )),
    }
}

fn kind_of(segment: &str) -> Result<Kind, ProblemDocument> {
    Kind::parse(segment).ok_or_else(|| {
        ProblemDocument::new(StatusCode::NOT_FOUND, format!("no resource {segment:?}"))
    })
}

fn ok_json(object: Map<String, Value>) -> Response {
    (StatusCode::OK, axum::Json(Value::Object(object))).into_response()
}

/// Creates a production when a card enters `in_production`, removes it when it leaves.
fn follow_production(conn: &Connection, card: &Map<String, Value>) -> Result<(), ProblemDocument> {
    let card_id = card.get("id").and_then(Value::as_str).unwrap_or_default();
    let existing: Option<String> = conn
        .prepare_cached(
            "SELECT id FROM objects WHERE resource = 'productions'
             AND json_extract(body, '$.card') = ?1",
        )?
        .query_row([card_id], |row| row.get(0))
        .optional()?;
    let in_production = card.get("status").and_then(Value::as_str) == Some("in_production");
    match (in_production, existing) {
        (true, None) => {
            let holder = card
                .get("cardholder")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let person = load(conn, Kind::Cardholders, holder)?
                .and_then(|holder| holder.get("person").cloned())
                .unwrap_or(Value::Null);
            let production = json!({
                "id": Uuid::new_v4().to_string(),
                "person": person,
                "cardholder": holder,
                "card": card_id,
                "nameOnCard": null,
                "chipserialNumber": card.get("chipserialNumber"),
                "userName": null,
                "exported": false,
                "printedOn": null,
                "numberOfTries": 0,
            });
            if let Value::Object(production) = production {
                write(conn, INSERT_OBJECT, Kind::Productions, &production)?;
            }
        }
        (false, Some(id)) => {
            conn.prepare_cached("DELETE FROM objects WHERE resource = 'productions' AND id = ?1")?
                .execute([id])?;
        }
        _ => {}
    }
    Ok(())
}

fn create_object(
    conn: &Connection,
    kind: Kind,
    fields: Map<String, Value>,
) -> Result<Map<String, Value>, ProblemDocument> {
    if kind == Kind::Productions {
        return Err(ProblemDocument::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "productions are created when a card enters in_production",
        ));
    }
    for field in kind.required_on_create() {
        if fields
            .get(*field)
            .is_none_or(|value| value.is_null() || value.as_str() == Some(""))
        {
            return Err(ProblemDocument::field(
                field,
                format!("{field} is required"),
            ));
        }
    }
    validate(conn, kind, &fields)?;
    let mut object = fields;
    let id = Uuid::new_v4().to_string();
    object.insert("id".into(), id.clone().into());
    object.insert("created".into(), now().into());
    object.entry("metadata").or_insert_with(|| json!({}));
    let seq: i64 = conn.query_row("SELECT coalesce(max(seq), 0) + 1 FROM objects", [], |row| {
        row.get(0)
    })?;
    match kind {
        Kind::Persons => {
            object
                .entry("personNumber")
                .or_insert_with(|| format!("CX{seq:08}").into());
            object.entry("status").or_insert_with(|| "none".into());
        }
        Kind::Cardholders => {
            object
                .entry("profileNumber")
                .or_insert_with(|| format!("H{seq:08}").into());
            object.entry("status").or_insert_with(|| "activated".into());
        }
        Kind::Cards => {
            // Digits only, as card offices number their cards: the DESFire record the print
            // station writes carries the number as an integer.
            object
                .entry("cardNumber")
                .or_insert_with(|| format!("{}", 10_000_000 + seq).into());
            object
                .entry("status")
                .or_insert_with(|| "initialized".into());
        }
        Kind::AnonymousSets => {
            let quantity = quantity(&object)?;
            object.remove("quantity");
            let members = add_anonymous_members(conn, &mut object, quantity)?;
            object.insert("data".into(), Value::Array(members));
        }
        Kind::Addresses | Kind::Productions => {}
    }
    write(conn, INSERT_OBJECT, kind, &object)?;
    if kind == Kind::Cards {
        follow_production(conn, &object)?;
    }
    Ok(object)
}

/// Most cards one anonymous-set call makes.
const MAX_ANONYMOUS_QUANTITY: u64 = 1000;

fn quantity(fields: &Map<String, Value>) -> Result<u64, ProblemDocument> {
    fields
        .get("quantity")
        .and_then(Value::as_u64)
        .filter(|quantity| (1..=MAX_ANONYMOUS_QUANTITY).contains(quantity))
        .ok_or_else(|| {
            ProblemDocument::field(
                "quantity",
                format!("quantity must be an integer from 1 to {MAX_ANONYMOUS_QUANTITY}"),
            )
        })
}

/// The cardholder fields an anonymous-set call passes to the cardholders it makes.
const ANONYMOUS_HOLDER_FIELDS: &[&str] = &[
    "businessUnit",
    "externalCompany",
    "department",
    "jobTitle",
    "location",
    "costAccount",
    "note",
];

/// Makes `quantity` cardholders without a person, each with an initialized card, for the
/// set `set` (whose holder fields are taken out of it); returns them as the set's `data`
/// entries: person-shaped objects listing their cardholder and its card.
fn add_anonymous_members(
    conn: &Connection,
    set: &mut Map<String, Value>,
    quantity: u64,
) -> Result<Vec<Value>, ProblemDocument> {
    let mut holder_fields = Map::new();
    holder_fields.insert(
        "profile".into(),
        set.get("profile").cloned().unwrap_or_default(),
    );
    holder_fields.insert("status".into(), "unlinked".into());
    for field in ANONYMOUS_HOLDER_FIELDS {
        if let Some(value) = set.remove(*field) {
            holder_fields.insert((*field).into(), value);
        }
    }
    let name = set
        .get("defaultName")
        .and_then(Value::as_str)
        .unwrap_or("anonymous")
        .to_owned();
    let already = set
        .get("data")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut members = Vec::new();
    for number in 1..=quantity {
        let mut fields = holder_fields.clone();
        fields.insert(
            "nameOnCard".into(),
            format!("{name} {}", already as u64 + number).into(),
        );
        let holder = create_object(conn, Kind::Cardholders, fields)?;
        let holder_id = holder.get("id").cloned().unwrap_or_default();
        let mut card = Map::new();
        card.insert("cardholder".into(), holder_id.clone());
        let card = create_object(conn, Kind::Cards, card)?;
        members.push(json!({
            "cardholders": [{"id": holder_id, "cards": [{"id": card.get("id")}]}],
        }));
    }
    Ok(members)
}

async fn create(
    State(state): State<Arc<ServerState>>,
    UrlPath(resource): UrlPath<String>,
    body: String,
) -> Result<Response, ProblemDocument> {
    let slow = state.faults().create_delay;
    if slow.is_zero() {
        return create_now(&state, &resource, &body);
    }
    // Made apart from the connection: a client that gave up or died meanwhile does not
    // stop it, as a server that finishes what it started would not.
    tokio::spawn(async move {
        tokio::time::sleep(slow).await;
        create_now(&state, &resource, &body)
    })
    .await
    .map_err(|_| ProblemDocument::new(StatusCode::INTERNAL_SERVER_ERROR, "the create failed"))?
}

fn create_now(
    state: &ServerState,
    resource: &str,
    body: &str,
) -> Result<Response, ProblemDocument> {
    let kind = kind_of(resource)?;
    let fields = json_body(body)?;
    let mut conn = state.db();
    let tx = conn.transaction()?;
    let object = create_object(&tx, kind, fields)?;
    tx.commit()?;
    Ok(ok_json(object))
}

async fn retrieve(
    State(state): State<Arc<ServerState>>,
    UrlPath((resource, id)): UrlPath<(String, String)>,
) -> Result<Response, ProblemDocument> {
    let kind = kind_of(&resource)?;
    let object =
        load(&state.db(), kind, &id)?.ok_or_else(|| ProblemDocument::not_found(kind, &id))?;
    Ok(ok_json(object))
}

async fn update(
    State(state): State<Arc<ServerState>>,
    UrlPath((resource, id)): UrlPath<(String, String)>,
    body: String,
) -> Result<Response, ProblemDocument> {
    let kind = kind_of(&resource)?;
    let fields = json_body(&body)?;
    let mut conn = state.db();
    let tx = conn.transaction()?;
    let mut object = load(&tx, kind, &id)?.ok_or_else(|| ProblemDocument::not_found(kind, &id))?;
    validate(&tx, kind, &fields)?;
    if kind == Kind::AnonymousSets {
        // Updating a set only adds cards to it.
        let quantity = quantity(&fields)?;
        let mut set = object.clone();
        set.extend(fields);
        let added = add_anonymous_members(&tx, &mut set, quantity)?;
        if let Some(Value::Array(data)) = object.get_mut("data") {
            data.extend(added);
        }
        write(&tx, UPDATE_OBJECT, kind, &object)?;
        tx.commit()?;
        return Ok(ok_json(object));
    }
    for (field, value) in fields {
        if field != "id" && field != "created" {
            object.insert(field, value);
        }
    }
    write(&tx, UPDATE_OBJECT, kind, &object)?;
    if kind == Kind::Cards {
        follow_production(&tx, &object)?;
    }
    tx.commit()?;
    Ok(ok_json(object))
}

async fn delete(
    State(state): State<Arc<ServerState>>,
    UrlPath((resource, id)): UrlPath<(String, String)>,
) -> Result<Response, ProblemDocument> {
    let kind = kind_of(&resource)?;
    if matches!(kind, Kind::Cards | Kind::Productions | Kind::AnonymousSets) {
        return Err(ProblemDocument::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} cannot be deleted", kind.name()),
        ));
    }
    let deleted = state
        .db()
        .prepare_cached("DELETE FROM objects WHERE resource = ?1 AND id = ?2")?
        .execute((kind.name(), &id))?;
    if deleted == 0 {
        return Err(ProblemDocument::not_found(kind, &id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `per_page` filter names to JSON field names: `address_preference` → `addressPreference`.
fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn page_number(
    query: &[(String, String)],
    name: &str,
    default: u32,
) -> Result<u32, ProblemDocument> {
    match query.iter().find(|(key, _)| key == name) {
        None => Ok(default),
        Some((_, value)) => value
            .parse()
            .ok()
            .filter(|number| *number >= 1)
            .ok_or_else(|| {
                ProblemDocument::field(name, format!("{name} must be a positive integer"))
            }),
    }
}

async fn list(
    State(state): State<Arc<ServerState>>,
    UrlPath(resource): UrlPath<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ProblemDocument> {
    let kind = kind_of(&resource)?;
    let page = page_number(&query, "page", 1)?;
    let per_page = page_number(&query, "per_page", DEFAULT_PER_PAGE)?;
    if per_page > MAX_PER_PAGE {
        return Err(ProblemDocument::field(
            "per_page",
            "per_page must be between 1 and 100",
        ));
    }
    let mut filter = String::from("resource = ?");
    let mut values: Vec<String> = vec![kind.name().into()];
    for (name, value) in &query {
        match name.as_str() {
            "page" | "per_page" => {}
            "q" => {
                filter.push_str(" AND instr(body, ?) > 0");
                values.push(value.clone());
            }
            _ => {
                filter.push_str(" AND json_extract(body, '$.' || ?) = ?");
                values.push(camel_case(name));
                values.push(value.clone());
            }
        }
    }
    let offset = u64::from(page - 1) * u64::from(per_page);
    let mut db = state.db();
    let unfiltered = values.len() == 1;
    let (total, bodies) = if unfiltered {
        let seqs = db.positions(kind)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(seqs.len());
        let end = start.saturating_add(per_page as usize).min(seqs.len());
        let on_page = &seqs[start..end];
        let bodies = match (on_page.first(), on_page.last()) {
            (Some(first), Some(last)) => db
                .prepare_cached(
                    "SELECT body FROM objects WHERE resource = ?1 AND seq BETWEEN ?2 AND ?3
                     ORDER BY seq",
                )?
                .query_map((kind.name(), first, last), |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            _ => Vec::new(),
        };
        (seqs.len() as u64, bodies)
    } else {
        let total = u64::try_from(
            db.prepare_cached(&format!("SELECT count(*) FROM objects WHERE {filter}"))?
                .query_row(params_from_iter(&values), |row| row.get::<_, i64>(0))?,
        )
        .unwrap_or(0);
        let sql = format!(
            "SELECT body FROM objects WHERE {filter} ORDER BY seq LIMIT {per_page} OFFSET {offset}"
        );
        let bodies = db
            .prepare_cached(&sql)?
            .query_map(params_from_iter(&values), |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        (total, bodies)
    };
    drop(db);
    let items: Vec<Value> = bodies
        .iter()
        .filter_map(|body| serde_json::from_str(body).ok())
        .collect();

    let last = total.div_ceil(u64::from(per_page)).max(1);
    let link_to = |page: u64, rel: &str| {
        let mut url = format!("</api/v1/{}?page={page}&per_page={per_page}", kind.name());
        for (name, value) in query
            .iter()
            .filter(|(name, _)| name != "page" && name != "per_page")
        {
            url.push_str(&format!(
                "&{name}={}",
                cardstation::remote::oauth1::percent_encode(value)
            ));
        }
        format!("{url}>; rel=\"{rel}\"")
    };
    let page = u64::from(page);
    let mut links = vec![link_to(1, "first"), link_to(last, "last")];
    if page < last {
        links.push(link_to(page + 1, "next"));
    }
    if page > 1 {
        links.push(link_to((page - 1).min(last), "prev"));
    }
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    if let Ok(link) = HeaderValue::from_str(&links.join(", ")) {
        headers.insert(header::LINK, link);
    }
    Ok((headers, axum::Json(Value::Array(items))).into_response())
}

/// The key from `Authorization: Basic base64(key:)` or `Bearer key`.
fn api_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_owned());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(
        text.split_once(':')
            .map_or(text.clone(), |(user, _)| user.to_owned()),
    )
}

/// Authentication first, then the configured faults around the handler.
async fn guard(State(state): State<Arc<ServerState>>, request: Request, next: Next) -> Response {
    match api_key(request.headers()) {
        Some(key) if key.starts_with("sk_test_") && key.len() > "sk_test_".len() => {}
        Some(key) if key.starts_with("sk_live_") => {
            return ProblemDocument::new(
                StatusCode::UNAUTHORIZED,
                "this reference server accepts test keys (sk_test_...) only",
            )
            .into_response();
        }
        _ => {
            return ProblemDocument::new(
                StatusCode::UNAUTHORIZED,
                "send an API key as the Basic auth user name (or as a Bearer token)",
            )
            .into_response();
        }
    }
    let faults = state.faults();
    if !faults.delay.is_zero() {
        tokio::time::sleep(faults.delay).await;
    }
    let number = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let unavailable = |detail: &str| {
        if faults.html_errors {
            html_error_page()
        } else {
            ProblemDocument::new(StatusCode::SERVICE_UNAVAILABLE, detail).into_response()
        }
    };
    if faults.fail_after.is_some_and(|after| number > after) {
        return unavailable("injected outage");
    }
    if let Some(size) = faults.huge_body {
        return huge_body(size, true);
    }
    if let Some(size) = faults.huge_body_unsized {
        return huge_body(size, false);
    }
    if faults
        .too_many_every
        .is_some_and(|every| number % every == 0)
    {
        let mut response =
            ProblemDocument::new(StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(faults.retry_after_s.unwrap_or(1)),
        );
        return response;
    }
    if state.roll(faults.error_rate) {
        return unavailable("injected fault");
    }
    let response = next.run(request).await;
    if !state.roll(faults.truncate_rate) {
        return response;
    }
    // The request was handled (a create did happen): only the answer is lost.
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let cut = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(cut))
}

/// What a reverse proxy in front of a dead API sends: a whole styled HTML page.
fn html_error_page() -> Response {
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>503 Service Temporarily Unavailable</title>\n\
         <style>body {{ font-family: sans-serif; }}</style></head>\n<body>\n\
         <center><h1>503 Service Temporarily Unavailable</h1></center>\n<hr><center>nginx</center>\n\
         {}</body></html>\n",
        "<!-- a padding comment as proxies add -->\n".repeat(40)
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// `size` bytes of JSON white space in 64 KiB chunks, made as they are sent.
fn huge_body(size: u64, sized: bool) -> Response {
    const CHUNK: u64 = 64 << 10;
    let chunk = axum::body::Bytes::from(vec![b' '; CHUNK as usize]);
    let chunks = futures_util::stream::iter((0..size.div_ceil(CHUNK)).map(move |index| {
        let length = (size - index * CHUNK).min(CHUNK) as usize;
        Ok::<_, std::io::Error>(chunk.slice(..length))
    }));
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if sized {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    response
}

fn router(
    state: Arc<ServerState>,
    usos: Arc<usos_api::UsosState>,
    id123: Arc<id123_api::Id123State>,
) -> Router {
    Router::new()
        .route("/api/v1/{resource}", get(list).post(create))
        .route(
            "/api/v1/{resource}/{id}",
            get(retrieve).post(update).delete(delete),
        )
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
        // Each API checks its own credentials; the CardExchange faults stay on CardExchange.
        .merge(usos_api::router(usos))
        .merge(id123_api::router(id123))
}

/// A reference server running on its own threads; stops when dropped.
pub struct ReferenceServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    usos: Arc<usos_api::UsosState>,
    id123: Arc<id123_api::Id123State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReferenceServer {
    /// Starts on 127.0.0.1:`port` (0 = any free port) over `db` (None = in memory).
    pub fn start(port: u16, db: Option<&Path>, faults: ServerFaults) -> std::io::Result<Self> {
        Self::start_with(port, db, faults, UsosOptions::default())
    }

    /// As [`Self::start`], with the USOS side's signer and card key master.
    pub fn start_with(
        port: u16,
        db: Option<&Path>,
        faults: ServerFaults,
        usos: UsosOptions,
    ) -> std::io::Result<Self> {
        let usos = Arc::new(usos_api::UsosState::new(usos));
        let id123 = Arc::new(id123_api::Id123State::new());
        let conn = open_db(db).map_err(std::io::Error::other)?;
        let state = Arc::new(ServerState {
            db: Mutex::new(ServerData {
                conn,
                positions: HashMap::new(),
            }),
            rng: Mutex::new(StdRng::seed_from_u64(faults.seed)),
            faults: Mutex::new(faults),
            requests: AtomicU64::new(0),
        });
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = router(state.clone(), usos.clone(), id123.clone());
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let server = axum::serve(listener, app).with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
                if let Err(err) = server.await {
                    tracing::error!("reference server stopped: {err}");
                }
            });
        });
        Ok(Self {
            addr,
            state,
            usos,
            id123,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Requests authenticated since the start or the last `set_faults`.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Replaces the faults from now on and restarts the request count `429_every` and
    /// `fail_after` use (the RNG keeps its sequence): for tests that break the server
    /// between two syncs.
    pub fn set_faults(&self, faults: ServerFaults) {
        *self
            .state
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = faults;
        self.state.requests.store(0, Ordering::Relaxed);
    }

    /// Blocks until the server stops (it never does on its own: for `cardstation serve`).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Every object of `resource` (URL segment), in creation order: for tests.
    pub fn objects(&self, resource: &str) -> Vec<Value> {
        let conn = self.state.db();
        let Ok(mut statement) =
            conn.prepare("SELECT body FROM objects WHERE resource = ?1 ORDER BY seq")
        else {
            return Vec::new();
        };
        statement
            .query_map([resource], |row| row.get::<_, String>(0))
            .map(|rows| {
                rows.flatten()
                    .filter_map(|body| serde_json::from_str(&body).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// USOS calls that passed authentication, in order: for tests.
    pub fn usos_calls(&self) -> Vec<UsosCall> {
        self.usos.calls()
    }

    /// Requests refused because their nonce had been used before.
    pub fn usos_refused_replays(&self) -> u64 {
        self.usos.refused_replays()
    }

    /// Notifications sent through `events2/send_notification`.
    pub fn usos_notifications(&self) -> Vec<Value> {
        self.usos.notifications()
    }

    /// The prolongations USOS accepted through `mark_student_card_prolonged`: card id and
    /// date prolonged, in order.
    pub fn usos_prolonged(&self) -> Vec<(String, time::Date)> {
        self.usos.prolonged()
    }

    /// While `fail` holds, every `mark_student_card_prolonged` is answered HTTP 503 (and
    /// not recorded), as a USOS down for maintenance would.
    pub fn usos_fail_marks(&self, fail: bool) {
        self.usos.fail_marks(fail);
    }

    /// Changes a card's validity in USOS, as the office does when it prolongs a card.
    pub fn usos_set_expiration(&self, contact_chip_uid: &str, expires: time::Date) -> bool {
        self.usos.set_expiration(contact_chip_uid, expires)
    }

    /// Adds `count` ID123 mobile cards of the demo template.
    pub fn seed_id123(&self, count: usize) {
        self.id123.seed(count);
    }

    /// Adds `count` persons, each with a cardholder, a card in production and its
    /// production, in one transaction: for tests, benches and the demo.
    /// Gives person `id` this `photo` as it is, past the API's checks: what a faulty or
    /// hostile server would send, for tests. Whether the person exists.
    pub fn put_person_photo_unchecked(&self, id: &str, photo: Value) -> bool {
        let conn = self.state.db();
        let Ok(Some(mut person)) = load(&conn, Kind::Persons, id) else {
            return false;
        };
        person.insert("photo".into(), photo);
        write(&conn, UPDATE_OBJECT, Kind::Persons, &person).is_ok()
    }

    pub fn seed_people(&self, count: usize) -> Result<(), String> {
        let mut conn = self.state.db();
        let tx = conn.transaction().map_err(|err| err.to_string())?;
        let seed = |kind: Kind, body: Value| -> Result<String, String> {
            let fields = match body {
                Value::Object(fields) => fields,
                _ => Map::new(),
            };
            create_object(&tx, kind, fields)
                .map(|object| object["id"].as_str().unwrap_or_default().to_owned())
                .map_err(|problem| problem.detail)
        };
        for number in 0..count {
            let person = seed(
                Kind::Persons,
                json!({"firstName": format!("Anna{number}"), "lastName": "Kowalska",
                       "birthDate": "2001-02-03"}),
            )?;
            let holder = seed(
                Kind::Cardholders,
                json!({"person": person, "profile": "students",
                       "email": format!("s{number}@uni.example")}),
            )?;
            seed(
                Kind::Cards,
                json!({"cardholder": holder, "status": "in_production",
                       "metadata": {"type": "student"}}),
            )?;
        }
        tx.commit().map_err(|err| err.to_string())
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_bad_ones_are_refused() {
        let faults: ServerFaults =
            "error_rate=0.1,429_every=7,retry_after_s=0,delay_ms=20,truncate_rate=0.05,fail_after=9,seed=3"
                .parse()
                .unwrap();
        assert_eq!(faults.fail_after, Some(9));
        assert_eq!(faults.retry_after_s, Some(0));
        assert_eq!(faults.too_many_every, Some(7));
        assert_eq!(faults.delay, Duration::from_millis(20));
        assert_eq!(faults.seed, 3);
        assert_eq!("".parse::<ServerFaults>().unwrap(), ServerFaults::default());
        for bad in [
            "error_rate=2",
            "429_every=0",
            "x=1",
            "delay_ms",
            "delay_ms=soon",
        ] {
            assert!(bad.parse::<ServerFaults>().is_err(), "{bad}");
        }
    }

    #[test]
    fn basic_and_bearer_keys_are_read() {
        let mut headers = HeaderMap::new();
        // base64("sk_test_abc:")
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic c2tfdGVzdF9hYmM6"),
        );
        assert_eq!(api_key(&headers).as_deref(), Some("sk_test_abc"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk_test_x"),
        );
        assert_eq!(api_key(&headers).as_deref(), Some("sk_test_x"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(api_key(&headers), None);
    }

    #[test]
    fn seeded_people_come_with_cardholders_cards_and_productions() {
        let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
        server.seed_people(3).unwrap();
        for resource in ["persons", "cardholders", "cards", "productions"] {
            assert_eq!(server.objects(resource).len(), 3, "{resource}");
        }
    }
}
