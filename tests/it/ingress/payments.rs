//! Money over HTTP (ORDER-MODEL.md "Totals", "Payments"): adjustments and the total, a
//! payment's whole life, every rejection the ledger gives, the rows PostgreSQL keeps.

use super::*;

/// order_body's lines make 4 498; with shipping 500, tax 900 and a discount of 398 the total
/// is 5 500.
const TOTAL: i64 = 5_500;

fn order_with_adjustments() -> Value {
    let mut body = order_body();
    body["adjustments"] = json!([
        {"kind": "shipping", "label": "Standard", "amount": 500},
        {"kind": "tax", "label": "VAT", "amount": 900},
        {"kind": "discount", "label": "WELCOME", "amount": -398},
    ]);
    body
}

fn payment(id: &str, kind: &str, amount: i64, status: &str, parent: Option<&str>) -> Value {
    json!({"transaction_id": id, "kind": kind, "amount": amount, "status": status,
           "provider": "manual", "provider_reference": format!("ref-{id}"), "parent_id": parent})
}

impl Client<'_> {
    async fn create(&self, body: Value) -> String {
        let (status, accepted) = self.send(Method::POST, "/v1/orders", Some(body)).await;
        assert_eq!(status, 202, "{accepted}");
        assert_eq!(self.outcome(&accepted).await["status"], "applied");
        order_id_of(&accepted).to_string()
    }

    async fn pay(&self, id: &str, fact: Value) -> Value {
        self.write(
            Method::POST,
            &format!("/v1/orders/{id}/payments"),
            Some(fact),
        )
        .await
    }

    async fn settle(&self, id: &str, transaction: &str, status: &str) -> Value {
        self.write(
            Method::POST,
            &format!("/v1/orders/{id}/payments/{transaction}/settle"),
            Some(json!({ "status": status })),
        )
        .await
    }

    async fn order(&self, id: &str) -> Value {
        let (status, order) = self
            .send(Method::GET, &format!("/v1/orders/{id}"), None)
            .await;
        assert_eq!(status, 200, "{order}");
        order
    }
}

/// (authorized, captured, refunded, balance_due, payment_status) of an order as GET shows it.
fn money(order: &Value) -> (i64, i64, i64, i64, &str) {
    (
        order["authorized"].as_i64().unwrap(),
        order["captured"].as_i64().unwrap(),
        order["refunded"].as_i64().unwrap(),
        order["balance_due"].as_i64().unwrap(),
        order["payment_status"].as_str().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_capture_in_two_parts_and_refund_in_two_parts() {
    let (env, app, key, _) = app_with_keys().await;
    let c = Client {
        app: &app,
        key: Some(key),
    };
    let id = c.create(order_with_adjustments()).await;
    let order = c.order(&id).await;
    assert_eq!(
        (order["subtotal"].as_i64(), order["total"].as_i64()),
        (Some(4_498), Some(TOTAL))
    );
    assert_eq!(order["adjustments"].as_array().unwrap().len(), 3);
    assert_eq!(money(&order), (0, 0, 0, TOTAL, "unpaid"));

    // Authorized at checkout: pending at the provider, then succeeded.
    c.pay(
        &id,
        payment("auth", "authorization", TOTAL, "pending", None),
    )
    .await;
    assert_eq!(
        money(&c.order(&id).await),
        (0, 0, 0, TOTAL, "unpaid"),
        "pending counts nothing"
    );
    c.settle(&id, "auth", "succeeded").await;
    assert_eq!(
        money(&c.order(&id).await),
        (TOTAL, 0, 0, TOTAL, "authorized")
    );
    // Captured in two shipments.
    c.pay(
        &id,
        payment("cap-1", "capture", 2_000, "succeeded", Some("auth")),
    )
    .await;
    assert_eq!(
        money(&c.order(&id).await),
        (TOTAL, 2_000, 0, TOTAL - 2_000, "partially_paid")
    );
    let last = c
        .pay(
            &id,
            payment("cap-2", "capture", 3_500, "succeeded", Some("auth")),
        )
        .await;
    assert_eq!(money(&c.order(&id).await), (TOTAL, TOTAL, 0, 0, "paid"));
    // A retried fact under a new request: applied, nothing changes (the version stays).
    let retried = c
        .pay(
            &id,
            payment("cap-2", "capture", 3_500, "succeeded", Some("auth")),
        )
        .await;
    assert_eq!(
        (retried["status"].as_str(), retried["version"].as_i64()),
        (Some("applied"), last["version"].as_i64())
    );
    // Refunded in two parts.
    c.pay(
        &id,
        payment("ref-1", "refund", 1_000, "succeeded", Some("cap-2")),
    )
    .await;
    assert_eq!(
        money(&c.order(&id).await),
        (TOTAL, TOTAL, 1_000, 1_000, "partially_refunded")
    );
    c.pay(
        &id,
        payment("ref-2", "refund", 2_000, "succeeded", Some("cap-1")),
    )
    .await;
    c.pay(
        &id,
        payment("ref-3", "refund", 2_500, "succeeded", Some("cap-2")),
    )
    .await;
    let order = c.order(&id).await;
    assert_eq!(money(&order), (TOTAL, TOTAL, TOTAL, TOTAL, "refunded"));
    let ids: Vec<&str> = order["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transaction_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["auth", "cap-1", "cap-2", "ref-1", "ref-2", "ref-3"]);

    // The ledger's rows, with the settlement applied, and the filter on the derived status.
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT transaction_id, kind, status, amount FROM order_payments
         WHERE order_id = $1::uuid ORDER BY transaction_id",
    )
    .bind(&id)
    .fetch_all(&env.db().await)
    .await
    .unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(
        rows[0],
        (
            "auth".into(),
            "authorization".into(),
            "succeeded".into(),
            TOTAL
        )
    );
    let other = c.create(order_body()).await;
    let listed = |status: &'static str| {
        let c = &c;
        async move {
            let (code, page) = c
                .send(
                    Method::GET,
                    &format!("/v1/orders?payment_status={status}"),
                    None,
                )
                .await;
            assert_eq!(code, 200, "{page}");
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["order_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("refunded").await, std::slice::from_ref(&id));
    assert_eq!(listed("unpaid").await, [other]);
    assert!(listed("paid").await.is_empty());
    let (code, problem) = c
        .send(Method::GET, "/v1/orders?payment_status=rich", None)
        .await;
    assert_eq!(code, 400, "{problem}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rule_of_the_ledger_is_refused_with_its_code() {
    // (No rate limit: 256 payments are sent at once.)
    let env = TestEnv::new(3).await;
    let app = env.start(&["--auth", "api-key", "--rate-limit", "0"]).await;
    let key = env.api_key("shop-a").await;
    let c = Client {
        app: &app,
        key: Some(key),
    };
    let id = c.create(order_body()).await;
    for fact in [
        payment("auth", "authorization", 1_000, "succeeded", None),
        payment("pending-auth", "authorization", 500, "pending", None),
        payment("gone", "authorization", 100, "succeeded", None),
        payment("void-gone", "void", 100, "succeeded", Some("gone")),
        payment("sale", "sale", 300, "succeeded", None),
        payment("cap", "capture", 10, "succeeded", Some("auth")),
    ] {
        assert_eq!(c.pay(&id, fact).await["status"], "applied");
    }
    let cases = [
        (
            payment("auth", "authorization", 999, "succeeded", None),
            "conflicting_fact",
        ),
        (
            payment("x", "capture", 10, "succeeded", None),
            "missing_parent",
        ),
        (
            payment("x", "sale", 10, "succeeded", Some("auth")),
            "unexpected_parent",
        ),
        (
            payment("x", "capture", 10, "succeeded", Some("sale")),
            "invalid_parent",
        ),
        (
            payment("x", "capture", 10, "succeeded", Some("pending-auth")),
            "parent_not_succeeded",
        ),
        (
            payment("x", "capture", 991, "succeeded", Some("auth")),
            "capture_exceeds_authorization",
        ),
        (
            payment("x", "capture", 10, "succeeded", Some("gone")),
            "authorization_voided",
        ),
        (
            payment("x", "void", 1_000, "succeeded", Some("auth")),
            "void_after_capture",
        ),
        (
            payment("x", "refund", 301, "succeeded", Some("sale")),
            "refund_exceeds_captured",
        ),
    ];
    for (fact, code) in cases {
        let outcome = c.pay(&id, fact).await;
        assert_eq!(
            (
                outcome["status"].as_str(),
                outcome["rejection"]["code"].as_str()
            ),
            (Some("rejected"), Some(code)),
            "{outcome}"
        );
    }
    for (transaction, status, code) in [
        ("nope", "succeeded", "unknown_transaction"),
        ("auth", "failed", "already_settled"),
    ] {
        let outcome = c.settle(&id, transaction, status).await;
        assert_eq!(outcome["rejection"]["code"], code, "{outcome}");
    }

    // Field rules are refused at the edge, with their paths.
    let (status, problem) = c
        .send(
            Method::POST,
            &format!("/v1/orders/{id}/payments"),
            Some(
                json!({"transaction_id": "", "kind": "gift", "amount": 0, "status": "maybe",
                        "provider": "manual", "return_id": "r-1"}),
            ),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        fields(&problem),
        ["transaction_id", "kind", "amount", "status"]
    );
    let (status, problem) = c
        .send(
            Method::POST,
            &format!("/v1/orders/{id}/payments/auth/settle"),
            Some(json!({"status": "pending"})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), problem["errors"][0]["field"].as_str()),
        (422, Some("status"))
    );

    // An order holds at most 256 transactions: fill it (without waiting for each), then one more.
    let full = c.create(order_body()).await;
    let writes = (0..256).map(|n| {
        let c = &c;
        let full = &full;
        async move {
            let (status, accepted) = c
                .send(
                    Method::POST,
                    &format!("/v1/orders/{full}/payments"),
                    Some(payment(&format!("s{n}"), "sale", 1, "succeeded", None)),
                )
                .await;
            assert_eq!(status, 202, "{accepted}");
            accepted
        }
    });
    for accepted in futures::future::join_all(writes).await {
        assert_eq!(c.outcome(&accepted).await["status"], "applied");
    }
    let outcome = c
        .pay(&full, payment("one-more", "sale", 1, "succeeded", None))
        .await;
    assert_eq!(
        outcome["rejection"]["code"], "too_many_transactions",
        "{outcome}"
    );

    // No payment facts on a deleted order (another storefront's order stays not_found).
    let deleted = c.create(order_body()).await;
    c.write(Method::DELETE, &format!("/v1/orders/{deleted}"), None)
        .await;
    let outcome = c
        .pay(&deleted, payment("late", "sale", 1, "succeeded", None))
        .await;
    assert_eq!(
        outcome["rejection"]["code"], "payment_on_deleted_order",
        "{outcome}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn adjustments_are_validated_and_follow_updates() {
    let (_env, app, key, _) = app_with_keys().await;
    let c = Client {
        app: &app,
        key: Some(key),
    };
    let mut bad = order_body();
    bad["adjustments"] = json!([{"kind": "discount", "label": "X", "amount": 5},
                                {"kind": "gift", "label": "X", "amount": 1}]);
    let (status, problem) = c.send(Method::POST, "/v1/orders", Some(bad)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "adjustments[0].amount");
    assert_eq!(problem["errors"][1]["field"], "adjustments[1].kind");
    let mut negative = order_body();
    negative["adjustments"] = json!([{"kind": "discount", "label": "X", "amount": -4_499}]);
    let (status, problem) = c.send(Method::POST, "/v1/orders", Some(negative)).await;
    assert_eq!(
        (status.as_u16(), problem["errors"][0]["field"].as_str()),
        (422, Some("adjustments"))
    );

    let id = c.create(order_with_adjustments()).await;
    let updated = c
        .write(
            Method::PATCH,
            &format!("/v1/orders/{id}"),
            Some(json!({"adjustments": [{"kind": "fee", "label": "Gift wrap", "amount": 2}]})),
        )
        .await;
    assert_eq!(updated["status"], "applied", "{updated}");
    let order = c.order(&id).await;
    assert_eq!(order["total"], 4_500);
    assert_eq!(order["balance_due"], 4_500);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn payment_writes_keep_every_convention_of_a_write() {
    let (_env, app, key_a, key_b) = app_with_keys().await;
    let a = Client {
        app: &app,
        key: Some(key_a),
    };
    let b = Client {
        app: &app,
        key: Some(key_b),
    };
    let id = a.create(order_body()).await;
    let path = format!("/v1/orders/{id}/payments");
    let post = |headers: &[(&'static str, &str)], fact: Value| {
        let request = headers.iter().fold(
            a.request(Method::POST, &path).json(&fact),
            |r, (name, value)| r.header(*name, *value),
        );
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // The same Idempotency-Key and body: the same command; another body: 422. (Redis is
    // shared by every test and run: the key is this run's own.)
    let key = format!("pay-{}", uuid::Uuid::new_v4());
    let fact = payment("sale-1", "sale", 100, "succeeded", None);
    let (status, first) = post(&[("Idempotency-Key", &key)], fact.clone()).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = post(&[("Idempotency-Key", &key)], fact.clone()).await;
    assert_eq!(
        (status.as_u16(), &again["command_id"]),
        (202, &first["command_id"]),
        "{again}"
    );
    let (status, other) = post(
        &[("Idempotency-Key", &key)],
        payment("sale-2", "sale", 100, "succeeded", None),
    )
    .await;
    assert_eq!(status, 422, "{other}");
    assert_eq!(a.outcome(&first).await["version"], 2);
    // If-Match: only at that version.
    let (status, stale) = post(
        &[("If-Match", "1")],
        payment("sale-3", "sale", 1, "succeeded", None),
    )
    .await;
    assert_eq!(status, 202, "{stale}");
    assert_eq!(
        a.outcome(&stale).await["rejection"]["code"],
        "version_conflict"
    );
    // Another storefront's order does not exist for the caller, and does not change.
    let foreign = b
        .pay(&id, payment("sale-4", "sale", 1, "succeeded", None))
        .await;
    assert_eq!(foreign["rejection"]["code"], "not_found", "{foreign}");
    let order = a.order(&id).await;
    assert_eq!(
        (order["captured"].as_i64(), order["version"].as_i64()),
        (Some(100), Some(2))
    );
    // A malformed body names its problem; an unknown field is refused.
    let (status, problem) = a
        .send(
            Method::POST,
            &path,
            Some(json!({"transaction_id": "x", "amount": "ten"})),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    let mut extra = payment("x", "sale", 1, "succeeded", None);
    extra["tip"] = json!(5);
    assert_eq!(a.send(Method::POST, &path, Some(extra)).await.0, 400);
    app.stop().await;
}
