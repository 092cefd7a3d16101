//! The chaos run: an ingress and three processors as child processes under a steady HTTP
//! load of creates and follow-up commands, with a seeded schedule of faults (processors and
//! the ingress SIGKILLed, the broker SIGKILLed and down for 10 s, Redis restarted empty,
//! PostgreSQL cut off), then the whole history checked against the domain oracle.
//!
//! The broker and Redis are the test's own (nisshi and redis-server on free ports, data in a
//! temporary folder), so killing them disturbs nothing else. PostgreSQL is the shared
//! server: it is cut off through a TCP proxy (every connection dropped, new ones refused, as
//! a restarting server does) rather than restarted.
//!
//! The suite runs the short form (`ORDERFLOW_CHAOS_SECS` of load, default 45);
//! `scripts/chaos.sh` runs the full one (300 s, more faults). Seed: `ORDERFLOW_TEST_SEED`.

use crate::common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::oracle::{commands_on_topic, consumed, records_on, scalar, verify};
use common::proxy::TcpProxy;
use common::workload::Workload;
use common::{TestEnv, consume_from, eventually, free_port, order_body, wait_for_http};
use orderflow::codec::Codec;
use orderflow::domain::{EventBody, OrderId};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::Child;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PARTITIONS: i32 = 6;
const PROCESSORS: usize = 3;
const CUSTOMERS: usize = 6;
/// How long the broker stays down, and PostgreSQL cut off.
const BROKER_OUTAGE: Duration = Duration::from_secs(10);
const POSTGRES_OUTAGE: Duration = Duration::from_secs(8);

fn seed() -> u64 {
    std::env::var("ORDERFLOW_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random())
}

fn load_time() -> Duration {
    let secs = std::env::var("ORDERFLOW_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45);
    Duration::from_secs(secs)
}

/// A service this test runs itself, started again on the same port after a kill.
struct Service {
    program: &'static str,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
}

impl Service {
    fn nisshi(port: u16, dir: &Path) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let args = [
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "sqlite://nisshi.db",
            "--group-initial-rebalance-delay",
            "0s",
        ];
        Self::new("nisshi", &args, dir.join("nisshi"))
    }

    fn redis(port: u16, dir: &Path) -> Self {
        let port = port.to_string();
        let args = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        Self::new("redis-server", &args, dir.join("redis"))
    }

    fn new(program: &'static str, args: &[&str], dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let mut service = Self {
            program,
            args: args.iter().map(|&a| a.to_owned()).collect(),
            dir,
            child: None,
        };
        service.start();
        service
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log"))
            .unwrap();
        let child = tokio::process::Command::new(self.program)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{}: {e} (scripts/services.sh up installs it)", self.program)
            });
        self.child = Some(child);
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().unwrap(); // SIGKILL
            child.wait().await.unwrap();
        }
    }
}

async fn broker_answers(addr: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .unwrap();
    let consumer = Arc::new(consumer);
    eventually("the broker to answer", Duration::from_secs(60), || {
        let consumer = consumer.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                consumer.fetch_metadata(None, Duration::from_secs(1)).ok()
            })
            .await
            .unwrap()
            .map(|_| ())
        }
    })
    .await;
}

async fn redis_answers(url: &str) {
    let client = redis::Client::open(url).unwrap();
    eventually("redis to answer", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let mut connection = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    KillProcessor(usize),
    KillIngress,
    CutPostgres,
    RestartBroker,
    RestartRedis,
    /// Redis unreachable with its data kept (through a proxy): writes it misses must be
    /// repaired, not just forgotten as a restart would.
    CutRedis,
}

/// Every kind of fault once, in a seeded order, then random ones: one every ~9 s of load.
fn schedule(rng: &mut StdRng, load: Duration) -> Vec<Fault> {
    let mut faults = vec![
        Fault::KillProcessor(0),
        Fault::KillIngress,
        Fault::CutPostgres,
        Fault::RestartBroker,
        Fault::RestartRedis,
        Fault::CutRedis,
    ];
    faults.shuffle(rng);
    let total = (load.as_secs() / 9).max(faults.len() as u64) as usize;
    while faults.len() < total {
        faults.push(match rng.random_range(0..8) {
            0..3 => Fault::KillProcessor(rng.random_range(0..PROCESSORS)),
            3 => Fault::KillIngress,
            4 => Fault::RestartRedis,
            5 => Fault::RestartBroker,
            6 => Fault::CutRedis,
            _ => Fault::CutPostgres,
        });
    }
    faults
}

/// Everything the test runs, and how the children reach PostgreSQL (through the proxy).
struct Rig {
    env: TestEnv,
    /// `env` with the database behind the proxy: what the children are given.
    children: TestEnv,
    proxy: TcpProxy,
    /// In front of Redis, for the children (the test reads Redis directly).
    redis_proxy: TcpProxy,
    broker: Service,
    redis: Service,
    processors: Vec<Child>,
    ingress: Child,
    ingress_addr: String,
    logs: PathBuf,
}

impl Rig {
    async fn start(logs: PathBuf) -> Self {
        let (kafka_port, redis_port) = (free_port(), free_port());
        let broker = Service::nisshi(kafka_port, &logs);
        let redis = Service::redis(redis_port, &logs);
        let kafka = format!("127.0.0.1:{kafka_port}");
        let redis_url = format!("redis://127.0.0.1:{redis_port}");
        broker_answers(&kafka).await;
        redis_answers(&redis_url).await;
        let env = TestEnv::on(PARTITIONS, &kafka, &redis_url).await;
        let proxy = TcpProxy::start("127.0.0.1:5432").await;
        let redis_proxy = TcpProxy::start(&format!("127.0.0.1:{redis_port}")).await;
        let mut children = env.clone();
        children.database_url = env
            .database_url
            .replace("127.0.0.1:5432", &proxy.addr.to_string());
        children.redis = format!("redis://{}", redis_proxy.addr);
        let ingress_addr = format!("127.0.0.1:{}", free_port());
        let mut rig = Self {
            ingress: spawn_ingress(&children, &ingress_addr, &logs),
            processors: Vec::new(),
            env,
            children,
            proxy,
            redis_proxy,
            broker,
            redis,
            ingress_addr,
            logs,
        };
        for i in 0..PROCESSORS {
            let processor = rig.spawn_processor(i);
            rig.processors.push(processor);
        }
        wait_for_http(&rig.url()).await;
        rig
    }

    fn url(&self) -> String {
        format!("http://{}", self.ingress_addr)
    }

    fn spawn_processor(&self, i: usize) -> Child {
        let log = log_file(&self.logs, &format!("processor-{i}"));
        tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .arg("processor")
            .args(["--group-id", &self.children.group()])
            .args(["--redis-url", &self.children.redis])
            .args(["--metrics-addr", "127.0.0.1:0"])
            .args(self.children.args())
            .env("RUST_LOG", "info,librdkafka=warn,apache_avro=error")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn orderflow processor")
    }

    async fn inflict(&mut self, fault: Fault, outage: &AtomicBool) {
        match fault {
            Fault::KillProcessor(i) => {
                let processor = &mut self.processors[i];
                processor.start_kill().unwrap(); // SIGKILL
                processor.wait().await.unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.processors[i] = self.spawn_processor(i);
            }
            Fault::KillIngress => {
                self.ingress.start_kill().unwrap();
                self.ingress.wait().await.unwrap();
                self.ingress = spawn_ingress(&self.children, &self.ingress_addr, &self.logs);
                wait_for_http(&self.url()).await;
            }
            Fault::CutPostgres => {
                self.proxy.cut();
                tokio::time::sleep(POSTGRES_OUTAGE).await;
                self.proxy.restore();
            }
            Fault::RestartBroker => {
                self.broker.kill().await;
                outage.store(true, Ordering::SeqCst);
                tokio::time::sleep(BROKER_OUTAGE).await;
                self.broker.start();
                broker_answers(&self.env.kafka).await;
                outage.store(false, Ordering::SeqCst);
            }
            Fault::CutRedis => {
                self.redis_proxy.cut();
                tokio::time::sleep(Duration::from_secs(5)).await;
                self.redis_proxy.restore();
            }
            Fault::RestartRedis => {
                self.redis.kill().await;
                tokio::time::sleep(Duration::from_secs(2)).await;
                self.redis.start();
                redis_answers(&self.env.redis).await;
            }
        }
    }
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .unwrap()
}

fn spawn_ingress(env: &TestEnv, addr: &str, logs: &Path) -> Child {
    env.spawn_ingress_at(
        addr,
        &["--auth", "api-key", "--rate-limit", "0"],
        "warn",
        log_file(logs, "ingress").into(),
    )
}

/// What the HTTP load saw.
#[derive(Default)]
struct Seen {
    /// Command ids answered 202.
    accepted: Vec<Uuid>,
    /// Answers by status code ("error" for no answer at all).
    statuses: BTreeMap<String, usize>,
    /// The same, while the broker was down.
    during_broker_outage: BTreeMap<String, usize>,
}

/// One order's life: a create and a seeded choice of follow-ups (some invalid, e.g. a
/// delivery before the shipment, which the processor rejects).
fn script(rng: &mut StdRng, order: Uuid) -> Vec<(Method, String, Value)> {
    let at = |suffix: &str| format!("/v1/orders/{order}{suffix}");
    let mut create = order_body();
    create["order_id"] = json!(order);
    let update =
        json!({"items": [{"sku": "SKU-9", "quantity": rng.random_range(1..9), "unit_price": 700}]});
    let ship = json!({"carrier": "DHL", "tracking_number": format!("T{}", rng.random::<u32>())});
    let mut steps = vec![(Method::POST, "/v1/orders".to_owned(), create)];
    let follow_ups: &[(Method, &str)] = match rng.random_range(0..5) {
        0 => &[
            (Method::PATCH, ""),
            (Method::POST, "/confirm"),
            (Method::POST, "/ship"),
            (Method::POST, "/deliver"),
        ],
        1 => &[(Method::POST, "/confirm"), (Method::POST, "/cancel")],
        2 => &[
            (Method::PATCH, ""),
            (Method::PATCH, ""),
            (Method::DELETE, ""),
        ],
        3 => &[
            (Method::POST, "/confirm"),
            (Method::POST, "/ship"),
            (Method::PUT, "/shipping"),
            (Method::POST, "/deliver"),
        ],
        _ => &[(Method::POST, "/deliver"), (Method::POST, "/confirm")],
    };
    for (method, suffix) in follow_ups {
        let body = match *suffix {
            "" if *method == Method::PATCH => update.clone(),
            "/ship" | "/shipping" => ship.clone(),
            "/cancel" => json!({"reason": "changed my mind"}),
            _ => json!({}),
        };
        steps.push((method.clone(), at(suffix), body));
    }
    steps
}

/// Sends orders' lives one command at a time until `stop`, each command retried under its
/// Idempotency-Key until it is accepted (so a retry is never a second command).
async fn customer(url: String, key: String, seed: u64, stop: CancellationToken, load: Arc<Load>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    while !stop.is_cancelled() {
        let order = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        for (method, path, body) in script(&mut rng, order) {
            let idempotency_key = Uuid::from_u128(rng.random()).to_string();
            loop {
                let sent = client
                    .request(method.clone(), format!("{url}{path}"))
                    .bearer_auth(&key)
                    .header("idempotency-key", &idempotency_key)
                    .json(&body)
                    .send()
                    .await;
                let status = sent
                    .as_ref()
                    .map_or("error".to_owned(), |r| r.status().as_u16().to_string());
                load.saw(&status);
                if status == "202" {
                    let answer: Value = sent.unwrap().json().await.unwrap();
                    let id = answer["command_id"].as_str().unwrap().parse().unwrap();
                    load.seen.lock().unwrap().accepted.push(id);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(100..300))).await;
            }
            if stop.is_cancelled() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

struct Load {
    seen: Mutex<Seen>,
    broker_down: AtomicBool,
}

impl Load {
    fn saw(&self, status: &str) {
        let mut seen = self.seen.lock().unwrap();
        *seen.statuses.entry(status.to_owned()).or_default() += 1;
        if self.broker_down.load(Ordering::SeqCst) {
            *seen
                .during_broker_outage
                .entry(status.to_owned())
                .or_default() += 1;
        }
    }
}

/// A partition with commands waiting that did not move, from `since`, for `lasted`.
struct Stall {
    since: Instant,
    lasted: Duration,
}

/// Samples, every 500 ms, each partition's stored next offset against the topic's end, and
/// returns every stall longer than a second.
async fn stalls(env: TestEnv, stop: CancellationToken) -> Vec<Stall> {
    let db = env.db().await;
    let topic = env.topic("orders.commands");
    let reader: Arc<BaseConsumer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &env.kafka)
            .create()
            .unwrap(),
    );
    let mut last: HashMap<i32, (i64, Instant)> = HashMap::new();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    let mut found = Vec::new();
    let mut note = |since: Instant, now: Instant| {
        let lasted = now - since;
        if lasted > Duration::from_secs(1) {
            found.push(Stall { since, lasted });
        }
    };
    while !stop.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (reader, topic) = (reader.clone(), topic.clone());
        let fetched = tokio::task::spawn_blocking(move || {
            (0..PARTITIONS)
                .map(|p| {
                    reader
                        .fetch_watermarks(&topic, p, Duration::from_millis(500))
                        .map(|(_, high)| (p, high))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();
        if let Ok(fetched) = fetched {
            ends.extend(fetched); // while the broker is down, the last known ends
        }
        let stored: Vec<(i32, i64)> =
            sqlx::query_as("SELECT partition, next_offset FROM consumer_offsets")
                .fetch_all(&db)
                .await
                .unwrap();
        let stored: HashMap<i32, i64> = stored.into_iter().collect();
        let now = Instant::now();
        for p in 0..PARTITIONS {
            let next = stored.get(&p).copied().unwrap_or(0);
            let end = ends.get(&p).copied().unwrap_or(0);
            let entry = last.entry(p).or_insert((next, now));
            if next != entry.0 || next >= end {
                note(entry.1, now);
                *entry = (next, now);
            }
        }
    }
    let now = Instant::now();
    for (_, since) in last.into_values() {
        note(since, now);
    }
    found
}

/// The longest stall each kind of fault caused: a stall is put down to the first fault
/// inflicted while it lasted (its partition's last progress may be a little earlier).
fn stalls_by_fault(stalls: &[Stall], inflicted: &[(Instant, Fault)]) -> BTreeMap<String, f64> {
    let mut longest = BTreeMap::new();
    for stall in stalls {
        let cause = inflicted
            .iter()
            .find(|(at, _)| {
                *at + Duration::from_secs(1) >= stall.since && *at <= stall.since + stall.lasted
            })
            .map_or("none".to_owned(), |(_, fault)| kind(*fault));
        let entry = longest.entry(cause).or_insert(0.0f64);
        *entry = entry.max(stall.lasted.as_secs_f64());
    }
    longest
}

fn kind(fault: Fault) -> String {
    let name = format!("{fault:?}");
    name.split('(').next().unwrap().to_owned()
}

/// Orders Redis holds at an older version than PostgreSQL (a missing entry is a miss, fine).
async fn stale_in_redis(env: &TestEnv) -> usize {
    let db = env.db().await;
    let rows: Vec<(Uuid, i64)> = sqlx::query_as("SELECT order_id, version FROM orders")
        .fetch_all(&db)
        .await
        .unwrap();
    let mut redis = redis::Client::open(env.redis.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut stale = 0;
    for chunk in rows.chunks(500) {
        let mut pipe = redis::pipe();
        for (id, _) in chunk {
            pipe.hget(format!("orderflow:order:{id}"), "v");
        }
        let cached: Vec<Option<i64>> = pipe.query_async(&mut redis).await.unwrap();
        stale += chunk
            .iter()
            .zip(cached)
            .filter(|((_, version), cached)| cached.is_some_and(|v| v < *version))
            .count();
    }
    stale
}

/// What the run's history says, counted (before the oracle's assertions).
struct Summary {
    accepted: usize,
    applied: usize,
    lost: usize,
    double_applied: i64,
    out_of_order: usize,
    dlq: i64,
    dlq_valid: usize,
}

async fn summarize(env: &TestEnv, accepted: &[Uuid], on_topic: &HashSet<Uuid>) -> Summary {
    let db = env.db().await;
    let processed: Vec<(Uuid,)> = sqlx::query_as("SELECT command_id FROM processed_commands")
        .fetch_all(&db)
        .await
        .unwrap();
    let processed: HashSet<Uuid> = processed.into_iter().map(|(id,)| id).collect();
    let accepted: HashSet<Uuid> = accepted.iter().copied().collect();
    let applied = accepted.intersection(&processed).count();
    let lost = accepted
        .iter()
        .filter(|id| !processed.contains(id) || !on_topic.contains(id))
        .count();
    let double_applied = scalar(
        &db,
        "SELECT count(*) FROM (SELECT causation_id FROM order_events
                               GROUP BY causation_id HAVING count(*) > 1) twice",
    )
    .await;

    // First copies of each order's events on the topic, in topic order.
    let events = env.topic("orders.events");
    let total = records_on(&env.kafka, &events).await;
    let records = consume_from(&env.kafka, &events, total, Duration::from_secs(120)).await;
    let codec = Codec::single_object();
    let mut first = HashSet::new();
    let mut versions: HashMap<OrderId, Vec<u64>> = HashMap::new();
    for record in &records {
        let event = codec.decode_event(&record.payload).await.unwrap();
        if !matches!(event.body, EventBody::CommandRejected { .. }) && first.insert(event.event_id)
        {
            versions
                .entry(event.order_id)
                .or_default()
                .push(event.version);
        }
    }
    let out_of_order = versions.values().filter(|v| !v.is_sorted()).count();

    let dead: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT payload FROM dead_letters")
        .fetch_all(&db)
        .await
        .unwrap();
    let mut dlq_valid = 0;
    for (payload,) in &dead {
        if codec.decode_command(payload).await.is_ok() {
            dlq_valid += 1;
        }
    }
    Summary {
        accepted: accepted.len(),
        applied,
        lost,
        double_applied,
        out_of_order,
        dlq: dead.len() as i64,
        dlq_valid,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chaos_under_http_load_loses_nothing_applies_nothing_twice_and_keeps_order() {
    let seed = seed();
    let load_time = load_time();
    let mut rng = StdRng::seed_from_u64(seed);
    let faults = schedule(&mut rng, load_time);
    let logs = std::env::temp_dir().join(format!("orderflow-chaos-{seed}"));
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).unwrap();
    println!(
        "seed {seed}: {load_time:?} of load, faults {faults:?}, logs in {}",
        logs.display()
    );
    let mut rig = Rig::start(logs).await;
    let key = rig.env.api_key("shop-1").await;

    let stop = CancellationToken::new();
    let load = Arc::new(Load {
        seen: Mutex::new(Seen::default()),
        broker_down: AtomicBool::new(false),
    });
    let customers: Vec<_> = (0..CUSTOMERS)
        .map(|i| {
            let (url, key, stop, load) = (rig.url(), key.clone(), stop.clone(), load.clone());
            tokio::spawn(customer(url, key, seed + i as u64, stop, load))
        })
        .collect();
    let sampling = CancellationToken::new();
    let stall = tokio::spawn(stalls(rig.env.clone(), sampling.clone()));

    let started = Instant::now();
    let spacing = load_time / (faults.len() as u32 + 1);
    let mut inflicted = Vec::new();
    for (i, fault) in faults.iter().enumerate() {
        let at = spacing * (i as u32 + 1);
        tokio::time::sleep(at.saturating_sub(started.elapsed())).await;
        println!("seed {seed}: {:>5.1?} {fault:?}", started.elapsed());
        inflicted.push((Instant::now(), *fault));
        rig.inflict(*fault, &load.broker_down).await;
    }
    tokio::time::sleep(load_time.saturating_sub(started.elapsed())).await;
    stop.cancel();
    for customer in customers {
        customer.await.unwrap();
    }
    println!("seed {seed}: load stopped after {:?}", started.elapsed());

    // Drained: every record consumed (the stall sampler runs until then).
    let commands_topic = rig.env.topic("orders.commands");
    let total = records_on(&rig.env.kafka, &commands_topic).await;
    let db = rig.env.db().await;
    eventually(
        "every command consumed",
        Duration::from_secs(180),
        || async {
            let consumed = consumed(&db).await;
            (consumed as usize == total).then_some(())
        },
    )
    .await;
    sampling.cancel();
    let stalls = stall.await.unwrap();
    let longest_stall = stalls.iter().map(|s| s.lasted).max().unwrap_or_default();

    // What reached the broker, in each partition's order: the oracle's input.
    let commands = commands_on_topic(&rig.env).await;
    // Redis repairs itself within seconds of the last fault (every second while a backlog waits).
    let mut cache_stale = usize::MAX;
    for _ in 0..20 {
        cache_stale = stale_in_redis(&rig.env).await;
        if cache_stale == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let on_topic: HashSet<Uuid> = commands.iter().map(|c| c.command_id.0).collect();
    let seen = std::mem::take(&mut *load.seen.lock().unwrap());
    let summary = summarize(&rig.env, &seen.accepted, &on_topic).await;
    println!(
        "accepted={} applied={} lost={} double_applied={} out_of_order={} dlq_valid={} \
         (dlq={}, records={total}, cache_stale={cache_stale}, longest_stall={:.1}s, seed {seed})",
        summary.accepted,
        summary.applied,
        summary.lost,
        summary.double_applied,
        summary.out_of_order,
        summary.dlq_valid,
        summary.dlq,
        longest_stall.as_secs_f64(),
    );
    println!(
        "longest stall (s) after each kind of fault: {:?}",
        stalls_by_fault(&stalls, &inflicted)
    );
    println!(
        "answers {:?}; while the broker was down {:?}",
        seen.statuses, seen.during_broker_outage
    );
    assert_eq!(
        (
            summary.lost,
            summary.double_applied,
            summary.out_of_order,
            summary.dlq
        ),
        (0, 0, 0, 0),
        "seed {seed}: lost, double applied, out of order, dead-lettered"
    );
    assert_eq!(summary.applied, summary.accepted, "seed {seed}");
    assert_eq!(cache_stale, 0, "seed {seed}: Redis behind PostgreSQL");
    assert!(summary.accepted > 500, "seed {seed}: a real load");
    // Outages are answered 503 (with Retry-After), never 500 or a 202 that is then lost.
    let answered: HashSet<&str> = seen.statuses.keys().map(String::as_str).collect();
    assert!(
        answered.is_subset(&HashSet::from(["202", "503", "error"])),
        "seed {seed}: {:?}",
        seen.statuses
    );
    assert!(
        seen.during_broker_outage.contains_key("503"),
        "seed {seed}: the broker outage answered 503: {:?}",
        seen.during_broker_outage
    );

    // The oracle: PostgreSQL and the event topic equal the domain applied in order.
    verify(&rig.env, &Workload { commands }, seed).await;
    for processor in &mut rig.processors {
        processor.start_kill().unwrap();
    }
}
