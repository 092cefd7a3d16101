//! The oracle check shared by the crash and chaos tests: PostgreSQL and the event topic
//! compared with the domain applied in order to the commands that were sent.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use orderflow::codec::Codec;
use orderflow::domain::{Command, EventBody, OrderId};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sqlx::PgPool;

use super::workload::{Expected, Workload};
use super::{TestEnv, consume_from, eventually};

/// Records consumed so far: the stored next offsets of every partition, summed.
pub(crate) async fn consumed(db: &PgPool) -> i64 {
    scalar(db, "SELECT sum(next_offset)::bigint FROM consumer_offsets").await
}

pub(crate) async fn scalar(db: &PgPool, sql: &'static str) -> i64 {
    let (n,): (Option<i64>,) = sqlx::query_as(sql).fetch_one(db).await.unwrap();
    n.unwrap_or(0)
}

/// Waits for every record to be consumed and every outbox row published, then checks
/// PostgreSQL and the event topic against the oracle.
pub(crate) async fn verify(env: &TestEnv, workload: &Workload, seed: u64) {
    let db = env.db().await;
    let total = workload.commands.len() as i64;
    eventually(
        "every command consumed and every event published",
        Duration::from_secs(180),
        || async {
            let consumed = consumed(&db).await;
            let pending = scalar(
                &db,
                "SELECT count(*) FROM order_events WHERE published_at IS NULL",
            )
            .await;
            (consumed == total && pending == 0).then_some(())
        },
    )
    .await;
    let oracle: HashMap<OrderId, Expected> = workload.oracle();

    // PostgreSQL equals the oracle for every order.
    let rows: Vec<(uuid::Uuid, serde_json::Value)> =
        sqlx::query_as("SELECT order_id, body FROM orders")
            .fetch_all(&db)
            .await
            .unwrap();
    let stored: HashMap<OrderId, serde_json::Value> = rows
        .into_iter()
        .map(|(id, body)| (OrderId(id), body))
        .collect();
    let created: Vec<_> = oracle.iter().filter(|(_, e)| e.order.is_some()).collect();
    assert_eq!(
        stored.len(),
        created.len(),
        "seed {seed}: orders in PostgreSQL"
    );
    for (id, expected) in &created {
        let want = serde_json::to_value(expected.order.as_ref().unwrap()).unwrap();
        assert_eq!(stored.get(id), Some(&want), "seed {seed}: order {id}");
    }

    // No command applied twice: one processed row per command id, one event row per event.
    let distinct: HashSet<_> = workload.commands.iter().map(|c| c.command_id).collect();
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM processed_commands").await,
        distinct.len() as i64,
        "seed {seed}"
    );
    let expected_events: usize = oracle.values().map(|e| e.events.len()).sum();
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM order_events").await,
        expected_events as i64,
        "seed {seed}"
    );

    // Every expected event is on the topic at least once, in version order per order.
    let events_topic = env.topic("orders.events");
    let on_topic = records_on(&env.kafka, &events_topic).await as i64;
    assert!(
        on_topic as usize >= expected_events,
        "seed {seed}: {on_topic} records for {expected_events} events"
    );
    let records = consume_from(
        &env.kafka,
        &events_topic,
        on_topic as usize,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(
        records.len() as i64,
        on_topic,
        "seed {seed}: read the whole event topic"
    );
    let codec = Codec::single_object();
    let mut seen: HashMap<OrderId, Vec<(orderflow::domain::EventId, u64, bool)>> = HashMap::new();
    let mut bytes_of: HashMap<orderflow::domain::EventId, &[u8]> = HashMap::new();
    for record in &records {
        let event = codec.decode_event(&record.payload).await.unwrap();
        let first = bytes_of.entry(event.event_id).or_insert(&record.payload);
        assert_eq!(
            *first,
            record.payload.as_slice(),
            "seed {seed}: a republished event is byte-identical"
        );
        assert_eq!(
            record.key.as_deref(),
            Some(event.order_id.to_string().as_str())
        );
        let rejected = matches!(event.body, EventBody::CommandRejected { .. });
        seen.entry(event.order_id)
            .or_default()
            .push((event.event_id, event.version, rejected));
    }
    for (id, expected) in &oracle {
        let got = seen.get(id).map(Vec::as_slice).unwrap_or_default();
        let ids: HashSet<_> = got.iter().map(|(e, _, _)| *e).collect();
        for (event_id, version) in &expected.events {
            if !ids.contains(event_id) {
                // What PostgreSQL says of it, and what the topic holds of the order.
                let row: Option<(i32, i64, Option<chrono::DateTime<chrono::Utc>>)> = sqlx::query_as(
                    "SELECT source_partition, seq, published_at FROM order_events WHERE event_id = $1",
                )
                .bind(event_id.0)
                .fetch_optional(&db)
                .await
                .unwrap();
                let on_topic: Vec<(i32, i64)> = records
                    .iter()
                    .filter(|r| r.key.as_deref() == Some(id.to_string().as_str()))
                    .map(|r| (r.partition, r.offset))
                    .collect();
                panic!(
                    "seed {seed}: order {id} is missing event v{version} ({event_id}): its row \
                     (source partition, seq, published_at) is {row:?}; the topic holds the \
                     order's records at (partition, offset) {on_topic:?} with versions {got:?}"
                );
            }
        }
        // A consumer deduplicating on the stable event id sees every version once, in order.
        // (A batch published but not yet marked when its process died is published again.)
        let mut first = HashSet::new();
        let versions: Vec<u64> = got
            .iter()
            .filter(|(event_id, _, rejected)| !rejected && first.insert(*event_id))
            .map(|(_, v, _)| *v)
            .collect();
        assert!(
            versions.is_sorted(),
            "seed {seed}: order {id} events out of order: {versions:?}"
        );
        let want = expected.order.as_ref().map_or(0, |o| o.version);
        assert_eq!(
            versions,
            (1..=want).collect::<Vec<_>>(),
            "seed {seed}: order {id}"
        );
    }
    let published_twice = records.len() - expected_events;
    println!(
        "seed {seed}: {expected_events} events, {published_twice} published again after a crash"
    );
}

/// The number of records on `topic` of the broker at `kafka` (its partitions' end offsets summed).
pub(crate) async fn records_on(kafka: &str, topic: &str) -> usize {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka)
        .create()
        .unwrap();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let metadata = reader
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .unwrap();
        metadata.topics()[0]
            .partitions()
            .iter()
            .map(|p| {
                reader
                    .fetch_watermarks(&topic, p.id(), Duration::from_secs(10))
                    .unwrap()
                    .1
            })
            .sum::<i64>() as usize
    })
    .await
    .unwrap()
}

/// Every command that reached the commands topic, in each partition's order: the oracle's
/// input when the commands were produced by something else (the ingress).
pub(crate) async fn commands_on_topic(env: &TestEnv) -> Vec<Command> {
    let topic = env.topic("orders.commands");
    let total = records_on(&env.kafka, &topic).await;
    let mut records = consume_from(&env.kafka, &topic, total, Duration::from_secs(120)).await;
    assert_eq!(records.len(), total, "read the commands topic");
    records.sort_by_key(|r| (r.partition, r.offset));
    let codec = Codec::single_object();
    let mut commands = Vec::with_capacity(records.len());
    for record in &records {
        commands.push(codec.decode_command(&record.payload).await.unwrap());
    }
    commands
}
