//! The building blocks every mapping uses: Avro values made from Rust ones, a decoded
//! record's fields taken out by name, union branches by index.

use std::collections::{BTreeMap, HashMap};

use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub(super) type Shape<T> = Result<T, String>;

pub(super) fn record<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Record(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

pub(super) fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

pub(super) fn long(n: u64) -> Shape<Value> {
    i64::try_from(n)
        .map(Value::Long)
        .map_err(|_| format!("{n} exceeds a long"))
}

pub(super) fn timestamp(t: DateTime<Utc>) -> Value {
    Value::TimestampMicros(t.timestamp_micros())
}

pub(super) fn optional(v: Option<Value>) -> Value {
    match v {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(v) => Value::Union(1, Box::new(v)),
    }
}

pub(super) fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Map(map.iter().map(|(k, v)| (k.clone(), string(v))).collect())
}

/// The symbol of an enum named `name` (snake case in the domain, upper case in the schema,
/// whose symbols are `symbols`).
pub(super) fn symbol(symbols: &[&str], name: &str) -> Value {
    let symbol = name.to_ascii_uppercase();
    let index = symbols
        .iter()
        .position(|&s| s == symbol)
        .expect("every domain value has a symbol");
    Value::Enum(index as u32, symbol)
}

pub(super) fn branch(branches: &[&str], kind: &str, payload: Value) -> Value {
    let index = branches
        .iter()
        .position(|&b| b == kind)
        .expect("every domain kind has a union branch");
    Value::Union(index as u32, Box::new(payload))
}

/// The fields of a decoded record, taken out by name.
pub(super) struct Fields(HashMap<String, Value>);

impl Fields {
    pub(super) fn of(value: Value) -> Shape<Self> {
        match value {
            Value::Record(fields) => Ok(Self(fields.into_iter().collect())),
            other => Err(format!("expected a record, got {other:?}")),
        }
    }

    pub(super) fn take(&mut self, name: &str) -> Shape<Value> {
        match self.0.remove(name) {
            // Optional fields arrive as a union branch after resolution.
            Some(Value::Union(_, inner)) if name != "payload" => Ok(*inner),
            Some(v) => Ok(v),
            None => Err(format!("missing field {name}")),
        }
    }

    pub(super) fn string(&mut self, name: &str) -> Shape<String> {
        match self.take(name)? {
            Value::String(s) => Ok(s),
            other => Err(format!("{name}: expected a string, got {other:?}")),
        }
    }

    pub(super) fn opt_string(&mut self, name: &str) -> Shape<Option<String>> {
        match self.take(name)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(format!("{name}: expected a string or null, got {other:?}")),
        }
    }

    pub(super) fn long(&mut self, name: &str) -> Shape<i64> {
        match self.take(name)? {
            Value::Long(n) => Ok(n),
            other => Err(format!("{name}: expected a long, got {other:?}")),
        }
    }

    pub(super) fn count(&mut self, name: &str) -> Shape<u64> {
        let n = self.long(name)?;
        u64::try_from(n).map_err(|_| format!("{name}: {n} is negative"))
    }

    pub(super) fn opt_count(&mut self, name: &str) -> Shape<Option<u64>> {
        match self.take(name)? {
            Value::Null => Ok(None),
            Value::Long(n) => u64::try_from(n)
                .map(Some)
                .map_err(|_| format!("{name}: {n} is negative")),
            other => Err(format!("{name}: expected a long or null, got {other:?}")),
        }
    }

    pub(super) fn uuid(&mut self, name: &str) -> Shape<Uuid> {
        match self.take(name)? {
            Value::Uuid(u) => Ok(u),
            Value::String(s) => Uuid::parse_str(&s).map_err(|e| format!("{name}: {e}")),
            other => Err(format!("{name}: expected a uuid, got {other:?}")),
        }
    }

    pub(super) fn timestamp(&mut self, name: &str) -> Shape<DateTime<Utc>> {
        match self.take(name)? {
            Value::TimestampMicros(us) | Value::Long(us) => DateTime::from_timestamp_micros(us)
                .ok_or_else(|| format!("{name}: {us} out of range")),
            other => Err(format!("{name}: expected timestamp-micros, got {other:?}")),
        }
    }

    pub(super) fn string_map(&mut self, name: &str) -> Shape<BTreeMap<String, String>> {
        match self.take(name)? {
            Value::Map(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    other => Err(format!("{name}.{k}: expected a string, got {other:?}")),
                })
                .collect(),
            other => Err(format!("{name}: expected a map, got {other:?}")),
        }
    }

    /// An enum symbol, as the domain names it (snake case), parsed by `parse`.
    pub(super) fn symbol<T>(&mut self, name: &str, parse: impl Fn(&str) -> Option<T>) -> Shape<T> {
        match self.take(name)? {
            Value::Enum(_, symbol) => parse(&symbol.to_ascii_lowercase())
                .ok_or_else(|| format!("{name}: unsupported symbol {symbol}")),
            other => Err(format!("{name}: expected an enum, got {other:?}")),
        }
    }

    /// An array, each item a record mapped by `item`; absent (written before the field
    /// existed) reads as empty only through schema resolution's default.
    pub(super) fn records<T>(
        &mut self,
        name: &str,
        item: impl Fn(Fields) -> Shape<T>,
    ) -> Shape<Vec<T>> {
        match self.take(name)? {
            Value::Array(items) => items.into_iter().map(|v| item(Fields::of(v)?)).collect(),
            other => Err(format!("{name}: expected an array, got {other:?}")),
        }
    }

    pub(super) fn union(&mut self, name: &str) -> Shape<(u32, Value)> {
        match self.take(name)? {
            Value::Union(branch, inner) => Ok((branch, *inner)),
            other => Err(format!("{name}: expected a union, got {other:?}")),
        }
    }

    pub(super) fn record(&mut self, name: &str) -> Shape<Fields> {
        Fields::of(self.take(name)?)
    }
}

pub(super) fn branch_of<'a>(
    branches: &[&'a str],
    (index, payload): (u32, Value),
) -> Shape<(&'a str, Fields)> {
    let kind = branches
        .get(index as usize)
        .ok_or_else(|| format!("payload: unknown union branch {index}"))?;
    Ok((kind, Fields::of(payload)?))
}

pub(super) fn text<T>(parsed: Result<T, String>, field: &str) -> Shape<T> {
    parsed.map_err(|e| format!("{field}: {e}"))
}
