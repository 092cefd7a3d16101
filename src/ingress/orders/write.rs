//! The write endpoints, and how a write becomes a command on Kafka (202 Accepted).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use rdkafka::message::{Header, OwnedHeaders};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{parse_body, parse_json, parse_order_id, validated};
use crate::domain::{
    Command, CommandBody, CommandId, NewOrder, NewOrderInput, OrderId, OrderUpdate,
    OrderUpdateInput, ShippingInfo, ShippingInput, ValidationErrors, parse_cancel_reason,
};
use crate::ingress::auth::Caller;
use crate::ingress::error::Problem;
use crate::ingress::{ApiError, AppState};
use crate::ingress::{idempotency, params, schemas};
use crate::kafka::order_key;
use crate::kafka::producer::Outgoing;
use crate::trace;

/// Namespace of ids derived from an idempotency key: the same key and request always name
/// the same command, and for a create without an order id the same key names the same order.
/// The same key with another request is another command, which the processor rejects
/// `idempotency_conflict` (durably: it keeps every key's first fingerprint in PostgreSQL).
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_7266_6c6f_7700_0000_0000_0002);
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A write was accepted: its command is on its way to the processor.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Accepted {
    #[schema(value_type = schemas::OrderId)]
    order_id: OrderId,
    #[schema(value_type = schemas::CommandId)]
    command_id: CommandId,
    status_url: String,
}

/// What a write asks for, before it becomes a command.
struct Write<'a> {
    caller: &'a Caller,
    headers: &'a HeaderMap,
    /// Identifies the request for the idempotency check (method, path, body).
    fingerprint: Vec<u8>,
    order_id: Option<OrderId>,
    body: CommandBody,
}

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
    id: String,
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
        let Path(id) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            state: state.clone(),
            caller,
            id,
            headers,
            body,
        })
    }
}

impl OrderWrite {
    /// Parses the body into `T` (an empty body reads as `{}`), checks it at the edge with
    /// `command` and submits the command.
    async fn submit<T: serde::de::DeserializeOwned>(
        self,
        action: &str,
        command: impl FnOnce(T) -> Result<CommandBody, ValidationErrors>,
    ) -> Result<Response, ApiError> {
        let order_id = parse_order_id(&self.id)?;
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
struct EmptyBody {}

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

fn fingerprint(request: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(request.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().to_vec()
}

/// Turns a validated write into a command, produces it and answers 202.
async fn submit(state: &AppState, write: Write<'_>) -> Result<Response, ApiError> {
    let storefront = write.caller.storefront.as_str();
    let idempotency_key = params::idempotency_key(write.headers)?;
    let mut idempotency = None;
    let (command_id, order_id) = match idempotency_key {
        Some(key) => {
            let scope = format!("{storefront}\n{key}");
            let fingerprint = URL_SAFE_NO_PAD.encode(&write.fingerprint);
            match idempotency::remember(&state.cache, &scope, &fingerprint, IDEMPOTENCY_TTL).await {
                Ok(Some(earlier)) if earlier != fingerprint => {
                    return Err(ApiError::IdempotencyConflict);
                }
                Ok(_) => {}
                // Without Redis the ids below still make a repeated request the same command;
                // only a reused key with another body goes undetected.
                Err(error) => {
                    tracing::warn!(%error, "idempotency store unavailable; relying on derived command ids")
                }
            }
            let command_id = CommandId(Uuid::new_v5(
                &IDEMPOTENCY_NAMESPACE,
                format!("{scope}\n{fingerprint}").as_bytes(),
            ));
            let key_hash: [u8; 32] = Sha256::digest(scope.as_bytes()).into();
            idempotency = Some((hex::encode(key_hash), hex::encode(&write.fingerprint)));
            let order_id = write.order_id.unwrap_or_else(|| {
                OrderId(Uuid::new_v5(
                    &IDEMPOTENCY_NAMESPACE,
                    format!("{scope}\norder").as_bytes(),
                ))
            });
            (command_id, order_id)
        }
        None => (
            CommandId::new_random(),
            write.order_id.unwrap_or_else(OrderId::new_random),
        ),
    };
    let command = Command {
        command_id,
        order_id,
        storefront_id: write.caller.storefront.clone(),
        expected_version: params::expected_version(write.headers)?,
        issued_at: Utc::now(),
        issued_by: Some(write.caller.key_id.clone()),
        body: write.body,
    };
    let traceparent = write
        .headers
        .get(trace::HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|parent| trace::child_with_span(parent, &Uuid::new_v4().as_bytes()[..8]));
    produce(
        state,
        &command,
        traceparent.as_deref(),
        idempotency.as_ref(),
    )
    .await?;
    let accepted = Accepted {
        order_id: command.order_id,
        command_id: command.command_id,
        status_url: format!("/v1/commands/{}", command.command_id),
    };
    let location = HeaderValue::from_str(&format!("/v1/orders/{}", command.order_id))
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        axum::Json(accepted),
    )
        .into_response())
}

fn prefix_field(field: &str, error: ApiError) -> ApiError {
    match error {
        ApiError::MalformedBody(detail) => ApiError::MalformedBody(format!("{field}: {detail}")),
        other => other,
    }
}

#[tracing::instrument(skip_all, fields(order_id = %command.order_id, command_id = %command.command_id, kind = command.body.kind(), trace_id = traceparent.and_then(trace::trace_id)))]
async fn produce(
    state: &AppState,
    command: &Command,
    traceparent: Option<&str>,
    idempotency: Option<&(String, String)>,
) -> Result<(), ApiError> {
    let payload = state
        .codec
        .encode_command(&state.topics.commands, command)
        .await
        .map_err(|e| ApiError::BrokerUnavailable(e.into()))?;
    let key = order_key(command.order_id);
    let mut headers = OwnedHeaders::new();
    if let Some(t) = traceparent {
        headers = headers.insert(Header {
            key: trace::HEADER,
            value: Some(t),
        });
    }
    if let Some((key, fingerprint)) = idempotency {
        headers = headers
            .insert(Header {
                key: crate::kafka::IDEMPOTENCY_KEY_HEADER,
                value: Some(key),
            })
            .insert(Header {
                key: crate::kafka::IDEMPOTENCY_FINGERPRINT_HEADER,
                value: Some(fingerprint),
            });
    }
    let headers = (rdkafka::message::Headers::count(&headers) > 0).then_some(headers);
    state
        .producer
        .send(Outgoing {
            topic: &state.topics.commands,
            key: key.as_bytes(),
            payload: Some(&payload),
            headers,
        })
        .await
        .map_err(|e| ApiError::BrokerUnavailable(e.into()))?;
    crate::metrics::command_produced(command.body.kind());
    tracing::info!("command accepted");
    Ok(())
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
