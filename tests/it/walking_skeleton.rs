//! One order from HTTP through Kafka into PostgreSQL, Redis and back out as an event.

use crate::common;

use std::time::Duration;

use common::{eventually, order_body, order_id_of, spawn_app};
use orderflow::codec::Codec;
use orderflow::domain::EventBody;
use redis::AsyncCommands;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn posted_order_reaches_postgres_redis_the_event_topic_and_get() {
    let app = spawn_app().await;

    let posted = chrono::Utc::now();
    let response = app
        .client
        .post(app.url("/v1/orders"))
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let accepted: Value = response.json().await.unwrap();
    let order_id = order_id_of(&accepted);
    let command_id = accepted["command_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/orders/{order_id}"));
    assert_eq!(accepted["status_url"], format!("/v1/commands/{command_id}"));

    // 1. PostgreSQL: the order row, its event row (published) and the processed command.
    let (status, version, body): (String, i64, Value) =
        eventually("the order row", WAIT, || async {
            sqlx::query_as("SELECT status, version, body FROM orders WHERE order_id = $1")
                .bind(order_id.0)
                .fetch_optional(&app.db)
                .await
                .unwrap()
        })
        .await;
    assert_eq!((status.as_str(), version), ("pending", 1));
    assert_eq!(body["total"], 4498);
    let (event_type, published): (String, bool) = eventually("the published event row", WAIT, || async {
        sqlx::query_as(
            "SELECT event_type, published_at IS NOT NULL FROM order_events WHERE order_id = $1 AND published_at IS NOT NULL",
        )
        .bind(order_id.0)
        .fetch_optional(&app.db)
        .await
        .unwrap()
    })
    .await;
    assert_eq!((event_type.as_str(), published), ("OrderCreated", true));
    let (outcome,): (String,) =
        sqlx::query_as("SELECT outcome FROM processed_commands WHERE command_id = $1::uuid")
            .bind(&command_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(outcome, "applied");
    let status: Value = app
        .client
        .get(app.url(&format!("/v1/commands/{command_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "applied");
    let handled: chrono::DateTime<chrono::Utc> =
        status["handled_at"].as_str().unwrap().parse().unwrap();
    assert!(
        posted <= handled && handled <= chrono::Utc::now(),
        "{posted} .. {handled}"
    );

    // 2. Redis: the cached order, at version 1.
    let mut redis = app.redis.clone();
    let key = format!("orderflow:order:{order_id}");
    let cached: String = eventually("the cached order", WAIT, || {
        let mut redis = redis.clone();
        let key = key.clone();
        async move {
            redis
                .hget::<_, _, Option<String>>(&key, "body")
                .await
                .unwrap()
        }
    })
    .await;
    let cached: Value = serde_json::from_str(&cached).unwrap();
    assert_eq!(cached["order_id"], order_id.to_string());
    assert_eq!(cached["version"], 1);
    let cached_version: u64 = redis.hget(&key, "v").await.unwrap();
    assert_eq!(cached_version, 1);

    // 3. The OrderCreated event, keyed by the order id.
    let events = app.consume("orders.events", 1, WAIT).await;
    // Every record on the topic (its watermarks), not just the first one read.
    assert_eq!(
        crate::common::oracle::records_on(crate::common::KAFKA, &app.topic("orders.events")).await,
        1,
        "exactly one event"
    );
    assert_eq!(
        events[0].key.as_deref(),
        Some(order_id.to_string().as_str())
    );
    let event = Codec::single_object()
        .decode_event(&events[0].payload)
        .await
        .expect("event decodes");
    assert_eq!(event.order_id, order_id);
    assert_eq!(event.version, 1);
    assert_eq!(event.causation_id.to_string(), command_id);
    let EventBody::OrderCreated(created) = &event.body else {
        panic!("expected OrderCreated, got {:?}", event.body);
    };
    assert_eq!(created.total.0, 4498);

    // 4. GET returns the order as DESIGN.md shapes it.
    let got: Value = app
        .client
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["order_id"], order_id.to_string());
    assert_eq!(got["storefront_id"], "default");
    assert_eq!(got["status"], "pending");
    assert_eq!(got["items"][0]["line_total"], 3998);
    assert_eq!(got["subtotal"], 4498);
    assert_eq!(got["total"], 4498);
    assert_eq!(got["shipping"], Value::Null);
    assert_eq!(got["version"], 1);

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_falls_back_to_postgres_when_the_cache_misses() {
    let app = spawn_app().await;
    let accepted: Value = app
        .client
        .post(app.url("/v1/orders"))
        .json(&order_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order_id = order_id_of(&accepted);
    let key = format!("orderflow:order:{order_id}");
    let redis = app.redis.clone();
    eventually("the cached order", WAIT, || {
        let mut redis = redis.clone();
        let key = key.clone();
        async move { redis.exists::<_, bool>(&key).await.unwrap().then_some(()) }
    })
    .await;
    let _: () = app.redis.clone().del(&key).await.unwrap();

    let response = app
        .client
        .get(app.url(&format!("/v1/orders/{order_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let got: Value = response.json().await.unwrap();
    assert_eq!(got["order_id"], order_id.to_string());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_orders_are_refused_with_problem_details_and_never_produced() {
    let app = spawn_app().await;
    let mut body = order_body();
    body["items"][1]["quantity"] = 0.into();
    body["currency"] = "EURO".into();
    let response = app
        .client
        .post(app.url("/v1/orders"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["currency", "items[1].quantity"]);

    let mut unknown = order_body();
    unknown["colour"] = "red".into();
    let response = app
        .client
        .post(app.url("/v1/orders"))
        .json(&unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("colour"),
        "{problem}"
    );

    let response = app
        .client
        .post(app.url("/v1/orders"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let commands = app
        .consume("orders.commands", 1, Duration::from_secs(3))
        .await;
    assert!(commands.is_empty(), "a refused request produced a command");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_of_an_unknown_order_is_404_and_of_a_bad_id_is_400() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url(&format!("/v1/orders/{}", uuid::Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = app
        .client
        .get(app.url("/v1/orders/not-a-uuid"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_command_goes_to_the_dlq_with_headers_and_the_next_is_applied() {
    use rdkafka::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let app = spawn_app().await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", common::KAFKA)
        .create()
        .unwrap();
    let topic = app.topic("orders.commands");
    let poison_key = uuid::Uuid::new_v4().to_string();
    // Same key, so the poison pill and the valid command land on one partition, in order.
    producer
        .send(
            FutureRecord::to(&topic)
                .key(&poison_key)
                .payload(b"not avro".as_slice()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let accepted: Value = app
        .client
        .post(app.url("/v1/orders"))
        .json(&serde_json::json!({"order_id": poison_key, "customer_id": "c-1", "currency": "JPY",
            "items": [{"sku": "S", "quantity": 1, "unit_price": 500}],
            "shipping_address": {"name": "N", "line1": "L", "city": "Tokyo", "postal_code": "100-0001", "country": "JP"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accepted["order_id"], poison_key.as_str());

    let dead = app.consume("orders.commands.dlq", 1, WAIT).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].payload, b"not avro",
        "the dead letter keeps the bytes unchanged"
    );
    assert_eq!(dead[0].key.as_deref(), Some(poison_key.as_str()));
    let header = |name: &str| {
        dead[0].headers.iter().find(|(k, _)| k == name).map_or_else(
            || panic!("header {name} missing: {:?}", dead[0].headers),
            |(_, v)| v.clone(),
        )
    };
    assert_eq!(header("orderflow.error.kind"), "bad_magic");
    assert_eq!(header("orderflow.source.topic"), topic);
    assert_eq!(header("orderflow.source.offset"), "0");
    assert!(header("orderflow.error.message").contains("wire format"));
    header("orderflow.source.partition").parse::<i32>().unwrap();
    header("orderflow.source.timestamp").parse::<i64>().unwrap();

    let got = eventually("the valid order", WAIT, || async {
        let response = app
            .client
            .get(app.url(&format!("/v1/orders/{poison_key}")))
            .send()
            .await
            .unwrap();
        (response.status() == 200).then_some(response)
    })
    .await;
    let got: Value = got.json().await.unwrap();
    assert_eq!(got["currency"], "JPY");
    app.stop().await;
}
