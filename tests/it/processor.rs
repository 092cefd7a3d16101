//! The processor against the real services: idempotency, dead letters, snapshots, trace
//! context, rejections.

use crate::common;

use std::time::Duration;

use common::{TestEnv, command, consume, create, eventually, produce, spawn_app};
use orderflow::codec::Codec;
use orderflow::domain::{Command, CommandBody, EventBody, OrderId, StorefrontId};

const WAIT: Duration = Duration::from_secs(30);

async fn send(app_topic: &str, command: &Command, headers: &[(&str, &str)]) -> (i32, i64) {
    let payload = Codec::single_object()
        .encode_command(app_topic, command)
        .await
        .unwrap();
    produce(
        app_topic,
        &command.order_id.to_string(),
        Some(&payload),
        headers,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_command_is_applied_once_also_across_a_restart() {
    let env = TestEnv::new(3).await;
    let app = env.start(&[]).await;
    let topic = app.topic("orders.commands");
    let order_id = OrderId::new_random();
    let command = create(order_id);
    send(&topic, &command, &[]).await;
    send(&topic, &command, &[]).await;
    app.wait_consumed(2).await;
    app.stop().await;

    // A new process, the same database and topics: the command arrives a third time.
    let app = env.start(&[]).await;
    send(&topic, &command, &[]).await;
    app.wait_consumed(3).await;

    let (version, events, processed): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT version FROM orders WHERE order_id = $1),
                (SELECT count(*) FROM order_events WHERE order_id = $1),
                (SELECT count(*) FROM processed_commands WHERE order_id = $1)",
    )
    .bind(order_id.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((version, events, processed), (1, 1, 1));
    let published = app
        .consume("orders.events", 2, Duration::from_secs(5))
        .await;
    assert_eq!(published.len(), 1, "one event on the topic");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_poison_pill_lands_on_the_dlq_with_headers_and_the_commands_around_it_apply() {
    let app = spawn_app().await;
    let topic = app.topic("orders.commands");
    let codec = Codec::single_object();
    let valid = codec
        .encode_command(&topic, &create(OrderId::new_random()))
        .await
        .unwrap();
    let mut unknown_fingerprint = valid.clone();
    unknown_fingerprint[5] ^= 0x55;
    let mut trailing = valid.clone();
    trailing.extend_from_slice(&[0xFF; 7]);
    let mut bad_storefront = create(OrderId::new_random());
    bad_storefront.storefront_id = StorefrontId::parse("x").unwrap();
    let shape = {
        // A valid record whose storefront id breaks the domain's rules (empty).
        let bytes = codec.encode_command(&topic, &bad_storefront).await.unwrap();
        let at = bytes
            .windows(2)
            .position(|w| w == [2, b'x'])
            .expect("the storefront id's bytes");
        [&bytes[..at], &[0u8][..], &bytes[at + 2..]].concat()
    };
    let pills: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("empty", None),
        ("bad_magic", Some(b"{\"order\": 1}".to_vec())),
        ("unknown_schema", Some(unknown_fingerprint)),
        ("corrupt", Some(valid[..valid.len() - 9].to_vec())),
        ("corrupt", Some(trailing)),
        ("shape", Some(shape)),
        ("unknown_schema", Some(vec![0, 0, 0, 0, 7, 1, 2, 3])),
    ];

    let mut good = Vec::new();
    let mut sent = Vec::new();
    for (kind, payload) in &pills {
        let before = create(OrderId::new_random());
        send(&topic, &before, &[]).await;
        good.push(before.order_id);
        let key = uuid::Uuid::new_v4().to_string();
        let at = produce(&topic, &key, payload.as_deref(), &[]).await;
        sent.push((*kind, key, payload.clone().unwrap_or_default(), at));
    }
    let after = create(OrderId::new_random());
    send(&topic, &after, &[]).await;
    good.push(after.order_id);
    app.wait_consumed((pills.len() * 2 + 1) as i64).await;

    let dead = app.consume("orders.commands.dlq", pills.len(), WAIT).await;
    assert_eq!(dead.len(), pills.len());
    for (kind, key, payload, (partition, offset)) in &sent {
        let letter = dead
            .iter()
            .find(|d| d.key.as_deref() == Some(key.as_str()))
            .unwrap_or_else(|| panic!("no dead letter for the {kind} pill"));
        assert_eq!(&letter.payload, payload, "{kind}: bytes unchanged");
        assert_eq!(letter.header("orderflow.error.kind"), Some(*kind));
        assert!(!letter.header("orderflow.error.message").unwrap().is_empty());
        assert_eq!(
            letter.header("orderflow.source.topic"),
            Some(topic.as_str())
        );
        assert_eq!(
            letter.header("orderflow.source.partition"),
            Some(partition.to_string().as_str())
        );
        assert_eq!(
            letter.header("orderflow.source.offset"),
            Some(offset.to_string().as_str())
        );
        letter
            .header("orderflow.source.timestamp")
            .unwrap()
            .parse::<i64>()
            .unwrap();
    }
    let (applied,): (i64,) = sqlx::query_as("SELECT count(*) FROM orders WHERE order_id = ANY($1)")
        .bind(good.iter().map(|id| id.0).collect::<Vec<_>>())
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        applied,
        good.len() as i64,
        "every valid command around the pills applied"
    );
    let (stored,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM dead_letters WHERE published_at IS NOT NULL")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        stored,
        pills.len() as i64,
        "dead letters are kept and marked published"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_go_to_the_state_topic_and_a_delete_is_a_tombstone_and_an_eviction() {
    let app = spawn_app().await;
    let topic = app.topic("orders.commands");
    let order_id = OrderId::new_random();
    send(&topic, &create(order_id), &[]).await;
    app.wait_consumed(1).await;
    let key = format!("orderflow:order:{order_id}");
    let mut redis = app.redis.clone();
    eventually("the cached order", WAIT, || {
        let mut redis = redis.clone();
        let key = key.clone();
        async move {
            redis::AsyncCommands::exists::<_, bool>(&mut redis, &key)
                .await
                .unwrap()
                .then_some(())
        }
    })
    .await;
    send(&topic, &command(order_id, CommandBody::DeleteOrder), &[]).await;
    app.wait_consumed(2).await;

    let state = app.consume("orders.state", 2, WAIT).await;
    assert_eq!(state.len(), 2);
    assert!(
        state
            .iter()
            .all(|r| r.key.as_deref() == Some(order_id.to_string().as_str()))
    );
    let snapshot = Codec::single_object()
        .decode_snapshot(&state[0].payload)
        .await
        .unwrap();
    assert_eq!((snapshot.order_id, snapshot.version), (order_id, 1));
    assert!(state[1].tombstone, "a deleted order is tombstoned");

    let cached: bool = redis::AsyncCommands::hexists(&mut redis, &key, "body")
        .await
        .unwrap();
    assert!(!cached, "a deleted order is evicted from Redis");
    let tombstone: Option<u64> = redis::AsyncCommands::hget(&mut redis, &key, "v")
        .await
        .unwrap();
    assert_eq!(tombstone, Some(2), "and leaves a tombstone of its version");
    let response = app
        .client
        .get(app.url(&format!("/v1/orders/{order_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "a deleted order leaves every read");
    let (history,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM order_events WHERE order_id = $1")
            .bind(order_id.0)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(history, 2, "its history stays for audit");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_command_yields_command_rejected_and_changes_nothing() {
    let app = spawn_app().await;
    let topic = app.topic("orders.commands");
    let order_id = OrderId::new_random();
    send(&topic, &create(order_id), &[]).await;
    let ship = command(
        order_id,
        CommandBody::ShipOrder(orderflow::domain::ShippingInput {
            carrier: "DHL".into(),
            tracking_number: "1".into(),
        }),
    );
    send(&topic, &ship, &[]).await;
    app.wait_consumed(2).await;
    let events = app.consume("orders.events", 2, WAIT).await;
    let codec = Codec::single_object();
    let second = codec.decode_event(&events[1].payload).await.unwrap();
    assert_eq!(second.version, 1, "the version does not move");
    assert_eq!(second.causation_id, ship.command_id);
    let EventBody::CommandRejected {
        code,
        message,
        command_type,
    } = second.body
    else {
        panic!("expected CommandRejected, got {:?}", second.body);
    };
    assert_eq!(
        (code.as_str(), command_type.as_str()),
        ("invalid_transition", "ShipOrder")
    );
    assert_eq!(message, "an order cannot go from pending to shipped");
    let (status, outcome): (String, String) = sqlx::query_as(
        "SELECT o.status, p.outcome FROM orders o, processed_commands p WHERE o.order_id = $1 AND p.command_id = $2",
    )
    .bind(order_id.0)
    .bind(ship.command_id.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((status.as_str(), outcome.as_str()), ("pending", "rejected"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commands_traceparent_continues_on_its_event() {
    let app = spawn_app().await;
    let topic = app.topic("orders.commands");
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    send(
        &topic,
        &create(OrderId::new_random()),
        &[("traceparent", parent)],
    )
    .await;
    let events = app.consume("orders.events", 1, WAIT).await;
    // No span is recorded without an OTLP endpoint (tests/it/traces.rs has one): the
    // event continues from the command's parent, as it came.
    assert_eq!(events[0].header("traceparent"), Some(parent));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unpublished_outbox_rows_are_relayed_when_a_partition_is_assigned() {
    let env = TestEnv::new(1).await;
    let app = env.start(&[]).await;
    let topic = app.topic("orders.commands");
    let order_id = OrderId::new_random();
    send(&topic, &create(order_id), &[]).await;
    app.wait_consumed(1).await;
    app.stop().await;
    // As if the process had died between its commit and the broker's acknowledgement.
    let db = env.db().await;
    sqlx::query("UPDATE order_events SET published_at = NULL")
        .execute(&db)
        .await
        .unwrap();

    let app = env.start(&[]).await;
    eventually("the relay to mark the event published", WAIT, || async {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM order_events WHERE published_at IS NULL")
                .fetch_one(&db)
                .await
                .unwrap();
        (pending == 0).then_some(())
    })
    .await;
    let events = consume(&env.topic("orders.events"), 2, Duration::from_secs(10)).await;
    assert_eq!(
        events.len(),
        2,
        "published, then relayed again with the same bytes"
    );
    assert_eq!(events[0].payload, events[1].payload);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_being_down_never_blocks_processing_and_reads_fall_back() {
    // Nothing listens on port 1.
    let app = TestEnv::new(3)
        .await
        .start(&["--redis-url", "redis://127.0.0.1:1"])
        .await;
    let topic = app.topic("orders.commands");
    let order_id = OrderId::new_random();
    send(&topic, &create(order_id), &[]).await;
    send(&topic, &command(order_id, CommandBody::ConfirmOrder), &[]).await;
    app.wait_consumed(2).await;
    let response = app
        .client
        .get(app.url(&format!("/v1/orders/{order_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (body["status"].as_str(), body["version"].as_u64()),
        (Some("confirmed"), Some(2))
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_configuration_exits_non_zero_naming_the_setting() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(args)
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    };
    let out = run(&[
        "processor",
        "--kafka-config",
        "no.such.property=1",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--kafka-config") && stderr.contains("no.such.property"),
        "{stderr}"
    );

    let out = run(&[
        "processor",
        "--database-url",
        "postgres://nobody:wrong@127.0.0.1:5432/nothing",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--database-url"));

    let out = run(&[
        "processor",
        "--wire-format",
        "confluent",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--schema-registry-url"));

    let out = run(&["processor", "--batch-max", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--batch-max"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_password_flag_replaces_the_urls() {
    let env = TestEnv::new(1).await;
    let without = env
        .database_url
        .replace("orderflow:orderflow@", "orderflow:wrong@");
    let app = env
        .start(&[
            "--database-url",
            &without,
            "--database-password",
            "orderflow",
        ])
        .await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["postgres"], "up", "{body}");
    assert_eq!(body["redis"], "up", "{body}");
    assert_eq!(body["kafka"], "up", "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lone_command_is_applied_well_before_the_linger_and_a_burst_still_fills_batches() {
    // One partition, so that a burst arrives in one fetch.
    let env = TestEnv::new(1).await;
    let topic = env.topic("orders.commands");
    // A burst waiting before the processor starts: 300 creates.
    for _ in 0..300 {
        send(&topic, &create(OrderId::new_random()), &[]).await;
    }
    let app = env
        .start(&["--batch-max", "100", "--batch-linger", "3s"])
        .await;
    app.wait_consumed(300).await;
    let batches: Vec<i64> = sqlx::query_scalar(
        // One transaction per batch: rows of a batch share their xmin.
        "SELECT count(*) FROM processed_commands GROUP BY xmin::text ORDER BY min(processed_at)",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(batches.iter().sum::<i64>(), 300);
    assert!(
        batches.iter().all(|n| *n <= 100) && batches.iter().filter(|n| **n < 100).count() <= 1,
        "the burst was not batched to --batch-max: {batches:?}"
    );

    // A lone command does not wait out the 3 s linger.
    let started = std::time::Instant::now();
    send(&topic, &create(OrderId::new_random()), &[]).await;
    app.wait_consumed(301).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "a lone command took {took:?} with a 3 s linger"
    );
}

/// A counter's value in a Prometheus text body (0 when absent).
fn counter(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_publisher_knows_its_topics_before_the_first_command() {
    // Otherwise the first batch's publish waits for their metadata (~0.8 s here) and every
    // batch committed meanwhile queues behind it (scripts/bench-latency.sh).
    let env = TestEnv::new(3).await;
    let addr = format!("127.0.0.1:{}", common::free_port());
    let mut processor = env.spawn_processor(&["--metrics-addr", &addr]);
    // No command is sent: only the processor's start can have asked for them (librdkafka's
    // statistics, every 5 s).
    let known = eventually("the publisher's statistics", WAIT, || {
        let url = format!("http://{addr}/metrics");
        async move {
            let body = reqwest::get(url).await.ok()?.text().await.ok()?;
            body.contains(r#"orderflow_kafka_topics{client="publisher"}"#)
                .then(|| counter(&body, r#"orderflow_kafka_topics{client="publisher"}"#))
        }
    })
    .await;
    assert_eq!(known, 3.0, "events, state and dead letters");
    let handled: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_commands")
        .fetch_one(&env.db().await)
        .await
        .unwrap();
    assert_eq!(handled, 0);
    processor.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_offsets_follow_the_stored_ones_with_a_commit_a_second_not_one_a_batch() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};

    let env = TestEnv::new(3).await;
    let topic = env.topic("orders.commands");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let mut processor = env.spawn_processor(&["--metrics-addr", &addr, "--batch-max", "1"]);
    let db = env.db().await;
    // One command at a time into a batch of one: 60 batches.
    for _ in 0..60 {
        send(&topic, &create(OrderId::new_random()), &[]).await;
    }
    eventually("every command consumed", WAIT, || async {
        (common::oracle::consumed(&db).await == 60).then_some(())
    })
    .await;

    // Lag reporting: the broker's committed offsets reach the ends of the partitions.
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::KAFKA)
        .set("group.id", env.group())
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    for partition in 0..3 {
        partitions.add_partition(&topic, partition);
    }
    eventually(
        "the broker's committed offsets at the end",
        WAIT,
        || async {
            let committed = reader
                .committed_offsets(partitions.clone(), Duration::from_secs(5))
                .ok()?;
            let total: i64 = committed
                .elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(n) => n,
                    _ => 0,
                })
                .sum();
            (total == 60).then_some(())
        },
    )
    .await;

    // ... in far fewer requests than batches (librdkafka's statistics, every 5 s, once the
    // consumer's statistics count all 60 records).
    let body = eventually("the consumer's statistics of all records", WAIT, || {
        let url = format!("http://{addr}/metrics");
        async move {
            let body = reqwest::get(url).await.ok()?.text().await.ok()?;
            let received =
                r#"orderflow_kafka_records_total{client="consumer",direction="received"}"#;
            (counter(&body, received) >= 60.0).then_some(body)
        }
    })
    .await;
    let commits = counter(
        &body,
        r#"orderflow_kafka_requests_total{client="consumer",request="OffsetCommit"}"#,
    );
    let batches = counter(&body, "orderflow_batch_size_count");
    assert_eq!(batches, 60.0, "batches in\n{body}");
    assert!(
        (1.0..20.0).contains(&commits),
        "{commits} OffsetCommit requests for {batches} batches"
    );
    assert!(
        counter(
            &body,
            r#"orderflow_kafka_records_total{client="publisher",direction="sent"}"#
        ) >= 1.0,
        "the publisher's statistics in\n{body}"
    );
    processor.start_kill().unwrap();
}
