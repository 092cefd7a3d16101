//! Unit tests of the domain.

mod fulfillments;
mod invariants;
mod payment_commands;
mod payments;
mod properties;
mod rules;
mod totals;
mod v2_replay;

use super::validation::{MAX_LINE_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE};
use super::*;
use crate::samples::*;

/// `decide` for a command that must change the order (most tests here).
fn decide(current: Option<&Order>, command: &Command) -> Result<Applied, Rejection> {
    changed(super::decide(current, command))
}

fn body_named(kind: &str) -> CommandBody {
    every_command(OrderId::new_random())
        .into_iter()
        .find(|c| c.body.kind() == kind)
        .unwrap()
        .body
}

enum Expect {
    Becomes(OrderStatus),
    Refused(&'static str),
}

fn check(from: OrderStatus, kind: &str, expect: Expect) {
    let order = order_in(from);
    let result = apply(Some(&order), body_named(kind));
    match (expect, result) {
        (Expect::Becomes(to), Ok(applied)) => {
            assert_eq!(applied.order.status, to);
            assert_eq!(applied.order.version, order.version + 1);
            assert_eq!(applied.event.version, order.version + 1);
            let kind = applied.event.body.kind();
            assert!(
                ["Order", "Payment", "Fulfillment", "Return"]
                    .iter()
                    .any(|p| kind.starts_with(p))
                    || kind == "ShippingUpdated",
                "{kind}"
            );
        }
        (Expect::Refused(code), Err(rejection)) => {
            assert_eq!(rejection.code(), code, "{rejection}");
        }
        (Expect::Becomes(to), Err(r)) => {
            panic!("{kind} on {from} should give {to}, was refused: {r}")
        }
        (Expect::Refused(code), Ok(a)) => {
            panic!(
                "{kind} on {from} should be refused ({code}), gave {}",
                a.order.status
            )
        }
    }
}

macro_rules! transitions {
    ($($name:ident: $from:ident, $kind:literal => $expect:expr;)*) => {
        $(
            #[test]
            fn $name() {
                use Expect::*;
                use OrderStatus::*;
                check($from, $kind, $expect);
            }
        )*

        /// Every row above, for the coverage check.
        fn transition_table() -> Vec<(OrderStatus, &'static str, Expect)> {
            use Expect::*;
            use OrderStatus::*;
            vec![$(($from, $kind, $expect)),*]
        }
    };
}

transitions! {
    pending_update_stays_pending: Pending, "UpdateOrder" => Becomes(Pending);
    pending_confirm_becomes_confirmed: Pending, "ConfirmOrder" => Becomes(Confirmed);
    pending_ship_is_refused: Pending, "ShipOrder" => Refused("invalid_transition");
    pending_update_shipping_is_refused: Pending, "UpdateShipping" => Refused("not_allowed_in_status");
    pending_deliver_is_refused: Pending, "DeliverOrder" => Refused("invalid_transition");
    pending_cancel_becomes_cancelled: Pending, "CancelOrder" => Becomes(Cancelled);
    pending_delete_becomes_deleted: Pending, "DeleteOrder" => Becomes(Deleted);
    pending_create_is_already_exists: Pending, "CreateOrder" => Refused("already_exists");

    confirmed_update_is_refused: Confirmed, "UpdateOrder" => Refused("not_allowed_in_status");
    confirmed_confirm_is_refused: Confirmed, "ConfirmOrder" => Refused("invalid_transition");
    confirmed_ship_becomes_shipped: Confirmed, "ShipOrder" => Becomes(Shipped);
    confirmed_update_shipping_is_refused: Confirmed, "UpdateShipping" => Refused("not_allowed_in_status");
    confirmed_deliver_is_refused: Confirmed, "DeliverOrder" => Refused("invalid_transition");
    confirmed_cancel_becomes_cancelled: Confirmed, "CancelOrder" => Becomes(Cancelled);
    confirmed_delete_is_refused: Confirmed, "DeleteOrder" => Refused("invalid_transition");
    confirmed_create_is_already_exists: Confirmed, "CreateOrder" => Refused("already_exists");

    shipped_update_is_refused: Shipped, "UpdateOrder" => Refused("not_allowed_in_status");
    shipped_confirm_is_refused: Shipped, "ConfirmOrder" => Refused("invalid_transition");
    shipped_ship_is_refused: Shipped, "ShipOrder" => Refused("invalid_transition");
    shipped_update_shipping_stays_shipped: Shipped, "UpdateShipping" => Becomes(Shipped);
    shipped_deliver_becomes_delivered: Shipped, "DeliverOrder" => Becomes(Delivered);
    shipped_cancel_is_refused: Shipped, "CancelOrder" => Refused("invalid_transition");
    shipped_delete_is_refused: Shipped, "DeleteOrder" => Refused("invalid_transition");
    shipped_create_is_already_exists: Shipped, "CreateOrder" => Refused("already_exists");

    delivered_update_is_refused: Delivered, "UpdateOrder" => Refused("not_allowed_in_status");
    delivered_confirm_is_refused: Delivered, "ConfirmOrder" => Refused("invalid_transition");
    delivered_ship_is_refused: Delivered, "ShipOrder" => Refused("invalid_transition");
    delivered_update_shipping_is_refused: Delivered, "UpdateShipping" => Refused("not_allowed_in_status");
    delivered_deliver_is_refused: Delivered, "DeliverOrder" => Refused("invalid_transition");
    delivered_cancel_is_refused: Delivered, "CancelOrder" => Refused("invalid_transition");
    delivered_delete_is_refused: Delivered, "DeleteOrder" => Refused("invalid_transition");
    delivered_create_is_already_exists: Delivered, "CreateOrder" => Refused("already_exists");

    cancelled_update_is_refused: Cancelled, "UpdateOrder" => Refused("not_allowed_in_status");
    cancelled_confirm_is_refused: Cancelled, "ConfirmOrder" => Refused("invalid_transition");
    cancelled_ship_is_refused: Cancelled, "ShipOrder" => Refused("invalid_transition");
    cancelled_update_shipping_is_refused: Cancelled, "UpdateShipping" => Refused("not_allowed_in_status");
    cancelled_deliver_is_refused: Cancelled, "DeliverOrder" => Refused("invalid_transition");
    cancelled_cancel_is_refused: Cancelled, "CancelOrder" => Refused("invalid_transition");
    cancelled_delete_becomes_deleted: Cancelled, "DeleteOrder" => Becomes(Deleted);
    cancelled_create_is_already_exists: Cancelled, "CreateOrder" => Refused("already_exists");

    deleted_update_is_not_found: Deleted, "UpdateOrder" => Refused("not_found");
    deleted_confirm_is_not_found: Deleted, "ConfirmOrder" => Refused("not_found");
    deleted_ship_is_not_found: Deleted, "ShipOrder" => Refused("not_found");
    deleted_update_shipping_is_not_found: Deleted, "UpdateShipping" => Refused("not_found");
    deleted_deliver_is_not_found: Deleted, "DeliverOrder" => Refused("not_found");
    deleted_cancel_is_not_found: Deleted, "CancelOrder" => Refused("not_found");
    deleted_delete_is_not_found: Deleted, "DeleteOrder" => Refused("not_found");
    deleted_create_is_already_exists: Deleted, "CreateOrder" => Refused("already_exists");

    // Payment facts are taken in every status but deleted (a refund after a cancellation).
    pending_record_payment_stays_pending: Pending, "RecordPayment" => Becomes(Pending);
    pending_settle_unknown_payment_is_refused: Pending, "SettlePayment" => Refused("unknown_transaction");
    confirmed_record_payment_stays_confirmed: Confirmed, "RecordPayment" => Becomes(Confirmed);
    confirmed_settle_unknown_payment_is_refused: Confirmed, "SettlePayment" => Refused("unknown_transaction");
    shipped_record_payment_stays_shipped: Shipped, "RecordPayment" => Becomes(Shipped);
    shipped_settle_unknown_payment_is_refused: Shipped, "SettlePayment" => Refused("unknown_transaction");
    delivered_record_payment_stays_delivered: Delivered, "RecordPayment" => Becomes(Delivered);
    delivered_settle_unknown_payment_is_refused: Delivered, "SettlePayment" => Refused("unknown_transaction");
    cancelled_record_payment_stays_cancelled: Cancelled, "RecordPayment" => Becomes(Cancelled);
    cancelled_settle_unknown_payment_is_refused: Cancelled, "SettlePayment" => Refused("unknown_transaction");
    deleted_record_payment_is_refused: Deleted, "RecordPayment" => Refused("payment_on_deleted_order");
    deleted_settle_payment_is_refused: Deleted, "SettlePayment" => Refused("payment_on_deleted_order");

    // Fulfillments only while confirmed; returns of delivered units.
    pending_create_fulfillment_is_refused: Pending, "CreateFulfillment" => Refused("not_allowed_in_status");
    pending_ship_fulfillment_is_refused: Pending, "ShipFulfillment" => Refused("not_allowed_in_status");
    pending_deliver_fulfillment_is_refused: Pending, "DeliverFulfillment" => Refused("not_allowed_in_status");
    pending_cancel_fulfillment_is_refused: Pending, "CancelFulfillment" => Refused("not_allowed_in_status");
    pending_request_return_is_refused: Pending, "RequestReturn" => Refused("exceeds_delivered");
    pending_receive_return_is_refused: Pending, "ReceiveReturn" => Refused("unknown_return");
    pending_cancel_return_is_refused: Pending, "CancelReturn" => Refused("unknown_return");
    confirmed_create_fulfillment_stays_confirmed: Confirmed, "CreateFulfillment" => Becomes(Confirmed);
    confirmed_ship_fulfillment_is_refused: Confirmed, "ShipFulfillment" => Refused("unknown_fulfillment");
    confirmed_deliver_fulfillment_is_refused: Confirmed, "DeliverFulfillment" => Refused("unknown_fulfillment");
    confirmed_cancel_fulfillment_is_refused: Confirmed, "CancelFulfillment" => Refused("unknown_fulfillment");
    confirmed_request_return_is_refused: Confirmed, "RequestReturn" => Refused("exceeds_delivered");
    confirmed_receive_return_is_refused: Confirmed, "ReceiveReturn" => Refused("unknown_return");
    confirmed_cancel_return_is_refused: Confirmed, "CancelReturn" => Refused("unknown_return");
    shipped_create_fulfillment_is_refused: Shipped, "CreateFulfillment" => Refused("not_allowed_in_status");
    shipped_ship_fulfillment_is_refused: Shipped, "ShipFulfillment" => Refused("not_allowed_in_status");
    shipped_deliver_fulfillment_is_refused: Shipped, "DeliverFulfillment" => Refused("unknown_fulfillment");
    shipped_cancel_fulfillment_is_refused: Shipped, "CancelFulfillment" => Refused("not_allowed_in_status");
    shipped_request_return_is_refused: Shipped, "RequestReturn" => Refused("exceeds_delivered");
    shipped_receive_return_is_refused: Shipped, "ReceiveReturn" => Refused("unknown_return");
    shipped_cancel_return_is_refused: Shipped, "CancelReturn" => Refused("unknown_return");
    delivered_create_fulfillment_is_refused: Delivered, "CreateFulfillment" => Refused("not_allowed_in_status");
    delivered_ship_fulfillment_is_refused: Delivered, "ShipFulfillment" => Refused("not_allowed_in_status");
    delivered_deliver_fulfillment_is_refused: Delivered, "DeliverFulfillment" => Refused("not_allowed_in_status");
    delivered_cancel_fulfillment_is_refused: Delivered, "CancelFulfillment" => Refused("not_allowed_in_status");
    delivered_request_return_stays_delivered: Delivered, "RequestReturn" => Becomes(Delivered);
    delivered_receive_return_is_refused: Delivered, "ReceiveReturn" => Refused("unknown_return");
    delivered_cancel_return_is_refused: Delivered, "CancelReturn" => Refused("unknown_return");
    cancelled_create_fulfillment_is_refused: Cancelled, "CreateFulfillment" => Refused("not_allowed_in_status");
    cancelled_ship_fulfillment_is_refused: Cancelled, "ShipFulfillment" => Refused("not_allowed_in_status");
    cancelled_deliver_fulfillment_is_refused: Cancelled, "DeliverFulfillment" => Refused("not_allowed_in_status");
    cancelled_cancel_fulfillment_is_refused: Cancelled, "CancelFulfillment" => Refused("not_allowed_in_status");
    cancelled_request_return_is_refused: Cancelled, "RequestReturn" => Refused("exceeds_delivered");
    cancelled_receive_return_is_refused: Cancelled, "ReceiveReturn" => Refused("unknown_return");
    cancelled_cancel_return_is_refused: Cancelled, "CancelReturn" => Refused("unknown_return");
    deleted_create_fulfillment_is_refused: Deleted, "CreateFulfillment" => Refused("not_found");
    deleted_ship_fulfillment_is_refused: Deleted, "ShipFulfillment" => Refused("not_found");
    deleted_deliver_fulfillment_is_refused: Deleted, "DeliverFulfillment" => Refused("not_found");
    deleted_cancel_fulfillment_is_refused: Deleted, "CancelFulfillment" => Refused("not_found");
    deleted_request_return_is_refused: Deleted, "RequestReturn" => Refused("not_found");
    deleted_receive_return_is_refused: Deleted, "ReceiveReturn" => Refused("not_found");
    deleted_cancel_return_is_refused: Deleted, "CancelReturn" => Refused("not_found");
}

/// Every (from, to) that `can_become` allows.
fn allowed_changes() -> Vec<(OrderStatus, OrderStatus)> {
    OrderStatus::ALL
        .iter()
        .flat_map(|&from| OrderStatus::ALL.iter().map(move |&to| (from, to)))
        .filter(|&(from, to)| from.can_become(to))
        .collect()
}

#[test]
fn the_transition_tests_cover_the_status_table_exactly() {
    // Every status with every command kind has exactly one row above...
    let table = transition_table();
    let kinds: Vec<&str> = every_command(OrderId::new_random())
        .iter()
        .map(|c| c.body.kind())
        .collect();
    for from in OrderStatus::ALL {
        for &kind in &kinds {
            let rows = table.iter().filter(|(f, k, _)| *f == from && *k == kind);
            assert_eq!(rows.count(), 1, "rows for {kind} on {from}");
        }
    }
    assert_eq!(table.len(), OrderStatus::ALL.len() * kinds.len());
    // ...and every change `can_become` allows is reached by exactly one row, no other.
    let changes: Vec<_> = table
        .iter()
        .filter_map(|(from, _, expect)| match expect {
            Expect::Becomes(to) if to != from => Some((*from, *to)),
            _ => None,
        })
        .collect();
    let allowed = allowed_changes();
    for change in &allowed {
        let rows = changes.iter().filter(|c| *c == change).count();
        assert_eq!(rows, 1, "rows reaching {change:?}");
    }
    assert_eq!(changes.len(), allowed.len(), "{changes:?}");
    use OrderStatus::*;
    assert_eq!(
        allowed,
        [
            (Pending, Confirmed),
            (Pending, Cancelled),
            (Pending, Deleted),
            (Confirmed, Shipped),
            (Confirmed, Cancelled),
            (Shipped, Delivered),
            (Cancelled, Deleted),
        ]
    );
}

#[test]
fn commands_for_an_unknown_order_are_not_found() {
    for command in every_command(OrderId::new_random()).into_iter().skip(1) {
        assert_eq!(
            decide(None, &command),
            Err(Rejection::NotFound),
            "{}",
            command.body.kind()
        );
    }
}

#[test]
fn create_makes_a_pending_order_at_version_1_with_computed_totals() {
    let command = create_command(sample_input());
    let applied = decide(None, &command).unwrap();
    let order = &applied.order;
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(order.version, 1);
    assert_eq!(order.items[0].line_total, Amount(3998));
    assert_eq!((order.subtotal, order.total), (Amount(3998), Amount(3998)));
    assert_eq!(order.created_at, command.issued_at);
    assert_eq!(
        applied.event.body,
        EventBody::OrderCreated(Box::new(order.clone()))
    );
    assert_eq!(applied.event.causation_id, command.command_id);
}

#[test]
fn event_ids_derive_from_the_command_id() {
    let command = create_command(sample_input());
    let first = decide(None, &command).unwrap().event.event_id;
    let again = decide(None, &command).unwrap().event.event_id;
    assert_eq!(first, again);
    assert_ne!(
        first,
        decide(None, &create_command(sample_input()))
            .unwrap()
            .event
            .event_id
    );
}

#[test]
fn update_recomputes_totals_and_keeps_what_it_does_not_replace() {
    let order = order_in(OrderStatus::Pending);
    let applied = apply(Some(&order), body_named("UpdateOrder")).unwrap();
    assert_eq!(applied.order.subtotal, Amount(750));
    assert_eq!(
        applied.order.total,
        Amount(750 + 143),
        "plus the new tax adjustment"
    );
    assert_eq!(applied.order.shipping_address, order.shipping_address);
}

#[test]
fn ship_records_carrier_and_tracking_and_update_shipping_replaces_them() {
    let shipped = order_in(OrderStatus::Shipped);
    assert_eq!(shipped.shipping.as_ref().unwrap().carrier, "DHL");
    let updated = apply(Some(&shipped), body_named("UpdateShipping"))
        .unwrap()
        .order;
    assert_eq!(updated.shipping.unwrap().tracking_number, "1Z999");
}

#[test]
fn issued_by_is_bounded_text_like_every_other() {
    let order = order_in(OrderStatus::Pending);
    for bad in ["a\u{0}b".to_owned(), "x".repeat(201), " ".to_owned()] {
        let mut command = command_for(order.order_id, CommandBody::ConfirmOrder);
        command.issued_by = Some(bad.clone());
        let Err(Rejection::Validation(errors)) = decide(Some(&order), &command) else {
            panic!("{bad:?} accepted");
        };
        assert_eq!(errors.0[0].field, "issued_by");
    }
    let mut command = command_for(order.order_id, CommandBody::ConfirmOrder);
    command.issued_by = Some("erp-7".into());
    assert!(decide(Some(&order), &command).is_ok());
}

#[test]
fn another_storefronts_order_is_not_found() {
    let order = order_in(OrderStatus::Pending);
    let mut command = command_for(order.order_id, CommandBody::ConfirmOrder);
    command.storefront_id = StorefrontId::parse("other-shop").unwrap();
    assert_eq!(decide(Some(&order), &command), Err(Rejection::NotFound));
}

#[test]
fn expected_version_must_match() {
    let order = order_in(OrderStatus::Pending);
    let mut command = command_for(order.order_id, CommandBody::ConfirmOrder);
    command.expected_version = Some(7);
    assert_eq!(
        decide(Some(&order), &command),
        Err(Rejection::VersionConflict {
            expected: 7,
            actual: 1
        })
    );
    command.expected_version = Some(1);
    assert_eq!(decide(Some(&order), &command).unwrap().order.version, 2);
}

#[test]
fn create_accepts_expected_version_zero_only() {
    let mut command = create_command(sample_input());
    command.expected_version = Some(0);
    assert!(decide(None, &command).is_ok());
    command.expected_version = Some(1);
    assert_eq!(
        decide(None, &command),
        Err(Rejection::VersionConflict {
            expected: 1,
            actual: 0
        })
    );
}

#[test]
fn a_command_id_seen_before_is_a_duplicate_with_the_original_outcome() {
    let order = order_in(OrderStatus::Pending);
    let command = command_for(order.order_id, CommandBody::ConfirmOrder);
    let prior = PriorOutcome::Applied { version: 2 };
    assert_eq!(
        handle(Some(&order), Some(&prior), &command),
        Decision::Duplicate(prior)
    );
    let rejected = PriorOutcome::Rejected {
        code: "invalid_transition".into(),
    };
    assert_eq!(
        handle(Some(&order), Some(&rejected), &command),
        Decision::Duplicate(rejected)
    );
}

#[test]
fn rejected_event_keeps_the_version_and_carries_code_and_message() {
    let order = order_in(OrderStatus::Delivered);
    let command = command_for(order.order_id, CommandBody::ConfirmOrder);
    let rejection = decide(Some(&order), &command).unwrap_err();
    let event = rejected_event(Some(&order), &command, &rejection);
    assert_eq!(event.version, order.version);
    assert_eq!(
        event.body,
        EventBody::CommandRejected {
            command_type: "ConfirmOrder".into(),
            code: "invalid_transition".into(),
            message: "an order cannot go from delivered to confirmed".into(),
        }
    );
}

#[test]
fn every_rejection_has_a_distinct_documented_code() {
    let mut codes = Rejection::codes();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), Rejection::codes().len());
    let topology = include_str!("../../../../topology.md");
    for code in Rejection::codes() {
        assert!(
            topology.contains(&format!("`{code}`")),
            "topology.md does not document {code}"
        );
    }
}
