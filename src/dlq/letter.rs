//! A dead letter as read from the DLQ topic, and how it is printed.

use std::fmt;
use std::str::FromStr;

use rdkafka::message::{Headers, Message};

use crate::codec::{Codec, Subject};
use crate::kafka::dlq_headers;

/// Where a record is on its topic: `<partition>:<offset>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.partition, self.offset)
    }
}

impl FromStr for Position {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text
            .split_once(':')
            .and_then(|(p, o)| Some((p.parse().ok()?, o.parse().ok()?)));
        match parsed {
            Some((partition, offset)) if partition >= 0 && offset >= 0 => {
                Ok(Self { partition, offset })
            }
            _ => Err(format!("{text:?} is not <partition>:<offset>, e.g. 3:1042")),
        }
    }
}

/// A record of the DLQ topic, owned.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub position: Position,
    /// When it was written to the DLQ (ms since the epoch).
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
}

impl DeadLetter {
    pub fn of(message: &impl Message) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                        (h.key.to_owned(), value.into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            position: Position {
                partition: message.partition(),
                offset: message.offset(),
            },
            timestamp_ms: message.timestamp().to_millis(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The processor's reason, e.g. `bad_magic`.
    pub fn kind(&self) -> Option<&str> {
        self.header(dlq_headers::ERROR_KIND)
    }

    /// How many times it was replayed before it came back here.
    pub fn replay_count(&self) -> u32 {
        self.header(dlq_headers::REPLAY_COUNT)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Whether the payload or key is a prefix only (the original was too large to keep).
    pub fn truncated(&self) -> bool {
        self.header(dlq_headers::PAYLOAD_TRUNCATED).is_some()
            || self.header(dlq_headers::KEY_TRUNCATED).is_some()
    }

    fn key_text(&self) -> Option<String> {
        self.key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
    }

    fn written(&self) -> Option<String> {
        self.timestamp_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }

    /// One `list` line: where, when, why, and the command if it decodes now.
    pub async fn summary(&self, codec: &Codec) -> serde_json::Value {
        let mut line = serde_json::json!({
            "dlq": self.position.to_string(),
            "written_at": self.written(),
            "kind": self.kind(),
            "message": self.header(dlq_headers::ERROR_MESSAGE),
            "source": self.header(dlq_headers::SOURCE_TOPIC).map(|topic| serde_json::json!({
                "topic": topic,
                "partition": self.header(dlq_headers::SOURCE_PARTITION).and_then(|v| v.parse::<i32>().ok()),
                "offset": self.header(dlq_headers::SOURCE_OFFSET).and_then(|v| v.parse::<i64>().ok()),
            })),
            "key": self.key_text(),
            "replay_count": self.replay_count(),
            "truncated": self.truncated(),
            "value": null,
        });
        match &self.payload {
            None => line["decode_error"] = "no payload".into(),
            Some(payload) => match codec.decode_json(Subject::Command, payload).await {
                Ok(value) => line["value"] = value,
                Err(error) => line["decode_error"] = error.to_string().into(),
            },
        }
        line
    }

    /// `show`: the summary with every header and the payload itself.
    pub async fn full(&self, codec: &Codec) -> serde_json::Value {
        let mut letter = self.summary(codec).await;
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        letter["headers"] = headers.into();
        if let Some(payload) = &self.payload {
            letter["payload_hex"] = hex::encode(payload).into();
            if let Ok(text) = std::str::from_utf8(payload) {
                letter["payload_text"] = text.into();
            }
        }
        letter
    }

    /// A `list --format table` line (see `list`'s header).
    pub fn table_row(&self) -> String {
        let message: String = self
            .header(dlq_headers::ERROR_MESSAGE)
            .unwrap_or("")
            .chars()
            .take(100)
            .collect();
        format!(
            "{:<12} {:<24} {:<18} {:<36} {:>7}  {}",
            self.position.to_string(),
            self.written().unwrap_or_default(),
            self.kind().unwrap_or("-"),
            self.key_text().unwrap_or_else(|| "-".to_owned()),
            self.replay_count(),
            message.replace(['\n', '\r', '\t'], " ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_as_partition_colon_offset() {
        let p: Position = "3:1042".parse().unwrap();
        assert_eq!((p.partition, p.offset), (3, 1042));
        assert_eq!(p.to_string(), "3:1042");
        for bad in ["3", "3:", ":4", "a:1", "-1:4", "1:-4", "1:2:3"] {
            let error = bad.parse::<Position>().unwrap_err();
            assert!(error.contains("<partition>:<offset>"), "{bad}: {error}");
        }
    }
}
