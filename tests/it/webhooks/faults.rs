//! The fault test: orders × 4 events to three endpoints — one healthy, one failing half its
//! requests at random (500s and answers past the timeout), one down (refusing connections)
//! for the first part of the run — while the dispatcher (`orderflow webhooks`, a child
//! process) is SIGKILLed twice. The checker compares every endpoint's log with the events the
//! processor published: each delivered at least once, the first successful deliveries of an
//! (endpoint, order) in version order; it counts duplicates and the healthy endpoint's delay.
//!
//! The suite runs 100 orders with the endpoint down for 15 s; `scripts/webhooks-fault.sh`
//! runs 1 000 orders with it down for 60 s (ORDERFLOW_WEBHOOK_FAULT_ORDERS,
//! ORDERFLOW_WEBHOOK_FAULT_DOWN_SECS).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use orderflow::codec::Codec;
use orderflow::domain::{CommandBody, EventBody, OrderId};
use orderflow::webhooks::endpoints::{Endpoints, NewEndpoint};
use orderflow::webhooks::secrets::SealingKey;

use super::receiver::{Answer, Received, Receiver};
use super::{FAST, KEY};
use crate::common::{TestEnv, command, consume, create, eventually, free_port, produce};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_reaches_every_endpoint_in_order_through_flaky_and_dead_endpoints_and_two_sigkills()
 {
    let orders = setting("ORDERFLOW_WEBHOOK_FAULT_ORDERS", 100) as usize;
    let down_for = Duration::from_secs(setting("ORDERFLOW_WEBHOOK_FAULT_DOWN_SECS", 15));
    let env = TestEnv::new(3).await;
    // The processor (no sealing key: no dispatcher in it).
    let app = env.start(&[]).await;

    let healthy = Receiver::start().await;
    let flaky = Receiver::start().await;
    flaky.answer(
        "/flaky",
        Answer::Flaky {
            slow: Duration::from_millis(1500),
        },
    );
    let down_addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let started = Instant::now();
    let down = Receiver::start_later(down_addr, down_for);

    let endpoints = Endpoints::new(
        orderflow::store::Store::connect(&env.database_url.clone().into(), None, 2)
            .await
            .unwrap(),
        SealingKey::parse(KEY).unwrap(),
        true,
    );
    for (receiver, path) in [(&healthy, "/healthy"), (&flaky, "/flaky"), (&down, "/down")] {
        let created = endpoints
            .create(
                "default",
                NewEndpoint {
                    url: receiver.url(path),
                    event_types: vec![],
                    description: path.to_owned(),
                    enabled: true,
                },
            )
            .await
            .unwrap();
        receiver.secrets(path, &[created.secret.as_str()]);
    }

    let group = format!("{}-webhooks", env.group());
    // Retries that outlast the dead endpoint's downtime (FAST's give up after ~18 s).
    let schedule = std::iter::once("0s,300ms,600ms".to_owned())
        .chain(std::iter::repeat_n("1s".to_owned(), 10))
        .chain(std::iter::repeat_n(
            "5s".to_owned(),
            down_for.as_secs() as usize / 5 + 6,
        ))
        .collect::<Vec<_>>()
        .join(",");
    let spawn = || {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"));
        command
            .arg("webhooks")
            .args(FAST)
            .args([
                "--webhooks-group-id",
                &group,
                "--webhooks-max-in-flight",
                "64",
            ])
            .args(["--webhooks-retry-schedule", &schedule])
            .args(["--metrics-addr", "127.0.0.1:0"])
            .args(env.args())
            .env("RUST_LOG", "warn,librdkafka=error")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        command.spawn().expect("spawn orderflow webhooks")
    };
    let mut dispatcher = spawn();

    // Four commands per order, straight onto the commands topic.
    let topic = app.topic("orders.commands");
    let codec = Codec::single_object();
    let ids: Vec<OrderId> = (0..orders).map(|_| OrderId::new_random()).collect();
    for id in &ids {
        for c in [
            create(*id),
            command(*id, CommandBody::ConfirmOrder),
            command(
                *id,
                CommandBody::ShipOrder(orderflow::domain::samples::shipping()),
            ),
            command(*id, CommandBody::DeliverOrder),
        ] {
            let payload = codec.encode_command(&topic, &c).await.unwrap();
            produce(&topic, &id.to_string(), Some(&payload), &[]).await;
        }
    }

    // The oracle: what the processor published.
    let events = consume(
        &app.topic("orders.events"),
        4 * orders,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        events.len(),
        4 * orders,
        "the processor published every event"
    );
    let mut expected: HashMap<String, (String, u64)> = HashMap::new();
    for e in &events {
        let event = codec.decode_event(&e.payload).await.unwrap();
        assert!(
            !matches!(event.body, EventBody::CommandRejected { .. }),
            "{event:?}"
        );
        expected.insert(
            event.event_id.to_string(),
            (event.order_id.to_string(), event.version),
        );
    }

    // Two SIGKILLs while deliveries are under way; each time a new dispatcher takes over.
    for at in [
        Duration::from_secs(2),
        down_for / 2 + Duration::from_secs(2),
    ] {
        tokio::time::sleep(at.saturating_sub(started.elapsed())).await;
        dispatcher.start_kill().unwrap();
        dispatcher.wait().await.unwrap();
        dispatcher = spawn();
    }

    let receivers = [("/healthy", &healthy), ("/flaky", &flaky), ("/down", &down)];
    let budget = Duration::from_secs(120) + down_for * 2;
    let mut reported = Instant::now();
    eventually("every event delivered to every endpoint", budget, || {
        let counts: Vec<(&str, usize)> = receivers
            .iter()
            .map(|(path, r)| (*path, delivered_ids(&r.log_of(path)).len()))
            .collect();
        if reported.elapsed() > Duration::from_secs(15) {
            reported = Instant::now();
            eprintln!(
                "at {:?}: delivered {counts:?} of {}",
                started.elapsed(),
                expected.len()
            );
        }
        let done = counts.iter().all(|(_, n)| *n == expected.len());
        async move { done.then_some(()) }
    })
    .await;
    dispatcher.start_kill().unwrap();

    let mut report = Vec::new();
    for (path, receiver) in receivers {
        let log = receiver.log_of(path);
        let check = check(&log, &expected);
        assert!(
            check.unverified == 0,
            "{path}: {} requests did not verify",
            check.unverified
        );
        assert!(
            check.out_of_order.is_empty(),
            "{path}: out of order: {:?}",
            check.out_of_order
        );
        report.push(format!(
            "{path}: requests={} delivered_events={} duplicates={} p50_delay_ms={} p99_delay_ms={}",
            log.len(),
            check.delivered,
            check.duplicates,
            check.p50.as_millis(),
            check.p99.as_millis()
        ));
    }
    eprintln!(
        "webhook fault run: orders={orders} events={} down_for={down_for:?} sigkills=2\n  {}",
        expected.len(),
        report.join("\n  ")
    );
    // The healthy endpoint does not wait for the others: most of its deliveries arrive at
    // once, and even its slowest percent (held up by the SIGKILLs: a killed dispatcher's
    // leases run out after the timeout + 5 s) well before the dead endpoint comes back.
    let healthy_check = check(&healthy.log_of("/healthy"), &expected);
    assert!(
        healthy_check.p50 < Duration::from_secs(3),
        "healthy p50 {:?}",
        healthy_check.p50
    );
    assert!(
        healthy_check.p99 < down_for,
        "healthy p99 {:?}",
        healthy_check.p99
    );
}

fn delivered_ids(log: &[Received]) -> HashSet<&str> {
    log.iter()
        .filter(|r| r.delivered())
        .map(|r| r.webhook_id.as_str())
        .collect()
}

struct Check {
    delivered: usize,
    duplicates: usize,
    unverified: usize,
    out_of_order: Vec<String>,
    p50: Duration,
    p99: Duration,
}

/// Compares an endpoint's log with the published events.
fn check(log: &[Received], expected: &HashMap<String, (String, u64)>) -> Check {
    let unverified = log.iter().filter(|r| r.verified != [0]).count();
    // First successful delivery of each event, in arrival order.
    let mut first: HashMap<&str, &Received> = HashMap::new();
    let mut duplicates = 0;
    for r in log.iter().filter(|r| r.delivered()) {
        if first.insert(r.webhook_id.as_str(), r).is_some() {
            duplicates += 1;
        }
    }
    let mut by_order: HashMap<&str, Vec<(&Received, u64)>> = HashMap::new();
    for (id, r) in &first {
        let (order, version) = &expected[*id];
        assert_eq!(r.order_id(), Some(order.as_str()));
        assert_eq!(r.version(), Some(*version));
        by_order
            .entry(order.as_str())
            .or_default()
            .push((r, *version));
    }
    let mut out_of_order = Vec::new();
    for (order, mut firsts) in by_order {
        firsts.sort_by_key(|(r, _)| r.at);
        let versions: Vec<u64> = firsts.iter().map(|(_, v)| *v).collect();
        if versions.windows(2).any(|w| w[0] >= w[1]) {
            out_of_order.push(format!("{order}: {versions:?}"));
        }
    }
    let mut delays: Vec<Duration> = first
        .values()
        .map(|r| {
            let occurred: chrono::DateTime<chrono::Utc> =
                r.body["timestamp"].as_str().unwrap().parse().unwrap();
            (r.at_utc - occurred).to_std().unwrap_or_default()
        })
        .collect();
    delays.sort();
    let pick = |q: f64| delays[((delays.len() as f64 * q) as usize).min(delays.len() - 1)];
    Check {
        delivered: first.len(),
        duplicates,
        unverified,
        out_of_order,
        p50: pick(0.5),
        p99: pick(0.99),
    }
}
