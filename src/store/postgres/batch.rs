//! One batch's rows, written in one transaction: orders (guarded by their base version), events,
//! processed commands, dead letters, offsets.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::offsets::{OffsetMove, move_offsets};
use super::payments::write_payments;
use super::shipments::write_shipments;
use super::{COMMANDS_HANDLED, Result, Store, WriteError};
use crate::domain::{Order, OrderStatus};

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
    /// W3C trace context the event carries, continued from its command's.
    pub traceparent: Option<String>,
}

/// An undecodable record, kept until it is on the dead-letter topic.
#[derive(Debug, Clone)]
pub struct DeadLetterRow {
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// The DLQ record's headers, in order.
    pub headers: Vec<(String, String)>,
    pub error_kind: &'static str,
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

/// Everything one batch changes, written in one transaction.
#[derive(Debug, Default)]
pub struct BatchWrite {
    pub orders: Vec<Order>,
    /// Idempotency keys used for the first time: (key, request fingerprint, command id).
    pub idempotency_keys: Vec<(Vec<u8>, Vec<u8>, Uuid)>,
    /// `base_versions[i]`: the version `orders[i]`'s row must hold for the write to land
    /// (None: the order is new, no row may exist).
    pub base_versions: Vec<Option<i64>>,
    pub events: Vec<EventRow>,
    pub processed: Vec<ProcessedRow>,
    pub dead_letters: Vec<DeadLetterRow>,
    pub offsets: Vec<OffsetMove>,
}

/// Returns (outbox position, source partition, source offset) of each row inserted; a row
/// already stored (the same source record) is not inserted again.
async fn insert_dead_letters(
    tx: &mut sqlx::PgConnection,
    rows: &[DeadLetterRow],
) -> Result<Vec<(i64, i32, i64)>> {
    sqlx::query_as(
        "INSERT INTO dead_letters (source_topic, source_partition, source_offset, record_key,
                                   payload, headers, error_kind)
         SELECT * FROM UNNEST($1::text[], $2::int[], $3::bigint[], $4::bytea[], $5::bytea[],
                              $6::jsonb[], $7::text[])
         ON CONFLICT (source_topic, source_partition, source_offset) DO NOTHING
         RETURNING seq, source_partition, source_offset",
    )
    .bind(
        rows.iter()
            .map(|r| r.source_topic.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.source_partition).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.source_offset).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.key.as_deref()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.payload.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| sqlx::types::Json(&r.headers))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.error_kind).collect::<Vec<_>>())
    .fetch_all(tx)
    .await
}

/// Writes the batch's orders, each only from the version its fold started at: new orders
/// are inserted only if no row exists, known ones updated only if their row still holds the
/// base version. Anything else means the fold worked on stale state: the batch fails.
async fn write_orders(
    tx: &mut sqlx::PgConnection,
    orders: &[Order],
    base_versions: &[Option<i64>],
) -> Result<(), WriteError> {
    assert_eq!(
        orders.len(),
        base_versions.len(),
        "one base version per order"
    );
    let (new, known): (Vec<_>, Vec<_>) = orders
        .iter()
        .zip(base_versions)
        .partition(|(_, base)| base.is_none());
    if !new.is_empty() {
        let rows = OrderColumns::of(new.iter().map(|(o, _)| *o));
        let inserted = sqlx::query(
            "INSERT INTO orders (order_id, storefront_id, customer_id, status, version, created_at,
                                 updated_at, deleted_at, body, payment_status, fulfillment_status,
                                 return_status)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                                  $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::jsonb[],
                                  $10::text[], $11::text[], $12::text[])
             ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(rows.ids)
        .bind(rows.storefronts)
        .bind(rows.customers)
        .bind(rows.statuses)
        .bind(rows.versions)
        .bind(rows.created)
        .bind(rows.updated)
        .bind(rows.deleted)
        .bind(rows.bodies)
        .bind(rows.payment_statuses)
        .bind(rows.fulfillment_statuses)
        .bind(rows.return_statuses)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted != new.len() as u64 {
            return Err(WriteError::StaleOrder);
        }
    }
    if !known.is_empty() {
        let bases: Vec<i64> = known.iter().filter_map(|(_, base)| **base).collect();
        let rows = OrderColumns::of(known.iter().map(|(o, _)| *o));
        let updated = sqlx::query(
            "UPDATE orders o SET customer_id = m.customer_id, status = m.status,
                 version = m.version, updated_at = m.updated_at, deleted_at = m.deleted_at,
                 body = m.body, payment_status = m.payment_status,
                 fulfillment_status = m.fulfillment_status, return_status = m.return_status
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[],
                         $6::timestamptz[], $7::jsonb[], $8::bigint[], $9::text[], $10::text[],
                         $11::text[])
                  AS m(order_id, customer_id, status, version, updated_at, deleted_at, body, base,
                       payment_status, fulfillment_status, return_status)
             WHERE o.order_id = m.order_id AND o.version = m.base",
        )
        .bind(rows.ids)
        .bind(rows.customers)
        .bind(rows.statuses)
        .bind(rows.versions)
        .bind(rows.updated)
        .bind(rows.deleted)
        .bind(rows.bodies)
        .bind(bases)
        .bind(rows.payment_statuses)
        .bind(rows.fulfillment_statuses)
        .bind(rows.return_statuses)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != known.len() as u64 {
            return Err(WriteError::StaleOrder);
        }
    }
    Ok(())
}

/// Orders as the column arrays UNNEST takes.
struct OrderColumns<'a> {
    ids: Vec<Uuid>,
    storefronts: Vec<&'a str>,
    customers: Vec<&'a str>,
    statuses: Vec<&'static str>,
    versions: Vec<i64>,
    created: Vec<DateTime<Utc>>,
    updated: Vec<DateTime<Utc>>,
    deleted: Vec<Option<DateTime<Utc>>>,
    bodies: Vec<sqlx::types::Json<&'a Order>>,
    payment_statuses: Vec<&'static str>,
    fulfillment_statuses: Vec<&'static str>,
    return_statuses: Vec<&'static str>,
}

async fn insert_events(tx: &mut sqlx::PgConnection, events: &[EventRow]) -> Result<()> {
    sqlx::query(
        "INSERT INTO order_events (event_id, order_id, version, event_type, causation_id,
                                   occurred_at, payload, source_partition, traceparent)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::uuid[],
                              $6::timestamptz[], $7::bytea[], $8::int[], $9::text[])",
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
    .bind(
        events
            .iter()
            .map(|e| e.traceparent.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(tx)
    .await?;
    Ok(())
}

async fn insert_processed(tx: &mut sqlx::PgConnection, rows: &[ProcessedRow]) -> Result<()> {
    sqlx::query(
        // processed_at: the time of writing (clock_timestamp), not of the transaction's
        // start (now()), which a batch's other statements would put well before its commit.
        "INSERT INTO processed_commands (command_id, order_id, storefront_id, command_type,
                                         outcome, version, rejection_code, rejection_msg,
                                         processed_at)
         SELECT *, clock_timestamp() FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[],
                              $5::text[], $6::bigint[], $7::text[], $8::text[])",
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

impl<'a> OrderColumns<'a> {
    fn of(orders: impl Iterator<Item = &'a Order>) -> Self {
        let mut c = OrderColumns {
            ids: Vec::new(),
            storefronts: Vec::new(),
            customers: Vec::new(),
            statuses: Vec::new(),
            versions: Vec::new(),
            created: Vec::new(),
            updated: Vec::new(),
            deleted: Vec::new(),
            bodies: Vec::new(),
            payment_statuses: Vec::new(),
            fulfillment_statuses: Vec::new(),
            return_statuses: Vec::new(),
        };
        for o in orders {
            c.deleted
                .push((o.status == OrderStatus::Deleted).then_some(o.updated_at));
            c.ids.push(o.order_id.0);
            c.storefronts.push(o.storefront_id.as_str());
            c.customers.push(o.customer_id.as_str());
            c.statuses.push(o.status.as_str());
            c.versions
                .push(i64::try_from(o.version).unwrap_or(i64::MAX));
            c.created.push(o.created_at);
            c.updated.push(o.updated_at);
            c.bodies.push(sqlx::types::Json(o));
            c.payment_statuses.push(o.payment.payment_status.as_str());
            c.fulfillment_statuses
                .push(o.progress.fulfillment_status.as_str());
            c.return_statuses.push(o.progress.return_status.as_str());
        }
        c
    }
}

impl Store {
    /// Writes one batch's orders, events, processed commands, dead letters and offsets in one
    /// transaction. The offsets move only if they are still where `offsets` expects them.
    /// Returns (outbox position, source partition, source offset) of the dead letters stored.
    #[tracing::instrument(skip_all, fields(orders = batch.orders.len(), events = batch.events.len()))]
    pub async fn write_batch(
        &self,
        group_id: &str,
        topic: &str,
        batch: &BatchWrite,
    ) -> Result<Vec<(i64, i32, i64)>, WriteError> {
        let mut tx = self.pool.begin().await?;
        move_offsets(&mut tx, group_id, topic, &batch.offsets).await?;
        if !batch.orders.is_empty() {
            write_orders(&mut tx, &batch.orders, &batch.base_versions).await?;
            write_payments(&mut tx, &batch.orders).await?;
            write_shipments(&mut tx, &batch.orders).await?;
        }
        if !batch.events.is_empty() {
            insert_events(&mut tx, &batch.events).await?;
        }
        if !batch.idempotency_keys.is_empty() {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (key_hash, fingerprint, command_id)
                 SELECT * FROM UNNEST($1::bytea[], $2::bytea[], $3::uuid[])
                 ON CONFLICT (key_hash) DO NOTHING",
            )
            .bind(
                batch
                    .idempotency_keys
                    .iter()
                    .map(|k| k.0.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .idempotency_keys
                    .iter()
                    .map(|k| k.1.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .idempotency_keys
                    .iter()
                    .map(|k| k.2)
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted != batch.idempotency_keys.len() as u64 {
                return Err(WriteError::IdempotencyRace);
            }
        }
        if !batch.processed.is_empty() {
            insert_processed(&mut tx, &batch.processed).await?;
            // Delivered to listeners when (and only if) the transaction commits.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(COMMANDS_HANDLED)
                .execute(&mut *tx)
                .await?;
        }
        let dead_letters = if batch.dead_letters.is_empty() {
            Vec::new()
        } else {
            insert_dead_letters(&mut tx, &batch.dead_letters).await?
        };
        tx.commit().await?;
        Ok(dead_letters)
    }
}
