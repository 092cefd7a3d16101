//! Fulfillments, returns and their derived progress (`io.orderflow.order.Fulfillment`,
//! `Return`, `Progress`), both ways.

use apache_avro::types::Value;

use orderflow_domain::{
    Condition, Fulfillment, FulfillmentState, FulfillmentStatus, Progress, Return, ReturnLine,
    ReturnState, ReturnStatus, Sku, Units,
};

use super::order::{shipping_from_fields, shipping_to_value};
use super::value::{Fields, Shape, optional, record, string, symbol, text};

const FULFILLMENT_STATES: [&str; 5] = ["UNKNOWN", "PENDING", "SHIPPED", "DELIVERED", "CANCELLED"];
const CONDITIONS: [&str; 3] = ["UNKNOWN", "RESELLABLE", "DAMAGED"];
const RETURN_STATES: [&str; 4] = ["UNKNOWN", "REQUESTED", "RECEIVED", "CANCELLED"];
const FULFILLMENT_STATUSES: [&str; 6] = [
    "UNKNOWN",
    "UNFULFILLED",
    "PARTIALLY_FULFILLED",
    "FULFILLED",
    "PARTIALLY_DELIVERED",
    "DELIVERED",
];
const RETURN_STATUSES: [&str; 5] = ["UNKNOWN", "NONE", "REQUESTED", "RECEIVED", "REFUNDED"];

fn units_to_value(lines: &[Units]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|u| {
                record([
                    ("sku", string(u.sku.as_str())),
                    ("quantity", Value::Long(u.quantity.into())),
                ])
            })
            .collect(),
    )
}

pub(super) fn fulfillment_to_value(f: &Fulfillment) -> Value {
    record([
        ("fulfillment_id", string(&f.fulfillment_id)),
        ("lines", units_to_value(&f.lines)),
        ("status", symbol(&FULFILLMENT_STATES, f.status.as_str())),
        (
            "shipping",
            optional(f.shipping.as_ref().map(shipping_to_value)),
        ),
    ])
}

pub(super) fn return_lines_to_value(lines: &[ReturnLine]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|l| {
                record([
                    ("sku", string(l.sku.as_str())),
                    ("quantity", Value::Long(l.quantity.into())),
                    (
                        "condition",
                        optional(l.condition.map(|c| symbol(&CONDITIONS, c.as_str()))),
                    ),
                ])
            })
            .collect(),
    )
}

pub(super) fn return_to_value(r: &Return) -> Value {
    record([
        ("return_id", string(&r.return_id)),
        ("lines", return_lines_to_value(&r.lines)),
        ("reason", string(&r.reason)),
        ("status", symbol(&RETURN_STATES, r.status.as_str())),
    ])
}

pub(super) fn progress_to_value(p: &Progress) -> Value {
    record([
        (
            "fulfillment_status",
            symbol(&FULFILLMENT_STATUSES, p.fulfillment_status.as_str()),
        ),
        (
            "return_status",
            symbol(&RETURN_STATUSES, p.return_status.as_str()),
        ),
    ])
}

fn quantity(f: &mut Fields) -> Shape<u32> {
    u32::try_from(f.long("quantity")?).map_err(|e| format!("quantity: {e}"))
}

pub(super) fn fulfillment_from_fields(mut f: Fields) -> Shape<Fulfillment> {
    Ok(Fulfillment {
        fulfillment_id: f.string("fulfillment_id")?,
        lines: f.records("lines", |mut u| {
            Ok(Units {
                sku: text(Sku::parse(u.string("sku")?), "sku")?,
                quantity: quantity(&mut u)?,
            })
        })?,
        status: f.symbol("status", FulfillmentState::parse)?,
        shipping: match f.take("shipping")? {
            Value::Null => None,
            value => Some(shipping_from_fields(Fields::of(value)?)?),
        },
    })
}

pub(super) fn return_line_from_fields(mut l: Fields) -> Shape<ReturnLine> {
    Ok(ReturnLine {
        sku: text(Sku::parse(l.string("sku")?), "sku")?,
        quantity: quantity(&mut l)?,
        condition: match l.take("condition")? {
            Value::Null => None,
            Value::Enum(_, symbol) => Some(
                Condition::parse(&symbol.to_ascii_lowercase())
                    .ok_or_else(|| format!("condition: unsupported symbol {symbol}"))?,
            ),
            other => return Err(format!("condition: expected an enum, got {other:?}")),
        },
    })
}

pub(super) fn return_from_fields(mut r: Fields) -> Shape<Return> {
    Ok(Return {
        return_id: r.string("return_id")?,
        lines: r.records("lines", return_line_from_fields)?,
        reason: r.string("reason")?,
        status: r.symbol("status", ReturnState::parse)?,
    })
}

pub(super) fn progress_from_fields(mut p: Fields) -> Shape<Progress> {
    Ok(Progress {
        fulfillment_status: p.symbol("fulfillment_status", FulfillmentStatus::parse)?,
        return_status: p.symbol("return_status", ReturnStatus::parse)?,
    })
}
