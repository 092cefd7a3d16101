//! `orderflow tail` prints an orderflow topic's records as decoded JSON lines.

use crate::common;

use std::time::Duration;

use common::{order_body, order_id_of, spawn_app};
use orderflow::codec::Codec;
use orderflow::tail::{self, DecodeAs, TailOptions};
use serde_json::Value;

async fn tail_lines(app: &common::TestApp, base: &str, decode: DecodeAs) -> Vec<Value> {
    let options = TailOptions {
        topic: app.topic(base),
        decode,
        follow: false,
        from_end: false,
    };
    let mut out = Vec::new();
    let written = tokio::time::timeout(
        Duration::from_secs(30),
        tail::run(
            &common::kafka_settings(),
            &app.topics(),
            &Codec::single_object(),
            &options,
            &mut out,
        ),
    )
    .await
    .expect("tail stops at the end of the topic")
    .unwrap();
    let lines = common::json_lines(out);
    assert_eq!(lines.len() as u64, written);
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn tail_prints_commands_and_events_as_json_lines_and_stops_at_the_end() {
    let app = spawn_app().await;
    let accepted: Value = app
        .client
        .post(app.url("/v1/orders"))
        .json(&order_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order_id = order_id_of(&accepted).to_string();
    let published = app
        .consume("orders.events", 1, Duration::from_secs(30))
        .await;
    assert_eq!(published.len(), 1, "the order was processed");

    let commands = tail_lines(&app, "orders.commands", DecodeAs::Auto).await;
    assert_eq!(commands.len(), 1);
    let line = &commands[0];
    assert_eq!(line["key"], order_id);
    assert_eq!(line["offset"], 0);
    assert!(line["partition"].is_i64());
    assert_eq!(line["value"]["order_id"], order_id);
    assert_eq!(line["value"]["command_id"], accepted["command_id"]);
    let create = &line["value"]["payload"]["CreateOrder"];
    assert_eq!(create["items"][0]["sku"], "SKU-1");
    assert!(
        line["value"]["issued_at"].as_str().unwrap().ends_with('Z'),
        "RFC 3339: {line}"
    );

    let events = tail_lines(&app, "orders.events", DecodeAs::Auto).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["value"]["payload"]["OrderCreated"]["order"]["total"],
        4498
    );
    assert_eq!(
        events[0]["value"]["payload"]["OrderCreated"]["order"]["status"],
        "PENDING"
    );

    let raw = tail_lines(&app, "orders.commands", DecodeAs::Raw).await;
    assert!(
        raw[0]["value_hex"].as_str().unwrap().starts_with("c301"),
        "{}",
        raw[0]
    );

    let empty = tail_lines(&app, "orders.commands.dlq", DecodeAs::Auto).await;
    assert!(empty.is_empty(), "an empty topic prints nothing and stops");
    app.stop().await;
}
