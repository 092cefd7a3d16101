//! An order through every write endpoint, and what guards a write: refused transitions,
//! idempotency keys, If-Match and ETags; the list's filters and cursor; the long poll.

use super::*;

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
    let unique: std::collections::HashSet<_> =
        ids.iter().map(std::string::ToString::to_string).collect();
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
    // Time for the waiter to register. Nothing outside shows that it has; a waiter that
    // registered late finds the command applied and answers at once, which passes too, so
    // this pause can weaken the check but never make it flaky.
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
