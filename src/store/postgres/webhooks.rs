//! Webhook endpoints (configuration the ingress writes directly) and the dispatcher's durable
//! delivery state: deliveries, their attempts, and the leases that keep two dispatchers from
//! attempting one delivery at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub endpoint_id: Uuid,
    pub storefront_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a PATCH changes; None keeps the field.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// A delivery to insert: one event for one endpoint.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub order_id: Option<Uuid>,
    pub sequence: i64,
    pub occurred_at: DateTime<Utc>,
    /// The body of a notification that is not an order event; None: built from the event's
    /// record in `order_events`.
    pub payload: Option<Vec<u8>>,
}

/// A delivery a dispatcher holds the lease of.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub order_id: Option<Uuid>,
    /// The stored body (a notification that is not an order event).
    pub payload: Option<Vec<u8>>,
    /// The event's record as published (an order event), to build the body from.
    pub event_record: Option<Vec<u8>>,
    /// Attempts made in the current run of the schedule.
    pub step: i32,
    /// When its endpoint last changed (URL, secret): a dispatcher's copy older than this is
    /// read again before the attempt.
    pub endpoint_updated_at: DateTime<Utc>,
}

/// What a finished attempt did to its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// The schedule is spent: the delivery failed, and the order's next event may go.
    GiveUp,
    /// The endpoint answered 410 Gone: it is disabled, the delivery waits for it.
    EndpointGone,
}

/// One attempt, as the dispatcher records it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub order_id: Option<Uuid>,
    /// The delivery's row when it has none yet (its first attempt, straight from the events
    /// topic): inserted with this attempt's outcome. None: the row exists and is updated.
    pub new_row: Option<NewDelivery>,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub next: NextStep,
    /// The delivery's schedule step after this attempt.
    pub step: i32,
}

/// What recording did beyond the rows: the endpoints it disabled, and the (endpoint, order)
/// pairs of updated rows that have no pending delivery left.
#[derive(Debug, Default)]
pub struct Recorded {
    pub disabled: Vec<DisabledEndpoint>,
    pub cleared: Vec<(Uuid, Uuid)>,
}

/// An endpoint orderflow disabled while recording.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DisabledEndpoint {
    pub endpoint_id: Uuid,
    pub storefront_id: String,
    pub url: String,
    pub disabled_reason: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub order_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub delivery_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

/// The columns of an [`EndpointRow`], for `concat!` (statements are `'static` strings).
macro_rules! endpoint_columns {
    () => {
        "endpoint_id, storefront_id, url, event_types, description, enabled, disabled_reason,
         disabled_at, secret, previous_secret, previous_secret_until, failing_since, created_at,
         updated_at"
    };
}

/// The columns of a [`DeliveryRow`].
macro_rules! delivery_columns {
    () => {
        "delivery_id, endpoint_id, event_id, event_type, order_id, occurred_at, state, attempts,
         next_attempt_at, last_status, last_error, created_at, delivered_at"
    };
}

impl Store {
    pub async fn insert_webhook_endpoint(&self, e: &EndpointRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_endpoints (endpoint_id, storefront_id, url, event_types,
                 description, enabled, secret, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(e.endpoint_id)
        .bind(&e.storefront_id)
        .bind(&e.url)
        .bind(&e.event_types)
        .bind(&e.description)
        .bind(e.enabled)
        .bind(&e.secret)
        .bind(e.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A storefront's endpoints, oldest first.
    pub async fn webhook_endpoints(&self, storefront: &str) -> Result<Vec<EndpointRow>> {
        sqlx::query_as(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints WHERE storefront_id = $1
             ORDER BY created_at, endpoint_id"
        ))
        .bind(storefront)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn webhook_endpoint(
        &self,
        storefront: &str,
        id: Uuid,
    ) -> Result<Option<EndpointRow>> {
        sqlx::query_as(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints
             WHERE storefront_id = $1 AND endpoint_id = $2"
        ))
        .bind(storefront)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Applies `changes`; enabling an endpoint clears why it was disabled and its failure
    /// streak, so it starts afresh.
    pub async fn update_webhook_endpoint(
        &self,
        storefront: &str,
        id: Uuid,
        changes: &EndpointChanges,
    ) -> Result<Option<EndpointRow>> {
        sqlx::query_as(concat!(
            "UPDATE webhook_endpoints SET
                 url = COALESCE($3, url),
                 event_types = COALESCE($4, event_types),
                 description = COALESCE($5, description),
                 enabled = COALESCE($6, enabled),
                 disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason END,
                 disabled_at = CASE WHEN $6 IS NULL THEN disabled_at
                                    WHEN $6 THEN NULL ELSE now() END,
                 failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END,
                 updated_at = now()
             WHERE storefront_id = $1 AND endpoint_id = $2
             RETURNING ",
            endpoint_columns!()
        ))
        .bind(storefront)
        .bind(id)
        .bind(&changes.url)
        .bind(&changes.event_types)
        .bind(&changes.description)
        .bind(changes.enabled)
        .fetch_optional(&self.pool)
        .await
    }

    /// Deletes the endpoint and its deliveries; false if there was none.
    pub async fn delete_webhook_endpoint(&self, storefront: &str, id: Uuid) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM webhook_endpoints WHERE storefront_id = $1 AND endpoint_id = $2",
        )
        .bind(storefront)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `sealed` becomes the secret; the one before keeps signing until `previous_until`.
    pub async fn rotate_webhook_secret(
        &self,
        storefront: &str,
        id: Uuid,
        sealed: &[u8],
        previous_until: DateTime<Utc>,
    ) -> Result<Option<EndpointRow>> {
        sqlx::query_as(concat!(
            "UPDATE webhook_endpoints SET previous_secret = secret, secret = $3,
                 previous_secret_until = $4, updated_at = now()
             WHERE storefront_id = $1 AND endpoint_id = $2
             RETURNING ",
            endpoint_columns!()
        ))
        .bind(storefront)
        .bind(id)
        .bind(sealed)
        .bind(previous_until)
        .fetch_optional(&self.pool)
        .await
    }

    /// Every enabled endpoint, for the dispatcher.
    pub async fn enabled_webhook_endpoints(&self) -> Result<Vec<EndpointRow>> {
        sqlx::query_as(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints WHERE enabled"
        ))
        .fetch_all(&self.pool)
        .await
    }

    /// The enabled endpoints of `storefronts`, for fanning events out.
    pub async fn subscribed_webhook_endpoints(
        &self,
        storefronts: &[&str],
    ) -> Result<Vec<(Uuid, String, Vec<String>, DateTime<Utc>)>> {
        sqlx::query_as(
            "SELECT endpoint_id, storefront_id, event_types, updated_at FROM webhook_endpoints
             WHERE enabled AND storefront_id = ANY($1)",
        )
        .bind(storefronts)
        .fetch_all(&self.pool)
        .await
    }

    /// Leases the due deliveries an endpoint may attempt now, at most `free.1` of endpoint
    /// `free.0`'s (or `default_free` of an endpoint not listed): of each (endpoint, order)
    /// only the earliest pending one, and only if it is due and not leased, so an order's
    /// events go in sequence.
    pub async fn claim_webhook_deliveries(
        &self,
        free: &[(Uuid, i32)],
        default_free: i32,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>> {
        let (ids, slots): (Vec<Uuid>, Vec<i32>) = free.iter().copied().unzip();
        sqlx::query_as(
            "WITH slots AS (
                 SELECT e.endpoint_id, COALESCE(s.free, $3) AS free
                 FROM webhook_endpoints e
                 LEFT JOIN UNNEST($1::uuid[], $2::int[]) AS s(endpoint_id, free)
                     ON s.endpoint_id = e.endpoint_id
                 WHERE e.enabled
             ),
             -- The earliest pending delivery of each (endpoint, order); a notice (no order)
             -- is its own. One pass over the endpoint's pending rows, whatever their number.
             heads AS (
                 SELECT DISTINCT ON (d.endpoint_id, COALESCE(d.order_id, d.delivery_id))
                        d.delivery_id, d.event_id, d.endpoint_id, d.next_attempt_at,
                        d.sequence, d.leased_until
                 FROM webhook_deliveries d JOIN slots s ON s.endpoint_id = d.endpoint_id
                 WHERE d.state = 'pending' AND s.free > 0
                 ORDER BY d.endpoint_id, COALESCE(d.order_id, d.delivery_id), d.sequence
             ), ranked AS (
                 SELECT h.delivery_id, h.event_id, h.endpoint_id,
                        row_number() OVER (PARTITION BY h.endpoint_id
                                           ORDER BY h.next_attempt_at, h.sequence) AS n
                 FROM heads h
                 WHERE h.next_attempt_at <= now()
                   AND (h.leased_until IS NULL OR h.leased_until < now())
             ), picked AS (
                 SELECT r.delivery_id, r.event_id, r.endpoint_id
                 FROM ranked r JOIN slots s ON s.endpoint_id = r.endpoint_id
                 WHERE r.n <= s.free
             )
             UPDATE webhook_deliveries w
             SET leased_until = now() + make_interval(secs => $4)
             FROM picked JOIN webhook_endpoints e ON e.endpoint_id = picked.endpoint_id
                  LEFT JOIN order_events o ON o.event_id = picked.event_id
             -- Checked again on the row itself: another dispatcher may have leased it since.
             WHERE w.delivery_id = picked.delivery_id AND w.state = 'pending'
               AND (w.leased_until IS NULL OR w.leased_until < now())
             RETURNING w.delivery_id, w.endpoint_id, w.event_id, w.order_id, w.payload,
                       o.payload AS event_record, w.step, e.updated_at AS endpoint_updated_at",
        )
        .bind(ids)
        .bind(slots)
        .bind(default_free)
        .bind(lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await
    }

    /// Records in one transaction: `queued` deliveries (pending, behind an earlier one of
    /// their order), finished attempts (inserting the rows of first attempts with their
    /// outcome, updating the others), and their endpoints' state (a success ends a failure
    /// streak; a 410 disables the endpoint; failing since before `disable_after` ago disables
    /// it too). Each enabled endpoint of a disabled endpoint's storefront that subscribes to
    /// `disabled_type` gets `notice(endpoint)` as a delivery.
    pub async fn record_webhook_outcomes(
        &self,
        queued: &[NewDelivery],
        records: &[AttemptRecord],
        disable_after: Duration,
        disabled_type: &str,
        notice: impl Fn(&DisabledEndpoint) -> (Uuid, Vec<u8>),
    ) -> Result<Recorded> {
        let mut tx = self.pool.begin().await?;
        insert_deliveries(&mut *tx, queued).await?;
        let mut c = AttemptColumns::default();
        let mut first = DeliveryColumns::default();
        for r in records {
            let (state, next_at, delivered) = match r.next {
                NextStep::Delivered => ("delivered", r.started_at, Some(r.started_at)),
                NextStep::RetryAt(at) => ("pending", at, None),
                NextStep::GiveUp => ("failed", r.started_at, None),
                NextStep::EndpointGone => ("pending", r.started_at, None),
            };
            if let Some(row) = &r.new_row {
                first.push(row);
                first.states.push(state);
                first.next_at.push(next_at);
                first.statuses.push(r.status_code);
                first.errors.push(r.error.as_deref());
                first.delivered.push(delivered);
                first.steps.push(r.step);
            } else if matches!(r.next, NextStep::Delivered | NextStep::GiveUp)
                && let Some(order) = r.order_id
            {
                c.settled.push((r.endpoint_id, order));
            }
            c.attempt_ids.push(Uuid::now_v7());
            c.deliveries.push(r.delivery_id);
            c.started.push(r.started_at);
            c.latencies.push(r.latency_ms);
            c.statuses.push(r.status_code);
            c.errors.push(r.error.as_deref());
            if r.new_row.is_none() {
                c.updated.push(r.delivery_id);
                c.states.push(state);
                c.next_at.push(next_at);
                c.updated_statuses.push(r.status_code);
                c.updated_errors.push(r.error.as_deref());
                c.delivered.push(delivered);
                c.steps.push(r.step);
            }
            match r.next {
                NextStep::Delivered => c.succeeded.push(r.endpoint_id),
                NextStep::EndpointGone => c.gone.push(r.endpoint_id),
                NextStep::RetryAt(_) | NextStep::GiveUp => {
                    c.failed.push(r.endpoint_id);
                    c.failed_at.push(r.started_at);
                }
            }
        }
        if !first.ids.is_empty() {
            // A row there already (the event consumed again after a crash, and recorded by
            // the run before) is kept as it is.
            sqlx::query(
                "INSERT INTO webhook_deliveries (delivery_id, endpoint_id, event_id, event_type,
                     order_id, sequence, occurred_at, payload, state, attempts, step,
                     next_attempt_at, last_status, last_error, created_at, delivered_at)
                 SELECT u.delivery_id, u.endpoint_id, u.event_id, u.event_type, u.order_id,
                        u.sequence, u.occurred_at, u.payload, u.state, 1, u.step, u.next_at,
                        u.status, u.error, now(), u.delivered
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[],
                             $6::bigint[], $7::timestamptz[], $8::bytea[], $9::text[],
                             $10::int[], $11::timestamptz[], $12::int[], $13::text[],
                             $14::timestamptz[])
                      AS u(delivery_id, endpoint_id, event_id, event_type, order_id, sequence,
                           occurred_at, payload, state, step, next_at, status, error, delivered)
                 JOIN webhook_endpoints e ON e.endpoint_id = u.endpoint_id
                 ON CONFLICT (endpoint_id, event_id) DO NOTHING",
            )
            .bind(&first.ids)
            .bind(&first.endpoints)
            .bind(&first.events)
            .bind(&first.types)
            .bind(&first.orders)
            .bind(&first.sequences)
            .bind(&first.occurred)
            .bind(&first.payloads)
            .bind(&first.states)
            .bind(&first.steps)
            .bind(&first.next_at)
            .bind(&first.statuses)
            .bind(&first.errors)
            .bind(&first.delivered)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (attempt_id, delivery_id, started_at, latency_ms,
                                           status_code, error)
             SELECT u.* FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::int[],
                                    $5::int[], $6::text[])
                  AS u(attempt_id, delivery_id, started_at, latency_ms, status_code, error)
             -- A delivery whose endpoint was deleted meanwhile has nothing to record.
             WHERE EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.delivery_id = u.delivery_id)",
        )
        .bind(&c.attempt_ids)
        .bind(&c.deliveries)
        .bind(&c.started)
        .bind(&c.latencies)
        .bind(&c.statuses)
        .bind(&c.errors)
        .execute(&mut *tx)
        .await?;
        // A delivered row stays delivered (another dispatcher's lease may have run out while
        // this one's attempt was in flight, and both delivered).
        sqlx::query(
            "UPDATE webhook_deliveries d SET
                 state = CASE WHEN d.state = 'delivered' THEN d.state ELSE u.state END,
                 attempts = d.attempts + 1,
                 step = u.step,
                 next_attempt_at = u.next_at,
                 leased_until = NULL,
                 last_status = u.status,
                 last_error = u.error,
                 delivered_at = COALESCE(d.delivered_at, u.delivered)
             FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::int[], $5::text[],
                         $6::timestamptz[], $7::int[])
                  AS u(delivery_id, state, next_at, status, error, delivered, step)
             WHERE d.delivery_id = u.delivery_id",
        )
        .bind(&c.updated)
        .bind(&c.states)
        .bind(&c.next_at)
        .bind(&c.updated_statuses)
        .bind(&c.updated_errors)
        .bind(&c.delivered)
        .bind(&c.steps)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = NULL
             WHERE endpoint_id = ANY($1) AND failing_since IS NOT NULL",
        )
        .bind(&c.succeeded)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_endpoints e SET failing_since = f.since
             FROM (SELECT endpoint_id, min(at) AS since
                   FROM UNNEST($1::uuid[], $2::timestamptz[]) AS f(endpoint_id, at)
                   GROUP BY endpoint_id) f
             WHERE e.endpoint_id = f.endpoint_id AND e.failing_since IS NULL
               AND NOT (e.endpoint_id = ANY($3))",
        )
        .bind(&c.failed)
        .bind(&c.failed_at)
        .bind(&c.succeeded)
        .execute(&mut *tx)
        .await?;
        let disabled: Vec<DisabledEndpoint> = sqlx::query_as(
            "UPDATE webhook_endpoints SET enabled = false, disabled_at = now(),
                 disabled_reason = CASE WHEN endpoint_id = ANY($1) THEN 'gone' ELSE 'failing' END,
                 updated_at = now()
             WHERE enabled AND (endpoint_id = ANY($1)
                 OR (endpoint_id = ANY($2) AND failing_since < now() - make_interval(secs => $3)))
             RETURNING endpoint_id, storefront_id, url, disabled_reason",
        )
        .bind(&c.gone)
        .bind(&c.failed)
        .bind(disable_after.as_secs_f64())
        .fetch_all(&mut *tx)
        .await?;
        if !disabled.is_empty() {
            let mut notices = Vec::new();
            for d in &disabled {
                let (event_id, payload) = notice(d);
                let recipients: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT endpoint_id FROM webhook_endpoints
                     WHERE enabled AND storefront_id = $1
                       AND (cardinality(event_types) = 0 OR $2 = ANY(event_types))",
                )
                .bind(&d.storefront_id)
                .bind(disabled_type)
                .fetch_all(&mut *tx)
                .await?;
                notices.extend(recipients.into_iter().map(|endpoint_id| NewDelivery {
                    delivery_id: Uuid::now_v7(),
                    endpoint_id,
                    event_id,
                    event_type: disabled_type.to_owned(),
                    order_id: None,
                    sequence: 0,
                    occurred_at: Utc::now(),
                    payload: Some(payload.clone()),
                }));
            }
            insert_deliveries(&mut *tx, &notices).await?;
        }
        let (ends, orders): (Vec<Uuid>, Vec<Uuid>) = c.settled.iter().copied().unzip();
        let cleared: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT DISTINCT u.endpoint_id, u.order_id
             FROM UNNEST($1::uuid[], $2::uuid[]) AS u(endpoint_id, order_id)
             WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                               WHERE d.endpoint_id = u.endpoint_id AND d.order_id = u.order_id
                                 AND d.state = 'pending')",
        )
        .bind(ends)
        .bind(orders)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Recorded { disabled, cleared })
    }

    /// Which of these (endpoint, event) pairs have a delivery row already.
    pub async fn known_webhook_deliveries(
        &self,
        pairs: &[(Uuid, Uuid)],
    ) -> Result<Vec<(Uuid, Uuid)>> {
        let (ends, events): (Vec<Uuid>, Vec<Uuid>) = pairs.iter().copied().unzip();
        sqlx::query_as(
            "SELECT d.endpoint_id, d.event_id FROM webhook_deliveries d
             JOIN UNNEST($1::uuid[], $2::uuid[]) AS u(endpoint_id, event_id)
               ON d.endpoint_id = u.endpoint_id AND d.event_id = u.event_id",
        )
        .bind(ends)
        .bind(events)
        .fetch_all(&self.pool)
        .await
    }

    /// Which of these (endpoint, order) pairs have a pending delivery: a later event of the
    /// order waits behind it.
    pub async fn pending_webhook_orders(
        &self,
        pairs: &[(Uuid, Uuid)],
    ) -> Result<Vec<(Uuid, Uuid)>> {
        let (ends, orders): (Vec<Uuid>, Vec<Uuid>) = pairs.iter().copied().unzip();
        sqlx::query_as(
            "SELECT DISTINCT u.endpoint_id, u.order_id
             FROM UNNEST($1::uuid[], $2::uuid[]) AS u(endpoint_id, order_id)
             WHERE EXISTS (SELECT 1 FROM webhook_deliveries d
                           WHERE d.endpoint_id = u.endpoint_id AND d.order_id = u.order_id
                             AND d.state = 'pending')",
        )
        .bind(ends)
        .bind(orders)
        .fetch_all(&self.pool)
        .await
    }

    /// A page of an endpoint's deliveries, newest first, created before `before`, with their
    /// attempts (oldest first).
    pub async fn webhook_deliveries(
        &self,
        endpoint: Uuid,
        state: Option<&str>,
        before: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<(Vec<DeliveryRow>, Vec<AttemptRow>)> {
        let deliveries: Vec<DeliveryRow> = sqlx::query_as(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries
             WHERE endpoint_id = $1 AND ($2::text IS NULL OR state = $2)
               AND ($3::timestamptz IS NULL OR created_at < $3)
             ORDER BY created_at DESC, delivery_id DESC LIMIT $4"
        ))
        .bind(endpoint)
        .bind(state)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<Uuid> = deliveries.iter().map(|d| d.delivery_id).collect();
        let attempts = sqlx::query_as(
            "SELECT delivery_id, started_at, latency_ms, status_code, error FROM webhook_attempts
             WHERE delivery_id = ANY($1) ORDER BY started_at",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok((deliveries, attempts))
    }

    /// Makes one delivery due now with a fresh schedule (delivered or not); None if the
    /// endpoint has no such delivery.
    pub async fn retry_webhook_delivery(
        &self,
        endpoint: Uuid,
        delivery: Uuid,
    ) -> Result<Option<DeliveryRow>> {
        sqlx::query_as(concat!(
            "UPDATE webhook_deliveries SET state = 'pending', step = 0, next_attempt_at = now()
             WHERE endpoint_id = $1 AND delivery_id = $2
             RETURNING ",
            delivery_columns!()
        ))
        .bind(endpoint)
        .bind(delivery)
        .fetch_optional(&self.pool)
        .await
    }

    /// Makes the endpoint's deliveries of events that occurred in [since, until) due now with
    /// a fresh schedule; returns how many.
    pub async fn replay_webhook_deliveries(
        &self,
        endpoint: Uuid,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', step = 0, next_attempt_at = now()
             WHERE endpoint_id = $1 AND occurred_at >= $2 AND occurred_at < $3",
        )
        .bind(endpoint)
        .bind(since)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

async fn insert_deliveries<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    rows: &[NewDelivery],
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut c = DeliveryColumns::default();
    for r in rows {
        c.push(r);
    }
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (delivery_id, endpoint_id, event_id, event_type, order_id,
             sequence, occurred_at, payload, state, attempts, step, next_attempt_at, created_at)
         SELECT u.*, 'pending', 0, 0, now(), now()
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::bigint[],
                     $7::timestamptz[], $8::bytea[])
              AS u(delivery_id, endpoint_id, event_id, event_type, order_id, sequence,
                   occurred_at, payload)
         -- An endpoint deleted meanwhile gets nothing.
         JOIN webhook_endpoints e ON e.endpoint_id = u.endpoint_id
         ON CONFLICT (endpoint_id, event_id) DO NOTHING",
    )
    .bind(c.ids)
    .bind(c.endpoints)
    .bind(c.events)
    .bind(c.types)
    .bind(c.orders)
    .bind(c.sequences)
    .bind(c.occurred)
    .bind(c.payloads)
    .execute(executor)
    .await?;
    Ok(done.rows_affected())
}

#[derive(Default)]
struct DeliveryColumns<'a> {
    ids: Vec<Uuid>,
    endpoints: Vec<Uuid>,
    events: Vec<Uuid>,
    types: Vec<&'a str>,
    orders: Vec<Option<Uuid>>,
    sequences: Vec<i64>,
    occurred: Vec<DateTime<Utc>>,
    payloads: Vec<Option<&'a [u8]>>,
    // A first attempt's outcome.
    states: Vec<&'static str>,
    next_at: Vec<DateTime<Utc>>,
    statuses: Vec<Option<i32>>,
    errors: Vec<Option<&'a str>>,
    delivered: Vec<Option<DateTime<Utc>>>,
    steps: Vec<i32>,
}

impl<'a> DeliveryColumns<'a> {
    fn push(&mut self, r: &'a NewDelivery) {
        self.ids.push(r.delivery_id);
        self.endpoints.push(r.endpoint_id);
        self.events.push(r.event_id);
        self.types.push(r.event_type.as_str());
        self.orders.push(r.order_id);
        self.sequences.push(r.sequence);
        self.occurred.push(r.occurred_at);
        self.payloads.push(r.payload.as_deref());
    }
}

#[derive(Default)]
struct AttemptColumns<'a> {
    attempt_ids: Vec<Uuid>,
    deliveries: Vec<Uuid>,
    started: Vec<DateTime<Utc>>,
    latencies: Vec<i32>,
    statuses: Vec<Option<i32>>,
    errors: Vec<Option<&'a str>>,
    updated: Vec<Uuid>,
    states: Vec<&'static str>,
    next_at: Vec<DateTime<Utc>>,
    updated_statuses: Vec<Option<i32>>,
    updated_errors: Vec<Option<&'a str>>,
    delivered: Vec<Option<DateTime<Utc>>>,
    steps: Vec<i32>,
    settled: Vec<(Uuid, Uuid)>,
    succeeded: Vec<Uuid>,
    gone: Vec<Uuid>,
    failed: Vec<Uuid>,
    failed_at: Vec<DateTime<Utc>>,
}
