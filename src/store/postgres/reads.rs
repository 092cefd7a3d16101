//! What the API and the processor read: orders, their owners and events, command statuses, prior
//! outcomes, idempotency fingerprints.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
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
}

/// The processed-command record, as `GET /v1/commands/{id}` shows it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CommandStatus {
    pub command_id: Uuid,
    pub order_id: Uuid,
    pub command_type: String,
    pub outcome: String,
    pub version: Option<i64>,
    pub rejection_code: Option<String>,
    pub rejection_msg: Option<String>,
}

impl Store {
    /// The request fingerprint each of these idempotency keys was first used with.
    pub async fn idempotency_fingerprints(
        &self,
        keys: &[&[u8]],
    ) -> Result<HashMap<Vec<u8>, Vec<u8>>> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT key_hash, fingerprint FROM idempotency_keys WHERE key_hash = ANY($1)",
        )
        .bind(keys)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// The current state of the given orders (one query).
    pub async fn load_orders(&self, ids: &[Uuid]) -> Result<HashMap<OrderId, Order>> {
        let rows: Vec<(sqlx::types::Json<Order>,)> =
            sqlx::query_as("SELECT body FROM orders WHERE order_id = ANY($1)")
                .bind(ids)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(sqlx::types::Json(order),)| (order.order_id, order))
            .collect())
    }

    /// How each of the given commands was handled before, if it was (one query).
    pub async fn prior_outcomes(&self, ids: &[Uuid]) -> Result<HashMap<CommandId, PriorOutcome>> {
        let rows: Vec<(Uuid, String, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT command_id, outcome, version, rejection_code
             FROM processed_commands WHERE command_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, outcome, version, code)| {
                let prior = match (outcome.as_str(), version) {
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
        let rows: Vec<(sqlx::types::Json<Order>,)> = sqlx::query_as(
            "SELECT body FROM orders
             WHERE storefront_id = $1 AND deleted_at IS NULL
               AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR customer_id = $3)
               AND ($4::timestamptz IS NULL OR created_at >= $4)
               AND ($5::timestamptz IS NULL OR created_at < $5)
               AND ($6::timestamptz IS NULL OR (created_at, order_id) < ($6, $7))
             ORDER BY created_at DESC, order_id DESC
             LIMIT $8",
        )
        .bind(storefront)
        .bind(filter.status.as_deref())
        .bind(filter.customer_id.as_deref())
        .bind(filter.created_from)
        .bind(filter.created_before)
        .bind(filter.after.map(|(t, _)| t))
        .bind(filter.after.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(sqlx::types::Json(o),)| o).collect())
    }

    /// The storefront an order belongs to, deleted or not (its history stays readable).
    pub async fn order_owner(&self, id: OrderId) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT storefront_id FROM orders WHERE order_id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(s,)| s))
    }

    /// Every event of an order, as published, in order.
    pub async fn order_events(&self, id: OrderId) -> Result<Vec<Vec<u8>>> {
        let rows: Vec<(Vec<u8>,)> =
            sqlx::query_as("SELECT payload FROM order_events WHERE order_id = $1 ORDER BY seq")
                .bind(id.0)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    /// How a command was handled, if it was, for its storefront.
    pub async fn command_status(
        &self,
        command_id: Uuid,
        storefront: &str,
    ) -> Result<Option<CommandStatus>> {
        sqlx::query_as(
            "SELECT command_id, order_id, command_type, outcome, version, rejection_code, rejection_msg
             FROM processed_commands WHERE command_id = $1 AND storefront_id = $2",
        )
        .bind(command_id)
        .bind(storefront)
        .fetch_optional(&self.pool)
        .await
    }

    /// One order as readers see it, if it exists and is not deleted.
    pub async fn get_order(&self, id: OrderId) -> Result<Option<Order>> {
        let row: Option<(sqlx::types::Json<Order>,)> =
            sqlx::query_as("SELECT body FROM orders WHERE order_id = $1 AND deleted_at IS NULL")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(sqlx::types::Json(order),)| order))
    }
}
