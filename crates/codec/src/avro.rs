//! Domain values <-> Avro `Value`s shaped like the schemas in `schemas/`.
//!
//! Built by hand rather than through serde so that logical types (uuid, timestamp-micros),
//! enum symbols and union branches are exactly what the schemas say.

use std::collections::{BTreeMap, HashMap};

use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use orderflow_domain::{
    Address, Amount, Command, CommandBody, CommandId, Currency, CustomerId, Event, EventBody,
    EventId, LineItem, Order, OrderId, OrderStatus, ShippingInfo, Sku, StorefrontId,
};
use orderflow_domain::{
    AddressInput, LineItemInput, NewOrderInput, OrderUpdateInput, ShippingInput,
};

type Shape<T> = Result<T, String>;

/// Symbols of `io.orderflow.order.OrderStatus`, in schema order.
const STATUS_SYMBOLS: [&str; 7] = [
    "UNKNOWN",
    "PENDING",
    "CONFIRMED",
    "SHIPPED",
    "DELIVERED",
    "CANCELLED",
    "DELETED",
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

/// Union branches of `OrderCommand.payload`, in schema order.
pub const COMMAND_BRANCHES: [&str; 8] = [
    "CreateOrder",
    "UpdateOrder",
    "ConfirmOrder",
    "ShipOrder",
    "UpdateShipping",
    "DeliverOrder",
    "CancelOrder",
    "DeleteOrder",
];

/// Union branches of `OrderEvent.payload`, in schema order.
pub const EVENT_BRANCHES: [&str; 9] = [
    "OrderCreated",
    "OrderUpdated",
    "OrderConfirmed",
    "OrderShipped",
    "ShippingUpdated",
    "OrderDelivered",
    "OrderCancelled",
    "OrderDeleted",
    "CommandRejected",
];

fn branch(branches: &[&str], kind: &str, payload: Value) -> Value {
    let index = branches
        .iter()
        .position(|&b| b == kind)
        .expect("every domain kind has a union branch");
    Value::Union(index as u32, Box::new(payload))
}

pub fn command_to_value(c: &Command) -> Shape<Value> {
    let payload = match &c.body {
        CommandBody::CreateOrder(new) => create_order_to_value(new),
        CommandBody::UpdateOrder(update) => record([
            (
                "items",
                optional(update.items.as_deref().map(line_inputs_to_value)),
            ),
            (
                "shipping_address",
                optional(update.shipping_address.as_ref().map(address_input_to_value)),
            ),
        ]),
        CommandBody::ShipOrder(s) | CommandBody::UpdateShipping(s) => record([
            ("carrier", string(&s.carrier)),
            ("tracking_number", string(&s.tracking_number)),
        ]),
        CommandBody::CancelOrder { reason } => record([("reason", string(reason))]),
        CommandBody::ConfirmOrder | CommandBody::DeliverOrder | CommandBody::DeleteOrder => {
            record([])
        }
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
        ("payload", branch(&COMMAND_BRANCHES, c.body.kind(), payload)),
        ("issued_by", optional(c.issued_by.as_deref().map(string))),
    ]))
}

fn line_inputs_to_value(items: &[LineItemInput]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|i| {
                record([
                    ("sku", string(&i.sku)),
                    ("quantity", Value::Long(i.quantity)),
                    ("unit_price", Value::Long(i.unit_price)),
                ])
            })
            .collect(),
    )
}

fn create_order_to_value(new: &NewOrderInput) -> Value {
    record([
        ("customer_id", string(&new.customer_id)),
        ("currency", string(&new.currency)),
        ("items", line_inputs_to_value(&new.items)),
        (
            "shipping_address",
            address_input_to_value(&new.shipping_address),
        ),
        ("metadata", string_map(&new.metadata)),
    ])
}

fn address_input_to_value(a: &AddressInput) -> Value {
    address_to_value(
        &a.name,
        &a.line1,
        a.line2.as_deref(),
        &a.city,
        &a.postal_code,
        &a.country,
    )
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

fn domain_address_to_value(a: &Address) -> Value {
    address_to_value(
        &a.name,
        &a.line1,
        a.line2.as_deref(),
        &a.city,
        &a.postal_code,
        &a.country,
    )
}

fn shipping_to_value(s: &ShippingInfo) -> Value {
    record([
        ("carrier", string(&s.carrier)),
        ("tracking_number", string(&s.tracking_number)),
    ])
}

fn line_items_to_value(items: &[LineItem]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|i| {
                record([
                    ("sku", string(i.sku.as_str())),
                    ("quantity", Value::Long(i.quantity.into())),
                    ("unit_price", Value::Long(i.unit_price.0)),
                    ("line_total", Value::Long(i.line_total.0)),
                ])
            })
            .collect(),
    )
}

pub fn event_to_value(e: &Event) -> Shape<Value> {
    let payload = match &e.body {
        EventBody::OrderCreated(order) => record([("order", order_to_value(order)?)]),
        EventBody::OrderUpdated {
            items,
            subtotal,
            total,
            shipping_address,
        } => record([
            ("items", line_items_to_value(items)),
            ("subtotal", Value::Long(subtotal.0)),
            ("total", Value::Long(total.0)),
            (
                "shipping_address",
                domain_address_to_value(shipping_address),
            ),
        ]),
        EventBody::OrderShipped(s) | EventBody::ShippingUpdated(s) => {
            record([("shipping", shipping_to_value(s))])
        }
        EventBody::OrderCancelled { reason } => record([("reason", string(reason))]),
        EventBody::CommandRejected {
            command_type,
            code,
            message,
        } => record([
            ("command_type", string(command_type)),
            ("code", string(code)),
            ("message", string(message)),
        ]),
        EventBody::OrderConfirmed | EventBody::OrderDelivered | EventBody::OrderDeleted => {
            record([])
        }
    };
    Ok(record([
        ("event_id", Value::Uuid(e.event_id.0)),
        ("order_id", Value::Uuid(e.order_id.0)),
        ("storefront_id", string(e.storefront_id.as_str())),
        ("version", long(e.version)?),
        ("causation_id", Value::Uuid(e.causation_id.0)),
        ("occurred_at", timestamp(e.occurred_at)),
        ("payload", branch(&EVENT_BRANCHES, e.body.kind(), payload)),
    ]))
}

fn status_to_value(s: OrderStatus) -> Value {
    let symbol = s.as_str().to_ascii_uppercase();
    let index = STATUS_SYMBOLS
        .iter()
        .position(|&x| x == symbol)
        .expect("every status has a symbol");
    Value::Enum(index as u32, symbol)
}

pub fn order_to_value(o: &Order) -> Shape<Value> {
    Ok(record([
        ("order_id", Value::Uuid(o.order_id.0)),
        ("storefront_id", string(o.storefront_id.as_str())),
        ("customer_id", string(o.customer_id.as_str())),
        ("status", status_to_value(o.status)),
        ("currency", string(o.currency.code())),
        ("items", line_items_to_value(&o.items)),
        ("subtotal", Value::Long(o.subtotal.0)),
        ("total", Value::Long(o.total.0)),
        (
            "shipping_address",
            domain_address_to_value(&o.shipping_address),
        ),
        (
            "shipping",
            optional(o.shipping.as_ref().map(shipping_to_value)),
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

fn branch_of<'a>(branches: &[&'a str], (index, payload): (u32, Value)) -> Shape<(&'a str, Fields)> {
    let kind = branches
        .get(index as usize)
        .ok_or_else(|| format!("payload: unknown union branch {index}"))?;
    Ok((kind, Fields::of(payload)?))
}

pub fn command_from_value(value: Value) -> Shape<Command> {
    let mut f = Fields::of(value)?;
    let body = match branch_of(&COMMAND_BRANCHES, f.union("payload")?)? {
        ("CreateOrder", p) => CommandBody::CreateOrder(create_order_from_fields(p)?),
        ("UpdateOrder", mut p) => CommandBody::UpdateOrder(OrderUpdateInput {
            items: match p.take("items")? {
                Value::Null => None,
                items => Some(line_inputs_from_value(items)?),
            },
            shipping_address: match p.take("shipping_address")? {
                Value::Null => None,
                address => Some(address_input_from_fields(Fields::of(address)?)?),
            },
        }),
        ("ConfirmOrder", _) => CommandBody::ConfirmOrder,
        ("ShipOrder", p) => CommandBody::ShipOrder(shipping_input_from_fields(p)?),
        ("UpdateShipping", p) => CommandBody::UpdateShipping(shipping_input_from_fields(p)?),
        ("DeliverOrder", _) => CommandBody::DeliverOrder,
        ("CancelOrder", mut p) => CommandBody::CancelOrder {
            reason: p.string("reason")?,
        },
        ("DeleteOrder", _) => CommandBody::DeleteOrder,
        (other, _) => return Err(format!("payload: unhandled command {other}")),
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
        issued_by: f.opt_string("issued_by")?,
        body,
    })
}

fn line_inputs_from_value(items: Value) -> Shape<Vec<LineItemInput>> {
    let Value::Array(items) = items else {
        return Err(format!("items: expected an array, got {items:?}"));
    };
    items
        .into_iter()
        .map(|item| {
            let mut i = Fields::of(item)?;
            Ok(LineItemInput {
                sku: i.string("sku")?,
                quantity: i.long("quantity")?,
                unit_price: i.long("unit_price")?,
            })
        })
        .collect()
}

fn address_input_from_fields(mut a: Fields) -> Shape<AddressInput> {
    Ok(AddressInput {
        name: a.string("name")?,
        line1: a.string("line1")?,
        line2: a.opt_string("line2")?,
        city: a.string("city")?,
        postal_code: a.string("postal_code")?,
        country: a.string("country")?,
    })
}

fn shipping_input_from_fields(mut s: Fields) -> Shape<ShippingInput> {
    Ok(ShippingInput {
        carrier: s.string("carrier")?,
        tracking_number: s.string("tracking_number")?,
    })
}

fn create_order_from_fields(mut f: Fields) -> Shape<NewOrderInput> {
    Ok(NewOrderInput {
        customer_id: f.string("customer_id")?,
        currency: f.string("currency")?,
        items: line_inputs_from_value(f.take("items")?)?,
        shipping_address: address_input_from_fields(f.record("shipping_address")?)?,
        metadata: f.string_map("metadata")?,
    })
}

pub fn event_from_value(value: Value) -> Shape<Event> {
    let mut f = Fields::of(value)?;
    let body = match branch_of(&EVENT_BRANCHES, f.union("payload")?)? {
        ("OrderCreated", mut p) => {
            EventBody::OrderCreated(Box::new(order_from_value(p.take("order")?)?))
        }
        ("OrderUpdated", mut p) => EventBody::OrderUpdated {
            items: line_items_from_value(p.take("items")?)?,
            subtotal: Amount(p.long("subtotal")?),
            total: Amount(p.long("total")?),
            shipping_address: address_from_fields(p.record("shipping_address")?)?,
        },
        ("OrderConfirmed", _) => EventBody::OrderConfirmed,
        ("OrderShipped", mut p) => {
            EventBody::OrderShipped(shipping_from_fields(p.record("shipping")?)?)
        }
        ("ShippingUpdated", mut p) => {
            EventBody::ShippingUpdated(shipping_from_fields(p.record("shipping")?)?)
        }
        ("OrderDelivered", _) => EventBody::OrderDelivered,
        ("OrderCancelled", mut p) => EventBody::OrderCancelled {
            reason: p.string("reason")?,
        },
        ("OrderDeleted", _) => EventBody::OrderDeleted,
        ("CommandRejected", mut p) => EventBody::CommandRejected {
            command_type: p.string("command_type")?,
            code: p.string("code")?,
            message: p.string("message")?,
        },
        (other, _) => return Err(format!("payload: unhandled event {other}")),
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
        Value::Enum(_, symbol) => OrderStatus::parse(&symbol.to_ascii_lowercase())
            .ok_or_else(|| format!("status: unsupported symbol {symbol}")),
        other => Err(format!("status: expected an enum, got {other:?}")),
    }
}

fn line_items_from_value(items: Value) -> Shape<Vec<LineItem>> {
    let Value::Array(items) = items else {
        return Err(format!("items: expected an array, got {items:?}"));
    };
    items
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
        .collect()
}

fn address_from_fields(mut a: Fields) -> Shape<Address> {
    Ok(Address {
        name: a.string("name")?,
        line1: a.string("line1")?,
        line2: a.opt_string("line2")?,
        city: a.string("city")?,
        postal_code: a.string("postal_code")?,
        country: a.string("country")?,
    })
}

fn shipping_from_fields(mut s: Fields) -> Shape<ShippingInfo> {
    Ok(ShippingInfo {
        carrier: s.string("carrier")?,
        tracking_number: s.string("tracking_number")?,
    })
}

pub fn order_from_value(value: Value) -> Shape<Order> {
    let mut f = Fields::of(value)?;
    Ok(Order {
        order_id: OrderId(f.uuid("order_id")?),
        storefront_id: text(
            StorefrontId::parse(f.string("storefront_id")?),
            "storefront_id",
        )?,
        customer_id: text(CustomerId::parse(f.string("customer_id")?), "customer_id")?,
        status: status_from_value(f.take("status")?)?,
        currency: text(Currency::parse(&f.string("currency")?), "currency")?,
        items: line_items_from_value(f.take("items")?)?,
        subtotal: Amount(f.long("subtotal")?),
        total: Amount(f.long("total")?),
        shipping_address: address_from_fields(f.record("shipping_address")?)?,
        shipping: match f.take("shipping")? {
            Value::Null => None,
            value => Some(shipping_from_fields(Fields::of(value)?)?),
        },
        metadata: f.string_map("metadata")?,
        version: f.count("version")?,
        created_at: f.timestamp("created_at")?,
        updated_at: f.timestamp("updated_at")?,
    })
}

// ---- JSON (for `orderflow tail`) ------------------------------------------------------------

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
