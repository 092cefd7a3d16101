//! What operators see: 503 and readiness when the broker is down, trace context carried
//! into Kafka, metrics by matched route, JSON logs with the ids.

use super::*;

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
    // No span is recorded without an OTLP endpoint (tests/it/traces.rs has one): the
    // caller's context goes on as it came.
    assert_eq!(commands[0].header("traceparent"), Some(parent));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_requests_are_counted_by_matched_route_never_by_raw_path() {
    let env = TestEnv::new(1).await;
    let port = common::free_port();
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

/// Runs the orderflow binary with `args`; its standard output.
fn orderflow(args: &[String]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_and_topics_create_say_what_they_did() {
    let env = TestEnv::new(1).await;
    let args = env.args();
    // A database of its own, empty: every migration is applied, then none.
    let admin = sqlx::PgPool::connect("postgres://orderflow:orderflow@127.0.0.1:5432/orderflow")
        .await
        .unwrap();
    let fresh = format!("orderflow_test_migrate_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {fresh}")))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("postgres://orderflow:orderflow@127.0.0.1:5432/{fresh}");
    let migrate = vec!["migrate".to_owned(), "--database-url".to_owned(), url];
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    let first = orderflow(&migrate);
    assert_eq!(
        first.matches("migrate: applied 2026").count(),
        files,
        "{first}"
    );
    assert!(first.contains("fulfillments and returns"), "{first}");
    assert!(
        first.contains(&format!("{files} applied now, 0 applied before")),
        "{first}"
    );
    let again = orderflow(&migrate);
    assert!(
        again.contains(&format!("0 applied now, {files} applied before")),
        "{again}"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {fresh} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    // The environment's topics exist already; a new one is created.
    let mut topics = vec!["topics".to_owned(), "create".to_owned()];
    topics.extend(args[2..].iter().cloned());
    let existing = orderflow(&topics);
    assert_eq!(
        existing.matches("exists, left as it is").count(),
        4,
        "{existing}"
    );
    let dlq = topics.iter().position(|a| a == "--dlq-topic").unwrap() + 1;
    topics[dlq] = format!("{}.new", topics[dlq]);
    let created = orderflow(&topics);
    assert!(
        created.contains(&format!("topics: created {} (", topics[dlq])),
        "{created}"
    );
    let admin_client: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &env.kafka)
            .create()
            .unwrap();
    let _ = admin_client
        .delete_topics(&[&topics[dlq]], &rdkafka::admin::AdminOptions::new())
        .await;
}
