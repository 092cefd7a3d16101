//! orderflow's Avro codec, with no I/O: the mapping between the domain's types and Avro
//! values (`avro`), the compiled-in schemas and their fingerprints (`schemas`), and Avro
//! single-object encoding (`single_object`). The Confluent wire format, which needs a schema
//! registry, lives in the service.

pub mod avro;
pub mod resolve;
pub mod schemas;
pub mod single_object;

#[cfg(test)]
mod tests;

/// Why bytes could not be turned into a record. `kind` goes into DLQ headers.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record value is empty")]
    Empty,
    #[error("unknown wire format: first bytes are {0:02x?}")]
    BadMagic(Vec<u8>),
    #[error("no known schema has fingerprint {0:016x}")]
    UnknownSchema(u64),
    #[error("the schema registry has no schema {0}: {1}")]
    UnknownSchemaId(u32, String),
    #[error("record is in the Confluent wire format but no schema registry is configured")]
    NoRegistry,
    /// Transient: the record may be fine; retry rather than dead-letter it.
    #[error("the schema registry is unavailable: {0}")]
    RegistryUnavailable(String),
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
            DecodeError::UnknownSchema(_)
            | DecodeError::UnknownSchemaId(..)
            | DecodeError::NoRegistry => "unknown_schema",
            DecodeError::RegistryUnavailable(_) => "registry_unavailable",
            DecodeError::Corrupt(_) => "corrupt",
            DecodeError::Shape(_) => "shape",
        }
    }

    /// Whether decoding may succeed later: such records are retried, never dead-lettered.
    pub fn is_transient(&self) -> bool {
        matches!(self, DecodeError::RegistryUnavailable(_))
    }
}
