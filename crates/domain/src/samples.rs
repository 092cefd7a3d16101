//! Sample inputs, commands and orders, for this crate's tests and those of the crates that
//! build on it (feature `samples`).

use chrono::{DateTime, TimeZone, Utc};

use crate::{
    AddressInput, AdjustmentInput, Applied, Command, CommandBody, CommandId, ConditionInput, Event,
    FulfillmentInput, LineItemInput, NewOrderInput, Order, OrderId, OrderStatus, OrderUpdateInput,
    PaymentInput, Rejection, ReturnInput, SettlementInput, ShippingInput, StorefrontId, UnitsInput,
    decide, rejected_event,
};

/// A valid CreateOrder payload.
pub fn sample_input() -> NewOrderInput {
    NewOrderInput {
        customer_id: "c-42".into(),
        currency: "EUR".into(),
        items: vec![LineItemInput {
            sku: "SKU-1".into(),
            quantity: 2,
            unit_price: 1999,
        }],
        shipping_address: AddressInput {
            name: "Ada Lovelace".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Berlin".into(),
            postal_code: "10115".into(),
            country: "DE".into(),
        },
        metadata: [("channel".to_owned(), "web".to_owned())].into(),
        adjustments: Vec::new(),
    }
}

/// An adjustment of `kind` ("shipping", "tax", "discount", "fee") as a storefront sends it.
pub fn adjustment(kind: &str, amount: i64) -> AdjustmentInput {
    AdjustmentInput {
        kind: kind.into(),
        label: format!("{kind} line"),
        amount,
    }
}

/// A RecordPayment payload from the `manual` provider.
pub fn payment(
    transaction_id: &str,
    kind: &str,
    amount: i64,
    status: &str,
    parent_id: Option<&str>,
) -> PaymentInput {
    PaymentInput {
        transaction_id: transaction_id.into(),
        kind: kind.into(),
        amount,
        status: status.into(),
        provider: "manual".into(),
        provider_reference: None,
        parent_id: parent_id.map(Into::into),
        return_id: None,
    }
}

/// A SettlePayment payload.
pub fn settlement(transaction_id: &str, status: &str) -> SettlementInput {
    SettlementInput {
        transaction_id: transaction_id.into(),
        status: status.into(),
    }
}

/// A fixed instant, `second` seconds past a minute of 2026-11-25.
pub fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, second).unwrap()
}

pub fn command_for(order_id: OrderId, body: CommandBody) -> Command {
    Command {
        command_id: CommandId::new_random(),
        order_id,
        storefront_id: StorefrontId::default_storefront(),
        expected_version: None,
        issued_at: at(0),
        issued_by: None,
        body,
    }
}

pub fn create_command(input: NewOrderInput) -> Command {
    command_for(OrderId::new_random(), CommandBody::CreateOrder(input))
}

pub fn shipping() -> ShippingInput {
    ShippingInput {
        carrier: "DHL".into(),
        tracking_number: "JD0001".into(),
    }
}

/// One command of every kind for `order_id` (`every_event` shows a valid order of them).
pub fn every_command(order_id: OrderId) -> Vec<Command> {
    [
        CommandBody::CreateOrder(NewOrderInput {
            adjustments: vec![adjustment("shipping", 495), adjustment("discount", -200)],
            ..sample_input()
        }),
        CommandBody::UpdateOrder(OrderUpdateInput {
            items: Some(vec![LineItemInput {
                sku: "SKU-1".into(),
                quantity: 3,
                unit_price: 250,
            }]),
            shipping_address: None,
            adjustments: Some(vec![adjustment("tax", 143)]),
        }),
        CommandBody::RecordPayment(PaymentInput {
            provider_reference: Some("pi_sample".into()),
            ..payment("auth-1", "authorization", 893, "pending", None)
        }),
        CommandBody::SettlePayment(settlement("auth-1", "succeeded")),
        CommandBody::ConfirmOrder,
        CommandBody::ShipOrder(shipping()),
        CommandBody::UpdateShipping(ShippingInput {
            carrier: "UPS".into(),
            tracking_number: "1Z999".into(),
        }),
        CommandBody::DeliverOrder,
        CommandBody::CancelOrder {
            reason: "customer asked".into(),
        },
        CommandBody::DeleteOrder,
        CommandBody::CreateFulfillment(fulfillment("f-1", 1)),
        CommandBody::ShipFulfillment {
            fulfillment_id: "f-1".into(),
            shipping: shipping(),
        },
        CommandBody::DeliverFulfillment {
            fulfillment_id: "f-1".into(),
        },
        CommandBody::CancelFulfillment {
            fulfillment_id: "f-2".into(),
        },
        CommandBody::RequestReturn(return_of("r-1", 1)),
        CommandBody::ReceiveReturn {
            return_id: "r-1".into(),
            lines: vec![ConditionInput {
                sku: "SKU-1".into(),
                condition: "damaged".into(),
            }],
        },
        CommandBody::CancelReturn {
            return_id: "r-2".into(),
        },
    ]
    .into_iter()
    .map(|body| command_for(order_id, body))
    .collect()
}

/// A CreateFulfillment payload of `quantity` units of SKU-1.
pub fn fulfillment(id: &str, quantity: i64) -> FulfillmentInput {
    FulfillmentInput {
        fulfillment_id: id.into(),
        lines: vec![UnitsInput {
            sku: "SKU-1".into(),
            quantity,
        }],
    }
}

/// A RequestReturn payload of `quantity` units of SKU-1.
pub fn return_of(id: &str, quantity: i64) -> ReturnInput {
    ReturnInput {
        return_id: id.into(),
        lines: vec![UnitsInput {
            sku: "SKU-1".into(),
            quantity,
        }],
        reason: "does not fit".into(),
    }
}

/// One event of every kind, as the domain produces them from real command sequences.
pub fn every_event() -> Vec<Event> {
    let id = OrderId::new_random();
    let commands = every_command(id);
    let kind = |kind: &str| {
        let mut c = commands
            .iter()
            .find(|c| c.body.kind() == kind)
            .unwrap()
            .clone();
        c.command_id = CommandId::new_random();
        c
    };
    let extra = |body| command_for(id, body);
    let steps = [
        kind("CreateOrder"),
        kind("UpdateOrder"),
        kind("RecordPayment"),
        kind("SettlePayment"),
        kind("ConfirmOrder"),
        kind("CreateFulfillment"),
        extra(CommandBody::CreateFulfillment(fulfillment("f-2", 1))),
        kind("CancelFulfillment"),
        kind("ShipFulfillment"),
        kind("DeliverFulfillment"),
        extra(CommandBody::RequestReturn(return_of("r-2", 1))),
        kind("CancelReturn"),
        kind("RequestReturn"),
        kind("ReceiveReturn"),
        // the two units left, shipped at once
        kind("ShipOrder"),
        kind("UpdateShipping"),
        kind("DeliverOrder"),
    ];
    let mut order: Option<Order> = None;
    let mut events = Vec::new();
    for command in &steps {
        let applied = changed(decide(order.as_ref(), command))
            .unwrap_or_else(|r| panic!("{}: {r}", command.body.kind()));
        events.push(applied.event);
        order = Some(applied.order);
    }
    // the rejection comes from cancelling a delivered order
    let cancel = kind("CancelOrder");
    let rejection = decide(order.as_ref(), &cancel).expect_err("a delivered order stays");
    events.push(rejected_event(order.as_ref(), &cancel, &rejection));
    // cancel and delete need another order
    let mut pending = changed(decide(None, &create_command(sample_input())))
        .expect("valid")
        .order;
    for body in [kind("CancelOrder").body, kind("DeleteOrder").body] {
        let command = command_for(pending.order_id, body);
        let applied = changed(decide(Some(&pending), &command)).expect("a pending order cancels");
        events.push(applied.event);
        pending = applied.order;
    }
    events
}

/// What `decide` gave, for a command that must change the order: a known payment fact (no
/// change) counts as a failure here.
pub fn changed(decided: Result<Option<Applied>, Rejection>) -> Result<Applied, Rejection> {
    decided.map(|applied| applied.expect("the command changes the order"))
}

/// Decides `body` against `order` as a user's command would, issued at the order's version.
pub fn apply(order: Option<&Order>, body: CommandBody) -> Result<Applied, Rejection> {
    let id = order.map_or_else(OrderId::new_random, |o| o.order_id);
    let mut command = command_for(id, body);
    command.issued_at = at(order.map_or(0, |o| o.version as u32));
    changed(decide(order, &command))
}

/// An order brought to `status` through the commands a user would send.
pub fn order_in(status: OrderStatus) -> Order {
    use CommandBody::*;
    let path: &[CommandBody] = match status {
        OrderStatus::Pending => &[],
        OrderStatus::Confirmed => &[ConfirmOrder],
        OrderStatus::Shipped => &[ConfirmOrder, ShipOrder(shipping())],
        OrderStatus::Delivered => &[ConfirmOrder, ShipOrder(shipping()), DeliverOrder],
        OrderStatus::Cancelled => &[CancelOrder {
            reason: "changed my mind".into(),
        }],
        OrderStatus::Deleted => &[DeleteOrder],
    };
    let mut order = apply(None, CreateOrder(sample_input())).unwrap().order;
    for body in path {
        order = apply(Some(&order), body.clone()).unwrap().order;
    }
    assert_eq!(order.status, status);
    order
}
