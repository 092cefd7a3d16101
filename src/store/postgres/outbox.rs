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

    /// Marks outbox rows as delivered to Kafka (one statement).
    pub async fn mark_published(&self, event_ids: &[Uuid]) -> Result<()> {
        sqlx::query!(
            "UPDATE order_events SET published_at = now() WHERE event_id = ANY($1) AND published_at IS NULL",
            event_ids,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
