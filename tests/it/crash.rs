//! Crash and scale-out: `orderflow processor` as child processes, killed with SIGKILL at
//! random moments, checked against the oracle (the domain applied in order).

use crate::common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::oracle::{self, verify};
use common::workload::Workload;
use common::{FAST_GROUP, KAFKA, TestEnv, eventually};
use orderflow::codec::Codec;
use rand::{Rng, SeedableRng};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

const ORDERS: usize = 1_000;
/// Mean commands per order: 22 000 on average, and never near the 20 000 the issue asks for
/// (the per-order counts are uniform in 11..=33, so the total varies by about 210).
const PER_ORDER: usize = 22;
/// Commands in each chunk sent; chunks are sent `CHUNK_GAP` apart, so commands keep
/// arriving through the kills.
const CHUNKS: usize = 40;
const CHUNK_GAP: Duration = Duration::from_millis(900);

fn seed() -> u64 {
    std::env::var("ORDERFLOW_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random())
}

/// Sends the workload in chunks, so that kills land while commands still arrive.
async fn send(env: &TestEnv, workload: &Workload, chunks: usize, gap: Duration) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let topic = env.topic("orders.commands");
    let codec = Codec::single_object();
    let size = workload.commands.len().div_ceil(chunks);
    for chunk in workload.commands.chunks(size) {
        let mut deliveries = Vec::with_capacity(chunk.len());
        for command in chunk {
            let payload = codec.encode_command(&topic, command).await.unwrap();
            let key = command.order_id.to_string();
            let record = FutureRecord::to(&topic).key(&key).payload(&payload);
            deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        }
        for delivery in deliveries {
            delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
        }
        tokio::time::sleep(gap).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn processor_killed_at_random_moments_matches_the_oracle() {
    let seed = seed();
    let workload = Workload::generate(seed, ORDERS, PER_ORDER);
    assert!(
        workload.commands.len() >= 20_000,
        "{} commands",
        workload.commands.len()
    );
    let kinds: HashSet<_> = workload.commands.iter().map(|c| c.body.kind()).collect();
    assert_eq!(
        kinds.len(),
        17,
        "every command kind: payments, fulfillments and returns among them"
    );
    let env = TestEnv::new(6).await;

    let started = Instant::now();
    let mut processor = env.spawn_processor(&FAST_GROUP);
    let sender = {
        let env = env.clone();
        let workload = Workload {
            commands: workload.commands.clone(),
        };
        tokio::spawn(async move { send(&env, &workload, CHUNKS, CHUNK_GAP).await })
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let db = env.db().await;
    let mut kills = Vec::new();
    let mut consumed = 0;
    for _ in 0..5 {
        // Kill only once this process is committing batches, at a random moment among them.
        let before = consumed;
        eventually(
            "the restarted processor to make progress",
            Duration::from_secs(60),
            || async {
                let now = oracle::consumed(&db).await;
                (now > before).then_some(())
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
        processor.start_kill().unwrap(); // SIGKILL
        processor.wait().await.unwrap();
        consumed = oracle::consumed(&db).await;
        kills.push((started.elapsed(), consumed));
        processor = env.spawn_processor(&FAST_GROUP);
    }
    sender.await.unwrap();
    println!("seed {seed}: killed at (time, commands consumed) {kills:?}");
    verify(&env, &workload, seed).await;
    let total = workload.commands.len() as i64;
    assert!(
        kills
            .iter()
            .all(|&(_, consumed)| consumed > 0 && consumed < total),
        "seed {seed}: every kill lands mid-run: {kills:?}"
    );
    println!("seed {seed}: crash test took {:?}", started.elapsed());
    processor.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn three_processors_with_one_killed_mid_run_match_the_oracle() {
    let seed = seed();
    let workload = Workload::generate(seed, ORDERS, PER_ORDER);
    let env = TestEnv::new(6).await;
    let started = Instant::now();
    let mut processors: Vec<_> = (0..3).map(|_| env.spawn_processor(&FAST_GROUP)).collect();
    let sender = {
        let env = env.clone();
        let workload = Workload {
            commands: workload.commands.clone(),
        };
        tokio::spawn(async move { send(&env, &workload, CHUNKS, CHUNK_GAP).await })
    };
    // Killed mid-run: once the three are applying commands, not after a guessed pause.
    let db = env.db().await;
    let consumed = eventually(
        "the processors to make progress",
        Duration::from_secs(60),
        || async {
            let n = oracle::consumed(&db).await;
            (n > 0).then_some(n)
        },
    )
    .await;
    processors[0].start_kill().unwrap(); // SIGKILL
    processors[0].wait().await.unwrap();
    println!(
        "seed {seed}: killed one of three after {:?} with {consumed} commands consumed",
        started.elapsed()
    );
    sender.await.unwrap();
    verify(&env, &workload, seed).await;
    println!("seed {seed}: scale-out test took {:?}", started.elapsed());
    for p in &mut processors[1..] {
        p.start_kill().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_the_in_flight_batch_and_exits_cleanly_in_time() {
    let seed = seed();
    let workload = Workload::generate(seed, 200, 20);
    let env = TestEnv::new(3).await;
    let mut processor = env.spawn_processor(&FAST_GROUP);
    send(&env, &workload, 4, Duration::from_millis(100)).await;
    let db = env.db().await;
    eventually(
        "the processor to make progress",
        Duration::from_secs(60),
        || async { (oracle::consumed(&db).await > 0).then_some(()) },
    )
    .await;
    let signalled = Instant::now();
    common::sigterm(&processor);
    let status = tokio::time::timeout(Duration::from_secs(25), processor.wait())
        .await
        .expect("drained within the 20 s drain timeout (below the 45 s session timeout)")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    println!(
        "seed {seed}: stopped {:?} after SIGTERM",
        signalled.elapsed()
    );

    let mut processor = env.spawn_processor(&FAST_GROUP);
    verify(&env, &workload, seed).await;
    processor.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_endpoint_reports_outcomes_batches_stages_and_the_outbox() {
    let env = TestEnv::new(3).await;
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut processor = env.spawn_processor(&["--metrics-addr", &addr]);
    let workload = Workload::generate(seed(), 50, 10);
    send(&env, &workload, 1, Duration::ZERO).await;
    common::produce(&env.topic("orders.commands"), "k", Some(b"not avro"), &[]).await;
    let db = env.db().await;
    let total = workload.commands.len() as i64 + 1;
    eventually(
        "every command consumed",
        Duration::from_secs(60),
        || async { (oracle::consumed(&db).await == total).then_some(()) },
    )
    .await;
    let body = eventually(
        "metrics with the outbox gauge",
        Duration::from_secs(30),
        || {
            let url = format!("http://{addr}/metrics");
            async move {
                let body = reqwest::get(url).await.ok()?.text().await.ok()?;
                (body.contains("orderflow_outbox_pending")
                    && body.contains("orderflow_consumer_lag"))
                .then_some(body)
            }
        },
    )
    .await;
    for needle in [
        "orderflow_commands_total{outcome=\"applied\"}",
        "orderflow_commands_total{outcome=\"rejected\"}",
        "orderflow_commands_total{outcome=\"dlq\"} 1",
        "orderflow_batch_size",
        "orderflow_batch_stage_duration_seconds{stage=\"commit\"",
        "orderflow_batch_stage_duration_seconds{stage=\"publish\"",
        "orderflow_events_published_total",
        "orderflow_consumer_lag{partition=",
    ] {
        assert!(body.contains(needle), "missing {needle} in\n{body}");
    }
    processor.start_kill().unwrap();
}
