//! PostgreSQL: the processor's source of truth. Every statement orderflow runs is here.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::domain::{CommandId, Order, OrderId, OrderStatus, PriorOutcome};

pub type Result<T, E = sqlx::Error> = std::result::Result<T, E>;

/// An event (or other outbox record) to store and later publish.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub event_id: Uuid,
    pub order_id: Uuid,
    pub version: i64,
    pub event_type: &'static str,
    pub causation_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The exact Kafka record value.
    pub payload: Vec<u8>,
    pub source_partition: i32,
}

/// The record that a command was handled, and how.
#[derive(Debug, Clone)]
pub struct ProcessedRow {
    pub command_id: Uuid,
    pub order_id: Uuid,
    pub storefront_id: String,
    pub command_type: &'static str,
    /// `applied` or `rejected`.
    pub outcome: &'static str,
    pub version: Option<i64>,
    pub rejection_code: Option<&'static str>,
    pub rejection_msg: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct OffsetRow {
    pub partition: i32,
    pub next_offset: i64,
}

/// Everything one batch changes, written in one transaction.
#[derive(Debug, Default)]
pub struct BatchWrite {
    pub orders: Vec<Order>,
    pub events: Vec<EventRow>,
    pub processed: Vec<ProcessedRow>,
    pub offsets: Vec<OffsetRow>,
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url.expose_secret())
            .await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the embedded migrations in `migrations/`.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::migrate!("./migrations").run(&self.pool).await
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

    /// Writes one batch's orders, events, processed commands and offsets atomically.
    #[tracing::instrument(skip_all, fields(orders = batch.orders.len(), events = batch.events.len()))]
    pub async fn write_batch(&self, group_id: &str, topic: &str, batch: &BatchWrite) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if !batch.orders.is_empty() {
            upsert_orders(&mut tx, &batch.orders).await?;
        }
        if !batch.events.is_empty() {
            insert_events(&mut tx, &batch.events).await?;
        }
        if !batch.processed.is_empty() {
            insert_processed(&mut tx, &batch.processed).await?;
        }
        for offset in &batch.offsets {
            sqlx::query(
                "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (group_id, topic, partition)
                 DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
            )
            .bind(group_id)
            .bind(topic)
            .bind(offset.partition)
            .bind(offset.next_offset)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Marks outbox rows as delivered to Kafka (one statement).
    pub async fn mark_published(&self, event_ids: &[Uuid]) -> Result<()> {
        sqlx::query("UPDATE order_events SET published_at = now() WHERE event_id = ANY($1) AND published_at IS NULL")
            .bind(event_ids)
            .execute(&self.pool)
            .await?;
        Ok(())
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

async fn upsert_orders(tx: &mut sqlx::PgConnection, orders: &[Order]) -> Result<()> {
    let mut ids = Vec::with_capacity(orders.len());
    let mut storefronts = Vec::with_capacity(orders.len());
    let mut customers = Vec::with_capacity(orders.len());
    let mut statuses = Vec::with_capacity(orders.len());
    let mut versions = Vec::with_capacity(orders.len());
    let mut created = Vec::with_capacity(orders.len());
    let mut updated = Vec::with_capacity(orders.len());
    let mut bodies = Vec::with_capacity(orders.len());
    let mut deleted = Vec::with_capacity(orders.len());
    for o in orders {
        deleted.push((o.status == OrderStatus::Deleted).then_some(o.updated_at));
        ids.push(o.order_id.0);
        storefronts.push(o.storefront_id.as_str());
        customers.push(o.customer_id.as_str());
        statuses.push(o.status.as_str());
        versions.push(i64::try_from(o.version).unwrap_or(i64::MAX));
        created.push(o.created_at);
        updated.push(o.updated_at);
        bodies.push(sqlx::types::Json(o));
    }
    sqlx::query(
        "INSERT INTO orders (order_id, storefront_id, customer_id, status, version, created_at,
                             updated_at, deleted_at, body)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                              $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::jsonb[])
         ON CONFLICT (order_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, status = EXCLUDED.status,
             version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
             deleted_at = EXCLUDED.deleted_at, body = EXCLUDED.body",
    )
    .bind(ids)
    .bind(storefronts)
    .bind(customers)
    .bind(statuses)
    .bind(versions)
    .bind(created)
    .bind(updated)
    .bind(deleted)
    .bind(bodies)
    .execute(tx)
    .await?;
    Ok(())
}

async fn insert_events(tx: &mut sqlx::PgConnection, events: &[EventRow]) -> Result<()> {
    sqlx::query(
        "INSERT INTO order_events (event_id, order_id, version, event_type, causation_id,
                                   occurred_at, payload, source_partition)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::uuid[],
                              $6::timestamptz[], $7::bytea[], $8::int[])",
    )
    .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.order_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.version).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event_type).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.causation_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.payload.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.source_partition)
            .collect::<Vec<_>>(),
    )
    .execute(tx)
    .await?;
    Ok(())
}

async fn insert_processed(tx: &mut sqlx::PgConnection, rows: &[ProcessedRow]) -> Result<()> {
    sqlx::query(
        "INSERT INTO processed_commands (command_id, order_id, storefront_id, command_type,
                                         outcome, version, rejection_code, rejection_msg)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                              $6::bigint[], $7::text[], $8::text[])",
    )
    .bind(rows.iter().map(|r| r.command_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.order_id).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.storefront_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.command_type).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.outcome).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.rejection_code).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.rejection_msg.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(tx)
    .await?;
    Ok(())
}
