//! `io.orderflow.order.OrderEvent` <-> `Event`, both ways.

use apache_avro::types::Value;

use orderflow_domain::{
    Amount, CommandId, Event, EventBody, EventId, OrderId, OrderStatus, PaymentState,
    PaymentSummary, StorefrontId,
};

use super::order::{
    PAYMENT_STATES, STATUS_SYMBOLS, address_from_fields, adjustment_from_fields,
    adjustments_to_value, domain_address_to_value, line_items_from_value, line_items_to_value,
    order_from_value, order_to_value, shipping_from_fields, shipping_to_value, summary_from_fields,
    summary_to_value, transaction_from_fields, transaction_to_value,
};
use super::shipments::{
    fulfillment_from_fields, fulfillment_to_value, progress_from_fields, progress_to_value,
    return_from_fields, return_line_from_fields, return_lines_to_value, return_to_value,
};
use super::value::{
    Fields, Shape, branch, branch_of, long, optional, record, string, symbol, text, timestamp,
};

/// Union branches of `OrderEvent.payload`, in schema order.
pub const EVENT_BRANCHES: [&str; 18] = [
    "OrderCreated",
    "OrderUpdated",
    "OrderConfirmed",
    "OrderShipped",
    "ShippingUpdated",
    "OrderDelivered",
    "OrderCancelled",
    "OrderDeleted",
    "CommandRejected",
    "PaymentRecorded",
    "PaymentSettled",
    "FulfillmentCreated",
    "FulfillmentShipped",
    "FulfillmentDelivered",
    "FulfillmentCancelled",
    "ReturnRequested",
    "ReturnReceived",
    "ReturnCancelled",
];

pub fn event_to_value(e: &Event) -> Shape<Value> {
    let payload = match &e.body {
        EventBody::OrderCreated(order) => record([("order", order_to_value(order)?)]),
        EventBody::OrderUpdated {
            items,
            subtotal,
            adjustments,
            total,
            shipping_address,
            payment,
        } => record([
            ("items", line_items_to_value(items)),
            ("subtotal", Value::Long(subtotal.0)),
            ("total", Value::Long(total.0)),
            (
                "shipping_address",
                domain_address_to_value(shipping_address),
            ),
            ("adjustments", adjustments_to_value(adjustments)),
            ("payment", optional(Some(summary_to_value(payment)))),
        ]),
        EventBody::PaymentRecorded {
            transaction,
            payment,
        } => record([
            ("transaction", transaction_to_value(transaction)),
            ("payment", summary_to_value(payment)),
        ]),
        EventBody::PaymentSettled {
            transaction_id,
            status,
            payment,
        } => record([
            ("transaction_id", string(transaction_id)),
            ("status", symbol(&PAYMENT_STATES, status.as_str())),
            ("payment", summary_to_value(payment)),
        ]),
        EventBody::FulfillmentCreated {
            fulfillment,
            progress,
        } => record([
            ("fulfillment", fulfillment_to_value(fulfillment)),
            ("progress", progress_to_value(progress)),
        ]),
        EventBody::FulfillmentShipped {
            fulfillment_id,
            shipping,
            status,
            progress,
        } => record([
            ("fulfillment_id", string(fulfillment_id)),
            ("shipping", shipping_to_value(shipping)),
            ("status", symbol(&STATUS_SYMBOLS, status.as_str())),
            ("progress", progress_to_value(progress)),
        ]),
        EventBody::FulfillmentDelivered {
            fulfillment_id,
            status,
            progress,
        } => record([
            ("fulfillment_id", string(fulfillment_id)),
            ("status", symbol(&STATUS_SYMBOLS, status.as_str())),
            ("progress", progress_to_value(progress)),
        ]),
        EventBody::FulfillmentCancelled {
            fulfillment_id,
            progress,
        } => record([
            ("fulfillment_id", string(fulfillment_id)),
            ("progress", progress_to_value(progress)),
        ]),
        EventBody::ReturnRequested { ret, progress } => record([
            ("return", return_to_value(ret)),
            ("progress", progress_to_value(progress)),
        ]),
        EventBody::ReturnReceived {
            return_id,
            lines,
            progress,
        } => record([
            ("return_id", string(return_id)),
            ("lines", return_lines_to_value(lines)),
            ("progress", progress_to_value(progress)),
        ]),
        EventBody::ReturnCancelled {
            return_id,
            progress,
        } => record([
            ("return_id", string(return_id)),
            ("progress", progress_to_value(progress)),
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

pub fn event_from_value(value: Value) -> Shape<Event> {
    let mut f = Fields::of(value)?;
    let body = match branch_of(&EVENT_BRANCHES, f.union("payload")?)? {
        ("OrderCreated", mut p) => {
            EventBody::OrderCreated(Box::new(order_from_value(p.take("order")?)?))
        }
        ("OrderUpdated", mut p) => {
            let total = Amount(p.long("total")?);
            EventBody::OrderUpdated {
                items: line_items_from_value(p.take("items")?)?,
                subtotal: Amount(p.long("subtotal")?),
                adjustments: p.records("adjustments", adjustment_from_fields)?,
                total,
                shipping_address: address_from_fields(p.record("shipping_address")?)?,
                // Written before v3: no payments then, so nothing captured.
                payment: match p.take("payment")? {
                    Value::Null => PaymentSummary::unpaid(total),
                    summary => summary_from_fields(Fields::of(summary)?)?,
                },
            }
        }
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
        ("PaymentRecorded", mut p) => EventBody::PaymentRecorded {
            transaction: transaction_from_fields(p.record("transaction")?)?,
            payment: summary_from_fields(p.record("payment")?)?,
        },
        ("PaymentSettled", mut p) => EventBody::PaymentSettled {
            transaction_id: p.string("transaction_id")?,
            status: p.symbol("status", PaymentState::parse)?,
            payment: summary_from_fields(p.record("payment")?)?,
        },
        ("FulfillmentCreated", mut p) => EventBody::FulfillmentCreated {
            fulfillment: fulfillment_from_fields(p.record("fulfillment")?)?,
            progress: progress_from_fields(p.record("progress")?)?,
        },
        ("FulfillmentShipped", mut p) => EventBody::FulfillmentShipped {
            fulfillment_id: p.string("fulfillment_id")?,
            shipping: shipping_from_fields(p.record("shipping")?)?,
            status: p.symbol("status", OrderStatus::parse)?,
            progress: progress_from_fields(p.record("progress")?)?,
        },
        ("FulfillmentDelivered", mut p) => EventBody::FulfillmentDelivered {
            fulfillment_id: p.string("fulfillment_id")?,
            status: p.symbol("status", OrderStatus::parse)?,
            progress: progress_from_fields(p.record("progress")?)?,
        },
        ("FulfillmentCancelled", mut p) => EventBody::FulfillmentCancelled {
            fulfillment_id: p.string("fulfillment_id")?,
            progress: progress_from_fields(p.record("progress")?)?,
        },
        ("ReturnRequested", mut p) => EventBody::ReturnRequested {
            ret: return_from_fields(p.record("return")?)?,
            progress: progress_from_fields(p.record("progress")?)?,
        },
        ("ReturnReceived", mut p) => EventBody::ReturnReceived {
            return_id: p.string("return_id")?,
            lines: p.records("lines", return_line_from_fields)?,
            progress: progress_from_fields(p.record("progress")?)?,
        },
        ("ReturnCancelled", mut p) => EventBody::ReturnCancelled {
            return_id: p.string("return_id")?,
            progress: progress_from_fields(p.record("progress")?)?,
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
