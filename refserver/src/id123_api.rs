//! The reference ID123 API v2 (`POST /api/v2/`, action `list-cards`): cards of a template with
//! limit/offset paging, `X-API-KEY` checked, answers in the documented success / failure form.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// The API key the reference server accepts.
pub const TEST_API_KEY: &str = "id123-test-key";
/// The template the seeded cards belong to.
pub const DEMO_TEMPLATE_ID: &str = "906c56c2d85817633abc07978f4899ff89cff060";
/// Cards per page when the request gives no limit (as documented).
const DEFAULT_LIMIT: u64 = 10;

pub(super) struct Id123State {
    cards: Mutex<Vec<Value>>,
}

impl Id123State {
    pub(super) fn new() -> Self {
        Self {
            cards: Mutex::new(Vec::new()),
        }
    }

    /// Adds `count` cards of the demo template: statuses, barcode, photo URL, name fields.
    pub(super) fn seed(&self, count: usize) {
        let mut cards = self
            .cards
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let start = cards.len();
        for number in start..start + count {
            let (status, sub_status) = match number % 3 {
                0 => ("active", "claimed"),
                1 => ("active", "unclaimed"),
                _ => ("suspended", "revoked"),
            };
            cards.push(json!({
                "card-template-id": DEMO_TEMPLATE_ID,
                "card-id": format!("id123-card-{number:05}"),
                "card-status": status,
                "card-sub-status": sub_status,
                "institution": "Uniwersytet Testowy",
                "issuance-type": "self-registration",
                "card-title": "Legitymacja mobilna",
                "created-at": "2026-09-01T08:00:00+00:00",
                "last-updated": "2026-10-01T08:00:00+00:00",
                "card-expiration": "2027-09-30T23:59:59+00:00",
                "barcode": [{"key": "barcode", "value": format!("29{number:011}"), "label": "Barcode Value"}],
                "image": [{"key": "id-photo", "value": format!("https://id123.example/photos/{number:05}.jpg"), "label": "ID PHOTO"}],
                "name-fields": [{"key": "name", "value": format!("Student{number} Kowalski"), "label": "Name"}],
                "front-fields": [{"key": "front-1", "label": "Album", "type": "text", "value": format!("{}", 100_000 + number)}],
            }));
        }
    }
}

fn failure(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"status": "failure", "code": code, "message": message})),
    )
        .into_response()
}

async fn api(State(state): State<Arc<Id123State>>, headers: HeaderMap, body: Bytes) -> Response {
    let key = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok());
    if key != Some(TEST_API_KEY) {
        return failure(
            StatusCode::UNAUTHORIZED,
            "INVALID_API_KEY",
            "the X-API-KEY header is missing or not a key of this institution",
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return failure(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "the body is not JSON",
        );
    };
    if request["action"] != "list-cards" {
        return failure(
            StatusCode::BAD_REQUEST,
            "INVALID_ACTION",
            "this server knows the action list-cards only",
        );
    }
    let number = |name: &str, default: u64| match &request[name] {
        Value::Null => Some(default),
        value => value.as_u64(),
    };
    let (Some(limit), Some(offset)) = (number("limit", DEFAULT_LIMIT), number("offset", 0)) else {
        return failure(
            StatusCode::BAD_REQUEST,
            "INVALID_PAGING",
            "limit and offset must be non-negative integers",
        );
    };
    let template = request["card-template-id"].as_str();
    let cards = state
        .cards
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let page: Vec<Value> = cards
        .iter()
        .filter(|card| template.is_none_or(|template| card["card-template-id"] == template))
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .cloned()
        .collect();
    axum::Json(json!({
        "status": "success",
        "code": "SUCCESS",
        "message": "Template cards were retrieved successfully.",
        "data": page,
    }))
    .into_response()
}

pub(super) fn router(state: Arc<Id123State>) -> Router {
    Router::new().route("/api/v2/", post(api)).with_state(state)
}
