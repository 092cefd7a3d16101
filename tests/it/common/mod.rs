//! Test harness: orderflow against the real local services, isolated per test by a fresh
//! database, unique topic names and a unique consumer group.

#![allow(dead_code)]

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
pub(crate) mod oracle;
pub(crate) mod proxy;
pub(crate) mod workload;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub(crate) const KAFKA: &str = "127.0.0.1:9092";
pub(crate) const REDIS: &str = "redis://127.0.0.1:6379";
const ADMIN_DB: &str = "postgres://orderflow:orderflow@127.0.0.1:5432/orderflow";

pub(crate) struct TestApp {
    pub http: SocketAddr,
    pub db: PgPool,
    pub redis: redis::aio::MultiplexedConnection,
    pub suffix: String,
    pub env: TestEnv,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A consumed record, owned.
#[derive(Debug)]
pub(crate) struct Consumed {
    pub key: Option<String>,
    /// Empty for a tombstone (see `tombstone`).
    pub payload: Vec<u8>,
    pub tombstone: bool,
    pub partition: i32,
    pub offset: i64,
    pub headers: Vec<(String, String)>,
}

impl Consumed {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Produces one raw record; returns where it landed.
pub(crate) async fn produce(
    topic: &str,
    key: &str,
    payload: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> (i32, i64) {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    static PRODUCER: std::sync::OnceLock<FutureProducer> = std::sync::OnceLock::new();
    let producer = PRODUCER.get_or_init(|| {
        ClientConfig::new()
            .set("bootstrap.servers", KAFKA)
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .create()
            .expect("test producer")
    });
    let mut record = FutureRecord::to(topic).key(key);
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    let headers = headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
        h.insert(Header {
            key: k,
            value: Some(*v),
        })
    });
    let delivery = producer
        .send(record.headers(headers), Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .expect("produce");
    (delivery.partition, delivery.offset)
}

impl TestApp {
    /// Total next offsets stored for the commands topic: how many records were consumed.
    pub(crate) async fn consumed_commands(&self) -> i64 {
        oracle::consumed(&self.db).await
    }

    pub(crate) fn topic(&self, base: &str) -> String {
        format!("{base}.{}", self.suffix)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Stops orderflow and waits until it has stopped.
    pub(crate) async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.running.take() {
            task.await
                .expect("orderflow task")
                .expect("orderflow stopped cleanly");
        }
    }

    /// Reads `topic` from the beginning until `want` records arrived or `timeout` passed.
    pub(crate) async fn consume(
        &self,
        base: &str,
        want: usize,
        timeout: Duration,
    ) -> Vec<Consumed> {
        consume(&self.topic(base), want, timeout).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Arguments every orderflow command needs to find this test's isolated resources.
fn isolation_args(suffix: &str, database_url: &str, kafka: &str) -> Vec<String> {
    [
        ("--database-url", database_url.to_owned()),
        ("--kafka-brokers", kafka.to_owned()),
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
pub(crate) async fn spawn_app() -> TestApp {
    TestEnv::new(3).await.start(&[]).await
}

pub(crate) async fn spawn_app_with(extra: &[&str]) -> TestApp {
    TestEnv::new(3).await.start(extra).await
}

/// A fresh database with orderflow's schema and unique topics: what instances of orderflow
/// (in-process or child processes) share across restarts.
#[derive(Clone)]
pub(crate) struct TestEnv {
    pub suffix: String,
    pub database_url: String,
    /// The shared broker (`KAFKA`) unless the test runs its own.
    pub kafka: String,
    pub redis: String,
}

impl TestEnv {
    pub(crate) async fn new(partitions: i32) -> Self {
        Self::on(partitions, KAFKA, REDIS).await
    }

    /// An environment whose topics live on `kafka` and whose cache is `redis`.
    pub(crate) async fn on(partitions: i32, kafka: &str, redis: &str) -> Self {
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
        let env = TestEnv {
            suffix,
            database_url: format!("postgres://orderflow:orderflow@127.0.0.1:5432/{database}"),
            kafka: kafka.to_owned(),
            redis: redis.to_owned(),
        };
        let mut migrate = vec!["migrate".to_owned()];
        migrate.extend(env.args()[..2].iter().cloned());
        app::run(parse(migrate)).await.expect("migrate");
        let mut topics = vec![
            "topics".to_owned(),
            "create".to_owned(),
            "--partitions".to_owned(),
            partitions.to_string(),
        ];
        topics.extend(env.args()[2..].iter().cloned());
        app::run(parse(topics)).await.expect("create topics");
        env
    }

    pub(crate) fn topic(&self, base: &str) -> String {
        format!("{base}.{}", self.suffix)
    }

    pub(crate) fn group(&self) -> String {
        format!("orderflow-test-{}", self.suffix)
    }

    /// `--database-url` and the topic flags of this environment.
    pub(crate) fn args(&self) -> Vec<String> {
        isolation_args(&self.suffix, &self.database_url, &self.kafka)
    }

    /// A new API key of `storefront`, written straight to this environment's database.
    pub(crate) async fn api_key(&self, storefront: &str) -> String {
        let store = orderflow::store::Store::connect(&self.database_url.clone().into(), None, 2)
            .await
            .unwrap();
        let storefront = StorefrontId::parse(storefront).unwrap();
        orderflow::ingress::auth::create_key(&store, &storefront)
            .await
            .unwrap()
            .1
    }

    pub(crate) async fn db(&self) -> PgPool {
        PgPool::connect(&self.database_url)
            .await
            .expect("connect test database")
    }

    /// Starts `orderflow all` in this process.
    pub(crate) async fn start(&self, extra: &[&str]) -> TestApp {
        let mut all = vec![
            "all".to_owned(),
            "--http-addr".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--group-id".to_owned(),
            self.group(),
            "--redis-url".to_owned(),
            self.redis.clone(),
            // Tests of authentication pass `--auth api-key` (the last flag wins).
            "--auth".to_owned(),
            "none".to_owned(),
        ];
        all.extend(self.args());
        all.extend(extra.iter().map(|s| (*s).to_owned()));
        let shutdown = CancellationToken::new();
        let running: Running = app::start(parse(all).command, shutdown.clone())
            .await
            .expect("start orderflow");
        let http = running.http_addr.expect("all serves HTTP");
        let redis = redis::Client::open(self.redis.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("redis is up");
        TestApp {
            http,
            db: self.db().await,
            redis,
            suffix: self.suffix.clone(),
            env: self.clone(),
            client: reqwest::Client::new(),
            shutdown,
            running: Some(tokio::spawn(running.wait())),
        }
    }

    /// `orderflow ingress` as a child process on a free port (killed when dropped).
    pub(crate) async fn spawn_ingress(&self, extra: &[&str]) -> (tokio::process::Child, String) {
        self.spawn_ingress_logging(extra, "error", std::process::Stdio::inherit())
            .await
    }

    /// `spawn_ingress` with its logs at `rust_log` going to `stderr`.
    pub(crate) async fn spawn_ingress_logging(
        &self,
        extra: &[&str],
        rust_log: &str,
        stderr: std::process::Stdio,
    ) -> (tokio::process::Child, String) {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = self.spawn_ingress_at(&addr, extra, rust_log, stderr);
        let url = format!("http://{addr}");
        wait_for_http(&url).await;
        (child, url)
    }

    /// `orderflow ingress` listening on `addr` (killed when dropped); returns at once.
    pub(crate) fn spawn_ingress_at(
        &self,
        addr: &str,
        extra: &[&str],
        rust_log: &str,
        stderr: std::process::Stdio,
    ) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .arg("ingress")
            .args([
                "--http-addr",
                addr,
                "--redis-url",
                &self.redis,
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .args(self.args())
            .args(extra)
            .env("RUST_LOG", rust_log)
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn orderflow ingress")
    }

    /// `orderflow processor` as a child process (killed when dropped).
    pub(crate) fn spawn_processor(&self, extra: &[&str]) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .arg("processor")
            .args([
                "--group-id",
                &self.group(),
                "--redis-url",
                &self.redis,
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .args(self.args())
            .args(extra)
            .env("RUST_LOG", "warn,librdkafka=error,apache_avro=error")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn orderflow processor")
    }
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

/// A loopback port nobody listens on (at the moment of asking).
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

pub(crate) async fn consume(topic: &str, want: usize, timeout: Duration) -> Vec<Consumed> {
    consume_from(KAFKA, topic, want, timeout).await
}

/// `consume` from the broker at `kafka`.
pub(crate) async fn consume_from(
    kafka: &str,
    topic: &str,
    want: usize,
    timeout: Duration,
) -> Vec<Consumed> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka)
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
            tombstone: message.payload().is_none(),
            partition: message.partition(),
            offset: message.offset(),
            headers,
        });
    }
    out
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
