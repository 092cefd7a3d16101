//! Traces exported over OTLP: `orderflow ingress` and `orderflow processor`, two processes
//! with `--otlp-endpoint`, send their spans to a receiver in this test (the collector's
//! OTLP/HTTP trace service: protobuf `ExportTraceServiceRequest`s POSTed to `/v1/traces`,
//! decoded with the OpenTelemetry project's own message types). One POST makes one trace,
//! from the caller's span to the published event, across both processes and Kafka.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

use common::{TestEnv, eventually, order_body, sigterm};

const WAIT: Duration = Duration::from_secs(30);

/// The caller's trace: its trace id and the span the request was made from.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Every span exported to it, in arrival order.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Span>>>);

impl Receiver {
    async fn start(&self) -> String {
        let spans = self.0.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
                let mut spans = spans.lock().unwrap();
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        spans.extend(scope.spans);
                    }
                }
                // An empty ExportTraceServiceResponse: full success.
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap().clone()
    }
}

/// Not an error (unset or ok).
fn ok(span: &Span) -> bool {
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    span.status
        .as_ref()
        .is_none_or(|s| s.code != StatusCode::Error as i32)
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The one span named `name` in `spans` (panics if there is not exactly one).
fn one<'a>(spans: &'a [&'a Span], name: &str) -> &'a Span {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "one {name:?} span, found {}: {:?}",
        found.len(),
        names(spans)
    );
    found[0]
}

fn names(spans: &[&Span]) -> Vec<String> {
    spans.iter().map(|s| s.name.clone()).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            Value::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn one_post_is_one_trace_from_the_request_to_the_published_event() {
    let env = TestEnv::new(1).await;
    let receiver = Receiver::default();
    let collector = receiver.start().await;
    let otlp = ["--otlp-endpoint", collector.as_str()];
    let (ingress, url) = env
        .spawn_ingress(&[&["--auth", "none"][..], &otlp].concat())
        .await;
    let processor = env.spawn_processor(&otlp);

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{url}/v1/orders"))
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: serde_json::Value = response.json().await.unwrap();
    let status_url = format!("{url}{}", accepted["status_url"].as_str().unwrap());
    eventually("the order applied", WAIT, || async {
        let status: serde_json::Value = client
            .get(format!("{status_url}?wait=2s"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (status["status"] == "applied").then_some(())
    })
    .await;
    let events = common::consume(&env.topic("orders.events"), 1, WAIT).await;
    let event_parent = events[0]
        .header("traceparent")
        .expect("the event carries its trace")
        .to_owned();
    let commands = common::consume(&env.topic("orders.commands"), 1, WAIT).await;
    let command_parent = commands[0]
        .header("traceparent")
        .expect("the command carries its trace")
        .to_owned();

    // A graceful stop exports what is still buffered.
    for mut child in [ingress, processor] {
        sigterm(&child);
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("orderflow stops on SIGTERM")
            .unwrap();
    }
    let all = receiver.spans();
    let traced: Vec<&Span> = all.iter().filter(|s| hex(&s.trace_id) == TRACE).collect();

    // The chain, each span the child of the one before it.
    let request = one(&traced, "POST /v1/orders");
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN);
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(
        attribute(request, "http.response.status_code").as_deref(),
        Some("202")
    );
    let produce = one(&traced, "orders.commands publish");
    assert_eq!(produce.parent_span_id, request.span_id);
    assert_eq!(produce.kind, SpanKind::Producer as i32);
    assert_eq!(
        command_parent,
        format!("00-{TRACE}-{}-01", hex(&produce.span_id)),
        "the command names the span that produced it"
    );
    let process = one(&traced, "orders.commands process");
    assert_eq!(process.parent_span_id, produce.span_id);
    assert_eq!(process.kind, SpanKind::Consumer as i32);
    assert_eq!(
        attribute(process, "orderflow.command_id"),
        accepted["command_id"].as_str().map(str::to_owned)
    );
    assert_eq!(
        attribute(process, "orderflow.outcome").as_deref(),
        Some("applied")
    );
    let transaction = one(&traced, "orders transaction");
    assert_eq!(transaction.parent_span_id, process.span_id);
    assert!(transaction.start_time_unix_nano >= process.start_time_unix_nano);
    assert!(transaction.end_time_unix_nano <= process.end_time_unix_nano);
    let publish = one(&traced, "orders.events publish");
    assert_eq!(publish.parent_span_id, process.span_id);
    assert_eq!(
        event_parent,
        format!("00-{TRACE}-{}-01", hex(&publish.span_id)),
        "the event names the span that published it"
    );
    assert!(publish.end_time_unix_nano >= transaction.end_time_unix_nano);
    assert!(
        process.end_time_unix_nano >= publish.end_time_unix_nano,
        "the command's span ends once its events are published"
    );
    for span in [request, produce, process, transaction, publish] {
        assert!(
            ok(span),
            "{} ended as an error: {:?}",
            span.name,
            span.status
        );
    }

    // The command's span links to its batch's span, whose child is the PostgreSQL write.
    assert_eq!(process.links.len(), 1, "{:?}", process.links);
    let link = &process.links[0];
    let batch = all
        .iter()
        .find(|s| s.span_id == link.span_id)
        .expect("the linked batch span was exported");
    assert_eq!(batch.name, "orders.commands batch");
    assert_eq!(batch.trace_id, link.trace_id);
    assert_ne!(hex(&batch.trace_id), TRACE, "a batch is a trace of its own");
    let write = all
        .iter()
        .find(|s| s.name == "write_batch" && s.parent_span_id == batch.span_id)
        .expect("the batch's write was exported, as its child");
    assert_eq!(write.trace_id, batch.trace_id);
}
