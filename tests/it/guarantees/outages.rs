//! PostgreSQL and Redis cut off on cue (a TCP proxy in the test): nothing lost, no 500, no
//! stale or deleted order readable, and the cache repaired afterwards.

use super::*;

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
    app.wait_consumed(2).await;
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
    app.wait_consumed(4).await;
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
    app.wait_consumed(15).await;
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
    app.wait_consumed(30).await;
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

/// A processor SIGKILLed after its Redis write failed (Redis cut off, its data kept) takes its
/// in-memory cache backlog with it. The order's event was flagged `cache_pending` when it was
/// published, so the partition's next owner rewrites the order: Redis must not go on serving
/// the older version until the entry's TTL.
#[tokio::test(flavor = "multi_thread")]
async fn a_processor_killed_before_repairing_the_cache_leaves_the_repair_to_the_next_owner() {
    let env = TestEnv::new(1).await;
    let proxy = common::proxy::TcpProxy::start("127.0.0.1:6379").await;
    let redis_url = format!("redis://{}", proxy.addr);
    let args = [&["--redis-url", &redis_url][..], &common::FAST_GROUP].concat();
    let mut processor = env.spawn_processor(&args);
    let topic = env.topic("orders.commands");
    let id = OrderId::new_random();
    let redis = redis::Client::open(env.redis.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let cached = || common::cached_version(&redis, id);
    send(&topic, &[create(id)]).await;
    eventually("v1 cached", Duration::from_secs(60), || async {
        (cached().await == Some(1)).then_some(())
    })
    .await;

    proxy.cut();
    send(&topic, &[command(id, CommandBody::ConfirmOrder)]).await;
    let db = env.db().await;
    let flagged =
        || common::oracle::scalar(&db, "SELECT count(*) FROM order_events WHERE cache_pending");
    eventually(
        "v2 published, flagged cache_pending",
        Duration::from_secs(30),
        || async { (flagged().await == 1).then_some(()) },
    )
    .await;
    processor.start_kill().unwrap();
    processor.wait().await.unwrap();
    proxy.restore();
    assert_eq!(
        cached().await,
        Some(1),
        "Redis still holds v1: the backlog died"
    );

    let mut next = env.spawn_processor(&args);
    eventually(
        "the next owner rewrote v2",
        Duration::from_secs(60),
        || async { (cached().await == Some(2)).then_some(()) },
    )
    .await;
    eventually("the flag cleared", Duration::from_secs(10), || async {
        (flagged().await == 0).then_some(())
    })
    .await;
    next.start_kill().unwrap();
    next.wait().await.unwrap();
}
