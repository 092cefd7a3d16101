//! The HTTP API against the real services: every endpoint, its failures, tenancy,
//! idempotency, optimistic concurrency.

mod jwt;
mod lifecycle;
mod operations;
mod payments;
mod problems;
mod shipments;
mod tenancy;

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

    /// Writes, waits for the command's outcome, and then until a read shows it: the
    /// processor writes Redis just after its commit, so a read right after `applied` may
    /// still see the version before.
    async fn write(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, accepted) = self.send(method, path, body).await;
        assert_eq!(status, 202, "{accepted}");
        let outcome = self.outcome(&accepted).await;
        if let (Some("applied"), Some(version), Some(id)) = (
            outcome["status"].as_str(),
            outcome["version"].as_i64(),
            accepted["order_id"].as_str(),
        ) {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let (status, order) = self
                    .send(Method::GET, &format!("/v1/orders/{id}"), None)
                    .await;
                let seen = order["version"].as_i64().unwrap_or(0);
                if status == StatusCode::NOT_FOUND || seen >= version {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "v{version} never read back: {order}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        outcome
    }
}

/// The field paths of a problem's `errors`, in order.
fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

async fn app_with_keys() -> (TestEnv, TestApp, String, String) {
    let env = TestEnv::new(3).await;
    let app = env.start(&["--auth", "api-key"]).await;
    let (shop_a, shop_b) = (env.api_key("shop-a").await, env.api_key("shop-b").await);
    (env, app, shop_a, shop_b)
}
