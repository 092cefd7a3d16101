//! `/v1/orders` handlers.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;

use super::{ApiError, AppState};
use crate::domain::{
    Command, CommandBody, CommandId, NewOrder, NewOrderInput, OrderId, StorefrontId,
};
use crate::kafka::order_key;
use crate::kafka::producer::Outgoing;

#[derive(Debug, Serialize)]
struct Accepted {
    order_id: OrderId,
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

pub(super) async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The body is the CreateOrder payload plus an optional client-chosen `order_id`. (serde's
    // flatten would silently accept unknown fields, so the id is taken out by hand.)
    let mut object: serde_json::Map<String, serde_json::Value> =
        parse_json(&mut serde_json::Deserializer::from_slice(&body))?;
    let order_id = match object.remove("order_id") {
        None | Some(serde_json::Value::Null) => OrderId::new_random(),
        Some(id) => OrderId(parse_json::<Uuid>(id).map_err(|e| prefix_field("order_id", e))?),
    };
    let input: NewOrderInput = parse_json(serde_json::Value::Object(object))?;
    // Refuse bad input here, with field paths; the processor validates again, because not
    // every command comes through the ingress.
    NewOrder::parse(&input).map_err(ApiError::Validation)?;
    let command = Command {
        command_id: CommandId::new_random(),
        order_id,
        storefront_id: StorefrontId::default_storefront(),
        expected_version: None,
        issued_at: Utc::now(),
        issued_by: None,
        body: CommandBody::CreateOrder(input),
    };
    produce(&state, &command).await?;
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

async fn produce(state: &AppState, command: &Command) -> Result<(), ApiError> {
    let payload = state
        .codec
        .encode_command(&state.topics.commands, command)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let key = order_key(command.order_id);
    state
        .producer
        .send(Outgoing {
            topic: &state.topics.commands,
            key: key.as_bytes(),
            payload: Some(&payload),
            headers: None,
        })
        .await
        .map_err(|e| ApiError::BrokerUnavailable(e.into()))?;
    crate::metrics::command_produced(command.body.kind());
    tracing::info!(order_id = %command.order_id, command_id = %command.command_id, kind = command.body.kind(), "command accepted");
    Ok(())
}

pub(super) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id)
        .map(OrderId)
        .map_err(|e| ApiError::BadPath(format!("order id {id:?} is not a UUID: {e}")))?;
    match state.cache.get_order_json(id).await {
        Ok(Some(json)) => return Ok(json_response(json)),
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, order_id = %id, "cache read failed; reading postgres"),
    }
    let order = state
        .store
        .get_order(id)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(order).into_response())
}

fn json_response(json: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}
