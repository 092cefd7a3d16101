//! A page of the storefront's orders, filtered, keyset-paginated.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ReadErrors;
use crate::domain::{CustomerId, FulfillmentStatus, OrderStatus, PaymentStatus, ReturnStatus};
use crate::ingress::auth::Caller;
use crate::ingress::{ApiError, AppState};
use crate::ingress::{params, schemas};
use crate::store::OrderFilter;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    status: Option<String>,
    customer_id: Option<String>,
    created_from: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
    limit: Option<i64>,
    cursor: Option<String>,
    /// unpaid, authorized, partially_paid, paid, overpaid, partially_refunded, refunded, voided
    payment_status: Option<String>,
    /// unfulfilled, partially_fulfilled, fulfilled, partially_delivered, delivered
    fulfillment_status: Option<String>,
    /// none, requested, received, refunded
    return_status: Option<String>,
}

pub(crate) const MAX_PAGE: i64 = 200;

/// One page of orders, newest first.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the list response; `list` builds it
pub(crate) struct OrderPage {
    items: Vec<schemas::Order>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

/// The storefront's orders, newest first, filtered and keyset-paginated.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(ListQuery),
    responses((status = 200, description = "One page", body = OrderPage), ReadErrors)
)]
pub(crate) async fn list(
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
    one_of(
        "payment_status",
        query.payment_status.as_deref(),
        PaymentStatus::ALL,
        PaymentStatus::as_str,
    )?;
    one_of(
        "fulfillment_status",
        query.fulfillment_status.as_deref(),
        FulfillmentStatus::ALL,
        FulfillmentStatus::as_str,
    )?;
    one_of(
        "return_status",
        query.return_status.as_deref(),
        ReturnStatus::ALL,
        ReturnStatus::as_str,
    )?;
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
        payment_status: query.payment_status,
        fulfillment_status: query.fulfillment_status,
        return_status: query.return_status,
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

/// A filter's value, if given, must be one of `all` by name.
fn one_of<T: Copy>(
    name: &str,
    value: Option<&str>,
    all: &[T],
    as_str: impl Fn(T) -> &'static str,
) -> Result<(), ApiError> {
    match value {
        Some(v) if !all.iter().any(|s| as_str(*s) == v) => {
            let names: Vec<&str> = all.iter().map(|s| as_str(*s)).collect();
            Err(ApiError::BadQuery(format!(
                "{name} {v:?} is not one of {}",
                names.join(", ")
            )))
        }
        _ => Ok(()),
    }
}
