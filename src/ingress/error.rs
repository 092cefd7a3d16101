//! HTTP errors as RFC 7807 `application/problem+json`. Internal causes are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{FieldError, ValidationErrors};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON for this endpoint: {0}")]
    MalformedBody(String),
    #[error("the request breaks validation rules")]
    Validation(ValidationErrors),
    #[error("{0}")]
    BadPath(String),
    #[error("{0}")]
    BadQuery(String),
    #[error("{0}")]
    BadHeader(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this Idempotency-Key was used with another request")]
    IdempotencyConflict,
    #[error("more than {limit} requests per second for this API key; retry after {retry_after:?}")]
    RateLimited {
        limit: u32,
        retry_after: std::time::Duration,
    },
    #[error("order not found")]
    NotFound,
    /// Something other than an order that the caller's storefront does not have.
    #[error("{0}")]
    NoSuch(&'static str),
    #[error("webhooks are not configured on this server (it has no --webhooks-secret-key)")]
    WebhooksOff,
    /// A provider's notification whose signature does not verify (or is stale).
    #[error("{0}")]
    BadSignature(String),
    /// A provider's verified notification orderflow cannot read: the provider retries it.
    #[error("{0}")]
    UnreadableEvent(String),
    /// A provider's notification about a payment fact whose parent is not applied yet: the
    /// provider retries it.
    #[error("{0}")]
    NotYetKnown(String),
    #[error("the message broker is unavailable")]
    BrokerUnavailable(#[source] anyhow::Error),
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// An answer the framework gave without a body: no such route, a method the route does
    /// not take, a body over the limit, a request that ran out of time.
    #[error("{}", bare_detail(*.0))]
    Bare(StatusCode),
}

/// Seconds a client is asked to wait after a dependency outage (a 503).
const RETRY_AFTER_UNAVAILABLE: u64 = 2;

impl ApiError {
    /// A PostgreSQL failure: the database not answering (connection refused or lost, the pool
    /// timing out) is an outage, a 503 the client may retry; anything else is internal.
    pub fn from_store(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => ApiError::DatabaseUnavailable(error.into()),
            other => ApiError::Internal(other.into()),
        }
    }
}

/// An RFC 7807 problem (`application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Problem<'a> {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    /// What exactly was wrong.
    detail: String,
    /// Every broken rule, with its field path (validation problems only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::schemas::FieldError>>)]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::MalformedBody(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-body",
                "Malformed request body",
            ),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
            ),
            ApiError::BadPath(_) => (
                StatusCode::BAD_REQUEST,
                "bad-path",
                "Invalid path parameter",
            ),
            ApiError::BadQuery(_) => (
                StatusCode::BAD_REQUEST,
                "bad-query",
                "Invalid query parameter",
            ),
            ApiError::BadHeader(_) => (StatusCode::BAD_REQUEST, "bad-header", "Invalid header"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            ApiError::IdempotencyConflict => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-conflict",
                "Idempotency key reused",
            ),
            ApiError::NotFound | ApiError::NoSuch(_) => {
                (StatusCode::NOT_FOUND, "not-found", "Not found")
            }
            ApiError::WebhooksOff => (
                StatusCode::NOT_FOUND,
                "webhooks-off",
                "Webhooks are not configured",
            ),
            ApiError::BadSignature(_) => (
                StatusCode::BAD_REQUEST,
                "bad-signature",
                "Invalid signature",
            ),
            ApiError::UnreadableEvent(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unreadable-event",
                "Unreadable event",
            ),
            ApiError::NotYetKnown(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not-yet-known",
                "Not yet known",
            ),
            ApiError::BrokerUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "broker-unavailable",
                "Service unavailable",
            ),
            ApiError::DatabaseUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "database-unavailable",
                "Service unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
            ApiError::Bare(status) => match *status {
                StatusCode::NOT_FOUND => (*status, "no-route", "Not found"),
                StatusCode::METHOD_NOT_ALLOWED => {
                    (*status, "method-not-allowed", "Method not allowed")
                }
                StatusCode::PAYLOAD_TOO_LARGE => (*status, "body-too-large", "Body too large"),
                StatusCode::SERVICE_UNAVAILABLE => (*status, "timeout", "Service unavailable"),
                _ => (*status, "error", "Error"),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        match &self {
            ApiError::BrokerUnavailable(e)
            | ApiError::DatabaseUnavailable(e)
            | ApiError::Internal(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    status = status.as_u16(),
                    "request failed"
                );
            }
            _ => {}
        }
        let kind = format!("https://orderflow.dev/problems/{slug}");
        let problem = Problem {
            kind: &kind,
            title,
            status: status.as_u16(),
            detail: self.to_string(),
            errors: match &self {
                ApiError::Validation(errors) => Some(&errors.0),
                _ => None,
            },
        };
        let mut response = (status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(
            self,
            ApiError::BrokerUnavailable(_)
                | ApiError::DatabaseUnavailable(_)
                | ApiError::NotYetKnown(_)
                | ApiError::Bare(StatusCode::SERVICE_UNAVAILABLE)
        ) {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(RETRY_AFTER_UNAVAILABLE),
            );
        }
        if let ApiError::RateLimited { limit, retry_after } = &self {
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            headers.insert("ratelimit-limit", HeaderValue::from(*limit));
            headers.insert("ratelimit-remaining", HeaderValue::from(0));
            headers.insert("ratelimit-reset", HeaderValue::from(seconds));
        }
        response
    }
}

fn bare_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "no such route",
        StatusCode::METHOD_NOT_ALLOWED => "this route does not take this method",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is over the limit",
        StatusCode::SERVICE_UNAVAILABLE => "the request did not finish in time",
        _ => "the request failed",
    }
}

/// Gives an error answer of the framework or a layer (404, 405, 413, a timeout's 503: no body
/// or plain text) the same problem+json body every other error has; a 405 keeps its `Allow`.
pub(super) async fn problem_for_bare(response: Response) -> Response {
    let status = response.status();
    // Ours carry a JSON body (a problem, or /readyz's report); theirs none, or plain text.
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| !v.as_bytes().starts_with(b"text/plain"));
    let bare = matches!(
        status,
        StatusCode::NOT_FOUND
            | StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::SERVICE_UNAVAILABLE
    );
    if is_ours || !bare {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut problem = ApiError::Bare(status).into_response();
    if let Some(allow) = allow {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    problem
}
