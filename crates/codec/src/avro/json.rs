//! A decoded record as JSON, for `orderflow tail`.

use apache_avro::Schema;
use apache_avro::schema::{NamesRef, ResolvedSchema};
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

/// The inverse of `to_json`, directed by `schema` (a top-level record and the named types it
/// defines): what an operator wrote — a corrected dead letter, say — as the Avro value to
/// encode. A payload union is `{"<Branch>": {...}}`, any other union takes `null` or its first
/// branch the value fits; a timestamp is RFC 3339 or microseconds; a missing field takes its
/// default, or null where it may be null. An error names the path of the value that did not
/// fit, e.g. `payload.CreateOrder.items[0].quantity: expected an integer`.
pub fn from_json(json: &serde_json::Value, schema: &Schema) -> Result<Value, String> {
    let resolved = ResolvedSchema::try_from(schema).map_err(|e| e.to_string())?;
    let reader = JsonReader {
        names: resolved.get_names(),
    };
    reader.read(json, schema, "").map_err(|(path, message)| {
        if path.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        }
    })
}

struct JsonReader<'n, 's> {
    names: &'n NamesRef<'s>,
}

type Read = Result<Value, (String, String)>;

impl JsonReader<'_, '_> {
    fn read(&self, json: &serde_json::Value, schema: &Schema, path: &str) -> Read {
        use serde_json::Value as Json;
        let fail =
            |expected: &str| Err((path.to_owned(), format!("expected {expected}, got {json}")));
        match (schema, json) {
            (Schema::Ref { name }, _) => match self.names.get(name) {
                Some(named) => self.read(json, named, path),
                None => Err((path.to_owned(), format!("the schema names no type {name}"))),
            },
            (Schema::Null, Json::Null) => Ok(Value::Null),
            (Schema::Boolean, Json::Bool(b)) => Ok(Value::Boolean(*b)),
            (Schema::Int, Json::Number(n)) => {
                match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
                    Some(n) => Ok(Value::Int(n)),
                    None => fail("a 32-bit integer"),
                }
            }
            (Schema::Long, Json::Number(n)) => n
                .as_i64()
                .map(Value::Long)
                .map_or_else(|| fail("an integer"), Ok),
            (Schema::Double, Json::Number(n)) => n
                .as_f64()
                .map(Value::Double)
                .map_or_else(|| fail("a number"), Ok),
            (Schema::String, Json::String(s)) => Ok(Value::String(s.clone())),
            (Schema::Uuid(_), Json::String(s)) => match uuid::Uuid::parse_str(s) {
                Ok(id) => Ok(Value::Uuid(id)),
                Err(_) => fail("a UUID"),
            },
            (Schema::TimestampMicros, Json::Number(n)) => n
                .as_i64()
                .map(Value::TimestampMicros)
                .map_or_else(|| fail("microseconds"), Ok),
            (Schema::TimestampMicros, Json::String(s)) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => Ok(Value::TimestampMicros(t.timestamp_micros())),
                Err(_) => fail("an RFC 3339 timestamp"),
            },
            (Schema::Enum(e), Json::String(s)) => match e.symbols.iter().position(|x| x == s) {
                Some(i) => Ok(Value::Enum(
                    u32::try_from(i).expect("few symbols"),
                    s.clone(),
                )),
                None => fail(&format!("one of {}", e.symbols.join(", "))),
            },
            (Schema::Array(a), Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.read(item, &a.items, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            (Schema::Map(m), Json::Object(entries)) => entries
                .iter()
                .map(|(k, v)| Ok((k.clone(), self.read(v, &m.types, &join(path, k))?)))
                .collect::<Result<_, _>>()
                .map(Value::Map),
            (Schema::Union(union), _) => self.union(json, union.variants(), path),
            (Schema::Record(record), Json::Object(entries)) => {
                if let Some(unknown) = entries.keys().find(|k| !record.lookup.contains_key(*k)) {
                    return Err((
                        join(path, unknown),
                        format!("{} has no such field", record.name),
                    ));
                }
                record
                    .fields
                    .iter()
                    .map(|field| {
                        let at = join(path, &field.name);
                        let value = match (entries.get(&field.name), &field.default) {
                            (Some(value), _) => self.read(value, &field.schema, &at)?,
                            (None, Some(default)) => self.read(default, &field.schema, &at)?,
                            (None, None) => self
                                .read(&Json::Null, &field.schema, &at)
                                .map_err(|_| (at, "missing".to_owned()))?,
                        };
                        Ok((field.name.clone(), value))
                    })
                    .collect::<Result<_, _>>()
                    .map(Value::Record)
            }
            _ => fail(&self.expected(schema)),
        }
    }

    /// What a value of `schema` looks like in JSON, for errors.
    fn expected(&self, schema: &Schema) -> String {
        match schema {
            Schema::Ref { name } => self
                .names
                .get(name)
                .map_or_else(|| name.to_string(), |s| self.expected(s)),
            Schema::Null => "null".to_owned(),
            Schema::Boolean => "true or false".to_owned(),
            Schema::Int => "a 32-bit integer".to_owned(),
            Schema::Long => "an integer".to_owned(),
            Schema::Double => "a number".to_owned(),
            Schema::String => "a string".to_owned(),
            Schema::Uuid(_) => "a UUID".to_owned(),
            Schema::TimestampMicros => "an RFC 3339 timestamp".to_owned(),
            Schema::Enum(e) => format!("one of {}", e.symbols.join(", ")),
            Schema::Array(_) => "an array".to_owned(),
            Schema::Map(_) => "an object".to_owned(),
            Schema::Record(r) => format!("an object ({})", r.name.name()),
            other => format!("{other:?}"),
        }
    }

    /// `{"<Branch>": value}` names a record branch; otherwise null or the first branch that fits.
    fn union(&self, json: &serde_json::Value, variants: &[Schema], path: &str) -> Read {
        let index = |i: usize| u32::try_from(i).expect("few branches");
        if let serde_json::Value::Object(entries) = json
            && let [(name, inner)] = entries.iter().collect::<Vec<_>>()[..]
            && let Some(i) = variants
                .iter()
                .position(|v| self.record_name(v) == Some(name.as_str()))
        {
            let value = self.read(inner, &variants[i], &join(path, name))?;
            return Ok(Value::Union(index(i), Box::new(value)));
        }
        let mut first_error = None;
        for (i, variant) in variants.iter().enumerate() {
            match self.read(json, variant, path) {
                Ok(value) => return Ok(Value::Union(index(i), Box::new(value))),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let names: Vec<&str> = variants
            .iter()
            .filter_map(|v| self.record_name(v))
            .collect();
        match first_error {
            Some(_)
                if !names.is_empty() && variants.iter().all(|v| self.record_name(v).is_some()) =>
            {
                Err((
                    path.to_owned(),
                    format!(
                        "expected one of {{\"<branch>\": {{...}}}} with a branch of {}",
                        names.join(", ")
                    ),
                ))
            }
            Some(e) => Err(e),
            None => Err((path.to_owned(), "an empty union".to_owned())),
        }
    }

    fn record_name<'a>(&'a self, schema: &'a Schema) -> Option<&'a str> {
        match schema {
            Schema::Record(r) => Some(r.name.name()),
            Schema::Ref { name } => self.names.get(name).and_then(|s| self.record_name(s)),
            _ => None,
        }
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}
