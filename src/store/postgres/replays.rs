//! What `orderflow dlq replay` replayed, so that a replay run again goes on where it stopped.

use std::collections::HashSet;

use super::{Result, Store};

/// A dead letter put back on the commands topic, and where its command landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub dlq_partition: i32,
    pub dlq_offset: i64,
    pub command_partition: i32,
    pub command_offset: i64,
    pub fixed: bool,
}

impl Store {
    /// Which of these dead letters of `dlq_topic`, as (partition, offset), were replayed.
    pub async fn replayed(
        &self,
        dlq_topic: &str,
        letters: &[(i32, i64)],
    ) -> Result<HashSet<(i32, i64)>> {
        let (partitions, offsets): (Vec<i32>, Vec<i64>) = letters.iter().copied().unzip();
        let rows = sqlx::query!(
            r#"SELECT r.dlq_partition, r.dlq_offset FROM dlq_replays r
               JOIN unnest($2::int4[], $3::int8[]) AS l(partition, "offset")
                 ON r.dlq_partition = l.partition AND r.dlq_offset = l."offset"
               WHERE r.dlq_topic = $1"#,
            dlq_topic,
            &partitions,
            &offsets,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.dlq_partition, r.dlq_offset))
            .collect())
    }

    /// Records replays whose commands the broker acknowledged (again: the latest wins).
    pub async fn record_replays(&self, dlq_topic: &str, replays: &[Replayed]) -> Result<()> {
        let dlq_partitions: Vec<i32> = replays.iter().map(|r| r.dlq_partition).collect();
        let dlq_offsets: Vec<i64> = replays.iter().map(|r| r.dlq_offset).collect();
        let command_partitions: Vec<i32> = replays.iter().map(|r| r.command_partition).collect();
        let command_offsets: Vec<i64> = replays.iter().map(|r| r.command_offset).collect();
        let fixed: Vec<bool> = replays.iter().map(|r| r.fixed).collect();
        sqlx::query!(
            "INSERT INTO dlq_replays
                 (dlq_topic, dlq_partition, dlq_offset, command_partition, command_offset, fixed)
             SELECT $1, * FROM unnest($2::int4[], $3::int8[], $4::int4[], $5::int8[], $6::bool[])
             ON CONFLICT (dlq_topic, dlq_partition, dlq_offset) DO UPDATE
                 SET command_partition = excluded.command_partition,
                     command_offset = excluded.command_offset,
                     fixed = excluded.fixed,
                     replayed_at = now()",
            dlq_topic,
            &dlq_partitions,
            &dlq_offsets,
            &command_partitions,
            &command_offsets,
            &fixed,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
