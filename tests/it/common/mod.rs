//! Test harness: orderflow against the real local services, isolated per test by a fresh
//! database, unique topic names and a unique consumer group.

#![allow(dead_code)]

mod env;
mod kafka;
pub(crate) mod oracle;
pub(crate) mod proxy;
mod test_app;
pub(crate) mod workload;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use orderflow::app::{self, Running};
use orderflow::cli::Cli;
use orderflow::domain::{
    AddressInput, Command, CommandBody, CommandId, LineItemInput, NewOrderInput, OrderId,
    StorefrontId,
};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub(crate) use env::*;
pub(crate) use kafka::*;
pub(crate) use test_app::*;

pub(crate) const KAFKA: &str = "127.0.0.1:9092";
pub(crate) const REDIS: &str = "redis://127.0.0.1:6379";

/// Client settings for the shared local broker.
pub(crate) fn kafka_settings() -> orderflow::kafka::KafkaSettings {
    orderflow::kafka::KafkaSettings {
        brokers: KAFKA.into(),
        properties: vec![],
    }
}

/// Lines of JSON, as `tail` and `dlq` print them.
pub(crate) fn json_lines(out: Vec<u8>) -> Vec<serde_json::Value> {
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
const ADMIN_DB: &str = "postgres://orderflow:orderflow@127.0.0.1:5432/orderflow";

/// Processor flags that let the group notice a killed member within seconds rather than
/// the default 45 s.
pub(crate) const FAST_GROUP: [&str; 4] = [
    "--kafka-config",
    "session.timeout.ms=6000",
    "--kafka-config",
    "heartbeat.interval.ms=500",
];

/// The version Redis holds of an order, if any (read directly, not through orderflow).
pub(crate) async fn cached_version(
    redis: &redis::aio::MultiplexedConnection,
    id: OrderId,
) -> Option<u64> {
    redis::AsyncCommands::hget(&mut redis.clone(), format!("orderflow:order:{id}"), "v")
        .await
        .unwrap()
}

/// Sends SIGTERM to `child` (a graceful stop; `start_kill` is SIGKILL).
pub(crate) fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("a running child").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -TERM {pid}");
}

/// A loopback port nobody listens on (at the moment of asking). Only for what cannot be
/// handed a listener: child processes (whose address must also survive their restarts, as
/// in the chaos run) and outside servers (nisshi, redis-server). In this process, listeners
/// bind port 0 and are passed on.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `url` answers `/healthz` at all.
pub(crate) async fn wait_for_http(url: &str) {
    let client = reqwest::Client::new();
    eventually("the ingress to listen", Duration::from_secs(20), || {
        let (client, url) = (client.clone(), url.to_owned());
        async move {
            client
                .get(format!("{url}/healthz"))
                .send()
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
}

/// Polls `check` every 50 ms until it yields a value or `timeout` passes.
pub(crate) async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A valid `POST /v1/orders` body.
pub(crate) fn order_body() -> serde_json::Value {
    serde_json::json!({
        "customer_id": "c-42",
        "currency": "EUR",
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": 1999},
                  {"sku": "SKU-2", "quantity": 1, "unit_price": 500}],
        "shipping_address": {"name": "Ada Lovelace", "line1": "1 Main St", "line2": null,
                             "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "metadata": {"channel": "web"}
    })
}

pub(crate) fn order_id_of(body: &serde_json::Value) -> OrderId {
    OrderId(
        body["order_id"]
            .as_str()
            .expect("order_id")
            .parse()
            .expect("uuid"),
    )
}

/// A valid CreateOrder command for `order_id`.
pub(crate) fn create(order_id: OrderId) -> Command {
    command(
        order_id,
        CommandBody::CreateOrder(NewOrderInput {
            customer_id: "c-1".into(),
            currency: "EUR".into(),
            items: vec![LineItemInput {
                sku: "S".into(),
                quantity: 2,
                unit_price: 150,
            }],
            shipping_address: AddressInput {
                name: "N".into(),
                line1: "L".into(),
                line2: None,
                city: "C".into(),
                postal_code: "P".into(),
                country: "DE".into(),
            },
            metadata: Default::default(),
            adjustments: Vec::new(),
        }),
    )
}

/// A command of the default storefront, no expected version.
pub(crate) fn command(order_id: OrderId, body: CommandBody) -> Command {
    Command {
        command_id: CommandId::new_random(),
        order_id,
        storefront_id: StorefrontId::default_storefront(),
        expected_version: None,
        // Microseconds, as on the wire: an oracle folds what the processor decodes.
        issued_at: chrono::DateTime::from_timestamp_micros(chrono::Utc::now().timestamp_micros())
            .unwrap(),
        issued_by: None,
        body,
    }
}
