//! Fulfillments and returns over HTTP (ORDER-MODEL.md "Fulfillments", "Returns"): a split
//! shipment with a cancelled and re-made fulfillment, a return received damaged and refunded,
//! the rows and filters, and every rejection.

use super::*;

impl Client<'_> {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.write(Method::POST, path, Some(body)).await
    }

    async fn refused(&self, path: &str, body: Value) -> String {
        let outcome = self.post(path, body).await;
        assert_eq!(outcome["status"], "rejected", "{outcome}");
        outcome["rejection"]["code"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(Method::GET, path, None).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn lines(sku: &str, quantity: i64) -> Value {
    json!([{"sku": sku, "quantity": quantity}])
}

fn fulfillment(id: &str, sku: &str, quantity: i64) -> Value {
    json!({"fulfillment_id": id, "lines": lines(sku, quantity)})
}

const SHIPPING: fn() -> Value = || json!({"carrier": "DHL", "tracking_number": "JD1"});

#[tokio::test(flavor = "multi_thread")]
async fn a_split_shipment_a_damaged_return_and_its_refund_and_every_rejection() {
    let env = TestEnv::new(3).await;
    let app = env.start(&["--auth", "api-key", "--rate-limit", "0"]).await;
    let c = Client {
        app: &app,
        key: Some(env.api_key("shop-a").await),
    };
    // order_body: SKU-1 × 2 at 1 999, SKU-2 × 1 at 500.
    let (_, accepted) = c.send(Method::POST, "/v1/orders", Some(order_body())).await;
    c.outcome(&accepted).await;
    let id = order_id_of(&accepted).to_string();
    let o = |rest: &str| format!("/v1/orders/{id}{rest}");
    assert_eq!(
        c.refused(&o("/fulfillments"), fulfillment("a", "SKU-1", 2))
            .await,
        "not_allowed_in_status"
    );
    c.post(&o("/confirm"), json!({})).await;
    let sale = json!({"transaction_id": "sale", "kind": "sale", "amount": 4498,
                      "status": "succeeded", "provider": "manual"});
    c.post(&o("/payments"), sale).await;

    // Two fulfillments; one ships; the other is cancelled and made again; both delivered.
    c.post(&o("/fulfillments"), fulfillment("a", "SKU-1", 2))
        .await;
    c.post(&o("/fulfillments"), fulfillment("b", "SKU-2", 1))
        .await;
    c.post(&o("/fulfillments/a/ship"), SHIPPING()).await;
    let order = c.get(&o("")).await;
    assert_eq!(
        (
            order["status"].as_str(),
            order["fulfillment_status"].as_str()
        ),
        (Some("confirmed"), Some("partially_fulfilled"))
    );
    c.post(&o("/fulfillments/b/cancel"), json!({})).await;
    c.post(&o("/fulfillments"), fulfillment("c", "SKU-2", 1))
        .await;
    let shipped = c.post(&o("/fulfillments/c/ship"), SHIPPING()).await;
    assert_eq!(shipped["status"], "applied", "{shipped}");
    assert_eq!(c.get(&o("")).await["status"], "shipped");
    c.post(&o("/fulfillments/a/deliver"), json!({})).await;
    assert_eq!(
        c.get(&o("")).await["fulfillment_status"],
        "partially_delivered"
    );
    c.post(&o("/fulfillments/c/deliver"), json!({})).await;
    let order = c.get(&o("")).await;
    assert_eq!(
        (
            order["status"].as_str(),
            order["fulfillment_status"].as_str()
        ),
        (Some("delivered"), Some("delivered"))
    );
    let states: Vec<&str> = order["fulfillments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["delivered", "cancelled", "delivered"]);

    // One unit of SKU-1 comes back damaged and is refunded.
    let ret = json!({"return_id": "r", "lines": lines("SKU-1", 1), "reason": "arrived broken"});
    c.post(&o("/returns"), ret).await;
    assert_eq!(c.get(&o("")).await["return_status"], "requested");
    let receipt = json!({"lines": [{"sku": "SKU-1", "condition": "damaged"}]});
    c.post(&o("/returns/r/receive"), receipt.clone()).await;
    let refund = json!({"transaction_id": "refund-r", "kind": "refund", "amount": 1999,
                        "status": "succeeded", "provider": "manual", "parent_id": "sale",
                        "return_id": "r"});
    c.post(&o("/payments"), refund).await;
    let order = c.get(&o("")).await;
    assert_eq!(
        (order["return_status"].as_str(), order["refunded"].as_i64()),
        (Some("refunded"), Some(1999))
    );
    assert_eq!(order["returns"][0]["lines"][0]["condition"], "damaged");

    // Rows and filters.
    let db = env.db().await;
    let (fulfillments,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM order_fulfillments WHERE order_id = $1::uuid")
            .bind(&id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(fulfillments, 3);
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM order_returns WHERE order_id = $1::uuid")
            .bind(&id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(status, "received");
    for filter in ["fulfillment_status=delivered", "return_status=refunded"] {
        let page = c.get(&format!("/v1/orders?{filter}")).await;
        assert_eq!(page["items"][0]["order_id"], id.as_str(), "{filter}");
    }
    assert!(
        c.get("/v1/orders?return_status=requested").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        c.send(Method::GET, "/v1/orders?fulfillment_status=lost", None)
            .await
            .0,
        400
    );

    // Every rule of a fulfillment or return, on a second order.
    let (_, accepted) = c.send(Method::POST, "/v1/orders", Some(order_body())).await;
    c.outcome(&accepted).await;
    let id = order_id_of(&accepted).to_string();
    let o = |rest: &str| format!("/v1/orders/{id}{rest}");
    c.post(&o("/confirm"), json!({})).await;
    c.post(&o("/fulfillments"), fulfillment("a", "SKU-1", 2))
        .await;
    for (path, body, code) in [
        (
            o("/fulfillments"),
            fulfillment("a", "SKU-1", 1),
            "conflicting_fact",
        ),
        (
            o("/fulfillments"),
            fulfillment("x", "SKU-1", 1),
            "exceeds_ordered",
        ),
        (
            o("/fulfillments"),
            fulfillment("x", "SKU-404", 1),
            "unknown_sku",
        ),
        (
            o("/fulfillments/nope/ship"),
            SHIPPING(),
            "unknown_fulfillment",
        ),
        (
            o("/fulfillments/a/deliver"),
            json!({}),
            "fulfillment_not_in_state",
        ),
        (
            o("/returns"),
            json!({"return_id": "r", "lines": lines("SKU-1", 1), "reason": "x"}),
            "exceeds_delivered",
        ),
        (o("/returns/nope/cancel"), json!({}), "unknown_return"),
    ] {
        assert_eq!(c.refused(&path, body).await, code, "{path}");
    }
    c.post(&o("/fulfillments/a/ship"), SHIPPING()).await;
    assert_eq!(
        c.refused(&o("/cancel"), json!({"reason": "too late"}))
            .await,
        "units_shipped"
    );
    assert_eq!(
        c.refused(&o("/fulfillments/a/cancel"), json!({})).await,
        "fulfillment_not_in_state"
    );
    c.post(&o("/fulfillments/a/deliver"), json!({})).await;
    c.post(
        &o("/returns"),
        json!({"return_id": "r", "lines": lines("SKU-1", 1), "reason": "x"}),
    )
    .await;
    let wrong = json!({"lines": [{"sku": "SKU-2", "condition": "damaged"}]});
    assert_eq!(
        c.refused(&o("/returns/r/receive"), wrong).await,
        "conditions_mismatch"
    );
    c.post(&o("/returns/r/receive"), receipt).await;
    assert_eq!(
        c.refused(&o("/returns/r/cancel"), json!({})).await,
        "return_not_requested"
    );
    let refund = json!({"transaction_id": "x", "kind": "refund", "amount": 1, "status": "pending",
                        "provider": "manual", "parent_id": "nope", "return_id": "nope"});
    assert_eq!(c.refused(&o("/payments"), refund).await, "unknown_return");
    // Field rules at the edge, with their paths.
    let (status, problem) = c
        .send(
            Method::POST,
            &o("/fulfillments"),
            Some(json!({"fulfillment_id": "", "lines": [{"sku": "S", "quantity": 0}]})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(fields(&problem), ["fulfillment_id", "lines[0].quantity"]);
    let (status, _) = c
        .send(
            Method::POST,
            &o("/returns/r/receive"),
            Some(json!({"lines": [{"sku": "SKU-1", "condition": "wet"}]})),
        )
        .await;
    assert_eq!(status, 422);

    // At most 100 fulfillments: an order of 101 units, 100 fulfillments sent at once, one more.
    let mut big = order_body();
    big["items"] = json!([{"sku": "SKU-1", "quantity": 101, "unit_price": 1}]);
    let (_, accepted) = c.send(Method::POST, "/v1/orders", Some(big)).await;
    c.outcome(&accepted).await;
    let id = order_id_of(&accepted).to_string();
    c.post(&format!("/v1/orders/{id}/confirm"), json!({})).await;
    let path = format!("/v1/orders/{id}/fulfillments");
    let sends = (0..100).map(|n| {
        let (c, path) = (&c, &path);
        async move {
            let (status, accepted) = c
                .send(
                    Method::POST,
                    path,
                    Some(fulfillment(&format!("f{n}"), "SKU-1", 1)),
                )
                .await;
            assert_eq!(status, 202, "{accepted}");
            accepted
        }
    });
    for accepted in futures::future::join_all(sends).await {
        assert_eq!(c.outcome(&accepted).await["status"], "applied");
    }
    assert_eq!(
        c.refused(&path, fulfillment("one-more", "SKU-1", 1)).await,
        "too_many"
    );
    app.stop().await;
}
