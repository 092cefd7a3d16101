//! Fulfillments and returns (ORDER-MODEL.md "Fulfillments", "Returns"): each rule and code,
//! the lifecycle following the shipments, and the commands of before keeping their meaning.

use crate::samples::{apply, fulfillment, order_in, payment, return_of, shipping};
use crate::{
    CommandBody, ConditionInput, FulfillmentInput, FulfillmentState, FulfillmentStatus, Order,
    OrderStatus, PaymentInput, Rejection, ReturnStatus, ShippingInput, UnitsInput,
};

fn step(order: &Order, body: CommandBody) -> Order {
    apply(Some(order), body)
        .unwrap_or_else(|r| panic!("{r}"))
        .order
}

fn refused(order: &Order, body: CommandBody) -> &'static str {
    apply(Some(order), body).expect_err("refused").code()
}

fn create(id: &str, quantity: i64) -> CommandBody {
    CommandBody::CreateFulfillment(fulfillment(id, quantity))
}

fn ship(id: &str) -> CommandBody {
    CommandBody::ShipFulfillment {
        fulfillment_id: id.into(),
        shipping: shipping(),
    }
}

fn deliver(id: &str) -> CommandBody {
    CommandBody::DeliverFulfillment {
        fulfillment_id: id.into(),
    }
}

fn cancel(id: &str) -> CommandBody {
    CommandBody::CancelFulfillment {
        fulfillment_id: id.into(),
    }
}

fn receive(id: &str, condition: &str) -> CommandBody {
    CommandBody::ReceiveReturn {
        return_id: id.into(),
        lines: vec![ConditionInput {
            sku: "SKU-1".into(),
            condition: condition.into(),
        }],
    }
}

#[test]
fn a_split_shipment_moves_the_order_when_every_unit_has() {
    // The sample order: SKU-1 × 2.
    let order = order_in(OrderStatus::Confirmed);
    let two = step(&step(&order, create("a", 1)), create("b", 1));
    assert_eq!(refused(&two, create("c", 1)), "exceeds_ordered");
    // b is cancelled and made again as c.
    let again = step(&step(&two, cancel("b")), create("c", 1));
    let one_shipped = step(&again, ship("a"));
    assert_eq!(one_shipped.status, OrderStatus::Confirmed);
    assert_eq!(
        one_shipped.progress.fulfillment_status,
        FulfillmentStatus::PartiallyFulfilled
    );
    assert_eq!(
        refused(&one_shipped, cancel("a")),
        "fulfillment_not_in_state"
    );
    assert_eq!(
        refused(
            &one_shipped,
            CommandBody::CancelOrder {
                reason: "late".into()
            }
        ),
        "units_shipped"
    );
    let shipped = step(&one_shipped, ship("c"));
    assert_eq!(shipped.status, OrderStatus::Shipped);
    assert_eq!(
        shipped.progress.fulfillment_status,
        FulfillmentStatus::Fulfilled
    );
    let half = step(&shipped, deliver("a"));
    assert_eq!(
        (half.status, half.progress.fulfillment_status),
        (OrderStatus::Shipped, FulfillmentStatus::PartiallyDelivered)
    );
    let delivered = step(&half, deliver("c"));
    assert_eq!(delivered.status, OrderStatus::Delivered);
    assert_eq!(
        delivered.progress.fulfillment_status,
        FulfillmentStatus::Delivered
    );
    let states: Vec<FulfillmentState> = delivered
        .shipments
        .fulfillments
        .iter()
        .map(|f| f.status)
        .collect();
    use FulfillmentState::*;
    assert_eq!(states, [Delivered, Cancelled, Delivered]);
}

#[test]
fn ship_order_and_deliver_order_keep_their_meaning_over_fulfillments() {
    let order = order_in(OrderStatus::Confirmed);
    // One unit in a pending fulfillment: ShipOrder ships it and the other unit at once.
    let partly = step(&order, create("a", 1));
    let shipped = step(&partly, CommandBody::ShipOrder(shipping()));
    assert_eq!(shipped.status, OrderStatus::Shipped);
    assert_eq!(shipped.shipments.fulfillments.len(), 2);
    assert!(shipped.unfulfilled().is_empty());
    // UpdateShipping moves every fulfillment shipped with the order's carrier.
    let corrected = ShippingInput {
        carrier: "UPS".into(),
        tracking_number: "1Z1".into(),
    };
    let updated = step(&shipped, CommandBody::UpdateShipping(corrected.clone()));
    for f in &updated.shipments.fulfillments {
        assert_eq!(f.shipping.as_ref().map(|s| s.carrier.as_str()), Some("UPS"));
    }
    let delivered = step(&updated, CommandBody::DeliverOrder);
    assert_eq!(
        delivered.progress.fulfillment_status,
        FulfillmentStatus::Delivered
    );
    // An order shipped before fulfillments existed reads with one fulfillment of everything.
    let mut old = serde_json::to_value(order_in(OrderStatus::Shipped)).unwrap();
    old.as_object_mut().unwrap().remove("fulfillments");
    old.as_object_mut().unwrap().remove("returns");
    let read: Order = serde_json::from_value(old).unwrap();
    assert_eq!(read.shipments.fulfillments[0].fulfillment_id, "legacy");
    assert_eq!(
        read.progress.fulfillment_status,
        FulfillmentStatus::Fulfilled
    );
}

#[test]
fn fulfillment_rules_each_have_their_code() {
    let order = order_in(OrderStatus::Confirmed);
    let made = step(&order, create("a", 1));
    // The same fulfillment again, under a new command id: nothing changes.
    let again = crate::samples::command_for(made.order_id, create("a", 1));
    assert_eq!(
        crate::handle(Some(&made), None, &again),
        crate::Decision::Unchanged {
            version: made.version
        }
    );
    assert_eq!(refused(&made, create("a", 2)), "conflicting_fact");
    assert_eq!(refused(&order, ship("nope")), "unknown_fulfillment");
    let other_sku = CommandBody::CreateFulfillment(FulfillmentInput {
        fulfillment_id: "x".into(),
        lines: vec![UnitsInput {
            sku: "SKU-404".into(),
            quantity: 1,
        }],
    });
    assert_eq!(refused(&order, other_sku), "unknown_sku");
    assert_eq!(refused(&order, create("x", 3)), "exceeds_ordered");
    let Err(Rejection::Validation(errors)) = apply(Some(&order), create("", 0)) else {
        panic!()
    };
    let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["fulfillment_id", "lines[0].quantity"]);
    assert_eq!(
        refused(&order_in(OrderStatus::Pending), create("a", 1)),
        "not_allowed_in_status"
    );
}

#[test]
fn a_return_of_delivered_units_received_damaged_and_refunded() {
    let delivered = order_in(OrderStatus::Delivered);
    let request = |id: &str, quantity| CommandBody::RequestReturn(return_of(id, quantity));
    assert_eq!(refused(&delivered, request("r", 3)), "exceeds_delivered");
    let requested = step(&delivered, request("r", 1));
    assert_eq!(requested.progress.return_status, ReturnStatus::Requested);
    assert_eq!(refused(&requested, request("r2", 2)), "exceeds_delivered");
    let mismatch = CommandBody::ReceiveReturn {
        return_id: "r".into(),
        lines: vec![],
    };
    assert!(matches!(
        apply(Some(&requested), mismatch),
        Err(Rejection::Validation(_))
    ));
    let wrong_sku = CommandBody::ReceiveReturn {
        return_id: "r".into(),
        lines: vec![ConditionInput {
            sku: "SKU-2".into(),
            condition: "damaged".into(),
        }],
    };
    assert_eq!(refused(&requested, wrong_sku), "conditions_mismatch");
    let received = step(&requested, receive("r", "damaged"));
    assert_eq!(received.progress.return_status, ReturnStatus::Received);
    assert_eq!(
        refused(&received, receive("r", "resellable")),
        "conflicting_fact"
    );
    assert_eq!(
        refused(
            &received,
            CommandBody::CancelReturn {
                return_id: "r".into()
            }
        ),
        "return_not_requested"
    );
    // The refund that names the return: the sample's unit price, 1 999.
    let paid = step(
        &received,
        CommandBody::RecordPayment(payment("s", "sale", 3_998, "succeeded", None)),
    );
    let refund = |id: &str, amount, return_id: &str| {
        CommandBody::RecordPayment(PaymentInput {
            return_id: Some(return_id.into()),
            ..payment(id, "refund", amount, "succeeded", Some("s"))
        })
    };
    assert_eq!(refused(&paid, refund("x", 1, "nope")), "unknown_return");
    let part = step(&paid, refund("p1", 1_000, "r"));
    assert_eq!(part.progress.return_status, ReturnStatus::Received);
    let full = step(&part, refund("p2", 999, "r"));
    assert_eq!(full.progress.return_status, ReturnStatus::Refunded);
    assert_eq!(
        full.shipments.returns[0].lines[0].condition,
        Some(crate::Condition::Damaged)
    );
}

#[test]
fn an_order_is_shipped_when_its_last_unit_ships_even_after_a_delivery() {
    // Found by the proptest: the first fulfillment delivered before the second shipped.
    let order = order_in(OrderStatus::Confirmed);
    let first = step(
        &step(&step(&order, create("a", 1)), ship("a")),
        deliver("a"),
    );
    assert_eq!(first.status, OrderStatus::Confirmed);
    let last = step(&step(&first, create("b", 1)), ship("b"));
    assert_eq!(last.status, OrderStatus::Shipped);
    assert_eq!(
        last.progress.fulfillment_status,
        FulfillmentStatus::PartiallyDelivered
    );
    assert_eq!(step(&last, deliver("b")).status, OrderStatus::Delivered);
}

#[test]
fn a_return_naming_a_sku_on_several_lines_is_received_with_one_condition_for_it() {
    // Found in review: only adjacent repeats were folded, so [A, B, A] was never receivable.
    let mut order = order_in(OrderStatus::Pending);
    order = step(
        &order,
        CommandBody::UpdateOrder(crate::OrderUpdateInput {
            items: Some(vec![
                crate::LineItemInput {
                    sku: "SKU-1".into(),
                    quantity: 2,
                    unit_price: 10,
                },
                crate::LineItemInput {
                    sku: "SKU-2".into(),
                    quantity: 1,
                    unit_price: 10,
                },
            ]),
            shipping_address: None,
            adjustments: None,
        }),
    );
    let delivered = step(
        &step(
            &step(&order, CommandBody::ConfirmOrder),
            CommandBody::ShipOrder(shipping()),
        ),
        CommandBody::DeliverOrder,
    );
    let unit = |sku: &str| UnitsInput {
        sku: sku.into(),
        quantity: 1,
    };
    let requested = step(
        &delivered,
        CommandBody::RequestReturn(crate::ReturnInput {
            return_id: "r".into(),
            lines: vec![unit("SKU-1"), unit("SKU-2"), unit("SKU-1")],
            reason: "x".into(),
        }),
    );
    let condition = |sku: &str| ConditionInput {
        sku: sku.into(),
        condition: "resellable".into(),
    };
    let received = step(
        &requested,
        CommandBody::ReceiveReturn {
            return_id: "r".into(),
            lines: vec![condition("SKU-2"), condition("SKU-1")],
        },
    );
    assert_eq!(received.progress.return_status, ReturnStatus::Received);
}

#[test]
fn cancelling_an_order_with_nothing_shipped_cancels_its_pending_fulfillments() {
    let order = order_in(OrderStatus::Confirmed);
    let pending = step(&order, create("a", 1));
    let cancelled = step(
        &pending,
        CommandBody::CancelOrder {
            reason: "out of stock".into(),
        },
    );
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(
        cancelled.shipments.fulfillments[0].status,
        FulfillmentState::Cancelled
    );
}
