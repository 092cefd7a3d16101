//! `/v1/orders` and `/v1/commands`: every write produces one command; reads come from Redis,
//! then PostgreSQL; everything is scoped to the caller's storefront.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rdkafka::message::{Header, OwnedHeaders};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::auth::Caller;
use super::error::Problem;
use super::{ApiError, AppState};
use super::{idempotency, params, schemas};
use crate::domain::{
    Command, CommandBody, CommandId, CustomerId, NewOrder, NewOrderInput, OrderId, OrderStatus,
    OrderUpdate, OrderUpdateInput, ShippingInfo, ShippingInput, ValidationErrors,
    parse_cancel_reason,
};
use crate::kafka::order_key;
use crate::kafka::producer::Outgoing;
use crate::store::OrderFilter;
use crate::trace;

/// Namespace of ids derived from an idempotency key: the same key and request always name
/// the same command, and for a create without an order id the same key names the same order.
/// The same key with another request is another command, which the processor rejects
/// `idempotency_conflict` (durably: it keeps every key's first fingerprint in PostgreSQL).
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_7266_6c6f_7700_0000_0000_0002);
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A write was accepted: its command is on its way to the processor.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Accepted {
    #[schema(value_type = schemas::OrderId)]
    order_id: OrderId,
    #[schema(value_type = schemas::CommandId)]
    command_id: CommandId,
    status_url: String,
}

/// Strict JSON: unknown fields are refused and errors name the path that broke.
fn parse_json<'de, T: serde::Deserialize<'de>>(
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

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    super::strict_json::check(body).map_err(ApiError::MalformedBody)?;
    parse_json(&mut serde_json::Deserializer::from_slice(body))
}

fn parse_order_id(id: &str) -> Result<OrderId, ApiError> {
    Uuid::parse_str(id)
        .map(OrderId)
        .map_err(|e| ApiError::BadPath(format!("order id {id:?} is not a UUID: {e}")))
}

fn validated<T>(result: Result<T, ValidationErrors>) -> Result<T, ApiError> {
    result.map_err(ApiError::Validation)
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
pub(super) struct WriteHeaders {
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
pub(super) enum WriteResponses {
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
pub(super) async fn create(
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
pub(super) struct OrderWrite {
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
pub(super) async fn update(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("PATCH", |input: OrderUpdateInput| {
            OrderUpdate::parse(&input).map(|_| CommandBody::UpdateOrder(input))
        })
        .await
}

/// Confirm a pending order (ConfirmOrder).
#[utoipa::path(post, path = "/v1/orders/{id}/confirm", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(super) async fn confirm(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("confirm", |_: EmptyBody| Ok(CommandBody::ConfirmOrder))
        .await
}

/// Mark a shipped order delivered (DeliverOrder).
#[utoipa::path(post, path = "/v1/orders/{id}/deliver", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(super) async fn deliver(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("deliver", |_: EmptyBody| Ok(CommandBody::DeliverOrder))
        .await
}

/// Delete a pending or cancelled order (DeleteOrder); its history stays.
#[utoipa::path(delete, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(super) async fn delete(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("delete", |_: EmptyBody| Ok(CommandBody::DeleteOrder))
        .await
}

/// Ship a confirmed order (ShipOrder).
#[utoipa::path(post, path = "/v1/orders/{id}/ship", tag = "orders", request_body = schemas::ShippingInput,
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(super) async fn ship(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("ship", |input: ShippingInput| {
            ShippingInfo::parse(&input).map(|_| CommandBody::ShipOrder(input))
        })
        .await
}

/// Change carrier or tracking number of a shipped order (UpdateShipping).
#[utoipa::path(put, path = "/v1/orders/{id}/shipping", tag = "orders", request_body = schemas::ShippingInput,
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(super) async fn update_shipping(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("PUT shipping", |input: ShippingInput| {
            ShippingInfo::parse(&input).map(|_| CommandBody::UpdateShipping(input))
        })
        .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelBody {
    /// Why, 1 to 500 characters.
    reason: String,
}

/// Cancel a pending or confirmed order (CancelOrder).
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders", request_body = CancelBody,
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(super) async fn cancel(write: OrderWrite) -> Result<Response, ApiError> {
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

/// The order, from the cache or PostgreSQL.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from before: 304 if unchanged")),
    responses((status = 200, description = "The order", body = schemas::Order, headers(("ETag" = String, description = "The order's version, quoted"))), (status = 304, description = "Unchanged since the ETag"), ReadErrors)
)]
pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_order_id(&id)?;
    let (json, version) = match state.cache.get_order_json(id).await {
        Ok(Some(cached)) if cached.storefront == caller.storefront.as_str() => {
            (cached.json, cached.version)
        }
        Ok(Some(_)) => return Err(ApiError::NotFound),
        Ok(None) => from_postgres(&state, &caller, id).await?,
        Err(error) => {
            tracing::warn!(%error, order_id = %id, "cache read failed; reading postgres");
            from_postgres(&state, &caller, id).await?
        }
    };
    let etag = format!("\"{version}\"");
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(e.into()))?;
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if not_modified {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, etag_value),
        ],
        json,
    )
        .into_response())
}

async fn from_postgres(
    state: &AppState,
    caller: &Caller,
    id: OrderId,
) -> Result<(String, u64), ApiError> {
    let order = state
        .store
        .get_order(id)
        .await
        .map_err(ApiError::from_store)?
        .filter(|o| o.storefront_id == caller.storefront)
        .ok_or(ApiError::NotFound)?;
    let json = serde_json::to_string(&order).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((json, order.version))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    status: Option<String>,
    customer_id: Option<String>,
    created_from: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub(super) const MAX_PAGE: i64 = 200;

/// One page of orders, newest first.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the list response; `list` builds it
pub(super) struct OrderPage {
    items: Vec<schemas::Order>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

/// An order's events, oldest first, as published on `orders.events`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct History {
    items: Vec<serde_json::Value>,
}

/// What became of a command.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CommandView {
    command_id: Uuid,
    order_id: Option<Uuid>,
    /// CreateOrder, UpdateOrder, ...
    command: Option<String>,
    /// pending, applied or rejected.
    status: String,
    /// The order's version after the command (applied only).
    version: Option<i64>,
    rejection: Option<RejectionView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct RejectionView {
    /// A stable rejection code (topology.md lists them).
    code: String,
    message: String,
}

/// `POST /v1/orders` body: a CreateOrder payload and an optional client-chosen order id.
/// (Documentation only: `create` parses the body by hand, see there.)
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct CreateOrderRequest {
    /// Optional client-chosen order id; one is generated otherwise.
    order_id: Option<Uuid>,
    #[serde(flatten)]
    order: schemas::NewOrderInput,
}

/// The errors every read may answer.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documents the responses; handlers build them
pub(super) enum ReadErrors {
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

/// The storefront's orders, newest first, filtered and keyset-paginated.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(ListQuery),
    responses((status = 200, description = "One page", body = OrderPage), ReadErrors)
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadQuery(format!("limit must be 1 to {MAX_PAGE}")));
    }
    if let Some(status) = &query.status
        && OrderStatus::parse(status).is_none_or(|s| s == OrderStatus::Deleted)
    {
        return Err(ApiError::BadQuery(format!(
            "status {status:?} is not one of pending, confirmed, shipped, delivered, cancelled"
        )));
    }
    let after = query
        .cursor
        .as_deref()
        .map(params::decode_cursor)
        .transpose()?;
    if let Some(customer_id) = &query.customer_id {
        CustomerId::parse(customer_id.as_str())
            .map_err(|reason| ApiError::BadQuery(format!("customer_id {reason}")))?;
    }
    let filter = OrderFilter {
        status: query.status,
        customer_id: query.customer_id,
        created_from: query.created_from,
        created_before: query.created_before,
        after,
    };
    let orders = state
        .store
        .list_orders(caller.storefront.as_str(), &filter, limit)
        .await
        .map_err(ApiError::from_store)?;
    let next_cursor = (orders.len() as i64 == limit)
        .then(|| orders.last())
        .flatten()
        .map(|last| params::encode_cursor(last.created_at, last.order_id.0));
    Ok(
        axum::Json(serde_json::json!({ "items": orders, "next_cursor": next_cursor }))
            .into_response(),
    )
}

/// An order's history: every event, decoded.
#[utoipa::path(get, path = "/v1/orders/{id}/events", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "The events, oldest first", body = History), ReadErrors)
)]
pub(super) async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_order_id(&id)?;
    let owner = state
        .store
        .order_owner(id)
        .await
        .map_err(ApiError::from_store)?;
    if owner.as_deref() != Some(caller.storefront.as_str()) {
        return Err(ApiError::NotFound);
    }
    let mut items = Vec::new();
    for payload in state
        .store
        .order_events(id)
        .await
        .map_err(ApiError::from_store)?
    {
        let event = state
            .codec
            .decode_json(crate::codec::Subject::Event, &payload)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        items.push(event);
    }
    Ok(axum::Json(History { items }).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct WaitQuery {
    /// Long-poll: wait up to this long (e.g. `5s`; at most 30 s, and at most a second below
    /// the server's request timeout) for the command to be handled.
    wait: Option<String>,
}

/// What became of a command: pending, applied (with the version) or rejected (code, message).
#[utoipa::path(get, path = "/v1/commands/{id}", tag = "commands",
    params(("id" = Uuid, Path, description = "Command id"), WaitQuery),
    responses((status = 200, description = "The command's status", body = CommandView), ReadErrors)
)]
pub(super) async fn command(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let command_id = Uuid::parse_str(&id)
        .map_err(|e| ApiError::BadPath(format!("command id {id:?} is not a UUID: {e}")))?;
    let wait = query
        .wait
        .as_deref()
        .map(params::wait)
        .transpose()?
        .unwrap_or_default()
        .min(state.max_wait);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Registered before the query, so a commit between the query and the wait wakes it.
        let handled = state.commands_handled.notified();
        tokio::pin!(handled);
        handled.as_mut().enable();
        let status = state
            .store
            .command_status(command_id, caller.storefront.as_str())
            .await
            .map_err(ApiError::from_store)?;
        if let Some(status) = status {
            let view = CommandView {
                command_id,
                order_id: Some(status.order_id),
                command: Some(status.command_type),
                status: status.outcome,
                version: status.version,
                rejection: status.rejection_code.map(|code| RejectionView {
                    code,
                    message: status.rejection_msg.unwrap_or_default(),
                }),
            };
            return Ok(axum::Json(view).into_response());
        }
        if tokio::time::Instant::now() >= deadline {
            // Not handled yet (or not this storefront's): it may still be on its way.
            return Ok(axum::Json(
                serde_json::json!({ "command_id": command_id, "status": "pending" }),
            )
            .into_response());
        }
        let fallback = (tokio::time::Instant::now() + super::wakeups::FALLBACK_POLL).min(deadline);
        tokio::select! {
            () = &mut handled => {}
            () = tokio::time::sleep_until(fallback) => {}
        }
    }
}
