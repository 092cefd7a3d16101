//! `io.orderflow.order.Order` and the value records it shares with events (line items,
//! addresses, shipping), both ways.

use apache_avro::types::Value;

use orderflow_domain::{
    Address, Amount, Currency, CustomerId, LineItem, Order, OrderId, OrderStatus, ShippingInfo,
    Sku, StorefrontId,
};

use super::value::{Fields, Shape, long, optional, record, string, string_map, text, timestamp};

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

pub(super) fn line_items_to_value(items: &[LineItem]) -> Value {
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

pub(super) fn address_to_value(
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

pub(super) fn domain_address_to_value(a: &Address) -> Value {
    address_to_value(
        &a.name,
        &a.line1,
        a.line2.as_deref(),
        &a.city,
        &a.postal_code,
        &a.country,
    )
}

pub(super) fn shipping_to_value(s: &ShippingInfo) -> Value {
    record([
        ("carrier", string(&s.carrier)),
        ("tracking_number", string(&s.tracking_number)),
    ])
}

fn status_from_value(value: Value) -> Shape<OrderStatus> {
    match value {
        Value::Enum(_, symbol) => OrderStatus::parse(&symbol.to_ascii_lowercase())
            .ok_or_else(|| format!("status: unsupported symbol {symbol}")),
        other => Err(format!("status: expected an enum, got {other:?}")),
    }
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

pub(super) fn line_items_from_value(items: Value) -> Shape<Vec<LineItem>> {
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

pub(super) fn address_from_fields(mut a: Fields) -> Shape<Address> {
    Ok(Address {
        name: a.string("name")?,
        line1: a.string("line1")?,
        line2: a.opt_string("line2")?,
        city: a.string("city")?,
        postal_code: a.string("postal_code")?,
        country: a.string("country")?,
    })
}

pub(super) fn shipping_from_fields(mut s: Fields) -> Shape<ShippingInfo> {
    Ok(ShippingInfo {
        carrier: s.string("carrier")?,
        tracking_number: s.string("tracking_number")?,
    })
}
