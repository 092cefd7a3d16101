//! `io.orderflow.order.OrderCommand` <-> `Command`, both ways.

use apache_avro::types::Value;

use orderflow_domain::{
    AddressInput, AdjustmentInput, ConditionInput, FulfillmentInput, LineItemInput, NewOrderInput,
    OrderUpdateInput, PaymentInput, ReturnInput, SettlementInput, ShippingInput, UnitsInput,
};
use orderflow_domain::{Command, CommandBody, CommandId, OrderId, StorefrontId};

use super::order::address_to_value;
use super::value::{
    Fields, Shape, branch, branch_of, long, optional, record, string, string_map, text, timestamp,
};

/// Union branches of `OrderCommand.payload`, in schema order.
pub const COMMAND_BRANCHES: [&str; 17] = [
    "CreateOrder",
    "UpdateOrder",
    "ConfirmOrder",
    "ShipOrder",
    "UpdateShipping",
    "DeliverOrder",
    "CancelOrder",
    "DeleteOrder",
    "RecordPayment",
    "SettlePayment",
    "CreateFulfillment",
    "ShipFulfillment",
    "DeliverFulfillment",
    "CancelFulfillment",
    "RequestReturn",
    "ReceiveReturn",
    "CancelReturn",
];

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
            (
                "adjustments",
                optional(
                    update
                        .adjustments
                        .as_deref()
                        .map(adjustment_inputs_to_value),
                ),
            ),
        ]),
        CommandBody::RecordPayment(p) => record([
            ("transaction_id", string(&p.transaction_id)),
            ("kind", string(&p.kind)),
            ("amount", Value::Long(p.amount)),
            ("status", string(&p.status)),
            ("provider", string(&p.provider)),
            (
                "provider_reference",
                optional(p.provider_reference.as_deref().map(string)),
            ),
            ("parent_id", optional(p.parent_id.as_deref().map(string))),
            ("return_id", optional(p.return_id.as_deref().map(string))),
        ]),
        CommandBody::SettlePayment(s) => record([
            ("transaction_id", string(&s.transaction_id)),
            ("status", string(&s.status)),
        ]),
        CommandBody::CreateFulfillment(f) => record([
            ("fulfillment_id", string(&f.fulfillment_id)),
            ("lines", units_inputs_to_value(&f.lines)),
        ]),
        CommandBody::ShipFulfillment {
            fulfillment_id,
            shipping,
        } => record([
            ("fulfillment_id", string(fulfillment_id)),
            ("carrier", string(&shipping.carrier)),
            ("tracking_number", string(&shipping.tracking_number)),
        ]),
        CommandBody::DeliverFulfillment { fulfillment_id }
        | CommandBody::CancelFulfillment { fulfillment_id } => {
            record([("fulfillment_id", string(fulfillment_id))])
        }
        CommandBody::RequestReturn(r) => record([
            ("return_id", string(&r.return_id)),
            ("lines", units_inputs_to_value(&r.lines)),
            ("reason", string(&r.reason)),
        ]),
        CommandBody::ReceiveReturn { return_id, lines } => record([
            ("return_id", string(return_id)),
            (
                "lines",
                Value::Array(
                    lines
                        .iter()
                        .map(|l| {
                            record([("sku", string(&l.sku)), ("condition", string(&l.condition))])
                        })
                        .collect(),
                ),
            ),
        ]),
        CommandBody::CancelReturn { return_id } => record([("return_id", string(return_id))]),
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

fn units_inputs_to_value(lines: &[UnitsInput]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|u| {
                record([
                    ("sku", string(&u.sku)),
                    ("quantity", Value::Long(u.quantity)),
                ])
            })
            .collect(),
    )
}

fn units_input_from_fields(mut u: Fields) -> Shape<UnitsInput> {
    Ok(UnitsInput {
        sku: u.string("sku")?,
        quantity: u.long("quantity")?,
    })
}

fn adjustment_inputs_to_value(adjustments: &[AdjustmentInput]) -> Value {
    Value::Array(
        adjustments
            .iter()
            .map(|a| {
                record([
                    ("kind", string(&a.kind)),
                    ("label", string(&a.label)),
                    ("amount", Value::Long(a.amount)),
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
        ("adjustments", adjustment_inputs_to_value(&new.adjustments)),
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
            adjustments: match p.take("adjustments")? {
                Value::Null => None,
                Value::Array(items) => Some(
                    items
                        .into_iter()
                        .map(|v| adjustment_input_from_fields(Fields::of(v)?))
                        .collect::<Shape<_>>()?,
                ),
                other => return Err(format!("adjustments: expected an array, got {other:?}")),
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
        ("RecordPayment", mut p) => CommandBody::RecordPayment(PaymentInput {
            transaction_id: p.string("transaction_id")?,
            kind: p.string("kind")?,
            amount: p.long("amount")?,
            status: p.string("status")?,
            provider: p.string("provider")?,
            provider_reference: p.opt_string("provider_reference")?,
            parent_id: p.opt_string("parent_id")?,
            return_id: p.opt_string("return_id")?,
        }),
        ("SettlePayment", mut p) => CommandBody::SettlePayment(SettlementInput {
            transaction_id: p.string("transaction_id")?,
            status: p.string("status")?,
        }),
        ("CreateFulfillment", mut p) => CommandBody::CreateFulfillment(FulfillmentInput {
            fulfillment_id: p.string("fulfillment_id")?,
            lines: p.records("lines", units_input_from_fields)?,
        }),
        ("ShipFulfillment", mut p) => CommandBody::ShipFulfillment {
            fulfillment_id: p.string("fulfillment_id")?,
            shipping: shipping_input_from_fields(p)?,
        },
        ("DeliverFulfillment", mut p) => CommandBody::DeliverFulfillment {
            fulfillment_id: p.string("fulfillment_id")?,
        },
        ("CancelFulfillment", mut p) => CommandBody::CancelFulfillment {
            fulfillment_id: p.string("fulfillment_id")?,
        },
        ("RequestReturn", mut p) => CommandBody::RequestReturn(ReturnInput {
            return_id: p.string("return_id")?,
            lines: p.records("lines", units_input_from_fields)?,
            reason: p.string("reason")?,
        }),
        ("ReceiveReturn", mut p) => CommandBody::ReceiveReturn {
            return_id: p.string("return_id")?,
            lines: p.records("lines", |mut l| {
                Ok(ConditionInput {
                    sku: l.string("sku")?,
                    condition: l.string("condition")?,
                })
            })?,
        },
        ("CancelReturn", mut p) => CommandBody::CancelReturn {
            return_id: p.string("return_id")?,
        },
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

fn adjustment_input_from_fields(mut a: Fields) -> Shape<AdjustmentInput> {
    Ok(AdjustmentInput {
        kind: a.string("kind")?,
        label: a.string("label")?,
        amount: a.long("amount")?,
    })
}

fn create_order_from_fields(mut f: Fields) -> Shape<NewOrderInput> {
    Ok(NewOrderInput {
        customer_id: f.string("customer_id")?,
        currency: f.string("currency")?,
        items: line_inputs_from_value(f.take("items")?)?,
        shipping_address: address_input_from_fields(f.record("shipping_address")?)?,
        metadata: f.string_map("metadata")?,
        adjustments: f.records("adjustments", adjustment_input_from_fields)?,
    })
}
