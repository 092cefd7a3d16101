//! How a validated write becomes a command on Kafka: ids (derived from an Idempotency-Key,
//! or random), the trace and idempotency headers, the produce, and the 202 Accepted.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use opentelemetry::trace::TraceContextExt;
use rdkafka::message::{Header, OwnedHeaders};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::domain::{Command, CommandBody, CommandId, OrderId};
use crate::ingress::auth::Caller;
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
/// How long Redis remembers a key's first fingerprint (the ingress's early check).
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
pub(super) struct Write<'a> {
    pub(super) caller: &'a Caller,
    pub(super) headers: &'a HeaderMap,
    /// Identifies the request for the idempotency check (method, path, body).
    pub(super) fingerprint: Vec<u8>,
    pub(super) order_id: Option<OrderId>,
    pub(super) body: CommandBody,
}

/// What identifies a request for the idempotency check: method and path, then the body.
pub(super) fn fingerprint(request: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(request.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().to_vec()
}

/// Turns a validated write into a command, produces it and answers 202.
pub(super) async fn submit(state: &AppState, write: Write<'_>) -> Result<Response, ApiError> {
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
                    tracing::warn!(%error, "idempotency store unavailable; relying on derived command ids");
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
    produce(
        state,
        &command,
        &trace::from_http(write.headers),
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

/// Produces `command` onto the commands topic (with its trace and idempotency headers) and
/// waits for the broker's acknowledgement. The trace header names this span when spans are
/// recorded, else the caller's `parent` as it came.
#[tracing::instrument(name = "orders.commands publish", skip_all, fields(otel.kind = "producer", messaging.system = "kafka", order_id = %command.order_id, command_id = %command.command_id, kind = command.body.kind(), trace_id = tracing::field::Empty))]
pub(crate) async fn produce(
    state: &AppState,
    command: &Command,
    parent: &opentelemetry::Context,
    idempotency: Option<&(String, String)>,
) -> Result<(), ApiError> {
    let payload = state
        .codec
        .encode_command(&state.topics.commands, command)
        .await
        .map_err(|e| ApiError::BrokerUnavailable(e.into()))?;
    let key = order_key(command.order_id);
    let own = tracing::Span::current().context();
    let context = if own.span().span_context().is_valid() {
        &own
    } else {
        parent
    };
    let trace = context.span().span_context().clone();
    if trace.is_valid() {
        tracing::Span::current().record("trace_id", tracing::field::display(trace.trace_id()));
    }
    let mut headers = trace::into_kafka(context, OwnedHeaders::new());
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
