//! API keys: required, and every read and write scoped to the key's storefront.

use super::*;

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
