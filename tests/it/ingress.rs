//! The HTTP API against the real services: every endpoint, its failures, tenancy,
//! idempotency, optimistic concurrency.

use crate::common;

use std::time::{Duration, Instant};

use common::{TestApp, TestEnv, order_body, order_id_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Client<'a> {
    app: &'a TestApp,
    key: Option<String>,
}

impl Client<'_> {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.app.client.request(method, self.app.url(path));
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Reads its own write: the command's outcome, waiting for the processor.
    async fn outcome(&self, accepted: &Value) -> Value {
        let url = format!("{}?wait=20s", accepted["status_url"].as_str().unwrap());
        let (status, body) = self.send(Method::GET, &url, None).await;
        assert_eq!(status, 200, "{body}");
        assert_ne!(
            body["status"], "pending",
            "the processor handled {accepted} within 20 s"
        );
        body
    }

    async fn write(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, accepted) = self.send(method, path, body).await;
        assert_eq!(status, 202, "{accepted}");
        self.outcome(&accepted).await
    }
}

async fn app_with_keys() -> (TestEnv, TestApp, String, String) {
    let env = TestEnv::new(3).await;
    let app = env.start(&["--auth", "api-key"]).await;
    let (shop_a, shop_b) = (env.api_key("shop-a").await, env.api_key("shop-b").await);
    (env, app, shop_a, shop_b)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_write_endpoint_moves_an_order_through_its_life() {
    let (_env, app, key, _) = app_with_keys().await;
    let c = Client {
        app: &app,
        key: Some(key),
    };
    let (status, accepted) = c.send(Method::POST, "/v1/orders", Some(order_body())).await;
    assert_eq!(status, 202);
    let id = order_id_of(&accepted).to_string();
    assert_eq!(c.outcome(&accepted).await["status"], "applied");

    let patched = c
        .write(
            Method::PATCH,
            &format!("/v1/orders/{id}"),
            Some(json!({"items": [{"sku": "N", "quantity": 3, "unit_price": 100}]})),
        )
        .await;
    assert_eq!(
        (patched["status"].as_str(), patched["version"].as_i64()),
        (Some("applied"), Some(2))
    );
    c.write(Method::POST, &format!("/v1/orders/{id}/confirm"), None)
        .await;
    c.write(
        Method::POST,
        &format!("/v1/orders/{id}/ship"),
        Some(json!({"carrier": "DHL", "tracking_number": "T1"})),
    )
    .await;
    c.write(
        Method::PUT,
        &format!("/v1/orders/{id}/shipping"),
        Some(json!({"carrier": "UPS", "tracking_number": "1Z"})),
    )
    .await;
    let delivered = c
        .write(
            Method::POST,
            &format!("/v1/orders/{id}/deliver"),
            Some(json!({})),
        )
        .await;
    assert_eq!(delivered["version"], 6);

    let (status, order) = c.send(Method::GET, &format!("/v1/orders/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(order["status"], "delivered");
    assert_eq!(
        order["shipping"],
        json!({"carrier": "UPS", "tracking_number": "1Z"})
    );
    assert_eq!(order["total"], 300);
    assert_eq!(order["storefront_id"], "shop-a");

    let (_, history) = c
        .send(Method::GET, &format!("/v1/orders/{id}/events"), None)
        .await;
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["payload"]
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .as_str()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "OrderCreated",
            "OrderUpdated",
            "OrderConfirmed",
            "OrderShipped",
            "ShippingUpdated",
            "OrderDelivered"
        ]
    );

    // Cancel and delete on a second order.
    let (_, second) = c.send(Method::POST, "/v1/orders", Some(order_body())).await;
    let second_id = order_id_of(&second).to_string();
    c.outcome(&second).await;
    c.write(
        Method::POST,
        &format!("/v1/orders/{second_id}/cancel"),
        Some(json!({"reason": "changed my mind"})),
    )
    .await;
    c.write(Method::DELETE, &format!("/v1/orders/{second_id}"), None)
        .await;
    let (status, _) = c
        .send(Method::GET, &format!("/v1/orders/{second_id}"), None)
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_transition_is_reported_on_the_command() {
    let (_env, app, key, _) = app_with_keys().await;
    let c = Client {
        app: &app,
        key: Some(key),
    };
    let (_, created) = c.send(Method::POST, "/v1/orders", Some(order_body())).await;
    c.outcome(&created).await;
    let id = order_id_of(&created);
    let outcome = c
        .write(Method::POST, &format!("/v1/orders/{id}/deliver"), None)
        .await;
    assert_eq!(outcome["status"], "rejected");
    assert_eq!(outcome["rejection"]["code"], "invalid_transition");
    assert_eq!(
        outcome["rejection"]["message"],
        "an order cannot go from pending to delivered"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_required_and_scope_every_read_and_write_to_their_storefront() {
    let (_env, app, shop_a, shop_b) = app_with_keys().await;
    let anonymous = Client {
        app: &app,
        key: None,
    };
    let (status, problem) = anonymous
        .send(Method::POST, "/v1/orders", Some(order_body()))
        .await;
    assert_eq!(status, 401);
    assert_eq!(problem["status"], 401);
    let forged = Client {
        app: &app,
        key: Some("of_not-a-key".into()),
    };
    assert_eq!(forged.send(Method::GET, "/v1/orders", None).await.0, 401);
    let header = app
        .client
        .get(app.url("/v1/orders"))
        .header("x-api-key", &shop_a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header.status(),
        200,
        "X-Api-Key works as well as a bearer token"
    );

    let a = Client {
        app: &app,
        key: Some(shop_a),
    };
    let b = Client {
        app: &app,
        key: Some(shop_b),
    };
    let (_, created) = a.send(Method::POST, "/v1/orders", Some(order_body())).await;
    a.outcome(&created).await;
    let id = order_id_of(&created);
    assert_eq!(
        b.send(Method::GET, &format!("/v1/orders/{id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        b.send(Method::GET, &format!("/v1/orders/{id}/events"), None)
            .await
            .0,
        404
    );
    let (_, listed) = b.send(Method::GET, "/v1/orders", None).await;
    assert_eq!(listed["items"], json!([]));
    let (_, theirs) = b
        .send(Method::GET, created["status_url"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        theirs["status"], "pending",
        "another storefront's command is not visible"
    );
    let refused = b
        .write(Method::POST, &format!("/v1/orders/{id}/confirm"), None)
        .await;
    assert_eq!(
        refused["rejection"]["code"], "not_found",
        "another storefront's order cannot be changed"
    );
    assert_eq!(
        a.send(Method::GET, &format!("/v1/orders/{id}"), None)
            .await
            .1["status"],
        "pending"
    );
    app.stop().await;
}

/// Storefront B sweeps every endpoint against storefront A's order: each of B's commands is
/// rejected and visible to B alone, and A's order, history, list and event topic stay exactly
/// as they were.
#[tokio::test(flavor = "multi_thread")]
async fn another_storefront_sweeping_every_endpoint_leaves_the_order_byte_identical() {
    let (_env, app, shop_a, shop_b) = app_with_keys().await;
    let a = Client {
        app: &app,
        key: Some(shop_a),
    };
    let b = Client {
        app: &app,
        key: Some(shop_b),
    };
    let (_, created) = a.send(Method::POST, "/v1/orders", Some(order_body())).await;
    a.outcome(&created).await;
    let id = order_id_of(&created);
    a.write(
        Method::PATCH,
        &format!("/v1/orders/{id}"),
        Some(json!({"items": [{"sku": "N", "quantity": 3, "unit_price": 100}]})),
    )
    .await;
    let reads = || async {
        let mut bodies = Vec::new();
        for path in [
            format!("/v1/orders/{id}"),
            format!("/v1/orders/{id}/events"),
            "/v1/orders".to_owned(),
        ] {
            let response = a.request(Method::GET, &path).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            bodies.push((path, response.bytes().await.unwrap()));
        }
        bodies
    };
    let before = reads().await;

    let order = format!("/v1/orders/{id}");
    let ship = json!({"carrier": "DHL", "tracking_number": "T1"});
    let mut create_with_their_id = order_body();
    create_with_their_id["order_id"] = json!(id);
    let sweep = [
        (
            Method::POST,
            "/v1/orders".to_owned(),
            Some(create_with_their_id),
            "already_exists",
        ),
        (
            Method::PATCH,
            order.clone(),
            Some(json!({"items": [{"sku": "X", "quantity": 1, "unit_price": 1}]})),
            "not_found",
        ),
        (Method::POST, format!("{order}/confirm"), None, "not_found"),
        (
            Method::POST,
            format!("{order}/ship"),
            Some(ship.clone()),
            "not_found",
        ),
        (
            Method::PUT,
            format!("{order}/shipping"),
            Some(ship),
            "not_found",
        ),
        (Method::POST, format!("{order}/deliver"), None, "not_found"),
        (
            Method::POST,
            format!("{order}/cancel"),
            Some(json!({"reason": "mine now"})),
            "not_found",
        ),
        (Method::DELETE, order.clone(), None, "not_found"),
    ];
    let mut status_urls = Vec::new();
    for (method, path, body, code) in sweep {
        let outcome = b.write(method.clone(), &path, body).await;
        assert_eq!(outcome["status"], "rejected", "{method} {path}: {outcome}");
        assert_eq!(outcome["rejection"]["code"], code, "{method} {path}");
        status_urls.push(outcome["command_id"].as_str().unwrap().to_owned());
    }
    for path in [order.clone(), format!("{order}/events")] {
        assert_eq!(b.send(Method::GET, &path, None).await.0, 404, "{path}");
    }
    // B's rejections are B's: A cannot see them.
    for command in &status_urls {
        let (_, seen) = a
            .send(Method::GET, &format!("/v1/commands/{command}"), None)
            .await;
        assert_eq!(
            seen["status"], "pending",
            "A does not see B's command {command}"
        );
    }

    assert_eq!(reads().await, before, "A's reads are byte-identical");
    // Nothing of B's under A's key on the event topic: A's two events only.
    let events = app
        .consume("orders.events", 100, Duration::from_secs(5))
        .await;
    let under_a: Vec<_> = events
        .iter()
        .filter(|r| r.key.as_deref() == Some(id.to_string().as_str()))
        .collect();
    assert_eq!(under_a.len(), 2, "OrderCreated and OrderUpdated only");
    assert_eq!(events.len(), 2, "B's rejections are not events at all");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_names_one_command_and_refuses_another_body() {
    let (_env, app, key, _) = app_with_keys().await;
    let post = |body: Value, idem: &'static str| {
        app.client
            .post(app.url("/v1/orders"))
            .bearer_auth(&key)
            .header("idempotency-key", idem)
            .json(&body)
            .send()
    };
    let first: Value = post(order_body(), "checkout-1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again: Value = post(order_body(), "checkout-1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["command_id"], again["command_id"]);
    assert_eq!(first["order_id"], again["order_id"]);
    let mut other = order_body();
    other["customer_id"] = "someone-else".into();
    let conflict = post(other, "checkout-1").await.unwrap();
    assert_eq!(conflict.status(), 422);
    let problem: Value = conflict.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("idempotency-conflict"),
        "{problem}"
    );

    let c = Client {
        app: &app,
        key: Some(key.clone()),
    };
    c.outcome(&first).await;
    let (status, listed) = c.send(Method::GET, "/v1/orders", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "one order for two identical requests"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_guards_writes_and_etags_answer_304() {
    let (_env, app, key, _) = app_with_keys().await;
    let c = Client {
        app: &app,
        key: Some(key.clone()),
    };
    let (_, created) = c.send(Method::POST, "/v1/orders", Some(order_body())).await;
    c.outcome(&created).await;
    let id = order_id_of(&created);
    let response = c
        .request(Method::GET, &format!("/v1/orders/{id}"))
        .send()
        .await
        .unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, "\"1\"");
    let cached = c
        .request(Method::GET, &format!("/v1/orders/{id}"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    let stale = c
        .request(Method::POST, &format!("/v1/orders/{id}/confirm"))
        .header("if-match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.status(),
        202,
        "accepted; the version is checked in order by the processor"
    );
    let outcome = c.outcome(&stale.json().await.unwrap()).await;
    assert_eq!(outcome["rejection"]["code"], "version_conflict");
    assert_eq!(
        outcome["rejection"]["message"],
        "expected version 7, but the order is at version 1"
    );
    let fresh = c
        .request(Method::POST, &format!("/v1/orders/{id}/confirm"))
        .header("if-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.outcome(&fresh.json().await.unwrap()).await["status"],
        "applied"
    );
    let bad = c
        .request(Method::POST, &format!("/v1/orders/{id}/confirm"))
        .header("if-match", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_specific_problems() {
    let (_env, app, key, _) = app_with_keys().await;
    let c = Client {
        app: &app,
        key: Some(key),
    };
    let id = uuid::Uuid::new_v4();
    // Malformed JSON, unknown field, invalid values with their field paths, per endpoint.
    let cases: Vec<(Method, String, Option<&str>, StatusCode, &str)> = vec![
        (
            Method::POST,
            "/v1/orders".into(),
            Some("{"),
            StatusCode::BAD_REQUEST,
            "malformed-body",
        ),
        (
            Method::PATCH,
            format!("/v1/orders/{id}"),
            Some(r#"{"items": [], "colour": 1}"#),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        // JSON to the letter: one value, nothing after it, no member named twice.
        (
            Method::POST,
            format!("/v1/orders/{id}/cancel"),
            Some(r#"{"reason": "a"} {"reason": "b"}"#),
            StatusCode::BAD_REQUEST,
            "nothing may follow",
        ),
        (
            Method::POST,
            format!("/v1/orders/{id}/cancel"),
            Some(r#"{"reason": "a", "reason": "b"}"#),
            StatusCode::BAD_REQUEST,
            "duplicate member",
        ),
        (
            Method::POST,
            "/v1/orders".into(),
            Some(r#"{"customer_id": "c", "metadata": {"k": "1", "k": "2"}}"#),
            StatusCode::BAD_REQUEST,
            "metadata: duplicate member",
        ),
        (
            Method::PATCH,
            format!("/v1/orders/{id}"),
            Some(r#"{"items": []}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "items",
        ),
        (
            Method::POST,
            format!("/v1/orders/{id}/ship"),
            Some(r#"{"carrier": "", "tracking_number": "T"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "carrier",
        ),
        (
            Method::PUT,
            format!("/v1/orders/{id}/shipping"),
            Some(r#"{"carrier": "DHL"}"#),
            StatusCode::BAD_REQUEST,
            "tracking_number",
        ),
        (
            Method::POST,
            format!("/v1/orders/{id}/cancel"),
            Some(r#"{"reason": ""}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason",
        ),
        (
            Method::POST,
            format!("/v1/orders/{id}/confirm"),
            Some(r#"{"extra": true}"#),
            StatusCode::BAD_REQUEST,
            "extra",
        ),
        (
            Method::GET,
            "/v1/orders/not-a-uuid".into(),
            None,
            StatusCode::BAD_REQUEST,
            "not a UUID",
        ),
        (
            Method::GET,
            "/v1/orders?limit=0".into(),
            None,
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            Method::GET,
            "/v1/orders?status=lost".into(),
            None,
            StatusCode::BAD_REQUEST,
            "lost",
        ),
        (
            Method::GET,
            "/v1/orders?cursor=xyz".into(),
            None,
            StatusCode::BAD_REQUEST,
            "cursor",
        ),
        (
            Method::GET,
            "/v1/orders?colour=red".into(),
            None,
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        // Filters are validated text: a NUL never reaches PostgreSQL (it was a 500).
        (
            Method::GET,
            "/v1/orders?customer_id=a%00b".into(),
            None,
            StatusCode::BAD_REQUEST,
            "customer_id must not contain control characters",
        ),
        (
            Method::GET,
            "/v1/orders?customer_id=".into(),
            None,
            StatusCode::BAD_REQUEST,
            "customer_id must not be empty",
        ),
        (
            Method::GET,
            "/v1/orders?cursor=1_abc".into(),
            None,
            StatusCode::BAD_REQUEST,
            "cursor must match",
        ),
        (
            Method::GET,
            format!("/v1/commands/{id}?wait=5m"),
            None,
            StatusCode::BAD_REQUEST,
            "wait must be milliseconds or seconds",
        ),
        (
            Method::GET,
            format!("/v1/commands/{id}?wait="),
            None,
            StatusCode::BAD_REQUEST,
            "wait must be",
        ),
        (
            Method::PATCH,
            format!("/v1/orders/{id}"),
            Some(r#"{"items": [{"sku": "S", "quantity": 1, "unit_price": 1000000000001}]}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "items[0].unit_price",
        ),
        (
            Method::PATCH,
            format!("/v1/orders/{id}"),
            Some(r#"{"items": [{"sku": "S", "quantity": 1.5, "unit_price": 1}]}"#),
            StatusCode::BAD_REQUEST,
            "items[0].quantity",
        ),
    ];
    for (method, path, body, want, mention) in cases {
        let mut request = c.request(method.clone(), &path);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), want, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let text = response.text().await.unwrap();
        assert!(text.contains(mention), "{method} {path}: {text}");
    }
    // Header formats, as the OpenAPI document states them.
    for (name, value, mention) in [
        ("idempotency-key", "a b", "Idempotency-Key must be"),
        ("idempotency-key", "é", "Idempotency-Key must be"),
        ("if-match", "\"3", "If-Match must be"),
        ("if-match", "null", "If-Match must be"),
        ("if-match", "W/\"3\"", "If-Match must be"),
        // Beyond an Avro long: refused here, never a 503 from the encoder.
        ("if-match", "9439934148672527706", "If-Match must be"),
    ] {
        let response = c
            .request(Method::POST, &format!("/v1/orders/{id}/confirm"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{name}: {value}"
        );
        let text = response.text().await.unwrap();
        assert!(text.contains(mention), "{name}: {value}: {text}");
    }
    // An integer written with a zero fraction is an integer (JSON Schema's reading).
    let mut whole = order_body();
    whole["items"][0]["quantity"] = json!(2.0);
    let (status, accepted) = c.send(Method::POST, "/v1/orders", Some(whole)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(c.outcome(&accepted).await["status"], "applied");
    let mut big = order_body();
    big["metadata"] = json!({ "note": "x".repeat(70 * 1024) });
    let response = c
        .request(Method::POST, "/v1/orders")
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413, "bodies over 64 KiB are refused");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_filters_and_pages_with_a_cursor() {
    let (_env, app, key, _) = app_with_keys().await;
    let c = Client {
        app: &app,
        key: Some(key),
    };
    let mut last = Value::Null;
    for n in 0..5 {
        let mut body = order_body();
        body["customer_id"] = if n % 2 == 0 { "even" } else { "odd" }.into();
        let (_, accepted) = c.send(Method::POST, "/v1/orders", Some(body)).await;
        last = accepted;
    }
    c.outcome(&last).await;
    common::eventually("all five orders", Duration::from_secs(20), || async {
        let (_, page) = c.send(Method::GET, "/v1/orders?limit=200", None).await;
        (page["items"].as_array().unwrap().len() == 5).then_some(())
    })
    .await;
    let (_, page1) = c.send(Method::GET, "/v1/orders?limit=2", None).await;
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = c
        .send(
            Method::GET,
            &format!("/v1/orders?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    let (_, page3) = c
        .send(
            Method::GET,
            &format!(
                "/v1/orders?limit=2&cursor={}",
                page2["next_cursor"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let ids: Vec<Value> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["order_id"].clone())
        })
        .collect();
    assert_eq!(ids.len(), 5);
    let unique: std::collections::HashSet<_> = ids.iter().map(|v| v.to_string()).collect();
    assert_eq!(unique.len(), 5, "pages do not overlap");
    assert_eq!(page3["next_cursor"], Value::Null);
    let (_, evens) = c
        .send(
            Method::GET,
            "/v1/orders?customer_id=even&status=pending",
            None,
        )
        .await;
    assert_eq!(evens["items"].as_array().unwrap().len(), 3);
    let (_, none) = c.send(Method::GET, "/v1/orders?status=shipped", None).await;
    assert_eq!(none["items"], json!([]));
    let (_, future) = c
        .send(
            Method::GET,
            "/v1/orders?created_from=2999-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(future["items"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_is_down_yields_503_in_time_and_readyz_says_so() {
    let env = TestEnv::new(1).await;
    let app = env
        .start(&[
            "--kafka-brokers",
            "127.0.0.1:1",
            "--kafka-delivery-timeout",
            "2s",
            "--request-timeout",
            "5s",
        ])
        .await;
    let c = Client {
        app: &app,
        key: None,
    };
    let started = Instant::now();
    let (status, problem) = c.send(Method::POST, "/v1/orders", Some(order_body())).await;
    assert_eq!(status, 503, "{problem}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered within the request timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(
        problem["type"],
        "https://orderflow.dev/problems/broker-unavailable"
    );
    let (status, ready) = c.send(Method::GET, "/readyz", None).await;
    assert_eq!(status, 503);
    assert_eq!(
        (ready["kafka"].as_str(), ready["postgres"].as_str()),
        (Some("down"), Some("up"))
    );
    assert_eq!(c.send(Method::GET, "/healthz", None).await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_callers_traceparent_is_continued_into_the_commands_headers() {
    let env = TestEnv::new(1).await;
    let app = env.start(&[]).await;
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = app
        .client
        .post(app.url("/v1/orders"))
        .header("traceparent", parent)
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let commands = app
        .consume("orders.commands", 1, Duration::from_secs(20))
        .await;
    let traceparent = commands[0]
        .header("traceparent")
        .expect("the command carries the trace");
    assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert_ne!(traceparent, parent);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_requests_are_counted_by_matched_route_never_by_raw_path() {
    let env = TestEnv::new(1).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let (_ingress, url) = env
        .spawn_ingress(&["--auth", "none", "--metrics-addr", &metrics])
        .await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let missing = client
            .get(format!("{url}/v1/orders/{}", uuid::Uuid::new_v4()))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    }
    let body = client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = body
        .lines()
        .find(|l| l.starts_with("orderflow_http_requests_total{") && l.contains("status=\"404\""))
        .unwrap_or_else(|| panic!("no 404 counter in\n{body}"));
    assert!(
        line.contains("route=\"/v1/orders/{id}\"") && line.contains("method=\"GET\""),
        "{line}"
    );
    assert!(line.ends_with(" 3"), "three requests counted: {line}");
    assert!(
        body.contains("orderflow_http_request_duration_seconds"),
        "latency is recorded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_says_kafka_is_down_while_the_commands_topic_does_not_exist() {
    let env = TestEnv::new(1).await;
    let missing = format!("{}.missing", env.topic("orders.commands"));
    let app = env.start(&["--commands-topic", &missing]).await;
    let c = Client {
        app: &app,
        key: None,
    };
    let (status, ready) = c.send(Method::GET, "/readyz", None).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["kafka"], "down", "{ready}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_carry_the_trace_order_and_command_ids() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let env = TestEnv::new(1).await;
    let (mut child, url) = env
        .spawn_ingress_logging(
            &["--auth", "none", "--log-format", "json"],
            "info,librdkafka=off",
            std::process::Stdio::piped(),
        )
        .await;
    let trace_id = "4bf92f3577b34da6a50ce8c2d0a5e1c7";
    let accepted: Value = reqwest::Client::new()
        .post(format!("{url}/v1/orders"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&order_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let accepted_line = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let entry: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            if entry["message"] == "command accepted" {
                return entry;
            }
        }
        panic!("the ingress stopped logging");
    })
    .await
    .expect("a 'command accepted' line");
    let span = &accepted_line["span"];
    assert_eq!(span["trace_id"], trace_id, "{accepted_line}");
    assert_eq!(span["order_id"], accepted["order_id"], "{accepted_line}");
    assert_eq!(
        span["command_id"], accepted["command_id"],
        "{accepted_line}"
    );
    assert_eq!(accepted_line["level"], "INFO");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_fits_in_the_request_timeout_and_wakes_on_the_commit() {
    let app = TestEnv::new(3)
        .await
        .start(&["--request-timeout", "3s"])
        .await;
    let unknown = uuid::Uuid::new_v4();
    let started = Instant::now();
    let response = app
        .client
        .get(app.url(&format!("/v1/commands/{unknown}?wait=30s")))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(
        response.status(),
        200,
        "answered inside the 3 s request timeout"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "pending");
    assert!(
        waited >= Duration::from_millis(1_900) && waited < Duration::from_secs(3),
        "waited the 2 s the timeout leaves: {waited:?}"
    );

    // A waiter registered before the command exists wakes when its commit lands, not at
    // the next fallback look (2 s after it started).
    let command = common::create(orderflow::domain::OrderId::new_random());
    let url = app.url(&format!("/v1/commands/{}?wait=2s", command.command_id.0));
    let started = Instant::now();
    let waiter = tokio::spawn({
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let topic = app.topic("orders.commands");
    let payload = orderflow::codec::Codec::single_object()
        .encode_command(&topic, &command)
        .await
        .unwrap();
    common::produce(&topic, &command.order_id.to_string(), Some(&payload), &[]).await;
    let response = waiter.await.unwrap();
    let waited = started.elapsed();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "applied", "{body}");
    assert!(
        waited < Duration::from_millis(1_800),
        "woken by the commit: {waited:?}"
    );
    app.stop().await;
}

mod jwt {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");
    const ISSUER: &str = "https://issuer.test";
    const AUDIENCE: &str = "orderflow";

    fn pem(name: &str) -> EncodingKey {
        EncodingKey::from_rsa_pem(&std::fs::read(format!("{FIXTURES}/{name}")).unwrap()).unwrap()
    }

    fn claims(storefront: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({"sub": "user-7", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "storefront": storefront})
    }

    fn sign(claims: &Value, kid: &str, key: &EncodingKey) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, key).unwrap()
    }

    async fn app() -> TestApp {
        let jwks = format!("{FIXTURES}/jwks.json");
        TestEnv::new(1)
            .await
            .start(&[
                "--auth",
                "api-key",
                "--jwks-file",
                &jwks,
                "--jwt-issuer",
                ISSUER,
                "--jwt-audience",
                AUDIENCE,
            ])
            .await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_signed_token_names_the_storefront_and_scopes_reads() {
        let app = app().await;
        let shop_a = Client {
            app: &app,
            key: Some(sign(&claims("shop-a"), "test-1", &pem("signing.pem"))),
        };
        let shop_b = Client {
            app: &app,
            key: Some(sign(&claims("shop-b"), "test-1", &pem("signing.pem"))),
        };
        let (status, accepted) = shop_a
            .send(Method::POST, "/v1/orders", Some(order_body()))
            .await;
        assert_eq!(status, 202, "{accepted}");
        let outcome = shop_a.outcome(&accepted).await;
        assert_eq!(outcome["status"], "applied", "{outcome}");
        let order = format!("/v1/orders/{}", accepted["order_id"].as_str().unwrap());
        let (status, body) = shop_a.send(Method::GET, &order, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(shop_b.send(Method::GET, &order, None).await.0, 404);
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn tokens_that_do_not_verify_are_401() {
        let app = app().await;
        let signing = pem("signing.pem");
        let expired = {
            let mut c = claims("shop-a");
            c["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
            c
        };
        let other_audience = {
            let mut c = claims("shop-a");
            c["aud"] = json!("someone-else");
            c
        };
        let other_issuer = {
            let mut c = claims("shop-a");
            c["iss"] = json!("https://elsewhere.test");
            c
        };
        let no_storefront = {
            let mut c = claims("shop-a");
            c.as_object_mut().unwrap().remove("storefront");
            c
        };
        let hs256 = {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("test-1".into());
            encode(
                &header,
                &claims("shop-a"),
                &EncodingKey::from_secret(b"guess"),
            )
            .unwrap()
        };
        let cases = [
            ("expired", sign(&expired, "test-1", &signing)),
            (
                "signed by a key not in the JWKS",
                sign(&claims("shop-a"), "test-1", &pem("other.pem")),
            ),
            ("unknown kid", sign(&claims("shop-a"), "test-9", &signing)),
            (
                "another audience",
                sign(&other_audience, "test-1", &signing),
            ),
            ("another issuer", sign(&other_issuer, "test-1", &signing)),
            (
                "no storefront claim",
                sign(&no_storefront, "test-1", &signing),
            ),
            ("HS256", hs256),
        ];
        for (what, token) in cases {
            let client = Client {
                app: &app,
                key: Some(token),
            };
            let (status, problem) = client
                .send(Method::POST, "/v1/orders", Some(order_body()))
                .await;
            assert_eq!(status, 401, "{what}: {problem}");
        }
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_jwks_can_come_from_a_url() {
        let jwks = std::fs::read_to_string(format!("{FIXTURES}/jwks.json")).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let server = tokio::spawn(async move {
            let router = axum::Router::new().route(
                "/.well-known/jwks.json",
                axum::routing::get(move || async move { jwks }),
            );
            axum::serve(listener, router).await.unwrap();
        });
        let app = TestEnv::new(1)
            .await
            .start(&["--auth", "api-key", "--jwks-url", &url])
            .await;
        let client = Client {
            app: &app,
            key: Some(sign(&claims("shop-a"), "test-1", &pem("signing.pem"))),
        };
        let (status, accepted) = client
            .send(Method::POST, "/v1/orders", Some(order_body()))
            .await;
        assert_eq!(status, 202, "{accepted}");
        app.stop().await;
        server.abort();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unreadable_jwks_stops_the_start_naming_the_flag() {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args([
                "ingress",
                "--jwks-file",
                "/nonexistent/jwks.json",
                "--http-addr",
                "127.0.0.1:0",
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--jwks-file"), "{stderr}");
    }
}

/// The framework's own answers are problems too: no route, a method a route does not take,
/// a body over the limit.
#[tokio::test(flavor = "multi_thread")]
async fn every_error_answer_is_a_problem_even_the_frameworks() {
    let (_env, app, key, _) = app_with_keys().await;
    let c = Client {
        app: &app,
        key: Some(key),
    };
    let huge = json!({"reason": "x".repeat(70 * 1024)});
    let id = uuid::Uuid::new_v4();
    for (method, path, body, want) in [
        (Method::GET, "/v1/nothing-here".to_owned(), None, 404),
        (Method::PUT, "/v1/orders".to_owned(), None, 405),
        (
            Method::POST,
            format!("/v1/orders/{id}/cancel"),
            Some(huge),
            413,
        ),
    ] {
        let mut request = c.request(method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), want, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        if want == 405 {
            assert!(response.headers().contains_key("allow"), "405 keeps Allow");
        }
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], want, "{problem}");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let (status, _) = c.send(Method::GET, "/readyz", None).await;
    assert_eq!(status, 200, "readiness keeps its own JSON report");
    app.stop().await;
}
