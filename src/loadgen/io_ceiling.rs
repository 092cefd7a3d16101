//! `orderflow loadgen io-ceiling`: the processor's I/O with none of its logic — the upper
//! bound `scripts/bench-processor.sh` measures the processor against.
//!
//! It does what the processor does to the services, pipelined as the processor is: a task
//! polls on while a batch is written (the processor's poller); per batch, one transaction
//! COPYs an order, an event and a processed-command row per record and moves the offsets;
//! a publishing task sends each record's event and one snapshot per order, for every batch
//! queued behind it together (up to `--batch-max` events, as the processor's publisher),
//! and marks the events published, while the next batch is written. No decoding, no domain,
//! no cache, no per-order loads: so it cannot be slower than the processor's own I/O.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::kafka::producer::{Outgoing, Producer};
use crate::kafka::{KafkaSettings, Topics};
use crate::store::Store;

/// Committed batches waiting while a group is sent (the processor's `QUEUED_BATCHES`).
const QUEUED_BATCHES: usize = 4;

/// A written batch: its records and the ids of their event rows.
type Written = (Vec<OwnedMessage>, Vec<Uuid>);

/// Consumes `stop_after` records and writes and publishes what the processor would. Returns
/// records per second, from the first batch's start until the last is published.
pub async fn io_ceiling(
    settings: &KafkaSettings,
    topics: &Topics,
    store: &Store,
    group_id: &str,
    batch_max: usize,
    batch_linger: Duration,
    stop_after: usize,
) -> anyhow::Result<f64> {
    let consumer: StreamConsumer = settings
        .client_config(&[
            ("group.id", group_id),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            crate::kafka::FETCH_WAIT,
            crate::kafka::PARTITION_FETCH_BYTES,
        ])
        .create()
        .context("creating the kafka consumer")?;
    consumer.subscribe(&[&topics.commands])?;
    let (records, mut incoming) = mpsc::channel::<OwnedMessage>(batch_max * 4);
    let poller = tokio::spawn(async move {
        loop {
            let message = consumer.recv().await?.detach();
            if records.send(message).await.is_err() {
                return Ok::<_, rdkafka::error::KafkaError>(());
            }
        }
    });
    let (written, queue) = mpsc::channel::<Written>(QUEUED_BATCHES);
    let publisher = tokio::spawn(publish(
        Producer::new(settings, Duration::from_secs(30), "publisher")?,
        store.clone(),
        topics.clone(),
        queue,
        batch_max,
    ));

    let mut consumed = 0usize;
    let mut started: Option<Instant> = None;
    while consumed < stop_after {
        let Some(first) = incoming.recv().await else {
            return match poller.await? {
                Err(error) => Err(error).context("consuming"),
                Ok(()) => anyhow::bail!("the consumer stopped"),
            };
        };
        started.get_or_insert_with(Instant::now);
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + batch_linger;
        while batch.len() < batch_max.min(stop_after - consumed) {
            match tokio::time::timeout_at(deadline, incoming.recv()).await {
                Ok(Some(message)) => batch.push(message),
                _ => break,
            }
        }
        let event_ids = write(store.pool(), group_id, &topics.commands, &batch)
            .await
            .context("writing the batch")?;
        consumed += batch.len();
        if written.send((batch, event_ids)).await.is_err() {
            break; // the publisher failed: its error is below
        }
    }
    drop(written);
    let published = publisher.await.context("the publisher panicked")??;
    anyhow::ensure!(
        published == consumed,
        "the ceiling published the events of {published} records of {consumed}"
    );
    poller.abort();
    let took = started.map_or(Duration::ZERO, |s| s.elapsed());
    Ok(consumed as f64 / took.as_secs_f64())
}

/// Sends each written batch's events and snapshots, grouped with the batches queued behind
/// it, and marks the events published. Returns how many records' events it sent.
async fn publish(
    producer: Producer,
    store: Store,
    topics: Topics,
    mut queue: mpsc::Receiver<Written>,
    batch_max: usize,
) -> anyhow::Result<usize> {
    let mut carried: Option<Written> = None;
    let mut published = 0;
    loop {
        // Not `carried.take().or(queue.recv().await)`: that awaits (and drops) the next batch
        // even when one was carried over.
        let first = match carried.take() {
            Some(batch) => batch,
            None => match queue.recv().await {
                Some(batch) => batch,
                None => break,
            },
        };
        let mut group = vec![first];
        let mut size = group[0].0.len();
        while let Ok(next) = queue.try_recv() {
            if size + next.0.len() > batch_max {
                carried = Some(next);
                break;
            }
            size += next.0.len();
            group.push(next);
        }
        let mut records = Vec::with_capacity(size * 2);
        let mut snapshotted = HashSet::new();
        for message in group.iter().flat_map(|(batch, _)| batch) {
            let key = message.key().unwrap_or_default();
            records.push(Outgoing {
                topic: &topics.events,
                key,
                payload: message.payload(),
                headers: None,
            });
            if snapshotted.insert(key) {
                records.push(Outgoing {
                    topic: &topics.state,
                    key,
                    payload: message.payload(),
                    headers: None,
                });
            }
        }
        producer.send_all(records).await.context("publishing")?;
        let ids: Vec<Uuid> = group.iter().flat_map(|(_, ids)| ids).copied().collect();
        sqlx::query("UPDATE order_events SET published_at = now() WHERE event_id = ANY($1)")
            .bind(&ids)
            .execute(store.pool())
            .await
            .context("marking events published")?;
        published += size;
    }
    Ok(published)
}

/// Per record, one order, one event and one processed-command row, COPYed, plus the
/// offsets, in one transaction. Returns the event ids.
async fn write(
    pool: &sqlx::PgPool,
    group_id: &str,
    topic: &str,
    batch: &[OwnedMessage],
) -> sqlx::Result<Vec<Uuid>> {
    use std::fmt::Write;
    let now = chrono::Utc::now().to_rfc3339();
    let body = r#"{"status":"pending","currency":"EUR","items":[{"sku":"SKU-1","quantity":2,"unit_price":1999,"line_total":3998}],"total":3998}"#;
    let (mut orders, mut events, mut processed) = (String::new(), String::new(), String::new());
    let mut event_ids = Vec::with_capacity(batch.len());
    for message in batch {
        let (order, event, command) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let hex = hex::encode(message.payload().unwrap_or_default());
        let _ = writeln!(
            orders,
            "{order}\tdefault\tc-1\tpending\t1\t{now}\t{now}\t{body}"
        );
        let _ = writeln!(
            events,
            "{event}\t{order}\t1\tOrderCreated\t{command}\t{now}\t\\\\x{hex}\t0"
        );
        let _ = writeln!(
            processed,
            "{command}\t{order}\tdefault\tCreateOrder\tapplied\t1"
        );
        event_ids.push(event);
    }
    let mut tx = pool.begin().await?;
    for (sql, data) in [
        (
            "COPY orders (order_id, storefront_id, customer_id, status, version, created_at, updated_at, body) FROM STDIN",
            orders,
        ),
        (
            "COPY order_events (event_id, order_id, version, event_type, causation_id, occurred_at, payload, source_partition) FROM STDIN",
            events,
        ),
        (
            "COPY processed_commands (command_id, order_id, storefront_id, command_type, outcome, version) FROM STDIN",
            processed,
        ),
    ] {
        let mut copy = tx.copy_in_raw(sql).await?;
        copy.send(data.into_bytes()).await?;
        copy.finish().await?;
    }
    let mut latest: HashMap<i32, i64> = HashMap::new();
    for message in batch {
        let next = message.offset() + 1;
        let entry = latest.entry(message.partition()).or_insert(next);
        *entry = (*entry).max(next);
    }
    sqlx::query(
        "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
         SELECT $1, $2, * FROM UNNEST($3::int[], $4::bigint[])
         ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
    )
    .bind(group_id)
    .bind(topic)
    .bind(latest.keys().copied().collect::<Vec<_>>())
    .bind(latest.values().copied().collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(event_ids)
}
