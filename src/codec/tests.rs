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
fn every_event_round_trips_in_single_object_encoding() {
    let events = every_event();
    let kinds: Vec<_> = events.iter().map(|e| e.body.kind()).collect();
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
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

#[test]
fn v2_reads_a_v1_event() {
    let (v1, v2) = (version(Subject::Event, 1), version(Subject::Event, 2));
    let event = every_event().remove(0);
    let v2_bytes = block_on(codec().encode_event("t", &event)).unwrap();
    let as_v1 = GenericDatumReader::builder(&v2.schema)
        .reader_schema(&v1.schema)
        .build()
        .unwrap()
        .read_value(&mut &v2_bytes[10..])
        .unwrap();
    let read = block_on(codec().decode_event(&single_object(&v1.schema, as_v1))).unwrap();
    assert_eq!(read, event);
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
