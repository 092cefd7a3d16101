//! A decoded record as JSON, for `orderflow tail`.

use apache_avro::types::Value;
use chrono::DateTime;

/// A decoded record as JSON: the payload union becomes `{"<Branch>": {...}}` and timestamps
/// RFC 3339 strings, so a human can read what happened.
pub fn to_json(value: Value, branches: &[&str]) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::Record(fields) => Json::Object(
            fields
                .into_iter()
                .map(|(name, value)| {
                    let json = match (name.as_str(), value) {
                        ("payload", Value::Union(index, inner)) => {
                            let branch = branches.get(index as usize).copied().unwrap_or("Unknown");
                            serde_json::json!({ branch: to_json(*inner, branches) })
                        }
                        (_, value) => to_json(value, branches),
                    };
                    (name, json)
                })
                .collect(),
        ),
        Value::Union(_, inner) => to_json(*inner, branches),
        Value::Array(items) => {
            Json::Array(items.into_iter().map(|v| to_json(v, branches)).collect())
        }
        Value::Map(map) => Json::Object(
            map.into_iter()
                .map(|(k, v)| (k, to_json(v, branches)))
                .collect(),
        ),
        Value::TimestampMicros(us) => match DateTime::from_timestamp_micros(us) {
            Some(t) => Json::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            None => Json::from(us),
        },
        other => Json::try_from(other).unwrap_or(Json::Null),
    }
}
