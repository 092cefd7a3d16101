//! The Confluent wire format against a fake schema registry: the two routes orderflow uses,
//! `POST /subjects/{subject}/versions` and `GET /schemas/ids/{id}`, served from memory.

use crate::common;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use orderflow::codec::{Codec, Registry, Subject, WireFormat, catalog};
use orderflow::domain::{
    AddressInput, Command, CommandBody, CommandId, LineItemInput, NewOrderInput, OrderId,
    ShippingInput, StorefrontId,
};
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    /// (subject, schema text); the id is the index + 1.
    schemas: Vec<(String, String)>,
    /// Subjects whose registrations are refused with a 422 (as an incompatible schema is).
    refused: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

async fn register(
    State(fake): State<Shared>,
    Path(subject): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let schema = body["schema"].as_str().expect("a schema").to_owned();
    let mut fake = fake.lock().unwrap();
    if fake.refused.contains(&subject) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error_code": 42201, "message": "Invalid schema" })),
        );
    }
    let id = match fake
        .schemas
        .iter()
        .position(|(s, text)| *s == subject && *text == schema)
    {
        Some(index) => index + 1,
        None => {
            fake.schemas.push((subject, schema));
            fake.schemas.len()
        }
    };
    (StatusCode::OK, Json(json!({ "id": id })))
}

async fn by_id(State(fake): State<Shared>, Path(id): Path<usize>) -> (StatusCode, Json<Value>) {
    let fake = fake.lock().unwrap();
    match fake.schemas.get(id.wrapping_sub(1)) {
        Some((_, schema)) => (StatusCode::OK, Json(json!({ "schema": schema }))),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error_code": 40403, "message": "Schema not found" })),
        ),
    }
}

async fn fake_registry() -> (String, Shared) {
    let fake = Shared::default();
    let app = Router::new()
        .route("/subjects/{subject}/versions", post(register))
        .route("/schemas/ids/{id}", get(by_id))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

fn command(body: CommandBody) -> Command {
    Command {
        command_id: CommandId::new_random(),
        order_id: OrderId::new_random(),
        storefront_id: StorefrontId::default_storefront(),
        expected_version: Some(1),
        issued_at: chrono::DateTime::from_timestamp_micros(1_764_061_200_123_456).unwrap(),
        issued_by: Some("key-7".into()),
        body,
    }
}

fn every_body() -> Vec<CommandBody> {
    let create = NewOrderInput {
        customer_id: "c-1".into(),
        currency: "EUR".into(),
        items: vec![LineItemInput {
            sku: "S".into(),
            quantity: 1,
            unit_price: 5,
        }],
        shipping_address: AddressInput {
            name: "N".into(),
            line1: "L".into(),
            line2: Some("2nd floor".into()),
            city: "C".into(),
            postal_code: "P".into(),
            country: "DE".into(),
        },
        metadata: Default::default(),
        adjustments: vec![orderflow::domain::samples::adjustment("tax", 1)],
    };
    let shipping = ShippingInput {
        carrier: "DHL".into(),
        tracking_number: "T".into(),
    };
    vec![
        CommandBody::CreateOrder(create.clone()),
        CommandBody::UpdateOrder(orderflow::domain::OrderUpdateInput {
            items: None,
            shipping_address: Some(create.shipping_address),
            adjustments: Some(Vec::new()),
        }),
        CommandBody::ConfirmOrder,
        CommandBody::ShipOrder(shipping.clone()),
        CommandBody::UpdateShipping(shipping),
        CommandBody::DeliverOrder,
        CommandBody::CancelOrder { reason: "r".into() },
        CommandBody::DeleteOrder,
        CommandBody::RecordPayment(orderflow::domain::samples::payment(
            "t-1",
            "capture",
            5,
            "pending",
            Some("a-1"),
        )),
        CommandBody::SettlePayment(orderflow::domain::samples::settlement("t-1", "failed")),
        CommandBody::CreateFulfillment(orderflow::domain::samples::fulfillment("f-1", 1)),
        CommandBody::CancelFulfillment {
            fulfillment_id: "f-1".into(),
        },
        CommandBody::RequestReturn(orderflow::domain::samples::return_of("r-1", 1)),
    ]
}

#[tokio::test]
async fn every_command_round_trips_through_the_registry_under_the_topic_value_subject() {
    let (url, fake) = fake_registry().await;
    let codec = Codec::new(WireFormat::Confluent, Some(Registry::new(&url))).unwrap();
    for body in every_body() {
        let command = command(body);
        let bytes = codec
            .encode_command("orders.commands", &command)
            .await
            .unwrap();
        assert_eq!(bytes[0], 0, "magic byte");
        assert_eq!(
            u32::from_be_bytes(bytes[1..5].try_into().unwrap()),
            1,
            "schema id"
        );
        assert_eq!(codec.decode_command(&bytes).await.unwrap(), command);
    }
    let fake = fake.lock().unwrap();
    assert_eq!(fake.schemas.len(), 1, "registered once");
    assert_eq!(fake.schemas[0].0, "orders.commands-value");
    let registered = apache_avro::Schema::parse_str(&fake.schemas[0].1).unwrap();
    assert_eq!(
        registered.canonical_form(),
        catalog().latest(Subject::Command).schema.canonical_form()
    );
}

#[tokio::test]
async fn events_and_snapshots_use_their_own_subjects() {
    let (url, fake) = fake_registry().await;
    let codec = Codec::new(WireFormat::Confluent, Some(Registry::new(&url))).unwrap();
    let single = Codec::single_object();
    let mut created = command(every_body().remove(0));
    created.expected_version = None;
    let applied = orderflow::domain::decide(None, &created).unwrap().unwrap();

    let event = codec
        .encode_event("orders.events", &applied.event)
        .await
        .unwrap();
    assert_eq!(codec.decode_event(&event).await.unwrap(), applied.event);
    let snapshot = codec
        .encode_snapshot("orders.state", &applied.order)
        .await
        .unwrap();
    assert_eq!(
        codec.decode_snapshot(&snapshot).await.unwrap(),
        applied.order
    );

    // Both formats are always decodable by a codec that knows the registry.
    let plain = single
        .encode_event("orders.events", &applied.event)
        .await
        .unwrap();
    assert_eq!(codec.decode_event(&plain).await.unwrap(), applied.event);
    // A registry-free codec refuses Confluent records with a clear kind.
    assert_eq!(
        single.decode_event(&event).await.unwrap_err().kind(),
        "unknown_schema"
    );

    let subjects: Vec<_> = fake
        .lock()
        .unwrap()
        .schemas
        .iter()
        .map(|(s, _)| s.clone())
        .collect();
    assert_eq!(subjects, ["orders.events-value", "orders.state-value"]);
}

#[tokio::test]
async fn an_unknown_schema_id_is_bad_input_not_a_transient_failure() {
    let (url, _fake) = fake_registry().await;
    let codec = Codec::new(WireFormat::Confluent, Some(Registry::new(&url))).unwrap();
    let error = codec
        .decode_command(&[0, 0, 0, 0, 42, 2, 4])
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "unknown_schema", "{error}");
    assert!(!error.is_transient());
    assert!(error.to_string().contains("42"), "{error}");
}

#[tokio::test]
async fn a_registry_that_does_not_answer_is_transient() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let codec = Codec::new(WireFormat::Confluent, Some(Registry::new(&url))).unwrap();
    let error = codec
        .decode_command(&[0, 0, 0, 0, 1, 2, 4])
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(error.kind(), "registry_unavailable");
}

#[tokio::test]
async fn a_record_written_with_an_older_registered_schema_is_resolved_to_ours() {
    let (url, fake) = fake_registry().await;
    let v2 = catalog()
        .versions(Subject::Command)
        .find(|v| v.version == 2)
        .unwrap();
    let codec = Codec::new(WireFormat::Confluent, Some(Registry::new(&url))).unwrap();
    // What an old producer wrote: v2 registered as id 1, each datum in v2's shape.
    fake.lock()
        .unwrap()
        .schemas
        .push(("orders.commands-value".into(), v2.text.to_owned()));
    let latest = catalog().latest(Subject::Command);
    let resolver = orderflow_codec::resolve::Resolver::new(&latest.schema, &v2.schema).unwrap();
    let mut read_back = 0;
    for body in every_body() {
        let original = command(body);
        let plain = Codec::single_object()
            .encode_command("t", &original)
            .await
            .unwrap();
        let value = apache_avro::reader::datum::GenericDatumReader::builder(&latest.schema)
            .build()
            .unwrap()
            .read_value(&mut &plain[10..])
            .unwrap();
        let Ok(as_v2) = resolver.resolve(value, &latest.schema, &v2.schema) else {
            continue; // a payment command: v2 cannot carry it
        };
        let mut framed = vec![0, 0, 0, 0, 1];
        framed.extend(
            apache_avro::writer::datum::GenericDatumWriter::builder(&v2.schema)
                .build()
                .unwrap()
                .write_value_to_vec(as_v2)
                .unwrap(),
        );
        let read = codec.decode_command(&framed).await.unwrap();
        // Every kind keeps its kind (apache-avro's own resolution reads an empty ConfirmOrder
        // as UpdateOrder); v2 had no adjustments.
        let mut expected = original.body.clone();
        match &mut expected {
            CommandBody::CreateOrder(input) => input.adjustments.clear(),
            CommandBody::UpdateOrder(input) => input.adjustments = None,
            _ => {}
        }
        assert_eq!(read.body, expected);
        assert_eq!(read.command_id, original.command_id);
        read_back += 1;
    }
    assert_eq!(read_back, 8, "every command kind v2 has");
}

#[tokio::test]
async fn every_event_round_trips_through_the_registry() {
    let (url, _fake) = fake_registry().await;
    let codec = Codec::new(WireFormat::Confluent, Some(Registry::new(&url))).unwrap();
    let events = orderflow::domain::samples::every_event();
    let mut kinds: Vec<_> = events.iter().map(|e| e.body.kind()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), 18, "every event kind: {kinds:?}");
    for event in events {
        let bytes = codec.encode_event("orders.events", &event).await.unwrap();
        assert_eq!(bytes[0], 0);
        assert_eq!(
            codec.decode_event(&bytes).await.unwrap(),
            event,
            "{}",
            event.body.kind()
        );
    }
}

/// A failure of a command's own making is never retried: here the registry refuses the
/// events' schema (a 4xx, not an outage), so no command's event can ever be written.
#[tokio::test(flavor = "multi_thread")]
async fn a_command_whose_event_the_registry_refuses_goes_to_the_dlq_and_processing_goes_on() {
    let (url, fake) = fake_registry().await;
    let env = common::TestEnv::new(1).await;
    fake.lock()
        .unwrap()
        .refused
        .push(format!("{}-value", env.topic("orders.events")));
    let app = env
        .start(&["--wire-format", "confluent", "--schema-registry-url", &url])
        .await;
    let topic = app.topic("orders.commands");
    let single_object = Codec::single_object();
    for _ in 0..3 {
        let command = common::create(OrderId::new_random());
        let payload = single_object
            .encode_command(&topic, &command)
            .await
            .unwrap();
        common::produce(&topic, &command.order_id.to_string(), Some(&payload), &[]).await;
    }
    let dead = app
        .consume("orders.commands.dlq", 3, std::time::Duration::from_secs(30))
        .await;
    assert_eq!(
        dead.len(),
        3,
        "each command dead-lettered, none retried forever"
    );
    for letter in &dead {
        assert_eq!(letter.header("orderflow.error.kind"), Some("unencodable"));
        assert!(
            letter
                .header("orderflow.error.message")
                .unwrap()
                .contains("422")
                || letter
                    .header("orderflow.error.message")
                    .unwrap()
                    .contains("Invalid schema")
        );
    }
    assert_eq!(app.consumed_commands().await, 3);
    let (orders, processed): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM processed_commands)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (orders, processed),
        (0, 0),
        "nothing applied without its event"
    );
    app.stop().await;
}
