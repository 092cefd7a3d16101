//! The Avro schemas compiled into the binary: every published version of every subject.

use std::sync::OnceLock;

use apache_avro::Schema;
use apache_avro::rabin::Rabin;

/// A family of schemas whose versions must stay compatible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// `orders.commands` values.
    Command,
    /// `orders.events` values.
    Event,
    /// `orders.state` values: the latest Order per key.
    Snapshot,
}

impl Subject {
    pub const ALL: [Subject; 3] = [Subject::Command, Subject::Event, Subject::Snapshot];

    /// File-name stem in `schemas/` (`<stem>.v<N>.avsc`).
    pub fn stem(&self) -> &'static str {
        match self {
            Subject::Command => "order_command",
            Subject::Event => "order_event",
            Subject::Snapshot => "order_snapshot",
        }
    }
}

/// Every published version, oldest first. Never edit a published file: add a new version.
const SOURCES: &[(Subject, u32, &str)] = &[
    (
        Subject::Command,
        1,
        include_str!("../../../schemas/order_command.v1.avsc"),
    ),
    (
        Subject::Command,
        2,
        include_str!("../../../schemas/order_command.v2.avsc"),
    ),
    (
        Subject::Command,
        3,
        include_str!("../../../schemas/order_command.v3.avsc"),
    ),
    (
        Subject::Command,
        4,
        include_str!("../../../schemas/order_command.v4.avsc"),
    ),
    (
        Subject::Event,
        1,
        include_str!("../../../schemas/order_event.v1.avsc"),
    ),
    (
        Subject::Event,
        2,
        include_str!("../../../schemas/order_event.v2.avsc"),
    ),
    (
        Subject::Event,
        3,
        include_str!("../../../schemas/order_event.v3.avsc"),
    ),
    (
        Subject::Event,
        4,
        include_str!("../../../schemas/order_event.v4.avsc"),
    ),
    (
        Subject::Snapshot,
        1,
        include_str!("../../../schemas/order_snapshot.v1.avsc"),
    ),
    (
        Subject::Snapshot,
        2,
        include_str!("../../../schemas/order_snapshot.v2.avsc"),
    ),
    (
        Subject::Snapshot,
        3,
        include_str!("../../../schemas/order_snapshot.v3.avsc"),
    ),
];

pub struct SchemaVersion {
    pub subject: Subject,
    pub version: u32,
    pub schema: Schema,
    /// The file as written (with docs, defaults and logical types): what a registry stores.
    pub text: &'static str,
    /// The top-level record's full name, e.g. `io.orderflow.commands.OrderCommand`.
    pub full_name: String,
    /// CRC-64-AVRO (Rabin) fingerprint of the specification's Parsing Canonical Form, as
    /// Java and fastavro compute it (little-endian as on the wire): what records are written
    /// with.
    pub fingerprint: u64,
    /// The fingerprint orderflow wrote before: apache-avro 0.22's canonical form keeps a
    /// logical-typed field as `{"type":"string"}` where the specification has `"string"`.
    /// Records in topics carry it, so it is still read.
    pub legacy_fingerprint: u64,
}

pub struct Catalog {
    versions: Vec<SchemaVersion>,
}

impl Catalog {
    /// The version new records are written with, and the one records are read into.
    pub fn latest(&self, subject: Subject) -> &SchemaVersion {
        self.versions
            .iter()
            .filter(|v| v.subject == subject)
            .max_by_key(|v| v.version)
            .expect("every subject has a compiled-in schema")
    }

    pub fn by_fingerprint(&self, subject: Subject, fingerprint: u64) -> Option<&SchemaVersion> {
        self.versions.iter().find(|v| {
            v.subject == subject
                && (v.fingerprint == fingerprint || v.legacy_fingerprint == fingerprint)
        })
    }

    pub fn versions(&self, subject: Subject) -> impl Iterator<Item = &SchemaVersion> {
        self.versions.iter().filter(move |v| v.subject == subject)
    }
}

/// Parses the compiled-in schemas once; a schema that does not parse is a build defect.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog {
        versions: SOURCES
            .iter()
            .map(|&(subject, version, text)| {
                let schema = Schema::parse_str(text).unwrap_or_else(|e| {
                    panic!("schema {subject:?} v{version} does not parse: {e}")
                });
                let legacy_fingerprint = fingerprint_of(&schema);
                let fingerprint = spec_fingerprint(text);
                let full_name = match &schema {
                    Schema::Record(record) => record.name.fullname(None),
                    _ => panic!("schema {subject:?} v{version} is not a record"),
                };
                SchemaVersion {
                    subject,
                    version,
                    schema,
                    text,
                    full_name,
                    fingerprint,
                    legacy_fingerprint,
                }
            })
            .collect(),
    })
}

/// The specification's fingerprint of a schema text: its Parsing Canonical Form keeps only
/// `type`, `name`, `fields`, `symbols`, `items`, `values` and `size`, so a logical type is
/// its underlying primitive. apache-avro's canonical form is right but for logical types:
/// strip them (and their attributes) and let it do the rest.
fn spec_fingerprint(text: &str) -> u64 {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for attribute in ["logicalType", "precision", "scale"] {
                    map.remove(attribute);
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut json: serde_json::Value =
        serde_json::from_str(text).expect("a compiled-in schema is JSON");
    strip(&mut json);
    let plain = Schema::parse(&json).expect("a schema without logical types parses");
    fingerprint_of(&plain)
}

/// apache-avro's fingerprint of a parsed schema: tells schemas apart, and is the legacy
/// wire fingerprint (see `SchemaVersion::legacy_fingerprint`).
pub fn fingerprint_of(schema: &Schema) -> u64 {
    let bytes = schema.fingerprint::<Rabin>().bytes;
    u64::from_le_bytes(bytes.try_into().expect("a Rabin fingerprint is 8 bytes"))
}
