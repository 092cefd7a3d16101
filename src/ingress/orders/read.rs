//! One order: from the cache, else PostgreSQL; ETag and 304.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ReadErrors, parse_order_id};
use crate::domain::OrderId;
use crate::ingress::auth::Caller;
use crate::ingress::schemas;
use crate::ingress::{ApiError, AppState};

/// The order, from the cache or PostgreSQL.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from before: 304 if unchanged")),
    responses((status = 200, description = "The order", body = schemas::Order, headers(("ETag" = String, description = "The order's version, quoted"))), (status = 304, description = "Unchanged since the ETag"), ReadErrors)
)]
pub(crate) async fn get(
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
