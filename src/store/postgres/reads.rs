//! What the API and the processor read: orders, their owners and events, command statuses, prior
//! outcomes, idempotency fingerprints.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{Result, Store};
use crate::domain::{CommandId, Order, OrderId, PriorOutcome};

/// Filters of `GET /v1/orders`.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<String>,
    pub customer_id: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Keyset cursor: the (created_at, order_id) of the last order of the previous page.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub payment_status: Option<String>,
    pub fulfillment_status: Option<String>,
    pub return_status: Option<String>,
}

/// The processed-command record, as `GET /v1/commands/{id}` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommandStatus {
    pub command_id: Uuid,
    pub order_id: Uuid,
    pub command_type: String,
    pub outcome: String,
    pub version: Option<i64>,
    pub rejection_code: Option<String>,
    pub rejection_msg: Option<String>,
    pub processed_at: chrono::DateTime<chrono::Utc>,
}

impl Store {
    /// The request fingerprint each of these idempotency keys was first used with.
    pub async fn idempotency_fingerprints(
        &self,
        keys: &[&[u8]],
    ) -> Result<HashMap<Vec<u8>, Vec<u8>>> {
        let rows = sqlx::query!(
            "SELECT key_hash, fingerprint FROM idempotency_keys WHERE key_hash = ANY($1)",
            // The macro's check wants owned `Vec<u8>`s; the borrowed keys encode as the
            // same bytea[] without copying each one (`as _` skips only that check).
            keys as _,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.key_hash, r.fingerprint))
            .collect())
    }

    /// The current state of the given orders (one query).
    pub async fn load_orders(&self, ids: &[Uuid]) -> Result<HashMap<OrderId, Order>> {
        let rows = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<Order>" FROM orders WHERE order_id = ANY($1)"#,
            ids,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|Json(order)| (order.order_id, order))
            .collect())
    }

    /// How each of the given commands was handled before, if it was (one query).
    pub async fn prior_outcomes(&self, ids: &[Uuid]) -> Result<HashMap<CommandId, PriorOutcome>> {
        let rows = sqlx::query!(
            "SELECT command_id, outcome, version, rejection_code
             FROM processed_commands WHERE command_id = ANY($1)",
            ids,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let (id, code) = (row.command_id, row.rejection_code);
                let prior = match (row.outcome.as_str(), row.version) {
                    ("applied", Some(version)) => PriorOutcome::Applied {
                        version: u64::try_from(version).unwrap_or_default(),
                    },
                    _ => PriorOutcome::Rejected {
                        code: code.unwrap_or_default(),
                    },
                };
                (CommandId(id), prior)
            })
            .collect())
    }

    /// A storefront's orders, newest first, after the keyset `after` (created_at, order_id).
    pub async fn list_orders(
        &self,
        storefront: &str,
        filter: &OrderFilter,
        limit: i64,
    ) -> Result<Vec<Order>> {
        let rows = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<Order>" FROM orders
             WHERE storefront_id = $1 AND deleted_at IS NULL
               AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR customer_id = $3)
               AND ($4::timestamptz IS NULL OR created_at >= $4)
               AND ($5::timestamptz IS NULL OR created_at < $5)
               AND ($6::timestamptz IS NULL OR (created_at, order_id) < ($6, $7))
               AND ($9::text IS NULL OR payment_status = $9)
               AND ($10::text IS NULL OR fulfillment_status = $10)
               AND ($11::text IS NULL OR return_status = $11)
             ORDER BY created_at DESC, order_id DESC
             LIMIT $8"#,
            storefront,
            filter.status.as_deref(),
            filter.customer_id.as_deref(),
            filter.created_from,
            filter.created_before,
            filter.after.map(|(t, _)| t),
            filter.after.map(|(_, id)| id),
            limit,
            filter.payment_status.as_deref(),
            filter.fulfillment_status.as_deref(),
            filter.return_status.as_deref(),
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|Json(o)| o).collect())
    }

    /// The storefront an order belongs to, deleted or not (its history stays readable).
    pub async fn order_owner(&self, id: OrderId) -> Result<Option<String>> {
        sqlx::query_scalar!("SELECT storefront_id FROM orders WHERE order_id = $1", id.0)
            .fetch_optional(&self.pool)
            .await
    }

    /// Every event of an order, as published, in order.
    pub async fn order_events(&self, id: OrderId) -> Result<Vec<Vec<u8>>> {
        sqlx::query_scalar!(
            "SELECT payload FROM order_events WHERE order_id = $1 ORDER BY seq",
            id.0
        )
        .fetch_all(&self.pool)
        .await
    }

    /// How a command was handled, if it was, for its storefront.
    pub async fn command_status(
        &self,
        command_id: Uuid,
        storefront: &str,
    ) -> Result<Option<CommandStatus>> {
        sqlx::query_as!(
            CommandStatus,
            "SELECT command_id, order_id, command_type, outcome, version, rejection_code, rejection_msg,
                    processed_at
             FROM processed_commands WHERE command_id = $1 AND storefront_id = $2",
            command_id,
            storefront,
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// One order as readers see it, if it exists and is not deleted.
    pub async fn get_order(&self, id: OrderId) -> Result<Option<Order>> {
        let row = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<Order>" FROM orders
               WHERE order_id = $1 AND deleted_at IS NULL"#,
            id.0
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|Json(order)| order))
    }
}
