//! The processor's guarantees on the paths that are not a good day: records under the wrong
//! key, an order memory behind its row, a crash between the commit and the cache, a large
//! outbox. Each test provokes the fault and compares what happened with the domain.

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

async fn wait_consumed(app: &TestApp, records: i64) {
    eventually("the processor to consume every record", WAIT, || async {
        (app.consumed_commands().await >= records).then_some(())
    })
    .await;
}

async fn row(app: &TestApp, id: OrderId) -> (i64, String) {
    sqlx::query_as("SELECT version, status FROM orders WHERE order_id = $1")
        .bind(id.0)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_under_another_key_or_none_goes_to_the_dlq_and_the_order_keeps_one_history() {
    let app = TestEnv::new(3).await.start(&[]).await;
    let topic = app.topic("orders.commands");
    let id = OrderId::new_random();
    send(&topic, &[create(id)]).await;
    wait_consumed(&app, 1).await;

    // Both would apply to the order from wherever their key put them: a fork of its history.
    let misrouted = command(id, CommandBody::ConfirmOrder);
    let keyless = command(
        id,
        CommandBody::CancelOrder {
            reason: "keyless".into(),
        },
    );
    send_keyed(
        &topic,
        &[
            (misrouted.clone(), Some(OrderId::new_random().to_string())),
            (keyless.clone(), None),
            (
                command(id, CommandBody::ConfirmOrder),
                Some(id.0.as_simple().to_string()),
            ),
        ],
    )
    .await;
    let valid = command(id, CommandBody::ConfirmOrder);
    send(&topic, std::slice::from_ref(&valid)).await;
    wait_consumed(&app, 5).await;

    let dead = app.consume("orders.commands.dlq", 3, WAIT).await;
    assert_eq!(dead.len(), 3);
    for letter in &dead {
        assert_eq!(letter.header("orderflow.error.kind"), Some("key_mismatch"));
        let message = letter.header("orderflow.error.message").unwrap();
        assert!(message.contains(&id.to_string()), "{message}");
    }
    assert_eq!(row(&app, id).await, (2, "confirmed".to_owned()));
    let (processed,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM processed_commands WHERE order_id = $1")
            .bind(id.0)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        processed, 2,
        "the create and the valid confirm, nothing else"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_memory_behind_its_row_never_overwrites_the_row() {
    let app = TestEnv::new(1).await.start(&[]).await;
    let topic = app.topic("orders.commands");
    let id = OrderId::new_random();
    let created = create(id);
    send(&topic, std::slice::from_ref(&created)).await;
    wait_consumed(&app, 1).await;

    // The row moves on behind the processor's memory (which still holds version 1, pending):
    // as a member that lost the partition and still wrote would leave it.
    let v1 = decide(None, &created).unwrap().order;
    let cancelled = decide(
        Some(&v1),
        &command(
            id,
            CommandBody::CancelOrder {
                reason: "elsewhere".into(),
            },
        ),
    )
    .unwrap()
    .order;
    sqlx::query(
        "UPDATE orders SET version = 2, status = 'cancelled', body = $2 WHERE order_id = $1",
    )
    .bind(id.0)
    .bind(sqlx::types::Json(&cancelled))
    .execute(&app.db)
    .await
    .unwrap();

    // Folded over the remembered pending order, this would confirm it at version 2.
    let confirm = command(id, CommandBody::ConfirmOrder);
    send(&topic, std::slice::from_ref(&confirm)).await;
    wait_consumed(&app, 2).await;

    assert_eq!(
        row(&app, id).await,
        (2, "cancelled".to_owned()),
        "the stale fold did not land"
    );
    let (outcome, code): (String, Option<String>) = sqlx::query_as(
        "SELECT outcome, rejection_code FROM processed_commands WHERE command_id = $1",
    )
    .bind(confirm.command_id.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (outcome.as_str(), code.as_deref()),
        ("rejected", Some("invalid_transition")),
        "folded again over the row: a cancelled order cannot be confirmed"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_relay_pages_through_a_large_outbox_and_repairs_the_cache_a_crash_left_behind() {
    const ORDERS: usize = 2_500; // more than two relay pages
    let env = TestEnv::new(1).await;
    let app = env.start(&[]).await;
    let topic = app.topic("orders.commands");
    let ids: Vec<OrderId> = (0..ORDERS).map(|_| OrderId::new_random()).collect();
    let creates: Vec<Command> = ids.iter().map(|&id| create(id)).collect();
    send(&topic, &creates).await;
    wait_consumed(&app, ORDERS as i64).await;
    let mut confirms: Vec<Command> = ids[..10]
        .iter()
        .map(|&id| command(id, CommandBody::ConfirmOrder))
        .collect();
    confirms.truncate(10);
    send(&topic, &confirms).await;
    wait_consumed(&app, ORDERS as i64 + 10).await;
    app.stop().await;

    // As if the process had died after its commits and before publishing and writing Redis.
    let db = env.db().await;
    sqlx::query("UPDATE order_events SET published_at = NULL")
        .execute(&db)
        .await
        .unwrap();
    let mut redis = redis::Client::open(common::REDIS)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for id in &ids {
        let _: () = redis::AsyncCommands::del(&mut redis, format!("orderflow:order:{id}"))
            .await
            .unwrap();
    }

    let app = env.start(&[]).await;
    eventually("the relay to publish the whole outbox", WAIT, || async {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM order_events WHERE published_at IS NULL")
                .fetch_one(&db)
                .await
                .unwrap();
        (pending == 0).then_some(())
    })
    .await;
    let events = consume(
        &env.topic("orders.events"),
        2 * (ORDERS + 10),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(events.len(), 2 * (ORDERS + 10), "published, then relayed");
    // The relayed copies (the second half) keep each order's version order: its create
    // before its confirm.
    let relayed = &events[ORDERS + 10..];
    for id in &ids[..10] {
        let key = id.to_string();
        let at: Vec<usize> = relayed
            .iter()
            .enumerate()
            .filter(|(_, e)| e.key.as_deref() == Some(key.as_str()))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), 2);
        let codec = Codec::single_object();
        let first = codec.decode_event(&relayed[at[0]].payload).await.unwrap();
        let second = codec.decode_event(&relayed[at[1]].payload).await.unwrap();
        assert_eq!((first.version, second.version), (1, 2), "order {id}");
    }
    for (i, id) in ids.iter().enumerate() {
        let version: Option<u64> =
            redis::AsyncCommands::hget(&mut redis, format!("orderflow:order:{id}"), "v")
                .await
                .unwrap();
        let want = if i < 10 { 2 } else { 1 };
        assert_eq!(version, Some(want), "order {id} is back in Redis");
    }
    app.stop().await;
}

/// A CreateOrder for `id` whose metadata holds `key` with an invalid value: the rejection
/// names the field, `metadata.<key>`, so it echoes the key.
fn create_with_metadata_key(id: OrderId, key: String) -> Command {
    let mut command = create(id);
    let CommandBody::CreateOrder(input) = &mut command.body else {
        unreachable!()
    };
    input.metadata.insert(key, "bell\u{7}".into());
    command
}

/// Poison of every class this test knows, then valid commands on the same partitions.
async fn send_poison_then_valid(topic: &str) -> (Vec<OrderId>, Vec<OrderId>) {
    let poisoned: Vec<OrderId> = (0..3).map(|_| OrderId::new_random()).collect();
    let poison = [
        create_with_metadata_key(poisoned[0], "k\0ey".into()),
        create_with_metadata_key(poisoned[1], "x".repeat(200_000)),
        create_with_metadata_key(poisoned[2], format!("\0{}", "\u{1}".repeat(100_000))),
    ];
    send(topic, &poison).await;
    // Garbage near the broker's record limit: its dead-letter copy with headers would not fit.
    let garbage = vec![0xC3; 900 * 1024];
    common::produce(
        topic,
        &OrderId::new_random().to_string(),
        Some(&garbage),
        &[],
    )
    .await;
    let valid: Vec<OrderId> = (0..6).map(|_| OrderId::new_random()).collect();
    let creates: Vec<Command> = valid.iter().map(|&id| create(id)).collect();
    send(topic, &creates).await;
    (poisoned, valid)
}

async fn assert_applied(app: &TestApp, valid: &[OrderId]) {
    for &id in valid {
        eventually(
            "the valid command after the poison applied",
            WAIT,
            || async {
                let found: Option<(i64,)> =
                    sqlx::query_as("SELECT version FROM orders WHERE order_id = $1")
                        .bind(id.0)
                        .fetch_optional(&app.db)
                        .await
                        .unwrap();
                found.map(|_| ())
            },
        )
        .await;
    }
}

async fn assert_rejected_with_a_bounded_message(app: &TestApp, poisoned: &[OrderId]) {
    for &id in poisoned {
        let (code, message): (String, String) = sqlx::query_as(
            "SELECT rejection_code, rejection_msg FROM processed_commands WHERE order_id = $1",
        )
        .bind(id.0)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(code, "validation");
        assert!(
            message.chars().count() <= 1_100,
            "bounded: {} chars",
            message.len()
        );
        assert!(
            !message.chars().any(char::is_control),
            "escaped: {message:.200}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_record_stops_the_processor_also_across_a_restart() {
    let env = TestEnv::new(2).await;
    let app = env.start(&[]).await;
    let topic = app.topic("orders.commands");
    let (poisoned, valid) = send_poison_then_valid(&topic).await;
    assert_applied(&app, &valid).await;
    assert_rejected_with_a_bounded_message(&app, &poisoned).await;
    let dead = app.consume("orders.commands.dlq", 1, WAIT).await;
    assert_eq!(dead.len(), 1, "the garbage record is dead-lettered");
    assert_eq!(
        dead[0].header("orderflow.payload.truncated"),
        Some("921600")
    );
    assert_eq!(dead[0].payload.len(), 512 * 1024, "a bounded prefix");
    app.stop().await;

    // Poison waiting when a processor starts stops nothing either.
    let (poisoned, valid) = send_poison_then_valid(&topic).await;
    let app = env.start(&[]).await;
    assert_applied(&app, &valid).await;
    assert_rejected_with_a_bounded_message(&app, &poisoned).await;
    app.stop().await;
}

/// What the load saw: accepted order ids, and every status code answered.
#[derive(Default)]
struct Load {
    accepted: Vec<OrderId>,
    statuses: std::collections::BTreeMap<u16, usize>,
    accepted_during_outage: usize,
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_cut_off_for_15_s_under_load_loses_nothing_and_answers_no_500() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let env = TestEnv::new(3).await;
    let key = env.api_key("shop-1").await;
    let proxy = common::proxy::TcpProxy::start("127.0.0.1:5432").await;
    let through_proxy = env
        .database_url
        .replace("127.0.0.1:5432", &proxy.addr.to_string());
    let app = env
        .start(&["--database-url", &through_proxy, "--auth", "api-key"])
        .await;
    let client = reqwest::Client::new();
    let orders_url = app.url("/v1/orders");
    let post = move |key: String| {
        let (client, url) = (client.clone(), orders_url.clone());
        async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&common::order_body())
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        post(key.clone()).await.status(),
        202,
        "the caller is known now"
    );

    let outage = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (post, outage, stop, key) = (post.clone(), outage.clone(), stop.clone(), key.clone());
        async move {
            let mut load = Load::default();
            while !stop.load(Ordering::SeqCst) {
                let response = post(key.clone()).await;
                let status = response.status().as_u16();
                *load.statuses.entry(status).or_default() += 1;
                if status == 202 {
                    let body: serde_json::Value = response.json().await.unwrap();
                    load.accepted.push(common::order_id_of(&body));
                    if outage.load(Ordering::SeqCst) {
                        load.accepted_during_outage += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            load
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.cut();
    outage.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let unknown = post("not-a-known-key".to_owned()).await;
    assert_eq!(
        unknown.status(),
        503,
        "an unknown caller cannot be checked now"
    );
    assert!(unknown.headers().contains_key("retry-after"));
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
    tokio::time::sleep(Duration::from_secs(13)).await;
    outage.store(false, Ordering::SeqCst);
    proxy.restore();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let load = load.await.unwrap();

    assert_eq!(
        load.statuses.keys().copied().collect::<Vec<_>>(),
        [202],
        "a known caller's writes need no database: {:?}",
        load.statuses
    );
    assert!(
        load.accepted_during_outage > 100,
        "{}",
        load.accepted_during_outage
    );
    // The oracle: every accepted create applied exactly once, nothing dead-lettered.
    let accepted = load.accepted.len() as i64 + 1;
    let db = env.db().await;
    eventually(
        "every accepted order applied",
        Duration::from_secs(60),
        || async {
            let (orders,): (i64,) = sqlx::query_as("SELECT count(*) FROM orders")
                .fetch_one(&db)
                .await
                .unwrap();
            (orders == accepted).then_some(())
        },
    )
    .await;
    let (processed, events, dead): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM processed_commands), (SELECT count(*) FROM order_events),
                (SELECT count(*) FROM dead_letters)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((processed, events, dead), (accepted, accepted, 0));
    let ids: Vec<uuid::Uuid> = load.accepted.iter().map(|id| id.0).collect();
    let (found,): (i64,) = sqlx::query_as("SELECT count(*) FROM orders WHERE order_id = ANY($1)")
        .bind(&ids)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(
        found,
        ids.len() as i64,
        "the accepted ids are the applied ones"
    );
    let commands = common::oracle::commands_on_topic(&env).await;
    assert_eq!(
        commands.len() as i64,
        accepted,
        "no command on the topic that was not accepted"
    );
    common::oracle::verify(&env, &common::workload::Workload { commands }, 0).await;
    app.stop().await; // the processor did not exit: it stops cleanly now
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_reused_with_another_body_while_redis_is_down_is_a_conflict() {
    let env = TestEnv::new(3).await;
    let key = env.api_key("shop-1").await;
    // Nothing listens on port 1: the Redis fast path cannot see the key.
    let app = env
        .start(&["--auth", "api-key", "--redis-url", "redis://127.0.0.1:1"])
        .await;
    let post = |body: serde_json::Value| {
        app.client
            .post(app.url("/v1/orders"))
            .bearer_auth(&key)
            .header("idempotency-key", "checkout-7")
            .json(&body)
            .send()
    };
    let status_of = |accepted: serde_json::Value| {
        let url = app.url(&format!(
            "{}?wait=8s",
            accepted["status_url"].as_str().unwrap()
        ));
        let (client, key) = (app.client.clone(), key.clone());
        async move {
            let body: serde_json::Value = client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body
        }
    };
    let first = post(common::order_body()).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!(status_of(first.clone()).await["status"], "applied");

    let mut other = common::order_body();
    other["customer_id"] = "someone-else".into();
    let second = post(other).await.unwrap();
    assert_eq!(
        second.status(),
        202,
        "without Redis the ingress cannot tell"
    );
    let second: serde_json::Value = second.json().await.unwrap();
    assert_ne!(
        second["command_id"], first["command_id"],
        "another request, another command"
    );
    let outcome = status_of(second).await;
    assert_eq!(outcome["status"], "rejected", "{outcome}");
    assert_eq!(outcome["rejection"]["code"], "idempotency_conflict");

    // The same request again is still the first command, a duplicate.
    let again: serde_json::Value = post(common::order_body())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["command_id"], first["command_id"]);
    let id = common::order_id_of(&first);
    let (customer,): (String,) =
        sqlx::query_as("SELECT customer_id FROM orders WHERE order_id = $1")
            .bind(id.0)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(customer, "c-42", "the order is the first request's");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_cut_off_during_updates_and_deletes_never_leaves_an_older_or_deleted_order_readable()
{
    let env = TestEnv::new(3).await;
    let proxy = common::proxy::TcpProxy::start("127.0.0.1:6379").await;
    let redis_url = format!("redis://{}", proxy.addr);
    let app = env.start(&["--redis-url", &redis_url]).await;
    let topic = app.topic("orders.commands");
    let (updated, deleted) = (OrderId::new_random(), OrderId::new_random());
    send(&topic, &[create(updated), create(deleted)]).await;
    wait_consumed(&app, 2).await;
    let get = |id: OrderId| {
        let (client, url) = (app.client.clone(), app.url(&format!("/v1/orders/{id}")));
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body["version"].as_u64())
        }
    };
    assert_eq!(get(updated).await, (200, Some(1)), "cached");
    assert_eq!(get(deleted).await, (200, Some(1)), "cached");

    proxy.cut();
    send(
        &topic,
        &[
            command(updated, CommandBody::ConfirmOrder),
            command(deleted, CommandBody::DeleteOrder),
        ],
    )
    .await;
    wait_consumed(&app, 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();

    // Nothing else is sent: the repair must not wait for a later batch. The ingress's
    // in-process copy is kept at most 5 s, so within 10 s every read must be current.
    eventually(
        "reads current after Redis returned",
        Duration::from_secs(10),
        || async {
            (get(updated).await == (200, Some(2)) && get(deleted).await.0 == 404).then_some(())
        },
    )
    .await;
    for _ in 0..20 {
        assert_eq!(get(updated).await, (200, Some(2)));
        assert_eq!(get(deleted).await.0, 404);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

/// More orders change while Redis is cut off than the backlog keeps whole
/// (`--cache-backlog-orders 2`): the rest are kept by id and read from PostgreSQL when Redis
/// is back, so every read is current again.
#[tokio::test(flavor = "multi_thread")]
async fn a_cache_backlog_beyond_its_whole_orders_still_repairs_every_order() {
    let env = TestEnv::new(3).await;
    let proxy = common::proxy::TcpProxy::start("127.0.0.1:6379").await;
    let redis_url = format!("redis://{}", proxy.addr);
    let app = env
        .start(&["--redis-url", &redis_url, "--cache-backlog-orders", "2"])
        .await;
    let topic = app.topic("orders.commands");
    let ids: Vec<OrderId> = (0..15).map(|_| OrderId::new_random()).collect();
    send(
        &topic,
        &ids.iter().map(|id| create(*id)).collect::<Vec<_>>(),
    )
    .await;
    wait_consumed(&app, 15).await;
    let version = |id: OrderId| {
        let (client, url) = (app.client.clone(), app.url(&format!("/v1/orders/{id}")));
        async move {
            let body: serde_json::Value = client.get(url).send().await.ok()?.json().await.ok()?;
            body["version"].as_u64()
        }
    };
    for id in &ids {
        assert_eq!(version(*id).await, Some(1), "cached");
    }
    proxy.cut();
    let confirms: Vec<Command> = ids
        .iter()
        .map(|id| command(*id, CommandBody::ConfirmOrder))
        .collect();
    send(&topic, &confirms).await;
    wait_consumed(&app, 30).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    eventually(
        "every read current after Redis returned",
        Duration::from_secs(10),
        || async {
            for id in &ids {
                if version(*id).await != Some(2) {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    app.stop().await;
}

/// librdkafka's mock cluster (in-process) for the broker fault, the TCP proxy for
/// PostgreSQL: a batch that cannot commit while its member loses the assignment, with
/// records buffered beyond it, and the partition back to the same member.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_assignment_mid_batch_with_records_buffered_beyond_it_loses_nothing() {
    use rdkafka::mocking::MockCluster;

    let env = TestEnv::new(1).await;
    let mock = MockCluster::new(1).unwrap();
    for base in [
        "orders.commands",
        "orders.events",
        "orders.state",
        "orders.commands.dlq",
    ] {
        mock.create_topic(&env.topic(base), 1, 1).unwrap();
    }
    let brokers = mock.bootstrap_servers();
    let proxy = common::proxy::TcpProxy::start("127.0.0.1:5432").await;
    let through_proxy = env
        .database_url
        .replace("127.0.0.1:5432", &proxy.addr.to_string());
    let app = env
        .start(&[
            "--kafka-brokers",
            &brokers,
            "--database-url",
            &through_proxy,
            "--batch-max",
            "5",
            "--drain-timeout",
            "3s",
            "--kafka-config",
            "session.timeout.ms=3000",
            "--kafka-config",
            "heartbeat.interval.ms=500",
        ])
        .await;
    let topic = env.topic("orders.commands");
    let commands: Vec<Command> = (0..50).map(|_| create(OrderId::new_random())).collect();
    let produce = |range: std::ops::Range<usize>| send_to(&brokers, &topic, &commands[range]);
    produce(0..5).await;
    let db = env.db().await;
    let consumed = || common::oracle::consumed(&db);
    eventually("the first 5 applied", WAIT, || async {
        (consumed().await == 5).then_some(())
    })
    .await;

    // The next batch (5..10) cannot commit; 10..50 are buffered behind it.
    proxy.cut();
    produce(5..50).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The group loses the member: its session times out while the broker is gone.
    mock.broker_down(1).unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    mock.broker_up(1).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.restore();

    eventually(
        "every command consumed",
        Duration::from_secs(60),
        || async { (consumed().await == 50).then_some(()) },
    )
    .await;
    let (orders, processed, events): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM processed_commands),
                (SELECT count(*) FROM order_events)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        (orders, processed, events),
        (50, 50, 50),
        "none skipped, none twice"
    );
    let mut on_the_mock = env.clone();
    on_the_mock.kafka = brokers.clone();
    common::oracle::verify(&on_the_mock, &common::workload::Workload { commands }, 0).await;
    drop(mock);
    drop(app);
}

/// A revoke whose in-flight batch outlives the drain timeout (that batch cannot commit:
/// member A reaches PostgreSQL through a proxy that is cut), the revoked partition moved on by
/// member B, and then returned to A: A's late batch must not land, and A must not fold later
/// commands onto what that batch left in its memory.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_outliving_the_drain_timeout_neither_lands_nor_leaves_stale_memory() {
    let env = TestEnv::new(2).await;
    let topic = env.topic("orders.commands");
    let proxy = common::proxy::TcpProxy::start("127.0.0.1:5432").await;
    let mut through_proxy = env.clone();
    through_proxy.database_url = env
        .database_url
        .replace("127.0.0.1:5432", &proxy.addr.to_string());
    let log = std::env::temp_dir().join(format!("orderflow-drain-{}.log", env.suffix));
    let group = [
        "--drain-timeout",
        "2s",
        "--kafka-config",
        "session.timeout.ms=6000",
        "--kafka-config",
        "heartbeat.interval.ms=500",
    ];
    let mut a = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .arg("processor")
        .args(["--group-id", &env.group(), "--redis-url", common::REDIS])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .args(through_proxy.args())
        .args(group)
        .env("RUST_LOG", "warn,librdkafka=error")
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let db = env.db().await;
    let mut sent = Vec::new();
    let mut partition_of = std::collections::HashMap::new();
    let send = |commands: Vec<Command>| {
        let topic = &topic;
        async move {
            let partitions = send_to(common::KAFKA, topic, &commands).await;
            commands.into_iter().zip(partitions).collect::<Vec<_>>()
        }
    };
    let offsets = || async {
        let rows: Vec<(i32, i64)> =
            sqlx::query_as("SELECT partition, next_offset FROM consumer_offsets")
                .fetch_all(&db)
                .await
                .unwrap();
        rows.into_iter()
            .collect::<std::collections::HashMap<_, _>>()
    };
    let ids: Vec<OrderId> = (0..20).map(|_| OrderId::new_random()).collect();
    let follow_up = |body: CommandBody| ids.iter().map(|id| command(*id, body.clone())).collect();

    for (command, partition) in send(ids.iter().map(|id| create(*id)).collect()).await {
        partition_of.insert(command.order_id, partition);
        sent.push(command);
    }
    eventually("A applied the creates", WAIT, || async {
        (offsets().await.values().sum::<i64>() == 20).then_some(())
    })
    .await;
    let both: Vec<i32> = [0, 1].into();
    assert!(
        both.iter().all(|p| partition_of.values().any(|q| q == p)),
        "orders on both partitions"
    );

    // A folds the confirms and cannot commit them.
    proxy.cut();
    sent.extend(
        send(follow_up(CommandBody::ConfirmOrder))
            .await
            .into_iter()
            .map(|(c, _)| c),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = offsets().await;
    // B joins: A's revoke waits 2 s for the stuck batch, then gives its partitions up.
    let mut b = env.spawn_processor(&group);
    let moved = eventually("B to take a partition and apply it", WAIT, || async {
        let now = offsets().await;
        both.iter().copied().find(|p| now.get(p) > before.get(p))
    })
    .await;
    // B moves its partition on: every order there is cancelled (v3).
    sent.extend(
        send(follow_up(CommandBody::CancelOrder {
            reason: "changed my mind".into(),
        }))
        .await
        .into_iter()
        .map(|(c, _)| c),
    );
    let on_moved = partition_of.values().filter(|&&p| p == moved).count() as i64;
    eventually("B applied the cancels", WAIT, || async {
        (offsets().await.get(&moved) == Some(&(on_moved * 3))).then_some(())
    })
    .await;
    // A's late batch may now try to commit; then B leaves and A gets the partition back.
    proxy.restore();
    tokio::time::sleep(Duration::from_secs(2)).await;
    common::sigterm(&b);
    b.wait().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A ship now must fold onto the cancelled order (and be rejected), not onto A's memory.
    sent.extend(
        send(follow_up(CommandBody::ShipOrder(
            orderflow::domain::ShippingInput {
                carrier: "DHL".into(),
                tracking_number: "T1".into(),
            },
        )))
        .await
        .into_iter()
        .map(|(c, _)| c),
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("revoked partitions while a batch was still running"),
        "the batch outlived the drain timeout:\n{logged}"
    );
    common::oracle::verify(&env, &common::workload::Workload { commands: sent }, 0).await;
    a.start_kill().unwrap();
}

/// librdkafka's mock cluster with two brokers: one of the event topic's partitions is led by
/// broker 2, which goes down for 6 s while commands keep coming, so each publish fails for
/// one partition (and may succeed for the other). Once it is back, every event is on the topic, each
/// order's first copies in version order and every copy byte-identical (the oracle).
#[tokio::test(flavor = "multi_thread")]
async fn a_publish_failing_for_some_partitions_then_recovering_keeps_every_event_in_order() {
    use rdkafka::mocking::{MockCluster, MockCoordinator};

    let seed = 7;
    let mut env = TestEnv::new(2).await;
    let mock = MockCluster::new(2).unwrap();
    for (base, partitions) in [
        ("orders.commands", 2),
        ("orders.events", 2),
        ("orders.state", 2),
        ("orders.commands.dlq", 1),
    ] {
        let topic = env.topic(base);
        mock.create_topic(&topic, partitions, 1).unwrap();
        for p in 0..partitions {
            let leader = if base == "orders.events" && p == 1 {
                2
            } else {
                1
            };
            mock.partition_leader(&topic, p, Some(leader)).unwrap();
        }
    }
    mock.coordinator(MockCoordinator::Group(env.group()), 1)
        .unwrap();
    env.kafka = mock.bootstrap_servers();
    let app = env
        .start(&[
            "--kafka-config",
            "session.timeout.ms=3000",
            "--kafka-config",
            "heartbeat.interval.ms=500",
        ])
        .await;
    let topic = env.topic("orders.commands");
    let workload = common::workload::Workload::generate(seed, 60, 8);
    let chunks: Vec<&[Command]> = workload
        .commands
        .chunks(workload.commands.len() / 5 + 1)
        .collect();
    let send = |commands: &[Command]| {
        let (kafka, topic, commands) = (env.kafka.clone(), topic.clone(), commands.to_vec());
        async move { send_to(&kafka, &topic, &commands).await }
    };
    let db = env.db().await;
    let counts = || async {
        let (published, pending): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE published_at IS NOT NULL),
                    count(*) FILTER (WHERE published_at IS NULL) FROM order_events",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        (published, pending)
    };
    send(chunks[0]).await;
    eventually("the first chunk published", WAIT, || async {
        let (published, pending) = counts().await;
        (published > 0 && pending == 0).then_some(())
    })
    .await;

    // The healthy partition's end offset: what reached the topic, marked or not.
    let reader: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &env.kafka)
        .create()
        .unwrap();
    let reader = std::sync::Arc::new(reader);
    let healthy_end = || {
        let (reader, events) = (reader.clone(), env.topic("orders.events"));
        async move {
            tokio::task::spawn_blocking(move || {
                use rdkafka::consumer::Consumer;
                reader
                    .fetch_watermarks(&events, 0, Duration::from_secs(5))
                    .unwrap()
                    .1
            })
            .await
            .unwrap()
        }
    };
    mock.broker_down(2).unwrap();
    let (end_before, (published_before, _)) = (healthy_end().await, counts().await);
    for chunk in &chunks[1..4] {
        send(chunk).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let (end_during, (published_during, pending_during)) = (healthy_end().await, counts().await);
    mock.broker_up(2).unwrap();
    send(chunks[4]).await;
    // Publishing is strictly in commit order: a group is marked once all of it is on the
    // topic, and sent again whole until then (consumers deduplicate on the event id). Whether
    // the healthy partition takes records meanwhile is librdkafka's to decide (its idempotent
    // producer may hold every partition while it recovers the failed one's sequence).
    println!(
        "during the outage: healthy partition {end_before} → {end_during}, \
         marked {published_before} → {published_during}, {pending_during} pending"
    );
    assert!(
        published_during == published_before && pending_during > 0,
        "nothing is marked published while part of its group is undelivered \
         ({published_before} → {published_during}, {pending_during} pending)"
    );
    common::oracle::verify(&env, &workload, seed).await;
    app.stop().await;
    drop(mock);
}
