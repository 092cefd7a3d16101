//! The processor's guarantees on the paths that are not a good day: records under the wrong
//! key, an order memory behind its row, a crash between the commit and the cache, a large
//! outbox. Each test provokes the fault and compares what happened with the domain.

mod dead_letters;
mod memory;
mod outages;
mod outbox;

use crate::common;

use std::time::Duration;

use common::{TestApp, TestEnv, command, consume, create, eventually};
use orderflow::codec::Codec;
use orderflow::domain::{Command, CommandBody, OrderId, decide};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

const WAIT: Duration = Duration::from_secs(30);

fn producer(kafka: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", kafka)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("test producer")
}

/// Sends every command under `key(command)` (None: no key) and waits for the acks.
async fn send_keyed(topic: &str, commands: &[(Command, Option<String>)]) {
    send_keyed_to(common::KAFKA, topic, commands).await;
}

/// `send_keyed` to the broker at `kafka`; returns the partition each command landed on.
async fn send_keyed_to(
    kafka: &str,
    topic: &str,
    commands: &[(Command, Option<String>)],
) -> Vec<i32> {
    let producer = producer(kafka);
    let codec = Codec::single_object();
    let mut payloads = Vec::with_capacity(commands.len());
    for (command, _) in commands {
        payloads.push(codec.encode_command(topic, command).await.unwrap());
    }
    let mut deliveries = Vec::new();
    for ((_, key), payload) in commands.iter().zip(&payloads) {
        let mut record: FutureRecord<'_, String, Vec<u8>> =
            FutureRecord::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        deliveries.push(producer.send(record, Duration::from_secs(10)));
    }
    futures::future::join_all(deliveries)
        .await
        .into_iter()
        .map(|delivery| delivery.map_err(|(e, _)| e).expect("produce").partition)
        .collect()
}

/// Sends every command under its order id and waits for the acks.
async fn send(topic: &str, commands: &[Command]) {
    send_to(common::KAFKA, topic, commands).await;
}

/// `send` to the broker at `kafka`; returns the partition each command landed on.
async fn send_to(kafka: &str, topic: &str, commands: &[Command]) -> Vec<i32> {
    let keyed: Vec<_> = commands
        .iter()
        .map(|c| (c.clone(), Some(c.order_id.to_string())))
        .collect();
    send_keyed_to(kafka, topic, &keyed).await
}

async fn row(app: &TestApp, id: OrderId) -> (i64, String) {
    sqlx::query_as("SELECT version, status FROM orders WHERE order_id = $1")
        .bind(id.0)
        .fetch_one(&app.db)
        .await
        .unwrap()
}
