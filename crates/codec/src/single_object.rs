//! Avro single-object encoding: `C3 01`, the schema's 8-byte Rabin fingerprint, the datum.
//! Registry-free: the fingerprint names one of the schemas compiled into the binary.

use std::collections::HashMap;
use std::sync::OnceLock;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;

use super::DecodeError;
use apache_avro::Schema;

use super::resolve::Resolver;
use super::schemas::{Catalog, SchemaVersion, Subject, catalog, fingerprint_of};

const MAGIC: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

/// Writers for the newest schema of each subject, and a reader for every (writer version →
/// newest version) pair; resolving a schema is costly, so it happens once per process.
struct Wire {
    writers: HashMap<u64, (Vec<u8>, GenericDatumWriter<'static>)>,
    readers: HashMap<u64, Reader<'static>>,
}

/// Reads data written with one schema in the shape of the newest: the datum is read with its
/// writer's schema, then resolved by name (see `resolve`) when the schemas differ.
pub struct Reader<'s> {
    datum: GenericDatumReader<'s>,
    resolution: Option<(Resolver<'s>, &'s Schema, &'s Schema)>,
}

impl Reader<'_> {
    /// Reads one datum that must take exactly `body` (see `read_exactly`), resolved.
    pub fn read(&self, body: &[u8]) -> Result<Value, DecodeError> {
        let value = read_exactly(&self.datum, body)?;
        match &self.resolution {
            None => Ok(value),
            Some((resolver, writer, reader)) => resolver
                .resolve(value, writer, reader)
                .map_err(DecodeError::Corrupt),
        }
    }
}

fn wire() -> &'static Wire {
    static WIRE: OnceLock<Wire> = OnceLock::new();
    WIRE.get_or_init(|| build(catalog()))
}

fn build(catalog: &'static Catalog) -> Wire {
    let mut writers = HashMap::new();
    let mut readers = HashMap::new();
    for subject in Subject::ALL {
        let latest = catalog.latest(subject);
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&latest.fingerprint.to_le_bytes());
        let writer = GenericDatumWriter::builder(&latest.schema)
            .build()
            .expect("compiled-in schema resolves");
        writers.insert(latest.fingerprint, (header, writer));
        for old in catalog.versions(subject) {
            for fingerprint in [old.fingerprint, old.legacy_fingerprint] {
                readers.insert(
                    fingerprint,
                    reader_for(&old.schema, latest).expect("compiled-in schemas resolve"),
                );
            }
        }
    }
    Wire { writers, readers }
}

/// Reads data written with `writer` in the shape of `latest`, resolving only when the
/// schemas differ. Not apache-avro's resolution: it puts a union value into the first reader
/// branch it fits, not the branch of the same name (an empty `ConfirmOrder` fits an
/// all-optional `UpdateOrder`); `resolve` matches by name.
pub fn reader_for<'s>(writer: &'s Schema, latest: &'s SchemaVersion) -> Result<Reader<'s>, String> {
    let datum = GenericDatumReader::builder(writer)
        .build()
        .map_err(|e| e.to_string())?;
    let resolution = if fingerprint_of(writer) == latest.legacy_fingerprint {
        None
    } else {
        Some((
            Resolver::new(writer, &latest.schema)?,
            writer,
            &latest.schema,
        ))
    };
    Ok(Reader { datum, resolution })
}

pub fn encode(schema: &SchemaVersion, value: Value) -> Result<Vec<u8>, String> {
    let (header, writer) = &wire().writers[&schema.fingerprint];
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(header);
    writer
        .write_value(&mut out, value)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Reads a record written with any known version of `subject`'s schema, resolved to the newest.
pub fn decode(catalog: &Catalog, subject: Subject, bytes: &[u8]) -> Result<Value, DecodeError> {
    if bytes.len() < HEADER_LEN || bytes[..2] != MAGIC {
        return Err(DecodeError::BadMagic(bytes[..bytes.len().min(4)].to_vec()));
    }
    let fingerprint = u64::from_le_bytes(bytes[2..HEADER_LEN].try_into().expect("8 bytes"));
    catalog
        .by_fingerprint(subject, fingerprint)
        .ok_or(DecodeError::UnknownSchema(fingerprint))?;
    wire().readers[&fingerprint].read(&bytes[HEADER_LEN..])
}

/// Reads one datum that must take exactly `body`: no byte left over, and none missing.
/// apache-avro reads an end of input where a union index or a length belongs as zero (a
/// record cut short by one byte decoded, its last optional field as null); reading through
/// `Exact` makes the end of input an error instead (of a kind apache-avro does not map to
/// null: it takes `UnexpectedEof` for an absent value).
pub fn read_exactly(reader: &GenericDatumReader<'_>, body: &[u8]) -> Result<Value, DecodeError> {
    let mut exact = Exact(body);
    let value = reader
        .read_value(&mut exact)
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    if !exact.0.is_empty() {
        return Err(DecodeError::Corrupt(format!(
            "{} trailing bytes",
            exact.0.len()
        )));
    }
    Ok(value)
}

/// A byte slice whose end is an error for any read that wants more.
struct Exact<'a>(&'a [u8]);

impl std::io::Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !buf.is_empty() && self.0.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the datum ends before its schema does",
            ));
        }
        self.0.read(buf)
    }
}
