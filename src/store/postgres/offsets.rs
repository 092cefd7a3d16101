//! The consumer's offsets in PostgreSQL, moved only from the offset this consumer expects (the
//! fence).

use std::collections::HashMap;

use super::{Result, Store, WriteError};

/// Moves a partition's stored offset from `expected` (None: no row yet) to `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetMove {
    pub partition: i32,
    pub expected: Option<i64>,
    pub next: i64,
}

/// Moves every partition's offset, fenced: a row moves only from the offset this consumer
/// expects, so a batch committed after its partition was reassigned fails as a whole.
pub(super) async fn move_offsets(
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

impl Store {
    /// The next offset to consume per partition, as stored with the state it produced.
    pub async fn load_offsets(
        &self,
        group_id: &str,
        topic: &str,
        partitions: &[i32],
    ) -> Result<HashMap<i32, i64>> {
        let rows = sqlx::query!(
            "SELECT partition, next_offset FROM consumer_offsets
             WHERE group_id = $1 AND topic = $2 AND partition = ANY($3)",
            group_id,
            topic,
            partitions,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.partition, r.next_offset))
            .collect())
    }

    /// Records consumed in all, by every stored offset (a benchmark's progress: its database
    /// holds one group).
    pub async fn consumed_total(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets")
            .fetch_one(&self.pool)
            .await
    }
}
