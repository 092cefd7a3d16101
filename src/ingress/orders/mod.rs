//! `/v1/orders`: every write produces one command; reads come from Redis, then PostgreSQL;
//! everything is scoped to the caller's storefront. One file per job: `write` (the write
//! endpoints and how a write becomes a command), `payments` (the payment writes), `shipments` (fulfillments and returns), `read` (one
//! order), `list` (a page of orders), `history` (an order's events).

mod history;
mod list;
mod payments;
mod read;
mod shipments;
mod submit;
mod write;

pub(crate) use history::*;
pub(crate) use list::*;
pub(crate) use payments::*;
pub(crate) use read::*;
pub(crate) use shipments::*;
pub(crate) use submit::{Accepted, produce};
pub(crate) use write::*;

use uuid::Uuid;

use crate::domain::{OrderId, ValidationErrors};
use crate::ingress::ApiError;
use crate::ingress::error::Problem;

/// Strict JSON: unknown fields are refused and errors name the path that broke.
pub(super) fn parse_json<'de, T: serde::Deserialize<'de>>(
    de: impl serde::Deserializer<'de, Error = serde_json::Error>,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ApiError::MalformedBody(if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        })
    })
}

pub(super) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    super::strict_json::check(body).map_err(ApiError::MalformedBody)?;
    parse_json(&mut serde_json::Deserializer::from_slice(body))
}

pub(super) fn parse_order_id(id: &str) -> Result<OrderId, ApiError> {
    Uuid::parse_str(id)
        .map(OrderId)
        .map_err(|e| ApiError::BadPath(format!("order id {id:?} is not a UUID: {e}")))
}

pub(super) fn validated<T>(result: Result<T, ValidationErrors>) -> Result<T, ApiError> {
    result.map_err(ApiError::Validation)
}

/// The errors every read may answer.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documents the responses; handlers build them
pub(crate) enum ReadErrors {
    /// Bad path or query.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem<'static>),
    /// Missing or invalid API key.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem<'static>),
    /// No such order for this storefront.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem<'static>),
    /// Rate limited; see Retry-After.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem<'static>),
}
