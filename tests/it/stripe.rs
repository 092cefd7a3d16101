//! Stripe's notifications into the ledger, against the real services: signed as Stripe signs
//! (`signature::sign`, checked against Stripe's official Python library in its unit tests),
//! with event bodies in the shape Stripe documents for its API objects (a few fields each,
//! as Stripe sends many more). The fake here is only the sender; the endpoint, the broker,
//! the processor and PostgreSQL are real.

use std::time::{Duration, Instant};

use orderflow::ingress::stripe::signature::sign;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::common::{TestApp, TestEnv, order_body};

const SHOP_A: &str = "whsec_shop_a_0123456789";
const SHOP_B: &str = "whsec_shop_b_9876543210";

struct Stripe<'a> {
    app: &'a TestApp,
    key: String,
}

impl Stripe<'_> {
    /// Posts `body` with the Stripe-Signature header `signature` (None: no header).
    async fn post_raw(&self, body: &str, signature: Option<String>) -> (StatusCode, Value) {
        let mut request = self
            .app
            .client
            .post(self.app.url("/v1/providers/stripe/webhook"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Posts `event` signed now with `secret`.
    async fn post(&self, event: &Value, secret: &str) -> (StatusCode, Value) {
        let body = event.to_string();
        let header = sign(
            body.as_bytes(),
            &SecretString::from(secret),
            chrono::Utc::now().timestamp(),
        );
        self.post_raw(&body, Some(header)).await
    }

    /// The order, once it exists (`Value::Null` before).
    async fn order(&self, id: &str) -> Value {
        let response = self
            .app
            .client
            .get(self.app.url(&format!("/v1/orders/{id}")))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    /// The order once `done` holds for it (10 s at most).
    async fn order_when(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let order = self.order(id).await;
            if order["payments"].is_array() && done(&order) {
                return order;
            }
            assert!(Instant::now() < deadline, "never reached: {order}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn event(id: &str, kind: &str, object: Value) -> Value {
    json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": 1_764_760_000,
           "livemode": false, "type": kind, "data": {"object": object}})
}

fn payment_intent(pi: &str, order: &str, status: &str, amount_received: i64) -> Value {
    json!({"id": pi, "object": "payment_intent", "amount": 5000, "amount_capturable":
           if status == "requires_capture" { 5000 } else { 0 }, "amount_received": amount_received,
           "capture_method": "manual", "currency": "eur", "status": status,
           "latest_charge": format!("ch_{pi}"), "metadata": {"order_id": order}})
}

fn refund(id: &str, pi: &str, amount: i64, status: &str) -> Value {
    json!({"id": id, "object": "refund", "amount": amount, "currency": "eur", "status": status,
           "payment_intent": pi, "charge": format!("ch_{pi}"), "metadata": {}})
}

fn ledger(order: &Value) -> Vec<(String, String, i64)> {
    order["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["transaction_id"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
                t["amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_notifications_record_the_payment_once_and_refuse_what_stripe_did_not_sign() {
    let env = TestEnv::new(3).await;
    let app = env
        .start(&[
            "--auth",
            "api-key",
            "--stripe-webhook-secret",
            &format!("shop-a={SHOP_A},shop-b={SHOP_B}"),
        ])
        .await;
    let key = env.api_key("shop-a").await;
    let stripe = Stripe { app: &app, key };
    let mut body = order_body();
    body["adjustments"] = json!([{"kind": "shipping", "label": "Express", "amount": 502}]);
    let created: Value = app
        .client
        .post(app.url("/v1/orders"))
        .bearer_auth(&stripe.key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["order_id"].as_str().unwrap().to_owned();
    stripe.order_when(&id, |o| o["total"] == 5000).await;

    // Authorized at checkout; Stripe delivers the notification twice.
    let authorized = event(
        "evt_auth",
        "payment_intent.amount_capturable_updated",
        payment_intent("pi_1", &id, "requires_capture", 0),
    );
    for _ in 0..2 {
        let (status, answer) = stripe.post(&authorized, SHOP_A).await;
        assert_eq!(
            (status.as_u16(), answer["outcome"].as_str()),
            (200, Some("recorded")),
            "{answer}"
        );
    }
    let order = stripe
        .order_when(&id, |o| o["payment_status"] == "authorized")
        .await;
    let version = order["version"].as_i64().unwrap();

    // Captured: charge.captured (no metadata: found by its PaymentIntent) and then
    // payment_intent.succeeded say the same; it is recorded once.
    let captured = event(
        "evt_captured",
        "charge.captured",
        json!({"id": "ch_pi_1", "object": "charge", "amount": 5000, "amount_captured": 3000,
               "captured": true, "currency": "eur", "payment_intent": "pi_1", "metadata": {}}),
    );
    assert_eq!(stripe.post(&captured, SHOP_A).await.0, 200);
    let succeeded = event(
        "evt_succeeded",
        "payment_intent.succeeded",
        payment_intent("pi_1", &id, "succeeded", 3000),
    );
    assert_eq!(stripe.post(&succeeded, SHOP_A).await.0, 200);
    let order = stripe.order_when(&id, |o| o["captured"] == 3000).await;
    assert_eq!(order["payment_status"], "partially_paid");

    // A refund, pending then succeeded.
    for (evt, status) in [("evt_re_1", "pending"), ("evt_re_2", "succeeded")] {
        let kind = if status == "pending" {
            "refund.created"
        } else {
            "refund.updated"
        };
        let (code, answer) = stripe
            .post(
                &event(evt, kind, refund("re_1", "pi_1", 1000, status)),
                SHOP_A,
            )
            .await;
        assert_eq!(code, 200, "{answer}");
    }
    let order = stripe.order_when(&id, |o| o["refunded"] == 1000).await;
    assert_eq!(
        ledger(&order),
        [
            ("stripe:pi_1:authorization".into(), "succeeded".into(), 5000),
            ("stripe:pi_1:capture".into(), "succeeded".into(), 3000),
            ("stripe:re_1".into(), "succeeded".into(), 1000),
        ]
    );
    // authorization, capture, refund recorded, refund settled: four versions, no more.
    assert_eq!(order["version"].as_i64().unwrap(), version + 3);
    assert_eq!(order["balance_due"], 5000 - 3000 + 1000);

    // What Stripe did not sign produces nothing: a tampered body, a stale timestamp, no header,
    // another endpoint's secret.
    let consumed = app.consumed_commands().await;
    let sale = event(
        "evt_forged",
        "payment_intent.succeeded",
        json!({"id": "pi_forged", "object": "payment_intent", "amount": 9999, "amount_received": 9999,
               "capture_method": "automatic", "currency": "eur", "status": "succeeded",
               "metadata": {"order_id": id}}),
    );
    let body = sale.to_string();
    let now = chrono::Utc::now().timestamp();
    let signed = sign(body.as_bytes(), &SecretString::from(SHOP_A), now);
    let tampered = body.replace("9999", "1");
    let (status, problem) = stripe.post_raw(&tampered, Some(signed)).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(
        problem["type"],
        "https://orderflow.dev/problems/bad-signature"
    );
    let stale = sign(body.as_bytes(), &SecretString::from(SHOP_A), now - 301);
    let (status, problem) = stripe.post_raw(&body, Some(stale)).await;
    assert_eq!(status, 400);
    assert!(
        problem["detail"].as_str().unwrap().contains("tolerance"),
        "{problem}"
    );
    assert_eq!(stripe.post_raw(&body, None).await.0, 400);
    assert_eq!(stripe.post(&sale, "whsec_someone_else").await.0, 400);
    // An event type orderflow does not record is answered 2xx and changes nothing.
    let (status, answer) = stripe
        .post(
            &event("evt_other", "customer.created", json!({"id": "cus_1"})),
            SHOP_A,
        )
        .await;
    assert_eq!(
        (status.as_u16(), answer["outcome"].as_str()),
        (200, Some("ignored"))
    );
    // A refund of a PaymentIntent with nothing captured yet: Stripe is asked to retry.
    let (status, _) = stripe
        .post(
            &event(
                "evt_early",
                "refund.created",
                json!({"id": "re_9", "object": "refund",
            "amount": 10, "currency": "eur", "status": "pending", "payment_intent": "pi_2",
            "metadata": {"order_id": id}}),
            ),
            SHOP_A,
        )
        .await;
    assert_eq!(status, 503);
    // Storefront B's secret cannot record a payment on storefront A's order: its command is
    // refused as for an order that does not exist, and A's order does not change.
    let foreign = event(
        "evt_foreign",
        "payment_intent.succeeded",
        json!({"id": "pi_b", "object": "payment_intent", "amount": 77, "amount_received": 77,
               "capture_method": "automatic", "currency": "eur", "status": "succeeded",
               "metadata": {"order_id": id}}),
    );
    assert_eq!(stripe.post(&foreign, SHOP_B).await.0, 200);
    // Then one real fact, to know the processor took everything produced before it.
    let failed = event(
        "evt_failed",
        "payment_intent.payment_failed",
        json!({"id": "pi_3", "object": "payment_intent", "amount": 100, "currency": "eur",
               "status": "requires_payment_method", "capture_method": "automatic",
               "latest_charge": "ch_3", "metadata": {"order_id": id}}),
    );
    assert_eq!(stripe.post(&failed, SHOP_A).await.0, 200);
    let order = stripe.order_when(&id, |o| ledger(o).len() == 4).await;
    assert_eq!(
        ledger(&order)[3],
        ("stripe:pi_3:failed:ch_3".into(), "failed".into(), 100)
    );
    assert_eq!(order["captured"], 3000, "nothing forged, nothing of B's");
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.consumed_commands().await < consumed + 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.consumed_commands().await,
        consumed + 2,
        "B's command and the failed attempt; nothing of the refused notifications"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_secret_the_endpoint_does_not_exist() {
    let app = crate::common::spawn_app().await;
    let body = event("evt_1", "customer.created", json!({})).to_string();
    let signed = sign(
        body.as_bytes(),
        &SecretString::from(SHOP_A),
        chrono::Utc::now().timestamp(),
    );
    let response = app
        .client
        .post(app.url("/v1/providers/stripe/webhook"))
        .header("Stripe-Signature", signed)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    app.stop().await;
}
