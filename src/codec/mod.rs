//! Commands, events and snapshots to wire bytes and back: the Avro mapping and the
//! single-object encoding (crate `orderflow-codec`, no I/O), and here the Confluent format
//! with its schema registry client.
//!
//! Both wire formats are always decoded (told apart by their first byte); the one written is
//! chosen by configuration. Encoding uses the newest compiled-in schema; decoding resolves
//! the writer's schema against that newest reader schema, so every published version reads.

mod confluent;

use apache_avro::types::Value;
use orderflow_codec::{avro, schemas, single_object};

pub use confluent::Registry;
pub use orderflow_codec::DecodeError;
pub use orderflow_codec::schemas::{SchemaVersion, Subject, catalog};

use crate::domain::{Command, Event, Order};

/// Encoding failed: a registry that refused or did not answer, or a bug (a domain value the
/// schema cannot hold) — never bad input.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {subject:?}: {message}")]
pub struct EncodeError {
    subject: Subject,
    message: String,
    transient: bool,
}

impl EncodeError {
    /// Whether trying again may succeed: the registry did not answer (or answered 5xx). A
    /// registry that refused (4xx) or a value the schema cannot hold fails the same way
    /// every time.
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

/// The wire format new records are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WireFormat {
    /// Avro single-object encoding, registry-free (the local default).
    SingleObject,
    /// Confluent framing with a schema registry.
    Confluent,
}

/// Turns domain commands, events and snapshots into wire bytes and back.
#[derive(Clone)]
pub struct Codec {
    schemas: &'static schemas::Catalog,
    write: WireFormat,
    registry: Option<Registry>,
}

impl Codec {
    /// Writes single-object encoding; reads it, and the Confluent format if `registry` is given.
    pub fn new(write: WireFormat, registry: Option<Registry>) -> Result<Self, String> {
        if write == WireFormat::Confluent && registry.is_none() {
            return Err("--wire-format confluent needs --schema-registry-url".to_owned());
        }
        Ok(Self {
            schemas: schemas::catalog(),
            write,
            registry,
        })
    }

    /// Registry-free: writes and reads single-object encoding only.
    pub fn single_object() -> Self {
        Self::new(WireFormat::SingleObject, None).expect("needs no registry")
    }

    pub async fn encode_command(
        &self,
        topic: &str,
        command: &Command,
    ) -> Result<Vec<u8>, EncodeError> {
        self.encode(topic, Subject::Command, avro::command_to_value(command))
            .await
    }

    pub async fn decode_command(&self, bytes: &[u8]) -> Result<Command, DecodeError> {
        let value = self.decode_value(Subject::Command, bytes).await?;
        avro::command_from_value(value).map_err(DecodeError::Shape)
    }

    /// A command written as JSON in the shape `decode_json` prints — a dead letter an operator
    /// corrected, say. The error names the path of the first value that does not fit.
    pub fn command_from_json(&self, json: &serde_json::Value) -> Result<Command, String> {
        let value = avro::from_json(json, &self.schemas.latest(Subject::Command).schema)?;
        avro::command_from_value(value)
    }

    pub async fn encode_event(&self, topic: &str, event: &Event) -> Result<Vec<u8>, EncodeError> {
        self.encode(topic, Subject::Event, avro::event_to_value(event))
            .await
    }

    pub async fn decode_event(&self, bytes: &[u8]) -> Result<Event, DecodeError> {
        let value = self.decode_value(Subject::Event, bytes).await?;
        avro::event_from_value(value).map_err(DecodeError::Shape)
    }

    /// The Order snapshot published on `orders.state`.
    pub async fn encode_snapshot(
        &self,
        topic: &str,
        order: &Order,
    ) -> Result<Vec<u8>, EncodeError> {
        self.encode(topic, Subject::Snapshot, avro::order_to_value(order))
            .await
    }

    pub async fn decode_snapshot(&self, bytes: &[u8]) -> Result<Order, DecodeError> {
        let value = self.decode_value(Subject::Snapshot, bytes).await?;
        avro::order_from_value(value).map_err(DecodeError::Shape)
    }

    /// A record of `subject` in either wire format as JSON, for people to read.
    pub async fn decode_json(
        &self,
        subject: Subject,
        bytes: &[u8],
    ) -> Result<serde_json::Value, DecodeError> {
        let branches: &[&str] = match subject {
            Subject::Command => &avro::COMMAND_BRANCHES,
            Subject::Event => &avro::EVENT_BRANCHES,
            Subject::Snapshot => &[],
        };
        Ok(avro::to_json(
            self.decode_value(subject, bytes).await?,
            branches,
        ))
    }

    /// A record of `subject` in either wire format, as an Avro value shaped by our newest schema.
    pub async fn decode_value(&self, subject: Subject, bytes: &[u8]) -> Result<Value, DecodeError> {
        match bytes.first() {
            None => Err(DecodeError::Empty),
            Some(&confluent::MAGIC) => match &self.registry {
                Some(registry) => registry.decode(self.schemas.latest(subject), bytes).await,
                None => Err(DecodeError::NoRegistry),
            },
            Some(_) => single_object::decode(self.schemas, subject, bytes),
        }
    }

    async fn encode(
        &self,
        topic: &str,
        subject: Subject,
        value: Result<Value, String>,
    ) -> Result<Vec<u8>, EncodeError> {
        let schema = self.schemas.latest(subject);
        let encoded = match (value, self.write, &self.registry) {
            (Err(message), ..) => Err((message, false)),
            (Ok(value), WireFormat::Confluent, Some(registry)) => {
                registry.encode(topic, schema, value).await
            }
            (Ok(value), ..) => single_object::encode(schema, value).map_err(|m| (m, false)),
        };
        encoded.map_err(|(message, transient)| EncodeError {
            subject,
            message,
            transient,
        })
    }
}

#[cfg(test)]
mod tests;
