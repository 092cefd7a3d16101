//! Domain values <-> Avro `Value`s shaped like the schemas in `schemas/`.
//!
//! Built by hand rather than through serde so that logical types (uuid, timestamp-micros),
//! enum symbols and union branches are exactly what the schemas say.

use std::collections::{BTreeMap, HashMap};

use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{
    Address, Amount, Command, CommandBody, CommandId, Currency, CustomerId, Event, EventBody,
    EventId, LineItem, Order, OrderId, OrderStatus, ShippingInfo, Sku, StorefrontId,
};
use crate::domain::{AddressInput, LineItemInput, NewOrderInput};

type Shape<T> = Result<T, String>;

const STATUS_SYMBOLS: [&str; 6] = [
    "UNKNOWN",
    "PENDING",
    "CONFIRMED",
    "SHIPPED",
    "DELIVERED",
    "CANCELLED",
];

// ---- encoding -------------------------------------------------------------------------------

fn record<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Record(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn long(n: u64) -> Shape<Value> {
    i64::try_from(n)
        .map(Value::Long)
        .map_err(|_| format!("{n} exceeds a long"))
}

fn timestamp(t: DateTime<Utc>) -> Value {
    Value::TimestampMicros(t.timestamp_micros())
}

fn optional(v: Option<Value>) -> Value {
    match v {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(v) => Value::Union(1, Box::new(v)),
    }
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Map(map.iter().map(|(k, v)| (k.clone(), string(v))).collect())
}

pub(super) fn command_to_value(c: &Command) -> Shape<Value> {
    let (branch, payload) = match &c.body {
        CommandBody::CreateOrder(new) => (0, create_order_to_value(new)),
    };
    Ok(record([
        ("command_id", Value::Uuid(c.command_id.0)),
        ("order_id", Value::Uuid(c.order_id.0)),
        ("storefront_id", string(c.storefront_id.as_str())),
        (
            "expected_version",
            optional(c.expected_version.map(long).transpose()?),
        ),
        ("issued_at", timestamp(c.issued_at)),
        ("payload", Value::Union(branch, Box::new(payload))),
    ]))
}

fn create_order_to_value(new: &NewOrderInput) -> Value {
    let items = new
        .items
        .iter()
        .map(|i| {
            record([
                ("sku", string(&i.sku)),
                ("quantity", Value::Long(i.quantity)),
                ("unit_price", Value::Long(i.unit_price)),
            ])
        })
        .collect();
    let a = &new.shipping_address;
    record([
        ("customer_id", string(&new.customer_id)),
        ("currency", string(&new.currency)),
        ("items", Value::Array(items)),
        (
            "shipping_address",
            address_to_value(
                &a.name,
                &a.line1,
                a.line2.as_deref(),
                &a.city,
                &a.postal_code,
                &a.country,
            ),
        ),
        ("metadata", string_map(&new.metadata)),
    ])
}

fn address_to_value(
    name: &str,
    line1: &str,
    line2: Option<&str>,
    city: &str,
    postal_code: &str,
    country: &str,
) -> Value {
    record([
        ("name", string(name)),
        ("line1", string(line1)),
        ("line2", optional(line2.map(string))),
        ("city", string(city)),
        ("postal_code", string(postal_code)),
        ("country", string(country)),
    ])
}

pub(super) fn event_to_value(e: &Event) -> Shape<Value> {
    let (branch, payload) = match &e.body {
        EventBody::OrderCreated(order) => (0, record([("order", order_to_value(order)?)])),
    };
    Ok(record([
        ("event_id", Value::Uuid(e.event_id.0)),
        ("order_id", Value::Uuid(e.order_id.0)),
        ("storefront_id", string(e.storefront_id.as_str())),
        ("version", long(e.version)?),
        ("causation_id", Value::Uuid(e.causation_id.0)),
        ("occurred_at", timestamp(e.occurred_at)),
        ("payload", Value::Union(branch, Box::new(payload))),
    ]))
}

fn status_to_value(s: OrderStatus) -> Value {
    let symbol = match s {
        OrderStatus::Pending => "PENDING",
    };
    let index = STATUS_SYMBOLS
        .iter()
        .position(|&x| x == symbol)
        .expect("known symbol");
    Value::Enum(index as u32, symbol.to_owned())
}

fn order_to_value(o: &Order) -> Shape<Value> {
    let items = o
        .items
        .iter()
        .map(|i| {
            record([
                ("sku", string(i.sku.as_str())),
                ("quantity", Value::Long(i.quantity.into())),
                ("unit_price", Value::Long(i.unit_price.0)),
                ("line_total", Value::Long(i.line_total.0)),
            ])
        })
        .collect();
    let a = &o.shipping_address;
    Ok(record([
        ("order_id", Value::Uuid(o.order_id.0)),
        ("storefront_id", string(o.storefront_id.as_str())),
        ("customer_id", string(o.customer_id.as_str())),
        ("status", status_to_value(o.status)),
        ("currency", string(o.currency.code())),
        ("items", Value::Array(items)),
        ("subtotal", Value::Long(o.subtotal.0)),
        ("total", Value::Long(o.total.0)),
        (
            "shipping_address",
            address_to_value(
                &a.name,
                &a.line1,
                a.line2.as_deref(),
                &a.city,
                &a.postal_code,
                &a.country,
            ),
        ),
        (
            "shipping",
            optional(o.shipping.as_ref().map(|s| {
                record([
                    ("carrier", string(&s.carrier)),
                    ("tracking_number", string(&s.tracking_number)),
                ])
            })),
        ),
        ("metadata", string_map(&o.metadata)),
        ("version", long(o.version)?),
        ("created_at", timestamp(o.created_at)),
        ("updated_at", timestamp(o.updated_at)),
    ]))
}

// ---- decoding -------------------------------------------------------------------------------

/// The fields of a decoded record, taken out by name.
struct Fields(HashMap<String, Value>);

impl Fields {
    fn of(value: Value) -> Shape<Self> {
        match value {
            Value::Record(fields) => Ok(Self(fields.into_iter().collect())),
            other => Err(format!("expected a record, got {other:?}")),
        }
    }

    fn take(&mut self, name: &str) -> Shape<Value> {
        match self.0.remove(name) {
            // Optional fields arrive as a union branch after resolution.
            Some(Value::Union(_, inner)) if name != "payload" => Ok(*inner),
            Some(v) => Ok(v),
            None => Err(format!("missing field {name}")),
        }
    }

    fn string(&mut self, name: &str) -> Shape<String> {
        match self.take(name)? {
            Value::String(s) => Ok(s),
            other => Err(format!("{name}: expected a string, got {other:?}")),
        }
    }

    fn opt_string(&mut self, name: &str) -> Shape<Option<String>> {
        match self.take(name)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(format!("{name}: expected a string or null, got {other:?}")),
        }
    }

    fn long(&mut self, name: &str) -> Shape<i64> {
        match self.take(name)? {
            Value::Long(n) => Ok(n),
            other => Err(format!("{name}: expected a long, got {other:?}")),
        }
    }

    fn count(&mut self, name: &str) -> Shape<u64> {
        let n = self.long(name)?;
        u64::try_from(n).map_err(|_| format!("{name}: {n} is negative"))
    }

    fn opt_count(&mut self, name: &str) -> Shape<Option<u64>> {
        match self.take(name)? {
            Value::Null => Ok(None),
            Value::Long(n) => u64::try_from(n)
                .map(Some)
                .map_err(|_| format!("{name}: {n} is negative")),
            other => Err(format!("{name}: expected a long or null, got {other:?}")),
        }
    }

    fn uuid(&mut self, name: &str) -> Shape<Uuid> {
        match self.take(name)? {
            Value::Uuid(u) => Ok(u),
            Value::String(s) => Uuid::parse_str(&s).map_err(|e| format!("{name}: {e}")),
            other => Err(format!("{name}: expected a uuid, got {other:?}")),
        }
    }

    fn timestamp(&mut self, name: &str) -> Shape<DateTime<Utc>> {
        match self.take(name)? {
            Value::TimestampMicros(us) | Value::Long(us) => DateTime::from_timestamp_micros(us)
                .ok_or_else(|| format!("{name}: {us} out of range")),
            other => Err(format!("{name}: expected timestamp-micros, got {other:?}")),
        }
    }

    fn array(&mut self, name: &str) -> Shape<Vec<Value>> {
        match self.take(name)? {
            Value::Array(items) => Ok(items),
            other => Err(format!("{name}: expected an array, got {other:?}")),
        }
    }

    fn string_map(&mut self, name: &str) -> Shape<BTreeMap<String, String>> {
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

    fn union(&mut self, name: &str) -> Shape<(u32, Value)> {
        match self.take(name)? {
            Value::Union(branch, inner) => Ok((branch, *inner)),
            other => Err(format!("{name}: expected a union, got {other:?}")),
        }
    }

    fn record(&mut self, name: &str) -> Shape<Fields> {
        Fields::of(self.take(name)?)
    }
}

pub(super) fn command_from_value(value: Value) -> Shape<Command> {
    let mut f = Fields::of(value)?;
    let body = match f.union("payload")? {
        (0, payload) => CommandBody::CreateOrder(create_order_from_value(payload)?),
        (branch, _) => return Err(format!("payload: unknown command branch {branch}")),
    };
    Ok(Command {
        command_id: CommandId(f.uuid("command_id")?),
        order_id: OrderId(f.uuid("order_id")?),
        storefront_id: text(
            StorefrontId::parse(f.string("storefront_id")?),
            "storefront_id",
        )?,
        expected_version: f.opt_count("expected_version")?,
        issued_at: f.timestamp("issued_at")?,
        body,
    })
}

fn create_order_from_value(value: Value) -> Shape<NewOrderInput> {
    let mut f = Fields::of(value)?;
    let items = f
        .array("items")?
        .into_iter()
        .map(|item| {
            let mut i = Fields::of(item)?;
            Ok(LineItemInput {
                sku: i.string("sku")?,
                quantity: i.long("quantity")?,
                unit_price: i.long("unit_price")?,
            })
        })
        .collect::<Shape<_>>()?;
    let mut a = f.record("shipping_address")?;
    Ok(NewOrderInput {
        customer_id: f.string("customer_id")?,
        currency: f.string("currency")?,
        items,
        shipping_address: AddressInput {
            name: a.string("name")?,
            line1: a.string("line1")?,
            line2: a.opt_string("line2")?,
            city: a.string("city")?,
            postal_code: a.string("postal_code")?,
            country: a.string("country")?,
        },
        metadata: f.string_map("metadata")?,
    })
}

pub(super) fn event_from_value(value: Value) -> Shape<Event> {
    let mut f = Fields::of(value)?;
    let body = match f.union("payload")? {
        (0, payload) => {
            EventBody::OrderCreated(order_from_value(Fields::of(payload)?.take("order")?)?)
        }
        (branch, _) => return Err(format!("payload: unknown event branch {branch}")),
    };
    Ok(Event {
        event_id: EventId(f.uuid("event_id")?),
        order_id: OrderId(f.uuid("order_id")?),
        storefront_id: text(
            StorefrontId::parse(f.string("storefront_id")?),
            "storefront_id",
        )?,
        version: f.count("version")?,
        causation_id: CommandId(f.uuid("causation_id")?),
        occurred_at: f.timestamp("occurred_at")?,
        body,
    })
}

fn text<T>(parsed: Result<T, String>, field: &str) -> Shape<T> {
    parsed.map_err(|e| format!("{field}: {e}"))
}

fn status_from_value(value: Value) -> Shape<OrderStatus> {
    match value {
        Value::Enum(_, symbol) => match symbol.as_str() {
            "PENDING" => Ok(OrderStatus::Pending),
            other => Err(format!("status: unsupported symbol {other}")),
        },
        other => Err(format!("status: expected an enum, got {other:?}")),
    }
}

fn order_from_value(value: Value) -> Shape<Order> {
    let mut f = Fields::of(value)?;
    let items = f
        .array("items")?
        .into_iter()
        .map(|item| {
            let mut i = Fields::of(item)?;
            Ok(LineItem {
                sku: text(Sku::parse(i.string("sku")?), "sku")?,
                quantity: u32::try_from(i.long("quantity")?)
                    .map_err(|e| format!("quantity: {e}"))?,
                unit_price: Amount(i.long("unit_price")?),
                line_total: Amount(i.long("line_total")?),
            })
        })
        .collect::<Shape<_>>()?;
    let mut a = f.record("shipping_address")?;
    Ok(Order {
        order_id: OrderId(f.uuid("order_id")?),
        storefront_id: text(
            StorefrontId::parse(f.string("storefront_id")?),
            "storefront_id",
        )?,
        customer_id: text(CustomerId::parse(f.string("customer_id")?), "customer_id")?,
        status: status_from_value(f.take("status")?)?,
        currency: text(Currency::parse(&f.string("currency")?), "currency")?,
        items,
        subtotal: Amount(f.long("subtotal")?),
        total: Amount(f.long("total")?),
        shipping_address: Address {
            name: a.string("name")?,
            line1: a.string("line1")?,
            line2: a.opt_string("line2")?,
            city: a.string("city")?,
            postal_code: a.string("postal_code")?,
            country: a.string("country")?,
        },
        shipping: match f.take("shipping")? {
            Value::Null => None,
            value => {
                let mut s = Fields::of(value)?;
                Some(ShippingInfo {
                    carrier: s.string("carrier")?,
                    tracking_number: s.string("tracking_number")?,
                })
            }
        },
        metadata: f.string_map("metadata")?,
        version: f.count("version")?,
        created_at: f.timestamp("created_at")?,
        updated_at: f.timestamp("updated_at")?,
    })
}
