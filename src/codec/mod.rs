//! Avro <-> domain, and the wire formats records travel in.
//!
//! Encoding uses the newest compiled-in schema; decoding finds the writer's schema by its
//! fingerprint and resolves it against our reader schema, so old and new records both read.

mod avro;
mod schemas;
mod single_object;

pub use schemas::{SchemaVersion, Subject};

use crate::domain::{Command, Event, Order};

/// Why bytes could not be turned into a record. `kind` goes into DLQ headers.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record value is empty")]
    Empty,
    #[error("unknown wire format: first bytes are {0:02x?}")]
    BadMagic(Vec<u8>),
    #[error("no known schema has fingerprint {0:016x}")]
    UnknownSchema(u64),
    #[error("avro body does not match its schema: {0}")]
    Corrupt(String),
    #[error("record does not map to the domain: {0}")]
    Shape(String),
}

impl DecodeError {
    /// Stable name of the error kind, used in DLQ headers and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::BadMagic(_) => "bad_magic",
            DecodeError::UnknownSchema(_) => "unknown_schema",
            DecodeError::Corrupt(_) => "corrupt",
            DecodeError::Shape(_) => "shape",
        }
    }
}

/// Encoding failed: a bug (a domain value the schema cannot hold), never bad input.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {subject:?}: {message}")]
pub struct EncodeError {
    subject: Subject,
    message: String,
}

/// Turns domain commands and events into wire bytes and back.
#[derive(Clone)]
pub struct Codec {
    schemas: &'static schemas::Catalog,
}

impl Default for Codec {
    fn default() -> Self {
        Self::new()
    }
}

impl Codec {
    pub fn new() -> Self {
        Self {
            schemas: schemas::catalog(),
        }
    }

    pub fn encode_command(&self, command: &Command) -> Result<Vec<u8>, EncodeError> {
        self.encode(Subject::Command, avro::command_to_value(command))
    }

    pub fn decode_command(&self, bytes: &[u8]) -> Result<Command, DecodeError> {
        let value = single_object::decode(self.schemas, Subject::Command, bytes)?;
        avro::command_from_value(value).map_err(DecodeError::Shape)
    }

    pub fn encode_event(&self, event: &Event) -> Result<Vec<u8>, EncodeError> {
        self.encode(Subject::Event, avro::event_to_value(event))
    }

    pub fn decode_event(&self, bytes: &[u8]) -> Result<Event, DecodeError> {
        let value = single_object::decode(self.schemas, Subject::Event, bytes)?;
        avro::event_from_value(value).map_err(DecodeError::Shape)
    }

    /// The Order snapshot published on `orders.state`.
    pub fn encode_snapshot(&self, order: &Order) -> Result<Vec<u8>, EncodeError> {
        self.encode(Subject::Snapshot, avro::order_to_value(order))
    }

    pub fn decode_snapshot(&self, bytes: &[u8]) -> Result<Order, DecodeError> {
        let value = single_object::decode(self.schemas, Subject::Snapshot, bytes)?;
        avro::order_from_value(value).map_err(DecodeError::Shape)
    }

    fn encode(
        &self,
        subject: Subject,
        value: Result<apache_avro::types::Value, String>,
    ) -> Result<Vec<u8>, EncodeError> {
        value
            .and_then(|value| single_object::encode(self.schemas.latest(subject), value))
            .map_err(|message| EncodeError { subject, message })
    }
}

#[cfg(test)]
mod tests;
