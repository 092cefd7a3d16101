//! Webhooks against the real services and a real HTTP receiver: endpoint management over
//! HTTP and the CLI, delivery (signatures, order, retries, the answers that disable or
//! throttle), and the fault test (flaky and dead endpoints, a SIGKILLed dispatcher).

mod api;
mod delivery;
mod faults;
mod receiver;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::{TestApp, TestEnv};

/// A sealing key for tests (32 bytes of 0x2a, base64).
pub(crate) const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// Dispatcher flags that make a test's retries take seconds rather than hours.
pub(crate) const FAST: [&str; 10] = [
    "--webhooks-secret-key",
    KEY,
    "--webhooks-allow-private",
    "--webhooks-retry-schedule",
    "0s,300ms,600ms,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
    "--webhooks-timeout",
    "1s",
    "--webhooks-poll-interval",
    "100ms",
    "--kafka-config=session.timeout.ms=6000",
];

/// Sends `method path` with a JSON body as the app's (unauthenticated: `default`) caller,
/// or with `key`.
pub(crate) async fn call(
    app: &TestApp,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Creates an endpoint over HTTP; returns (id, secret).
pub(crate) async fn create_endpoint(app: &TestApp, body: Value) -> (String, String) {
    let (status, created) = call(app, None, Method::POST, "/v1/webhooks", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// Creates an order and moves it through confirm, ship and deliver over HTTP: four events.
pub(crate) async fn order_with_four_events(app: &TestApp) -> String {
    let (status, accepted) = call(
        app,
        None,
        Method::POST,
        "/v1/orders",
        Some(crate::common::order_body()),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["order_id"].as_str().unwrap().to_owned();
    wait_applied(app, &accepted).await;
    for (path, body) in [
        ("confirm", None),
        (
            "ship",
            Some(serde_json::json!({"carrier": "DHL", "tracking_number": "T1"})),
        ),
        ("deliver", None),
    ] {
        let (status, accepted) = call(
            app,
            None,
            Method::POST,
            &format!("/v1/orders/{id}/{path}"),
            body,
        )
        .await;
        assert_eq!(status, 202, "{accepted}");
        wait_applied(app, &accepted).await;
    }
    id
}

async fn wait_applied(app: &TestApp, accepted: &Value) {
    let url = format!("{}?wait=20s", accepted["status_url"].as_str().unwrap());
    let (status, outcome) = call(app, None, Method::GET, &url, None).await;
    assert_eq!(status, 200);
    assert_eq!(outcome["status"], "applied", "{outcome}");
}

/// `orderflow all` with webhooks on and fast retries.
pub(crate) async fn app_with_webhooks(env: &TestEnv, extra: &[&str]) -> TestApp {
    let group = format!("{}-webhooks", env.group());
    let mut flags: Vec<&str> = FAST.to_vec();
    flags.extend(["--webhooks-group-id", &group]);
    flags.extend(extra);
    env.start(&flags).await
}

pub(crate) const WAIT: Duration = Duration::from_secs(30);
