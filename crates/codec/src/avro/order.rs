//! `io.orderflow.order.Order` and the value records it shares with events (line items,
//! addresses, shipping), both ways.

use apache_avro::types::Value;

use orderflow_domain::{
    Address, Adjustment, AdjustmentKind, Amount, Currency, CustomerId, LineItem, Order, OrderId,
    OrderStatus, PaymentKind, PaymentLedger, PaymentState, PaymentStatus, PaymentSummary, Progress,
    Shipments, ShippingInfo, Sku, StorefrontId, Transaction,
};

use super::shipments::{
    fulfillment_from_fields, fulfillment_to_value, progress_to_value, return_from_fields,
    return_to_value,
};
use super::value::{
    Fields, Shape, long, optional, record, string, string_map, symbol, text, timestamp,
};

/// Symbols of `io.orderflow.order.OrderStatus`, in schema order.
pub(super) const STATUS_SYMBOLS: [&str; 7] = [
    "UNKNOWN",
    "PENDING",
    "CONFIRMED",
    "SHIPPED",
    "DELIVERED",
    "CANCELLED",
    "DELETED",
];

const ADJUSTMENT_KINDS: [&str; 5] = ["UNKNOWN", "SHIPPING", "TAX", "DISCOUNT", "FEE"];
const PAYMENT_KINDS: [&str; 6] = [
    "UNKNOWN",
    "AUTHORIZATION",
    "CAPTURE",
    "SALE",
    "VOID",
    "REFUND",
];
pub(super) const PAYMENT_STATES: [&str; 4] = ["UNKNOWN", "PENDING", "SUCCEEDED", "FAILED"];
const PAYMENT_STATUSES: [&str; 9] = [
    "UNKNOWN",
    "UNPAID",
    "AUTHORIZED",
    "PARTIALLY_PAID",
    "PAID",
    "OVERPAID",
    "PARTIALLY_REFUNDED",
    "REFUNDED",
    "VOIDED",
];

pub fn order_to_value(o: &Order) -> Shape<Value> {
    Ok(record([
        ("order_id", Value::Uuid(o.order_id.0)),
        ("storefront_id", string(o.storefront_id.as_str())),
        ("customer_id", string(o.customer_id.as_str())),
        ("status", symbol(&STATUS_SYMBOLS, o.status.as_str())),
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
        ("adjustments", adjustments_to_value(&o.adjustments)),
        (
            "payments",
            Value::Array(o.payments.0.iter().map(transaction_to_value).collect()),
        ),
        ("payment", optional(Some(summary_to_value(&o.payment)))),
        (
            "fulfillments",
            Value::Array(
                o.shipments
                    .fulfillments
                    .iter()
                    .map(fulfillment_to_value)
                    .collect(),
            ),
        ),
        (
            "returns",
            Value::Array(o.shipments.returns.iter().map(return_to_value).collect()),
        ),
        ("progress", optional(Some(progress_to_value(&o.progress)))),
    ]))
}

pub(super) fn adjustments_to_value(adjustments: &[Adjustment]) -> Value {
    Value::Array(
        adjustments
            .iter()
            .map(|a| {
                record([
                    ("kind", symbol(&ADJUSTMENT_KINDS, a.kind.as_str())),
                    ("label", string(&a.label)),
                    ("amount", Value::Long(a.amount.0)),
                ])
            })
            .collect(),
    )
}

pub(super) fn transaction_to_value(t: &Transaction) -> Value {
    record([
        ("transaction_id", string(&t.transaction_id)),
        ("kind", symbol(&PAYMENT_KINDS, t.kind.as_str())),
        ("amount", Value::Long(t.amount.0)),
        ("status", symbol(&PAYMENT_STATES, t.status.as_str())),
        ("provider", string(&t.provider)),
        (
            "provider_reference",
            optional(t.provider_reference.as_deref().map(string)),
        ),
        ("parent_id", optional(t.parent_id.as_deref().map(string))),
        ("return_id", optional(t.return_id.as_deref().map(string))),
    ])
}

pub(super) fn summary_to_value(p: &PaymentSummary) -> Value {
    record([
        ("authorized", Value::Long(p.authorized.0)),
        ("captured", Value::Long(p.captured.0)),
        ("refunded", Value::Long(p.refunded.0)),
        ("balance_due", Value::Long(p.balance_due.0)),
        ("refund_due", Value::Long(p.refund_due.0)),
        (
            "payment_status",
            symbol(&PAYMENT_STATUSES, p.payment_status.as_str()),
        ),
    ])
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

/// An order as written with any snapshot version: what is derived (`payment`) is not read
/// but recomputed from the ledger, as the domain always does.
pub fn order_from_value(value: Value) -> Shape<Order> {
    let mut f = Fields::of(value)?;
    let total = Amount(f.long("total")?);
    let mut order = Order {
        order_id: OrderId(f.uuid("order_id")?),
        storefront_id: text(
            StorefrontId::parse(f.string("storefront_id")?),
            "storefront_id",
        )?,
        customer_id: text(CustomerId::parse(f.string("customer_id")?), "customer_id")?,
        status: f.symbol("status", OrderStatus::parse)?,
        currency: text(Currency::parse(&f.string("currency")?), "currency")?,
        items: line_items_from_value(f.take("items")?)?,
        subtotal: Amount(f.long("subtotal")?),
        adjustments: f.records("adjustments", adjustment_from_fields)?,
        total,
        shipping_address: address_from_fields(f.record("shipping_address")?)?,
        shipping: match f.take("shipping")? {
            Value::Null => None,
            value => Some(shipping_from_fields(Fields::of(value)?)?),
        },
        metadata: f.string_map("metadata")?,
        payments: PaymentLedger(f.records("payments", transaction_from_fields)?),
        payment: PaymentSummary::unpaid(total),
        shipments: Shipments {
            fulfillments: f.records("fulfillments", fulfillment_from_fields)?,
            returns: f.records("returns", return_from_fields)?,
        },
        progress: Progress::NONE,
        version: f.count("version")?,
        created_at: f.timestamp("created_at")?,
        updated_at: f.timestamp("updated_at")?,
    };
    order.derive().map_err(|e| format!("payments: {e}"))?;
    Ok(order)
}

pub(super) fn adjustment_from_fields(mut a: Fields) -> Shape<Adjustment> {
    Ok(Adjustment {
        kind: a.symbol("kind", AdjustmentKind::parse)?,
        label: a.string("label")?,
        amount: Amount(a.long("amount")?),
    })
}

pub(super) fn transaction_from_fields(mut t: Fields) -> Shape<Transaction> {
    Ok(Transaction {
        transaction_id: t.string("transaction_id")?,
        kind: t.symbol("kind", PaymentKind::parse)?,
        amount: Amount(t.long("amount")?),
        status: t.symbol("status", PaymentState::parse)?,
        provider: t.string("provider")?,
        provider_reference: t.opt_string("provider_reference")?,
        parent_id: t.opt_string("parent_id")?,
        return_id: t.opt_string("return_id")?,
    })
}

pub(super) fn summary_from_fields(mut p: Fields) -> Shape<PaymentSummary> {
    Ok(PaymentSummary {
        authorized: Amount(p.long("authorized")?),
        captured: Amount(p.long("captured")?),
        refunded: Amount(p.long("refunded")?),
        balance_due: Amount(p.long("balance_due")?),
        refund_due: Amount(p.long("refund_due")?),
        payment_status: p.symbol("payment_status", PaymentStatus::parse)?,
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
