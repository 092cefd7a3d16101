//! `/healthz` (the process answers) and `/readyz` (its dependencies answer).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// 200 when PostgreSQL, Redis and the broker (with the commands topic) all answer within
/// 2 s; 503 naming the ones that did not.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let (postgres, redis, kafka) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, state.cache.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, state.producer.ping(&state.topics.commands)),
    );
    let checks = [
        ("postgres", matches!(postgres, Ok(Ok(())))),
        ("redis", matches!(redis, Ok(Ok(())))),
        ("kafka", matches!(kafka, Ok(Ok(())))),
    ];
    let ready = checks.iter().all(|(_, ok)| *ok);
    let body: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|(name, ok)| ((*name).to_owned(), json!(if *ok { "up" } else { "down" })))
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}
