//! An order's history: every event, decoded.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{ReadErrors, parse_order_id};
use crate::ingress::auth::Caller;
use crate::ingress::{ApiError, AppState};

/// An order's events, oldest first, as published on `orders.events`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct History {
    items: Vec<serde_json::Value>,
}

/// An order's history: every event, decoded.
#[utoipa::path(get, path = "/v1/orders/{id}/events", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "The events, oldest first", body = History), ReadErrors)
)]
pub(crate) async fn events(
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
