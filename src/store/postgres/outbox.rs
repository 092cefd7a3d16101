//! The outbox: events and dead letters committed but not yet on Kafka, and marking them delivered.

use sqlx::types::Json;
use uuid::Uuid;

use super::{Result, Store};

/// A dead letter not yet published, with its outbox position.
#[derive(Debug, Clone)]
pub struct StoredDeadLetter {
    pub seq: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// An event row not yet published.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event_id: Uuid,
    pub order_id: Uuid,
    pub payload: Vec<u8>,
    pub traceparent: Option<String>,
}

impl Store {
    /// The first `limit` events and `limit` dead letters stored but not yet on Kafka for these
    /// partitions, in outbox order. Once they are marked published, the next call pages on.
    pub async fn unpublished(
        &self,
        partitions: &[i32],
        limit: i64,
    ) -> Result<(Vec<StoredEvent>, Vec<StoredDeadLetter>)> {
        let events = sqlx::query_as!(
            StoredEvent,
            "SELECT event_id, order_id, payload, traceparent FROM order_events
             WHERE published_at IS NULL AND source_partition = ANY($1) ORDER BY seq LIMIT $2",
            partitions,
            limit,
        )
        .fetch_all(&self.pool)
        .await?;
        let letters = sqlx::query!(
            r#"SELECT seq, record_key, payload, headers AS "headers: Json<Vec<(String, String)>>"
               FROM dead_letters
               WHERE published_at IS NULL AND source_partition = ANY($1) ORDER BY seq LIMIT $2"#,
            partitions,
            limit,
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| StoredDeadLetter {
            seq: r.seq,
            key: r.record_key,
            payload: r.payload,
            headers: r.headers.0,
        })
        .collect();
        Ok((events, letters))
    }

    /// Rows of the outbox not yet on Kafka, for the `outbox pending` gauge.
    pub async fn count_unpublished(&self) -> Result<i64> {
        sqlx::query_scalar!(
            r#"SELECT (SELECT count(*) FROM order_events WHERE published_at IS NULL)
                    + (SELECT count(*) FROM dead_letters WHERE published_at IS NULL) AS "n!""#
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Marks dead letters as delivered (one statement).
    pub async fn mark_dead_letters_published(&self, seqs: &[i64]) -> Result<()> {
        sqlx::query!(
            "UPDATE dead_letters SET published_at = now() WHERE seq = ANY($1) AND published_at IS NULL",
            seqs,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks outbox rows as delivered to Kafka (one statement); the events of `uncached`
    /// orders (their Redis write failed) are flagged `cache_pending` at the same time.
    pub async fn mark_published(&self, event_ids: &[Uuid], uncached: &[Uuid]) -> Result<()> {
        sqlx::query!(
            "UPDATE order_events SET published_at = now(), cache_pending = (order_id = ANY($2))
             WHERE event_id = ANY($1) AND published_at IS NULL",
            event_ids,
            uncached,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Orders of these partitions with an event flagged `cache_pending`: a processor could
    /// not write them to Redis and may have died before repairing them.
    pub async fn cache_pending_orders(&self, partitions: &[i32]) -> Result<Vec<Uuid>> {
        sqlx::query_scalar!(
            "SELECT DISTINCT order_id FROM order_events
             WHERE cache_pending AND source_partition = ANY($1)",
            partitions,
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Clears `cache_pending` of each order's events up to the version now in Redis.
    pub async fn clear_cache_pending(&self, written: &[(Uuid, i64)]) -> Result<()> {
        let (ids, versions): (Vec<Uuid>, Vec<i64>) = written.iter().copied().unzip();
        sqlx::query!(
            "UPDATE order_events e SET cache_pending = false
             FROM UNNEST($1::uuid[], $2::bigint[]) AS w(order_id, version)
             WHERE e.cache_pending AND e.order_id = w.order_id AND e.version <= w.version",
            &ids,
            &versions,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
