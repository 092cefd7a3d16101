//! The write endpoints: each one's request, validated into a `CommandBody` and handed to
//! `submit`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::submit::{Accepted, Write, fingerprint, submit};
use super::{parse_body, parse_json, parse_order_id, validated};
use crate::domain::{
    CommandBody, NewOrder, NewOrderInput, OrderId, OrderUpdate, OrderUpdateInput, ShippingInfo,
    ShippingInput, ValidationErrors, parse_cancel_reason,
};
use crate::ingress::auth::Caller;
use crate::ingress::error::Problem;
use crate::ingress::schemas;
use crate::ingress::{ApiError, AppState};
/// Headers every write accepts.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // read from the HeaderMap; this type documents them
pub(crate) struct WriteHeaders {
    /// The same key and body name the same command; another body is a 422.
    #[serde(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
    /// Apply only to this version of the order (otherwise: rejected, `version_conflict`).
    #[serde(rename = "If-Match")]
    if_match: Option<u64>,
    /// W3C trace context, continued into the command's Kafka headers.
    traceparent: Option<String>,
}

/// What every write answers.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documents the responses; handlers build them
pub(crate) enum WriteResponses {
    /// Accepted: the command is on its way to the processor.
    #[response(status = 202, headers(("Location" = String, description = "The order")))]
    Accepted(Accepted),
    /// Malformed JSON, unknown field, bad path or header.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem<'static>),
    /// Missing or invalid API key.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem<'static>),
    /// Body over 64 KiB.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem<'static>),
    /// A rule is broken (field paths in `errors`), or an Idempotency-Key reused with another body.
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(Problem<'static>),
    /// Rate limited; see Retry-After.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem<'static>),
    /// The broker did not acknowledge in time.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem<'static>),
}

/// Create an order (CreateOrder).
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = CreateOrderRequest,
    params(WriteHeaders), responses(WriteResponses))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The body is the CreateOrder payload plus an optional client-chosen `order_id`. (serde's
    // flatten would silently accept unknown fields, so the id is taken out by hand.)
    let mut object: serde_json::Map<String, serde_json::Value> = parse_body(&body)?;
    let order_id = match object.remove("order_id") {
        None | Some(serde_json::Value::Null) => None,
        Some(id) => Some(OrderId(
            parse_json::<Uuid>(id).map_err(|e| prefix_field("order_id", e))?,
        )),
    };
    let input: NewOrderInput = parse_json(serde_json::Value::Object(object))?;
    // Refuse bad input here, with field paths; the processor validates again, because not
    // every command comes through the ingress.
    validated(NewOrder::parse(&input))?;
    let write = Write {
        caller: &caller,
        headers: &headers,
        fingerprint: fingerprint("POST /v1/orders", &body),
        order_id,
        body: CommandBody::CreateOrder(input),
    };
    submit(&state, write).await
}

/// A write to an existing order, as extracted in the order axum would (caller, with its
/// rate limit, first; the body last).
pub(crate) struct OrderWrite {
    state: AppState,
    caller: Caller,
    /// The path's parameters: `id`, and `transaction_id` where the path has one.
    pub(super) path: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
}

impl FromRequest<AppState> for OrderWrite {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let caller = Caller::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(path) = Path::<HashMap<String, String>>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            state: state.clone(),
            caller,
            path,
            headers,
            body,
        })
    }
}

impl OrderWrite {
    /// Parses the body into `T` (an empty body reads as `{}`), checks it at the edge with
    /// `command` and submits the command.
    pub(super) async fn submit<T: serde::de::DeserializeOwned>(
        self,
        action: &str,
        command: impl FnOnce(T) -> Result<CommandBody, ValidationErrors>,
    ) -> Result<Response, ApiError> {
        let order_id = parse_order_id(self.path.get("id").map_or("", String::as_str))?;
        let body = &self.body;
        let input: T = parse_body(if body.is_empty() { b"{}" } else { body })?;
        let body_command = validated(command(input))?;
        let write = Write {
            caller: &self.caller,
            headers: &self.headers,
            fingerprint: fingerprint(&format!("{action} /v1/orders/{order_id}"), body),
            order_id: Some(order_id),
            body: body_command,
        };
        submit(&self.state, write).await
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EmptyBody {}

/// Replace items and/or the shipping address while pending (UpdateOrder).
#[utoipa::path(patch, path = "/v1/orders/{id}", tag = "orders", request_body = schemas::OrderUpdateInput,
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(crate) async fn update(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("PATCH", |input: OrderUpdateInput| {
            OrderUpdate::parse(&input).map(|_| CommandBody::UpdateOrder(input))
        })
        .await
}

/// Confirm a pending order (ConfirmOrder).
#[utoipa::path(post, path = "/v1/orders/{id}/confirm", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(crate) async fn confirm(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("confirm", |_: EmptyBody| Ok(CommandBody::ConfirmOrder))
        .await
}

/// Mark a shipped order delivered (DeliverOrder).
#[utoipa::path(post, path = "/v1/orders/{id}/deliver", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(crate) async fn deliver(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("deliver", |_: EmptyBody| Ok(CommandBody::DeliverOrder))
        .await
}

/// Delete a pending or cancelled order (DeleteOrder); its history stays.
#[utoipa::path(delete, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(crate) async fn delete(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("delete", |_: EmptyBody| Ok(CommandBody::DeleteOrder))
        .await
}

/// Ship a confirmed order (ShipOrder).
#[utoipa::path(post, path = "/v1/orders/{id}/ship", tag = "orders", request_body = schemas::ShippingInput,
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(crate) async fn ship(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("ship", |input: ShippingInput| {
            ShippingInfo::parse(&input).map(|_| CommandBody::ShipOrder(input))
        })
        .await
}

/// Change carrier or tracking number of a shipped order (UpdateShipping).
#[utoipa::path(put, path = "/v1/orders/{id}/shipping", tag = "orders", request_body = schemas::ShippingInput,
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(crate) async fn update_shipping(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("PUT shipping", |input: ShippingInput| {
            ShippingInfo::parse(&input).map(|_| CommandBody::UpdateShipping(input))
        })
        .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelBody {
    /// Why, 1 to 500 characters.
    reason: String,
}

/// Cancel a pending or confirmed order (CancelOrder).
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders", request_body = CancelBody,
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(crate) async fn cancel(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("cancel", |input: CancelBody| {
            parse_cancel_reason(&input.reason).map(|reason| CommandBody::CancelOrder { reason })
        })
        .await
}

fn prefix_field(field: &str, error: ApiError) -> ApiError {
    match error {
        ApiError::MalformedBody(detail) => ApiError::MalformedBody(format!("{field}: {detail}")),
        other => other,
    }
}

/// `POST /v1/orders` body: a CreateOrder payload and an optional client-chosen order id.
/// (Documentation only: `create` parses the body by hand, see there.)
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct CreateOrderRequest {
    /// Optional client-chosen order id; one is generated otherwise.
    order_id: Option<Uuid>,
    #[serde(flatten)]
    order: schemas::NewOrderInput,
}
