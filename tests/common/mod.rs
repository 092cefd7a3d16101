//! Test harness: orderflow against the real local services, isolated per test by a fresh
//! database, unique topic names and a unique consumer group.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use orderflow::app::{self, Running};
use orderflow::cli::Cli;
use orderflow::domain::OrderId;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub const KAFKA: &str = "127.0.0.1:9092";
pub const REDIS: &str = "redis://127.0.0.1:6379";
const ADMIN_DB: &str = "postgres://orderflow:orderflow@127.0.0.1:5432/orderflow";

pub struct TestApp {
    pub http: SocketAddr,
    pub db: PgPool,
    pub redis: redis::aio::MultiplexedConnection,
    pub suffix: String,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A consumed record, owned.
#[derive(Debug)]
pub struct Consumed {
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl TestApp {
    pub fn topic(&self, base: &str) -> String {
        format!("{base}.{}", self.suffix)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Stops orderflow and waits until it has stopped.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.running.take() {
            task.await
                .expect("orderflow task")
                .expect("orderflow stopped cleanly");
        }
    }

    /// Reads `topic` from the beginning until `want` records arrived or `timeout` passed.
    pub async fn consume(&self, base: &str, want: usize, timeout: Duration) -> Vec<Consumed> {
        consume(&self.topic(base), want, timeout).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Arguments every orderflow command needs to find this test's isolated resources.
fn isolation_args(suffix: &str, database_url: &str) -> Vec<String> {
    [
        ("--database-url", database_url.to_owned()),
        ("--kafka-brokers", KAFKA.to_owned()),
        ("--commands-topic", format!("orders.commands.{suffix}")),
        ("--events-topic", format!("orders.events.{suffix}")),
        ("--state-topic", format!("orders.state.{suffix}")),
        ("--dlq-topic", format!("orders.commands.dlq.{suffix}")),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value])
    .collect()
}

fn parse(args: Vec<String>) -> Cli {
    Cli::try_parse_from(std::iter::once("orderflow".to_owned()).chain(args))
        .expect("valid test arguments")
}

/// Starts `orderflow all` (ingress + processor) on port 0 with a fresh database and topics.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let database = format!("orderflow_test_{suffix}");
    let admin = PgPool::connect(ADMIN_DB)
        .await
        .expect("postgres is up (scripts/services.sh up)");
    // The name is ours: a fixed prefix and hex digits.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&admin)
        .await
        .expect("create test database");
    let database_url = format!("postgres://orderflow:orderflow@127.0.0.1:5432/{database}");
    let base = isolation_args(&suffix, &database_url);

    let mut migrate = vec!["migrate".to_owned()];
    migrate.extend(base[..2].iter().cloned());
    app::run(parse(migrate)).await.expect("migrate");

    let mut topics = vec![
        "topics".to_owned(),
        "create".to_owned(),
        "--partitions".to_owned(),
        "3".to_owned(),
    ];
    topics.extend(base[2..].iter().cloned());
    app::run(parse(topics)).await.expect("create topics");

    let mut all = vec![
        "all".to_owned(),
        "--http-addr".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--group-id".to_owned(),
        format!("orderflow-test-{suffix}"),
        "--redis-url".to_owned(),
        REDIS.to_owned(),
    ];
    all.extend(base);
    all.extend(extra.iter().map(|s| (*s).to_owned()));
    let shutdown = CancellationToken::new();
    let running: Running = app::start(parse(all).command, shutdown.clone())
        .await
        .expect("start orderflow");
    let http = running.http_addr.expect("all serves HTTP");
    let redis = redis::Client::open(REDIS)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("redis is up");
    TestApp {
        http,
        db: PgPool::connect(&database_url)
            .await
            .expect("connect test database"),
        redis,
        suffix,
        client: reqwest::Client::new(),
        shutdown,
        running: Some(tokio::spawn(running.wait())),
    }
}

/// Polls `check` every 50 ms until it yields a value or `timeout` passes.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
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

pub async fn consume(topic: &str, want: usize, timeout: Duration) -> Vec<Consumed> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("group.id", format!("test-reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("test consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < want {
        let Ok(message) = tokio::time::timeout_at(deadline, consumer.recv()).await else {
            break;
        };
        let message = message.expect("consume");
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Consumed {
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        });
    }
    out
}

/// A valid `POST /v1/orders` body.
pub fn order_body() -> serde_json::Value {
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

pub fn order_id_of(body: &serde_json::Value) -> OrderId {
    OrderId(
        body["order_id"]
            .as_str()
            .expect("order_id")
            .parse()
            .expect("uuid"),
    )
}
