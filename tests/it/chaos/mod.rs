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

mod load;
mod report;
mod rig;

use crate::common;
use load::*;
use report::*;
use rig::*;

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

#[tokio::test(flavor = "multi_thread")]
async fn chaos_under_http_load_loses_nothing_applies_nothing_twice_and_keeps_order() {
    let seed = seed();
    let load_time = load_time();
    let mut rng = StdRng::seed_from_u64(seed);
    let faults = schedule(&mut rng, load_time);
    // Named by seed and start, so a re-run of a seed keeps the logs of the run that failed.
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let logs = std::env::temp_dir().join(format!("orderflow-chaos-{seed}-{started}"));
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
