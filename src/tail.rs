//! `orderflow tail <topic>`: the records of an orderflow topic decoded as JSON lines — what
//! kcat is to plain Kafka, for orderflow's Avro.

use std::io::Write;

use clap::Args;
use rdkafka::message::{Headers, Message};

use crate::args::KafkaArgs;
use crate::codec::{Codec, Subject};
use crate::kafka::reader::{Start, TopicReader};
use crate::kafka::{KafkaSettings, Topics};

/// `orderflow tail <topic>`.
#[derive(Debug, Args)]
pub struct TailCommand {
    #[command(flatten)]
    pub options: TailOptions,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

/// How to read values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DecodeAs {
    /// By topic name: commands, events, state; the DLQ's bytes are tried as commands.
    Auto,
    Command,
    Event,
    Snapshot,
    /// No decoding: the value as hex.
    Raw,
}

#[derive(Debug, Args)]
pub struct TailOptions {
    /// The topic to read.
    pub topic: String,
    /// How to decode values.
    #[arg(long, value_enum, default_value_t = DecodeAs::Auto)]
    pub decode: DecodeAs,
    /// Keep waiting for new records instead of stopping at the end of every partition.
    #[arg(long, short)]
    pub follow: bool,
    /// Start at the end of each partition rather than the beginning (implies --follow).
    #[arg(long)]
    pub from_end: bool,
}

/// Writes one JSON line per record to `out`; returns how many were written.
pub async fn run(
    settings: &KafkaSettings,
    topics: &Topics,
    codec: &Codec,
    options: &TailOptions,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let subject = match options.decode {
        DecodeAs::Raw => None,
        DecodeAs::Command => Some(Subject::Command),
        DecodeAs::Event => Some(Subject::Event),
        DecodeAs::Snapshot => Some(Subject::Snapshot),
        DecodeAs::Auto => Some(subject_of(topics, &options.topic)?),
    };
    let start = if options.from_end {
        Start::End
    } else {
        Start::Beginning
    };
    let follow = options.follow || options.from_end;
    let mut reader = TopicReader::open(settings, &options.topic, start, follow)?;
    let mut written = 0;
    while let Some(message) = reader.next().await? {
        let line = render(&message, subject, codec).await;
        match write_line(out, &line) {
            // The reader went away (`orderflow tail ... | head`): a normal end.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(written),
            result => result?,
        }
        written += 1;
    }
    Ok(written)
}

pub(crate) fn write_line(out: &mut impl Write, line: &serde_json::Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")?;
    out.flush()
}

fn subject_of(topics: &Topics, topic: &str) -> anyhow::Result<Subject> {
    if topic == topics.commands || topic == topics.dlq {
        Ok(Subject::Command)
    } else if topic == topics.events {
        Ok(Subject::Event)
    } else if topic == topics.state {
        Ok(Subject::Snapshot)
    } else {
        anyhow::bail!(
            "{topic} is not one of orderflow's topics ({}, {}, {}, {}); pass --decode",
            topics.commands,
            topics.events,
            topics.state,
            topics.dlq
        )
    }
}

async fn render(
    message: &rdkafka::message::BorrowedMessage<'_>,
    subject: Option<Subject>,
    codec: &Codec,
) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| {
                    let value = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                    (h.key.to_owned(), value.into())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut line = serde_json::json!({
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp_ms": message.timestamp().to_millis(),
        "key": message.key().map(|k| String::from_utf8_lossy(k).into_owned()),
        "headers": headers,
        "value": null,
    });
    let Some(payload) = message.payload() else {
        return line; // a tombstone
    };
    match subject {
        None => line["value_hex"] = hex::encode(payload).into(),
        Some(subject) => match codec.decode_json(subject, payload).await {
            Ok(value) => line["value"] = value,
            Err(error) => {
                line["error"] =
                    serde_json::json!({ "kind": error.kind(), "message": error.to_string() });
                line["value_hex"] = hex::encode(payload).into();
            }
        },
    }
    line
}
