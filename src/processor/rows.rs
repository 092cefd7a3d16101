//! The rows a batch writes about each record: its dead letter, its processed-command row.

use super::Record;
use super::batch::Refused;
use crate::domain::{Command, Rejection, bounded_echo};
use crate::kafka::dlq_headers;
use crate::store::{DeadLetterRow, ProcessedRow};

/// Longest `orderflow.error.message` header of a dead letter, in characters.
pub(super) const DLQ_MESSAGE_LEN: usize = 1_000;
/// Longest payload a dead letter carries: a record near the broker's size limit would not fit
/// on the DLQ once headers are added. A longer one keeps this prefix, and its header
/// `orderflow.payload.truncated` gives the original length in bytes.
pub(super) const DLQ_PAYLOAD_MAX: usize = 512 * 1024;
/// Longest key a dead letter carries (`orderflow.key.truncated` as for the payload).
pub(super) const DLQ_KEY_MAX: usize = 1024;

/// The dead-letter row of a refused record from `topic`: bounded and storable whatever the
/// record held (see `DLQ_*`).
pub(super) fn dead_letter(topic: &str, record: &Record, error: &Refused) -> DeadLetterRow {
    let message = bounded_echo(&error.to_string(), DLQ_MESSAGE_LEN);
    tracing::warn!(partition = record.partition, offset = record.offset, kind = error.kind(), error = %message, "refused command goes to the dead-letter topic");
    let mut headers = vec![
        (dlq_headers::ERROR_KIND.to_owned(), error.kind().to_owned()),
        (dlq_headers::ERROR_MESSAGE.to_owned(), message),
        (dlq_headers::SOURCE_TOPIC.to_owned(), topic.to_owned()),
        (
            dlq_headers::SOURCE_PARTITION.to_owned(),
            record.partition.to_string(),
        ),
        (
            dlq_headers::SOURCE_OFFSET.to_owned(),
            record.offset.to_string(),
        ),
    ];
    if let Some(timestamp) = record.timestamp {
        headers.push((
            dlq_headers::SOURCE_TIMESTAMP.to_owned(),
            timestamp.to_string(),
        ));
    }
    if record.replay_count > 0 {
        headers.push((
            dlq_headers::REPLAY_COUNT.to_owned(),
            record.replay_count.to_string(),
        ));
    }
    let mut payload = record.payload.clone();
    if payload.len() > DLQ_PAYLOAD_MAX {
        headers.push((
            dlq_headers::PAYLOAD_TRUNCATED.to_owned(),
            payload.len().to_string(),
        ));
        payload.truncate(DLQ_PAYLOAD_MAX);
    }
    let mut key = record.key.clone();
    if let Some(k) = key.as_mut().filter(|k| k.len() > DLQ_KEY_MAX) {
        headers.push((dlq_headers::KEY_TRUNCATED.to_owned(), k.len().to_string()));
        k.truncate(DLQ_KEY_MAX);
    }
    DeadLetterRow {
        source_topic: topic.to_owned(),
        source_partition: record.partition,
        source_offset: record.offset,
        key,
        payload,
        headers,
        error_kind: error.kind(),
    }
}

/// The idempotency record of a handled command: applied at a version, or rejected.
pub(super) fn processed_row(command: &Command, result: Result<u64, &Rejection>) -> ProcessedRow {
    ProcessedRow {
        command_id: command.command_id.0,
        order_id: command.order_id.0,
        storefront_id: command.storefront_id.to_string(),
        command_type: command.body.kind(),
        outcome: if result.is_ok() {
            "applied"
        } else {
            "rejected"
        },
        version: result.ok().map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
        rejection_code: result.err().map(Rejection::code),
        rejection_msg: result.err().map(Rejection::message),
    }
}
