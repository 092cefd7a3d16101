//! Endpoint management: over HTTP (validation with field paths, the address rules, tenancy,
//! the secret shown once and sealed at rest) and with `orderflow webhooks endpoints`.

use reqwest::Method;
use serde_json::json;

use super::{KEY, call};
use crate::common::TestEnv;

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_are_created_listed_changed_and_deleted_per_storefront() {
    let env = TestEnv::new(1).await;
    let app = env
        .start(&["--auth", "api-key", "--webhooks-secret-key", KEY])
        .await;
    let (a, b) = (env.api_key("shop-a").await, env.api_key("shop-b").await);

    let (status, created) = call(
        &app,
        Some(&a),
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "https://shop-a.example.com/hooks", "event_types": ["order.created", "order.cancelled"], "description": "mail"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(created["enabled"], true);
    assert_eq!(
        created["event_types"],
        json!(["order.created", "order.cancelled"])
    );

    // Shown once: no read shows it again.
    let (status, listed) = call(&app, Some(&a), Method::GET, "/v1/webhooks", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret[6..]), "{listed}");
    let (status, one) = call(
        &app,
        Some(&a),
        Method::GET,
        &format!("/v1/webhooks/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(one.get("secret").is_none(), "{one}");

    // Sealed at rest: the row holds no form of the secret.
    let row: Vec<u8> = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let raw = base64_decode(&secret[6..]);
    assert!(!row.windows(raw.len()).any(|w| w == raw.as_slice()));
    assert!(!String::from_utf8_lossy(&row).contains(&secret[6..]));

    // Another storefront sees none of it and changes nothing.
    let (status, theirs) = call(&app, Some(&b), Method::GET, "/v1/webhooks", None).await;
    assert_eq!(
        (status.as_u16(), theirs["items"].as_array().unwrap().len()),
        (200, 0)
    );
    for (method, path) in [
        (Method::GET, format!("/v1/webhooks/{id}")),
        (Method::PATCH, format!("/v1/webhooks/{id}")),
        (Method::DELETE, format!("/v1/webhooks/{id}")),
        (Method::POST, format!("/v1/webhooks/{id}/rotate-secret")),
        (Method::GET, format!("/v1/webhooks/{id}/deliveries")),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"enabled": false}));
        let (status, problem) = call(&app, Some(&b), method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {problem}");
    }

    let (status, changed) = call(
        &app,
        Some(&a),
        Method::PATCH,
        &format!("/v1/webhooks/{id}"),
        Some(json!({"enabled": false, "event_types": []})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["enabled"].clone(), changed["event_types"].clone()),
        (json!(false), json!([]))
    );
    assert_eq!(changed["url"], "https://shop-a.example.com/hooks");
    assert!(changed["disabled_at"].is_string(), "{changed}");

    let (status, rotated) = call(
        &app,
        Some(&a),
        Method::POST,
        &format!("/v1/webhooks/{id}/rotate-secret"),
        Some(json!({"overlap_seconds": 3600})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["secret"], secret);
    assert!(
        rotated["previous_secret_valid_until"].is_string(),
        "{rotated}"
    );

    let (status, _) = call(
        &app,
        Some(&a),
        Method::DELETE,
        &format!("/v1/webhooks/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &app,
        Some(&a),
        Method::GET,
        &format!("/v1/webhooks/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_endpoints_are_refused_with_field_paths_and_internal_addresses_need_the_flag() {
    let env = TestEnv::new(1).await;
    let app = env.start(&["--webhooks-secret-key", KEY]).await;
    for (body, field, says) in [
        (
            json!({"url": "http://127.0.0.1:9000/hook"}),
            "url",
            "--webhooks-allow-private",
        ),
        (
            json!({"url": "http://169.254.169.254/latest/meta-data"}),
            "url",
            "--webhooks-allow-private",
        ),
        (json!({"url": "http://[::1]/"}), "url", "private"),
        (
            json!({"url": "http://localhost:8080/"}),
            "url",
            "no public address",
        ),
        (json!({"url": "ftp://example.com/"}), "url", "http or https"),
        (
            json!({"url": "https://example.com/", "event_types": ["order.created", "order.exploded"]}),
            "event_types[1]",
            "not an event type",
        ),
        (
            json!({"url": "https://example.com/", "description": "x".repeat(501)}),
            "description",
            "500",
        ),
    ] {
        let (status, problem) =
            call(&app, None, Method::POST, "/v1/webhooks", Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        let reason = problem["errors"][0]["reason"].as_str().unwrap();
        assert!(reason.contains(says), "{body}: {reason}");
    }
    // Unknown fields and malformed JSON are 400s, as everywhere.
    let (status, _) = call(
        &app,
        None,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "https://example.com/", "secret": "mine"})),
    )
    .await;
    assert_eq!(status, 400);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "a refused endpoint was written");
    app.stop().await;

    // With the flag, a loopback endpoint is accepted (tests, local runs).
    let app = env
        .start(&["--webhooks-secret-key", KEY, "--webhooks-allow-private"])
        .await;
    let (status, created) = call(
        &app,
        None,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "http://127.0.0.1:9000/hook"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_sealing_key_webhooks_answer_404_and_say_why() {
    let env = TestEnv::new(1).await;
    let app = env.start(&[]).await;
    let (status, problem) = call(&app, None, Method::GET, "/v1/webhooks", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        problem["type"],
        "https://orderflow.dev/problems/webhooks-off"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("--webhooks-secret-key")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_manage_endpoints_with_the_cli() {
    let env = TestEnv::new(1).await;
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(["webhooks", "endpoints"])
            .args(args)
            .args(["--storefront", "shop-a", "--webhooks-secret-key", KEY])
            .args(["--database-url", &env.database_url])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let created: serde_json::Value = serde_json::from_str(&run(&[
        "create",
        "--url",
        "https://shop-a.example.com/hooks",
        "--event-type",
        "order.created",
    ]))
    .unwrap();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = created["id"].as_str().unwrap();
    let listed: serde_json::Value = serde_json::from_str(&run(&["list"])).unwrap();
    assert_eq!(listed[0]["id"], id);
    assert!(listed[0].get("secret").is_none());
    let updated: serde_json::Value =
        serde_json::from_str(&run(&["update", id, "--disable", "--all-event-types"])).unwrap();
    assert_eq!(
        (updated["enabled"].clone(), updated["event_types"].clone()),
        (json!(false), json!([]))
    );
    let rotated: serde_json::Value =
        serde_json::from_str(&run(&["rotate-secret", id, "--overlap", "1h"])).unwrap();
    assert_ne!(rotated["secret"], created["secret"]);
    assert!(run(&["delete", id]).contains("deleted"));
    let listed: serde_json::Value = serde_json::from_str(&run(&["list"])).unwrap();
    assert_eq!(listed, json!([]));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
