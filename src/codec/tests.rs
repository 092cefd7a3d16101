//! Codec tests that need no services: single-object round trips, decode failures, schema
//! evolution and compatibility. The registry format is tested in `tests/it/codec_registry.rs`.

use apache_avro::Schema;
use apache_avro::headers::{HeaderBuilder, RabinFingerprintHeader};
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;

use super::*;
use crate::domain::samples::{create_command, every_command, every_event, sample_input};
use crate::domain::{EventBody, OrderId};

fn codec() -> Codec {
    Codec::single_object()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn every_command_round_trips_in_single_object_encoding() {
    for mut command in every_command(OrderId::new_random()) {
        command.expected_version = Some(3);
        command.issued_by = Some("key-1".into());
        let bytes = block_on(codec().encode_command("t", &command)).unwrap();
        assert_eq!(&bytes[..2], &[0xC3, 0x01]);
        assert_eq!(
            block_on(codec().decode_command(&bytes)).unwrap(),
            command,
            "{}",
            command.body.kind()
        );
    }
}

#[test]
fn every_command_reads_back_from_the_json_it_is_printed_as() {
    for mut command in every_command(OrderId::new_random()) {
        command.expected_version = Some(3);
        command.issued_by = Some("key-1".into());
        let bytes = block_on(codec().encode_command("t", &command)).unwrap();
        let json = block_on(codec().decode_json(Subject::Command, &bytes)).unwrap();
        let read = codec().command_from_json(&json);
        assert_eq!(read.as_ref(), Ok(&command), "{json}");
    }
}

#[test]
fn json_that_does_not_fit_the_schema_is_refused_with_its_path() {
    let command = create_command(sample_input());
    let bytes = block_on(codec().encode_command("t", &command)).unwrap();
    let json = block_on(codec().decode_json(Subject::Command, &bytes)).unwrap();
    let refused = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut json = json.clone();
        edit(&mut json);
        codec().command_from_json(&json).unwrap_err()
    };
    let error = refused(&|j| j["payload"]["CreateOrder"]["items"][0]["quantity"] = "two".into());
    assert!(
        error.starts_with("payload.CreateOrder.items[0].quantity: expected an integer"),
        "{error}"
    );
    let error = refused(&|j| j["order_id"] = "not-a-uuid".into());
    assert!(error.starts_with("order_id: expected a UUID"), "{error}");
    let error = refused(&|j| j["payload"] = serde_json::json!({"ShipEverything": {}}));
    assert!(
        error.contains("with a branch of CreateOrder, UpdateOrder"),
        "{error}"
    );
    let error = refused(&|j| j["colour"] = "red".into());
    assert!(error.starts_with("colour: "), "{error}");
    let error = refused(&|j| {
        j.as_object_mut().unwrap().remove("command_id");
    });
    assert_eq!(error, "command_id: missing");
    // Optional fields may be left out.
    let mut sparse = json.clone();
    sparse.as_object_mut().unwrap().remove("issued_by");
    assert_eq!(codec().command_from_json(&sparse).unwrap().issued_by, None);
}

#[test]
fn every_event_round_trips_in_single_object_encoding() {
    let events = every_event();
    let kinds: Vec<_> = events.iter().map(|e| e.body.kind()).collect();
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let mut all = avro::EVENT_BRANCHES.to_vec();
    all.sort_unstable();
    assert_eq!(sorted, all, "the fixture covers every event kind");
    for event in events {
        let bytes = block_on(codec().encode_event("t", &event)).unwrap();
        assert_eq!(
            block_on(codec().decode_event(&bytes)).unwrap(),
            event,
            "{}",
            event.body.kind()
        );
    }
}

#[test]
fn snapshots_round_trip_including_shipping_and_status() {
    for event in every_event() {
        if let EventBody::OrderCreated(order) = event.body {
            let mut order = *order;
            order.status = crate::domain::OrderStatus::Shipped;
            order.shipping = Some(crate::domain::ShippingInfo {
                carrier: "DHL".into(),
                tracking_number: "T-1".into(),
            });
            // (Shipped by hand: the domain gives it the one fulfillment ShipOrder would.)
            order.derive().unwrap();
            assert_eq!(order.shipments.fulfillments.len(), 1);
            let bytes = block_on(codec().encode_snapshot("t", &order)).unwrap();
            assert_eq!(block_on(codec().decode_snapshot(&bytes)).unwrap(), order);
        }
    }
}

#[test]
fn undecodable_bytes_are_classified() {
    let good = block_on(codec().encode_command("t", &create_command(sample_input()))).unwrap();
    let kind = |bytes: &[u8]| block_on(codec().decode_command(bytes)).unwrap_err().kind();
    assert_eq!(kind(b""), "empty");
    assert_eq!(kind(b"{\"json\": true}"), "bad_magic");
    assert_eq!(
        kind(&[0xC3, 0x01, 0, 0]),
        "bad_magic",
        "too short for a header"
    );
    let mut unknown = good.clone();
    unknown[2] ^= 0xFF;
    assert_eq!(kind(&unknown), "unknown_schema");
    assert_eq!(kind(&good[..good.len() / 2]), "corrupt", "truncated");
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"junk");
    assert_eq!(kind(&trailing), "corrupt");
    assert_eq!(
        kind(&[0, 0, 0, 0, 1, 2]),
        "unknown_schema",
        "confluent framing without a registry"
    );
    // An event is not a command, even though both are valid orderflow records.
    let event = block_on(codec().encode_event("t", &every_event()[0])).unwrap();
    assert_eq!(kind(&event), "unknown_schema");
}

#[test]
fn confluent_writes_need_a_registry_url() {
    let error = Codec::new(WireFormat::Confluent, None).err().unwrap();
    assert!(error.contains("--schema-registry-url"), "{error}");
    let parse = |s| <WireFormat as clap::ValueEnum>::from_str(s, false);
    assert_eq!(parse("confluent"), Ok(WireFormat::Confluent));
    assert!(parse("avro").is_err());
}

fn version(subject: Subject, n: u32) -> &'static SchemaVersion {
    catalog()
        .versions(subject)
        .find(|v| v.version == n)
        .unwrap()
}

/// A record as orderflow wrote it before the spec fingerprint (apache-avro's header).
fn single_object(schema: &Schema, value: apache_avro::types::Value) -> Vec<u8> {
    let mut bytes = RabinFingerprintHeader::from_schema(schema).build_header();
    bytes.extend(
        GenericDatumWriter::builder(schema)
            .build()
            .unwrap()
            .write_value_to_vec(value)
            .unwrap(),
    );
    bytes
}

#[test]
fn v2_reads_a_v1_command_without_the_new_optional_field() {
    let (v1, v2) = (version(Subject::Command, 1), version(Subject::Command, 2));
    let command = create_command(sample_input());
    let v2_bytes = block_on(codec().encode_command("t", &command)).unwrap();
    // Re-shape the record as v1 code would have written it, and write it with v1's header.
    let as_v1 = GenericDatumReader::builder(&v2.schema)
        .reader_schema(&v1.schema)
        .build()
        .unwrap()
        .read_value(&mut &v2_bytes[10..])
        .unwrap();
    let v1_bytes = single_object(&v1.schema, as_v1);
    assert_ne!(v1_bytes[2..10], v2_bytes[2..10], "different fingerprints");
    let read = block_on(codec().decode_command(&v1_bytes)).unwrap();
    assert_eq!(read, command);
    assert_eq!(read.issued_by, None);
}

#[test]
fn v1_reads_a_v2_command_that_carries_the_new_optional_field() {
    let (v1, v2) = (version(Subject::Command, 1), version(Subject::Command, 2));
    let mut command = create_command(sample_input());
    command.issued_by = Some("upstream-erp".into());
    let v2_bytes = block_on(codec().encode_command("t", &command)).unwrap();
    let value = GenericDatumReader::builder(&v2.schema)
        .reader_schema(&v1.schema)
        .build()
        .unwrap()
        .read_value(&mut &v2_bytes[10..])
        .unwrap();
    let apache_avro::types::Value::Record(fields) = value else {
        panic!()
    };
    let names: Vec<_> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        !names.contains(&"issued_by"),
        "v1 does not know issued_by: {names:?}"
    );
    assert!(names.contains(&"payload"));
}

#[test]
fn a_v1_reader_maps_a_new_status_symbol_to_unknown() {
    let (v1, v2) = (version(Subject::Event, 1), version(Subject::Event, 2));
    let order = match &every_event()[0].body {
        EventBody::OrderCreated(order) => {
            let mut order = (**order).clone();
            order.status = crate::domain::OrderStatus::Deleted;
            order
        }
        _ => unreachable!(),
    };
    let event = Event {
        body: EventBody::OrderCreated(Box::new(order)),
        ..every_event()[0].clone()
    };
    let bytes = block_on(codec().encode_event("t", &event)).unwrap();
    let value = GenericDatumReader::builder(&v2.schema)
        .reader_schema(&v1.schema)
        .build()
        .unwrap()
        .read_value(&mut &bytes[10..])
        .unwrap();
    let json = serde_json::Value::try_from(value).unwrap();
    assert_eq!(json["payload"]["order"]["status"], "UNKNOWN", "{json}");
}

/// Samples of `subject` as the latest version writes them: every command and event kind, and
/// orders with adjustments, payments and shipping.
fn latest_records(subject: Subject) -> Vec<Vec<u8>> {
    let c = codec();
    match subject {
        Subject::Command => every_command(OrderId::new_random())
            .iter()
            .map(|command| block_on(c.encode_command("t", command)).unwrap())
            .collect(),
        Subject::Event => every_event()
            .iter()
            .map(|event| block_on(c.encode_event("t", event)).unwrap())
            .collect(),
        Subject::Snapshot => {
            use crate::domain::samples::{apply, order_in, payment};
            let mut orders: Vec<_> = crate::domain::OrderStatus::ALL.map(order_in).into();
            let paid = apply(
                Some(&orders[0]),
                crate::domain::CommandBody::RecordPayment(payment(
                    "s",
                    "sale",
                    7,
                    "succeeded",
                    None,
                )),
            )
            .unwrap()
            .order;
            orders.push(paid);
            orders
                .iter()
                .map(|order| block_on(c.encode_snapshot("t", order)).unwrap())
                .collect()
        }
    }
}

/// Decodes a record of `subject` and writes it again with the latest version.
fn decode_and_rewrite(subject: Subject, bytes: &[u8]) -> Vec<u8> {
    let c = codec();
    block_on(async {
        match subject {
            Subject::Command => {
                let command = c.decode_command(bytes).await.unwrap();
                c.encode_command("t", &command).await.unwrap()
            }
            Subject::Event => {
                let event = c.decode_event(bytes).await.unwrap();
                c.encode_event("t", &event).await.unwrap()
            }
            Subject::Snapshot => {
                let order = c.decode_snapshot(bytes).await.unwrap();
                c.encode_snapshot("t", &order).await.unwrap()
            }
        }
    })
}

/// A datum written with `writer`, read as `reader` sees it (schema resolution, by name).
fn resolve(datum: &[u8], writer: &Schema, reader: &Schema) -> Option<apache_avro::types::Value> {
    let value = GenericDatumReader::builder(writer)
        .build()
        .unwrap()
        .read_value(&mut &datum[..])
        .unwrap();
    orderflow_codec::resolve::Resolver::new(writer, reader)
        .unwrap()
        .resolve(value, writer, reader)
        .ok()
}

#[test]
fn records_written_with_every_earlier_version_still_decode_and_keep_what_they_said() {
    for subject in Subject::ALL {
        let latest = catalog().latest(subject);
        for old in catalog()
            .versions(subject)
            .filter(|v| v.version < latest.version)
        {
            let mut read = 0;
            for bytes in latest_records(subject) {
                // The record as a writer of `old` could have written it (a payment command
                // could not be written with v2: skipped).
                let Some(as_old) = resolve(&bytes[10..], &latest.schema, &old.schema) else {
                    continue;
                };
                let old_bytes = single_object(&old.schema, as_old.clone());
                // Read with today's code and written again: what `old` carried is unchanged.
                let rewritten = decode_and_rewrite(subject, &old_bytes);
                let again = resolve(&rewritten[10..], &latest.schema, &old.schema).unwrap();
                assert_eq!(again, as_old, "{subject:?} v{}", old.version);
                read += 1;
            }
            // v1 has CreateOrder and OrderCreated alone; v2 every kind but the payment ones,
            // v3 every kind but the fulfillment and return ones.
            let at_least = match (subject, old.version) {
                (Subject::Command | Subject::Event, 1) => 1,
                (Subject::Command, 2) => 8,
                (Subject::Event, 2) => 9,
                (Subject::Command, 3) => 10,
                (Subject::Event, 3) => 11,
                _ => 7,
            };
            assert!(
                read >= at_least,
                "{subject:?} v{}: only {read} records",
                old.version
            );
        }
    }
}

#[test]
fn a_v2_command_of_every_kind_keeps_its_kind() {
    // apache-avro's own resolution reads an empty v2 ConfirmOrder as the first v3 branch it
    // fits: UpdateOrder, whose fields are all optional.
    let (v2, v3) = (version(Subject::Command, 2), version(Subject::Command, 3));
    for command in every_command(OrderId::new_random()).into_iter().take(8 + 2) {
        let bytes = block_on(codec().encode_command("t", &command)).unwrap();
        let Some(as_v2) = resolve(&bytes[10..], &v3.schema, &v2.schema) else {
            continue; // a payment command: v2 cannot carry it
        };
        let read = block_on(codec().decode_command(&single_object(&v2.schema, as_v2))).unwrap();
        assert_eq!(read.body.kind(), command.body.kind());
    }
}

#[test]
fn a_v2_event_reads_with_no_adjustments_and_nothing_paid() {
    let (v2, v3) = (version(Subject::Event, 2), version(Subject::Event, 3));
    let event = every_event().remove(0);
    let bytes = block_on(codec().encode_event("t", &event)).unwrap();
    let as_v2 = resolve(&bytes[10..], &v3.schema, &v2.schema).unwrap();
    let read = block_on(codec().decode_event(&single_object(&v2.schema, as_v2))).unwrap();
    let (EventBody::OrderCreated(before), EventBody::OrderCreated(after)) = (event.body, read.body)
    else {
        panic!()
    };
    assert!(!before.adjustments.is_empty());
    assert!(after.adjustments.is_empty(), "v2 has no adjustments");
    assert_eq!(after.total, before.total, "the total as written");
    assert_eq!(after.payment.balance_due, after.total, "nothing captured");
    assert_eq!(
        after.payment.payment_status,
        crate::domain::PaymentStatus::Unpaid
    );
}

#[test]
fn a_datum_cut_short_or_running_on_never_decodes() {
    for command in crate::domain::samples::every_command(OrderId::new_random()) {
        let bytes = block_on(codec().encode_command("t", &command)).unwrap();
        for cut in 1..=bytes.len() - 10 {
            let short = &bytes[..bytes.len() - cut];
            let decoded = block_on(codec().decode_command(short));
            assert!(
                matches!(
                    decoded,
                    Err(DecodeError::Corrupt(_) | DecodeError::BadMagic(_))
                ),
                "{} cut by {cut} byte(s) decoded as {decoded:?}",
                command.body.kind()
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            block_on(codec().decode_command(&long)),
            Err(DecodeError::Corrupt(_))
        ));
    }
}

/// Vectors from fastavro (tests/fixtures/avro/generate.py): an implementation we do not use.
fn fastavro_vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../../tests/fixtures/avro/vectors.json")).unwrap()
}

#[test]
fn records_carry_the_spec_fingerprint_and_the_old_one_still_reads() {
    let command = create_command(sample_input());
    let bytes = block_on(codec().encode_command("t", &command)).unwrap();
    let latest = catalog().latest(Subject::Command);
    assert_eq!(bytes[2..10], latest.fingerprint.to_le_bytes());
    assert_ne!(latest.fingerprint, latest.legacy_fingerprint);

    let mut legacy = bytes.clone();
    legacy[2..10].copy_from_slice(&latest.legacy_fingerprint.to_le_bytes());
    assert_eq!(block_on(codec().decode_command(&legacy)).unwrap(), command);
}

#[test]
fn a_command_written_by_fastavro_decodes() {
    let vectors = fastavro_vectors();
    let record = &vectors["single_object_create_order"];
    let bytes = hex::decode(record["hex"].as_str().unwrap()).unwrap();
    let command = block_on(codec().decode_command(&bytes)).expect("a spec-conformant record");
    assert_eq!(
        command.order_id.to_string(),
        record["order_id"].as_str().unwrap()
    );
    assert_eq!(command.issued_by.as_deref(), Some("fastavro"));
    let crate::domain::CommandBody::CreateOrder(input) = command.body else {
        panic!("{:?}", command.body)
    };
    assert_eq!(input.customer_id, "c-fastavro");
    assert_eq!(input.items[0].sku, "SKU-PY");
    assert_eq!(input.metadata["writer"], "fastavro");
}
