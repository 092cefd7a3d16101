//! PostgreSQL: the processor's source of truth. Every statement orderflow runs is here.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use crate::domain::{CommandId, Order, OrderId, OrderStatus, PriorOutcome};

pub type Result<T, E = sqlx::Error> = std::result::Result<T, E>;

/// The LISTEN/NOTIFY channel a batch's commit notifies when it handled commands: long-polls
/// of `GET /v1/commands/{id}` wake on it instead of polling.
pub const COMMANDS_HANDLED: &str = "orderflow_commands_handled";

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

/// A dead letter not yet published, with its outbox position.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredDeadLetter {
    pub seq: i64,
    #[sqlx(rename = "record_key")]
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    #[sqlx(json)]
    pub headers: Vec<(String, String)>,
}

/// An event row not yet published.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub event_id: Uuid,
    pub order_id: Uuid,
    pub payload: Vec<u8>,
    pub traceparent: Option<String>,
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

/// Moves a partition's stored offset from `expected` (None: no row yet) to `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetMove {
    pub partition: i32,
    pub expected: Option<i64>,
    pub next: i64,
}

/// Why a batch could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A stored offset was not where this consumer left it: another member owns the
    /// partition now. Nothing was written.
    #[error("stored offsets moved under this batch: the partition assignment was lost")]
    Fenced,
    /// An order's row was not at the version the batch folded from (or a new order's row
    /// existed already). Nothing was written.
    #[error("an order's row is not at the version the batch folded from")]
    StaleOrder,
    /// An idempotency key of the batch was stored by another batch meanwhile.
    #[error("an idempotency key was stored by another batch meanwhile")]
    IdempotencyRace,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
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

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// The pool, for SQL that is not the service's: the benchmark's I/O ceiling (`loadgen`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `password`, when given, replaces the one in `url`.
    pub async fn connect(
        url: &SecretString,
        password: Option<&SecretString>,
        max_connections: u32,
    ) -> Result<Self> {
        let mut options: PgConnectOptions = url.expose_secret().parse()?;
        if let Some(password) = password {
            options = options.password(password.expose_secret());
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

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

    /// A listener of `COMMANDS_HANDLED` on its own connection.
    pub async fn listen_commands_handled(&self) -> Result<sqlx::postgres::PgListener> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(COMMANDS_HANDLED).await?;
        Ok(listener)
    }

    /// Answers when PostgreSQL does.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
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

    /// The next offset to consume per partition, as stored with the state it produced.
    pub async fn load_offsets(
        &self,
        group_id: &str,
        topic: &str,
        partitions: &[i32],
    ) -> Result<HashMap<i32, i64>> {
        let rows: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT partition, next_offset FROM consumer_offsets
             WHERE group_id = $1 AND topic = $2 AND partition = ANY($3)",
        )
        .bind(group_id)
        .bind(topic)
        .bind(partitions)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

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

    /// The first `limit` events and `limit` dead letters stored but not yet on Kafka for these
    /// partitions, in outbox order. Once they are marked published, the next call pages on.
    pub async fn unpublished(
        &self,
        partitions: &[i32],
        limit: i64,
    ) -> Result<(Vec<StoredEvent>, Vec<StoredDeadLetter>)> {
        let events = sqlx::query_as(
            "SELECT event_id, order_id, payload, traceparent FROM order_events
             WHERE published_at IS NULL AND source_partition = ANY($1) ORDER BY seq LIMIT $2",
        )
        .bind(partitions)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let letters = sqlx::query_as(
            "SELECT seq, record_key, payload, headers FROM dead_letters
             WHERE published_at IS NULL AND source_partition = ANY($1) ORDER BY seq LIMIT $2",
        )
        .bind(partitions)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok((events, letters))
    }

    /// Rows of the outbox not yet on Kafka, for the `outbox pending` gauge.
    pub async fn count_unpublished(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM order_events WHERE published_at IS NULL)
                  + (SELECT count(*) FROM dead_letters WHERE published_at IS NULL)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// Marks dead letters as delivered (one statement).
    pub async fn mark_dead_letters_published(&self, seqs: &[i64]) -> Result<()> {
        sqlx::query("UPDATE dead_letters SET published_at = now() WHERE seq = ANY($1) AND published_at IS NULL")
            .bind(seqs)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks outbox rows as delivered to Kafka (one statement).
    pub async fn mark_published(&self, event_ids: &[Uuid]) -> Result<()> {
        sqlx::query("UPDATE order_events SET published_at = now() WHERE event_id = ANY($1) AND published_at IS NULL")
            .bind(event_ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores an API key's hash for a storefront.
    pub async fn insert_api_key(
        &self,
        key_id: &str,
        key_hash: &[u8],
        storefront: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (key_id, key_hash, storefront_id) VALUES ($1, $2, $3)")
            .bind(key_id)
            .bind(key_hash)
            .bind(storefront)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The (key id, storefront) of a live API key, by the key's hash.
    pub async fn api_key(&self, key_hash: &[u8]) -> Result<Option<(String, String)>> {
        sqlx::query_as(
            "SELECT key_id, storefront_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
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

/// Moves every partition's offset, fenced: a row moves only from the offset this consumer
/// expects, so a batch committed after its partition was reassigned fails as a whole.
async fn move_offsets(
    tx: &mut sqlx::PgConnection,
    group_id: &str,
    topic: &str,
    moves: &[OffsetMove],
) -> Result<(), WriteError> {
    let (existing, new): (Vec<&OffsetMove>, Vec<&OffsetMove>) =
        moves.iter().partition(|m| m.expected.is_some());
    if !existing.is_empty() {
        let moved = sqlx::query(
            "UPDATE consumer_offsets o SET next_offset = m.next, updated_at = now()
             FROM UNNEST($3::int[], $4::bigint[], $5::bigint[]) AS m(partition, expected, next)
             WHERE o.group_id = $1 AND o.topic = $2 AND o.partition = m.partition
               AND o.next_offset = m.expected",
        )
        .bind(group_id)
        .bind(topic)
        .bind(existing.iter().map(|m| m.partition).collect::<Vec<_>>())
        .bind(existing.iter().map(|m| m.expected).collect::<Vec<_>>())
        .bind(existing.iter().map(|m| m.next).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != existing.len() as u64 {
            return Err(WriteError::Fenced);
        }
    }
    if !new.is_empty() {
        let inserted = sqlx::query(
            "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
             SELECT $1, $2, * FROM UNNEST($3::int[], $4::bigint[])
             ON CONFLICT (group_id, topic, partition) DO NOTHING",
        )
        .bind(group_id)
        .bind(topic)
        .bind(new.iter().map(|m| m.partition).collect::<Vec<_>>())
        .bind(new.iter().map(|m| m.next).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted != new.len() as u64 {
            return Err(WriteError::Fenced);
        }
    }
    Ok(())
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
                                 updated_at, deleted_at, body)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                                  $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::jsonb[])
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
                 body = m.body
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[],
                         $6::timestamptz[], $7::jsonb[], $8::bigint[])
                  AS m(order_id, customer_id, status, version, updated_at, deleted_at, body, base)
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
        }
        c
    }
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
