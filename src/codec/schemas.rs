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
        include_str!("../../schemas/order_command.v1.avsc"),
    ),
    (
        Subject::Command,
        2,
        include_str!("../../schemas/order_command.v2.avsc"),
    ),
    (
        Subject::Event,
        1,
        include_str!("../../schemas/order_event.v1.avsc"),
    ),
    (
        Subject::Event,
        2,
        include_str!("../../schemas/order_event.v2.avsc"),
    ),
    (
        Subject::Snapshot,
        1,
        include_str!("../../schemas/order_snapshot.v1.avsc"),
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
    /// CRC-64-AVRO (Rabin) fingerprint of the canonical form, little-endian as on the wire.
    pub fingerprint: u64,
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
        self.versions
            .iter()
            .find(|v| v.subject == subject && v.fingerprint == fingerprint)
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
                let fingerprint = fingerprint_of(&schema);
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
                }
            })
            .collect(),
    })
}

pub(super) fn fingerprint_of(schema: &Schema) -> u64 {
    let bytes = schema.fingerprint::<Rabin>().bytes;
    u64::from_le_bytes(bytes.try_into().expect("a Rabin fingerprint is 8 bytes"))
}
