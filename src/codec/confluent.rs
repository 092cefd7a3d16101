//! Confluent wire format: `00`, the schema id (u32 big-endian), the Avro datum, with schemas
//! kept in a Confluent-compatible registry under the subject `<topic>-value`.
//!
//! schema_registry_converter registers and caches; it decodes with the writer's schema only
//! (its issue 69), so decoding resolves the writer's schema against ours here.

use std::sync::Arc;

use apache_avro::types::Value;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

use super::DecodeError;
use super::schemas::SchemaVersion;

pub(super) const MAGIC: u8 = 0;
const HEADER_LEN: usize = 5;

#[derive(Clone)]
pub struct Registry {
    encoder: Arc<AvroEncoder>,
    decoder: Arc<AvroDecoder>,
}

impl Registry {
    pub fn new(url: &str) -> Self {
        Self {
            encoder: Arc::new(AvroEncoder::new(SrSettings::new(url.to_owned()))),
            decoder: Arc::new(AvroDecoder::new(SrSettings::new(url.to_owned()))),
        }
    }

    /// Registers `schema` under `<topic>-value` (once per process) and frames the value. The
    /// error says whether trying again may help (the registry did not answer).
    pub(super) async fn encode(
        &self,
        topic: &str,
        schema: &SchemaVersion,
        value: Value,
    ) -> Result<Vec<u8>, (String, bool)> {
        let supplied = SuppliedSchema::new(
            Some(schema.full_name.clone()),
            SchemaType::Avro,
            schema.text.to_owned(),
        );
        let strategy =
            SubjectNameStrategy::TopicNameStrategyWithSchema(topic.to_owned(), false, supplied);
        self.encoder
            .encode_value(value, &strategy)
            .await
            .map_err(|e| (format!("schema registry: {e}"), e.retriable))
    }

    /// Reads a framed record into `reader`'s shape, whatever registered version wrote it.
    pub(super) async fn decode(
        &self,
        reader: &SchemaVersion,
        bytes: &[u8],
    ) -> Result<Value, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Corrupt(format!(
                "{} bytes is shorter than the header",
                bytes.len()
            )));
        }
        let id = u32::from_be_bytes(bytes[1..HEADER_LEN].try_into().expect("4 bytes"));
        let writer = self
            .decoder
            .get_schema(id)
            .await
            .map_err(|e| classify(id, e))?;
        super::single_object::reader_for(&writer.parsed, reader)
            .map_err(DecodeError::Corrupt)?
            .read(&bytes[HEADER_LEN..])
    }
}

/// An id the registry does not know is bad input; a registry that does not answer is not.
fn classify(id: u32, error: SRCError) -> DecodeError {
    if error.retriable {
        DecodeError::RegistryUnavailable(error.to_string())
    } else {
        DecodeError::UnknownSchemaId(id, error.to_string())
    }
}
