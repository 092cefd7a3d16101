//! Bad requests get specific problem+json answers with field paths, even the framework's.

use super::*;

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
