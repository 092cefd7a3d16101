//! `/v1/webhooks`: a storefront's webhook endpoints and their deliveries. Endpoints are
//! configuration, not order state, so these handlers write PostgreSQL directly (through
//! `webhooks::endpoints`), not through a command.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Caller;
use super::error::Problem;
use super::orders::{MAX_PAGE, parse_body};
use super::{ApiError, AppState};
use crate::store::postgres::{AttemptRow, DeliveryRow};
use crate::webhooks::endpoints::{
    DEFAULT_OVERLAP, Endpoint, EndpointError, EndpointPatch, Endpoints, NewEndpoint, WithSecret,
};

/// The errors every webhook endpoint may answer.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documents the responses; handlers build them
pub(crate) enum WebhookErrors {
    /// Malformed body, bad path or query.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem<'static>),
    /// Missing or invalid API key.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem<'static>),
    /// No such endpoint (or delivery) for this storefront, or webhooks are not configured.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem<'static>),
    /// The body breaks validation rules; `errors` names each field.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem<'static>),
    /// Rate limited; see Retry-After.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem<'static>),
    /// PostgreSQL is unavailable; see Retry-After.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem<'static>),
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EndpointList {
    items: Vec<Endpoint>,
}

/// A rotation: the new secret signs at once; the old one also signs for the overlap.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotation {
    /// How long the old secret keeps signing too (default 86400, at most 604800).
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 0, maximum = 604_800)]
    overlap_seconds: Option<u64>,
}

/// A whole number of seconds as JSON Schema's `integer` means it: `60` or `60.0`; or null.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // whole, 0..=2^53
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=EXACT).contains(f))
            .map(|f| f as u64)
    });
    whole.map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{n} is not a whole, non-negative number of seconds"
        ))
    })
}

/// Deliveries of the events that occurred in [since, until) are sent again; `until` must not
/// be before `since`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Replay {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Replayed {
    /// How many deliveries are due again.
    replayed: u64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    /// Only deliveries in this state: pending, delivered or failed.
    state: Option<String>,
    /// Only deliveries created before this moment (the page before the last one seen).
    before: Option<DateTime<Utc>>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A delivery: one event for one endpoint, and every attempt made.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Delivery {
    id: Uuid,
    /// The `webhook-id` header of every attempt.
    event_id: Uuid,
    event_type: String,
    order_id: Option<Uuid>,
    occurred_at: DateTime<Utc>,
    /// pending, delivered, or failed (every attempt of the retry schedule failed).
    state: String,
    attempt_count: i32,
    /// When it is attempted next (pending only).
    next_attempt_at: Option<DateTime<Utc>>,
    last_status: Option<i32>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    attempts: Vec<AttemptView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AttemptView {
    started_at: DateTime<Utc>,
    /// The answer's status; null when none came (timeout, refused connection or address).
    status_code: Option<i32>,
    latency_ms: i32,
    error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DeliveryList {
    items: Vec<Delivery>,
}

impl Delivery {
    fn of(row: DeliveryRow, attempts: &[AttemptRow]) -> Self {
        let attempts = attempts
            .iter()
            .filter(|a| a.delivery_id == row.delivery_id)
            .map(|a| AttemptView {
                started_at: a.started_at,
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                error: a.error.clone(),
            })
            .collect();
        Self {
            id: row.delivery_id,
            event_id: row.event_id,
            event_type: row.event_type,
            order_id: row.order_id,
            occurred_at: row.occurred_at,
            next_attempt_at: (row.state == "pending").then_some(row.next_attempt_at),
            state: row.state,
            attempt_count: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
            attempts,
        }
    }
}

fn configured(state: &AppState) -> Result<&Endpoints, ApiError> {
    state.webhooks.as_ref().ok_or(ApiError::WebhooksOff)
}

fn parse_id(what: &str, id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|e| ApiError::BadPath(format!("{what} {id:?} is not a UUID: {e}")))
}

impl From<EndpointError> for ApiError {
    fn from(error: EndpointError) -> Self {
        match error {
            EndpointError::Invalid(errors) => ApiError::Validation(errors),
            EndpointError::NotFound => ApiError::NoSuch("no such webhook endpoint"),
            EndpointError::Store(e) => ApiError::from_store(e),
        }
    }
}

/// Registers an endpoint; the answer holds its secret, shown only this once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = NewEndpoint,
    responses((status = 201, description = "Created; `secret` is shown only here", body = WithSecret,
        headers(("Location" = String, description = "The endpoint's URL"))), WebhookErrors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let endpoints = configured(&state)?;
    let new: NewEndpoint = parse_body(&body)?;
    let created = endpoints.create(caller.storefront.as_str(), new).await?;
    let location = format!("/v1/webhooks/{}", created.endpoint.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(created),
    )
        .into_response())
}

/// The caller's endpoints, oldest first.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "The endpoints", body = EndpointList), WebhookErrors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let items = configured(&state)?.list(caller.storefront.as_str()).await?;
    Ok(axum::Json(EndpointList { items }).into_response())
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 200, description = "The endpoint", body = Endpoint), WebhookErrors))]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id("endpoint id", &id)?;
    let endpoint = configured(&state)?
        .get(caller.storefront.as_str(), id)
        .await?;
    Ok(axum::Json(endpoint).into_response())
}

/// Changes an endpoint; absent fields are kept. Enabling clears why orderflow disabled it.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", request_body = EndpointPatch,
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 200, description = "The endpoint now", body = Endpoint), WebhookErrors))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id("endpoint id", &id)?;
    let endpoints = configured(&state)?;
    let patch: EndpointPatch = parse_body(&body)?;
    let endpoint = endpoints
        .update(caller.storefront.as_str(), id, patch)
        .await?;
    Ok(axum::Json(endpoint).into_response())
}

/// Deletes an endpoint and its deliveries.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 204, description = "Deleted"), WebhookErrors))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id("endpoint id", &id)?;
    configured(&state)?
        .delete(caller.storefront.as_str(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A new secret, shown once; the old one keeps signing (both signatures are sent) for the
/// overlap, so receivers can switch without losing a delivery.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    request_body(content = Option<Rotation>, description = "Optional; an empty body takes the default overlap"),
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 200, description = "The new secret, shown only here", body = WithSecret), WebhookErrors))]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id("endpoint id", &id)?;
    let endpoints = configured(&state)?;
    // No body, or `null`: the default overlap.
    let rotation: Rotation = if body.is_empty() {
        Rotation::default()
    } else {
        parse_body::<Option<Rotation>>(&body)?.unwrap_or_default()
    };
    let overlap = rotation
        .overlap_seconds
        .map_or(DEFAULT_OVERLAP, std::time::Duration::from_secs);
    let rotated = endpoints
        .rotate_secret(caller.storefront.as_str(), id, overlap)
        .await?;
    Ok(axum::Json(rotated).into_response())
}

/// The endpoint's deliveries, newest first, each with its attempts.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), DeliveryQuery),
    responses((status = 200, description = "A page of deliveries", body = DeliveryList), WebhookErrors))]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id("endpoint id", &id)?;
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadQuery(format!("limit must be 1 to {MAX_PAGE}")));
    }
    if let Some(s) = &query.state
        && !["pending", "delivered", "failed"].contains(&s.as_str())
    {
        return Err(ApiError::BadQuery(format!(
            "state {s:?} is not one of pending, delivered, failed"
        )));
    }
    configured(&state)?
        .get(caller.storefront.as_str(), id)
        .await?;
    let (rows, attempts) = state
        .store
        .webhook_deliveries(id, query.state.as_deref(), query.before, limit)
        .await
        .map_err(ApiError::from_store)?;
    let items = rows
        .into_iter()
        .map(|r| Delivery::of(r, &attempts))
        .collect();
    Ok(axum::Json(DeliveryList { items }).into_response())
}

/// Sends a delivery again now, with a fresh retry schedule (delivered or not).
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), ("delivery_id" = Uuid, Path, description = "Delivery id")),
    responses((status = 202, description = "Due now", body = Delivery), WebhookErrors))]
pub(crate) async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_id("endpoint id", &id)?;
    let delivery = parse_id("delivery id", &delivery)?;
    configured(&state)?
        .get(caller.storefront.as_str(), id)
        .await?;
    let row = state
        .store
        .retry_webhook_delivery(id, delivery)
        .await
        .map_err(ApiError::from_store)?
        .ok_or(ApiError::NoSuch("no such delivery"))?;
    Ok((StatusCode::ACCEPTED, axum::Json(Delivery::of(row, &[]))).into_response())
}

/// Sends again every delivery of the events that occurred in [since, until).
#[utoipa::path(post, path = "/v1/webhooks/{id}/replay", tag = "webhooks", request_body = Replay,
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 202, description = "How many deliveries are due again", body = Replayed), WebhookErrors))]
pub(crate) async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id("endpoint id", &id)?;
    let endpoints = configured(&state)?;
    let range: Replay = parse_body(&body)?;
    if range.until < range.since {
        return Err(ApiError::Validation(crate::domain::ValidationErrors(vec![
            crate::domain::FieldError {
                field: "until".to_owned(),
                reason: "must not be before since".to_owned(),
            },
        ])));
    }
    endpoints.get(caller.storefront.as_str(), id).await?;
    let replayed = state
        .store
        .replay_webhook_deliveries(id, range.since, range.until)
        .await
        .map_err(ApiError::from_store)?;
    Ok((StatusCode::ACCEPTED, axum::Json(Replayed { replayed })).into_response())
}
