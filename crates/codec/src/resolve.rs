//! Schema resolution (the specification's "Schema Resolution") of a value read with its
//! writer's schema into a reader's schema, matching union branches **by name**.
//!
//! apache-avro 0.22 resolves a union value into the first reader branch the value fits, not
//! the branch of the same name: a `ConfirmOrder` (an empty record) written with one version
//! fits the next version's `UpdateOrder` (every field optional) and would be read as one.
//! Records are resolved field by field by name (a missing field takes the reader's default,
//! an extra one is dropped), enums by symbol (an unknown one takes the reader's default),
//! unions by the branch's full name (or its type, for unnamed branches).

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{ResolvedSchema, UnionSchema};
use apache_avro::types::Value;

/// Named types of one schema, by full name.
struct Names<'s>(HashMap<String, &'s Schema>);

impl<'s> Names<'s> {
    fn of(schema: &'s Schema) -> Result<Self, String> {
        let resolved = ResolvedSchema::try_from(schema).map_err(|e| e.to_string())?;
        Ok(Self(
            resolved
                .get_names()
                .iter()
                .map(|(name, schema)| (name.fullname(None), *schema))
                .collect(),
        ))
    }

    /// `schema`, or the type it refers to.
    fn deref(&self, schema: &'s Schema) -> Result<&'s Schema, String> {
        match schema {
            Schema::Ref { name } => self
                .0
                .get(&name.fullname(None))
                .copied()
                .ok_or_else(|| format!("unknown type {}", name.fullname(None))),
            other => Ok(other),
        }
    }
}

/// What identifies a union branch across versions: a named type's full name, else its type.
fn branch_key(schema: &Schema) -> String {
    match schema.name() {
        Some(name) => name.fullname(None),
        None => format!("{:?}", apache_avro::schema::SchemaKind::from(schema)),
    }
}

fn find_branch(union: &UnionSchema, key: &str) -> Option<usize> {
    union.variants().iter().position(|v| branch_key(v) == key)
}

/// Resolves `value`, read with `writer`, into `reader`.
pub struct Resolver<'s> {
    writer: Names<'s>,
    reader: Names<'s>,
}

impl<'s> Resolver<'s> {
    pub fn new(writer: &'s Schema, reader: &'s Schema) -> Result<Self, String> {
        Ok(Self {
            writer: Names::of(writer)?,
            reader: Names::of(reader)?,
        })
    }

    pub fn resolve(
        &self,
        value: Value,
        writer: &'s Schema,
        reader: &'s Schema,
    ) -> Result<Value, String> {
        let (w, r) = (self.writer.deref(writer)?, self.reader.deref(reader)?);
        match (value, w, r) {
            (Value::Union(index, inner), Schema::Union(wu), _) => {
                let branch = wu
                    .variants()
                    .get(index as usize)
                    .ok_or_else(|| format!("union branch {index} out of range"))?;
                self.resolve(*inner, branch, r)
            }
            (value, _, Schema::Union(ru)) => {
                let key = branch_key(w);
                let index = find_branch(ru, &key)
                    .ok_or_else(|| format!("the reader's union has no branch {key}"))?;
                let inner = self.resolve(value, w, &ru.variants()[index])?;
                Ok(Value::Union(index as u32, Box::new(inner)))
            }
            (Value::Record(fields), Schema::Record(ws), Schema::Record(rs)) => {
                let mut fields: HashMap<String, Value> = fields.into_iter().collect();
                rs.fields
                    .iter()
                    .map(|field| {
                        let value = match (fields.remove(&field.name), ws.lookup.get(&field.name)) {
                            (Some(value), Some(&i)) => {
                                self.resolve(value, &ws.fields[i].schema, &field.schema)?
                            }
                            _ => self
                                .default(field.default.as_ref(), &field.schema)
                                .map_err(|e| format!("{}: {e}", field.name))?,
                        };
                        Ok((field.name.clone(), value))
                    })
                    .collect::<Result<Vec<_>, String>>()
                    .map(Value::Record)
            }
            (Value::Enum(_, symbol), _, Schema::Enum(re)) => {
                let symbol = if re.symbols.contains(&symbol) {
                    symbol
                } else {
                    re.default
                        .clone()
                        .ok_or_else(|| format!("unknown symbol {symbol} and no default"))?
                };
                let index = re.symbols.iter().position(|s| *s == symbol).unwrap_or(0);
                Ok(Value::Enum(index as u32, symbol))
            }
            (Value::Array(items), Schema::Array(wa), Schema::Array(ra)) => items
                .into_iter()
                .map(|v| self.resolve(v, &wa.items, &ra.items))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            (Value::Map(map), Schema::Map(wm), Schema::Map(rm)) => map
                .into_iter()
                .map(|(k, v)| Ok((k, self.resolve(v, &wm.types, &rm.types)?)))
                .collect::<Result<_, String>>()
                .map(Value::Map),
            (value, w, r) if branch_key(w) == branch_key(r) => Ok(value),
            (_, w, r) => Err(format!(
                "a {} cannot be read as a {}",
                branch_key(w),
                branch_key(r)
            )),
        }
    }

    /// A field's default as a value of its schema (for a union: of its first branch).
    fn default(
        &self,
        default: Option<&serde_json::Value>,
        schema: &'s Schema,
    ) -> Result<Value, String> {
        use serde_json::Value as Json;
        let Some(default) = default else {
            return Err("absent from the writer's record and without a default".into());
        };
        match (default, self.reader.deref(schema)?) {
            (_, Schema::Union(union)) => {
                let first = &union.variants()[0];
                Ok(Value::Union(
                    0,
                    Box::new(self.default(Some(default), first)?),
                ))
            }
            (Json::Null, Schema::Null) => Ok(Value::Null),
            (Json::Array(items), Schema::Array(_)) if items.is_empty() => Ok(Value::Array(vec![])),
            (Json::Object(map), Schema::Map(_)) if map.is_empty() => Ok(Value::Map(HashMap::new())),
            (Json::String(symbol), Schema::Enum(e)) => e
                .symbols
                .iter()
                .position(|s| s == symbol)
                .map(|i| Value::Enum(i as u32, symbol.clone()))
                .ok_or_else(|| format!("default {symbol} is not a symbol")),
            (Json::String(s), Schema::String) => Ok(Value::String(s.clone())),
            (other, schema) => Err(format!(
                "default {other} for a {} is not supported",
                branch_key(schema)
            )),
        }
    }
}
