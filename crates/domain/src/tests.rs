//! Unit tests of the domain.

use super::validation::{MAX_LINE_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE};
use super::*;
use crate::samples::*;

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
            assert!(
                applied.event.body.kind().starts_with("Order")
                    || applied.event.body.kind() == "ShippingUpdated"
            );
        }
        (Expect::Refused(code), Err(rejection)) => {
            assert_eq!(rejection.code(), code, "{rejection}")
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
    ($($name:ident: $from:ident, $kind:literal => $expect:expr;)*) => {$(
        #[test]
        fn $name() {
            use Expect::*;
            use OrderStatus::*;
            check($from, $kind, $expect);
        }
    )*};
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
}

#[test]
fn the_transition_tests_cover_the_status_table_exactly() {
    // Every (from, to) that `can_become` allows is reached by exactly one command above.
    let allowed: Vec<_> = OrderStatus::ALL
        .iter()
        .flat_map(|&from| OrderStatus::ALL.iter().map(move |&to| (from, to)))
        .filter(|&(from, to)| from.can_become(to))
        .collect();
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
    assert_eq!(applied.order.total, Amount(750));
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

// ---- validation: one test per rule --------------------------------------------------------

fn create_rejection(edit: impl FnOnce(&mut NewOrderInput)) -> Rejection {
    let mut input = sample_input();
    edit(&mut input);
    decide(None, &create_command(input)).unwrap_err()
}

fn assert_field(edit: impl FnOnce(&mut NewOrderInput), field: &str) {
    match create_rejection(edit) {
        Rejection::Validation(errors) => {
            assert_eq!(errors.0.len(), 1, "{errors}");
            assert_eq!(errors.0[0].field, field, "{errors}");
        }
        other => panic!("expected a validation error on {field}, got {other:?}"),
    }
}

#[test]
fn customer_id_must_be_1_to_128_characters_without_control_characters() {
    assert_field(|i| i.customer_id = "".into(), "customer_id");
    assert_field(|i| i.customer_id = "  ".into(), "customer_id");
    assert_field(|i| i.customer_id = "x".repeat(129), "customer_id");
    assert_field(|i| i.customer_id = "a\nb".into(), "customer_id");
    let mut input = sample_input();
    input.customer_id = "é".repeat(128);
    assert!(
        NewOrder::parse(&input).is_ok(),
        "128 characters (not bytes) are allowed"
    );
}

#[test]
fn currency_must_be_iso_4217_with_minor_units() {
    assert_field(|i| i.currency = "EURO".into(), "currency");
    assert_field(|i| i.currency = "eur".into(), "currency");
    assert_field(|i| i.currency = "XAU".into(), "currency");
    let jpy = Currency::parse("JPY").unwrap();
    assert_eq!(jpy.minor_unit_exponent(), 0);
    assert_eq!(Currency::parse("KWD").unwrap().minor_unit_exponent(), 3);
}

#[test]
fn items_must_hold_1_to_500_lines() {
    assert_field(|i| i.items.clear(), "items");
    let line = sample_input().items[0].clone();
    assert_field(|i| i.items = vec![line.clone(); 501], "items");
    let mut input = sample_input();
    input.items = vec![line; 500];
    assert!(NewOrder::parse(&input).is_ok());
}

#[test]
fn quantity_must_be_1_to_10000() {
    assert_field(|i| i.items[0].quantity = 0, "items[0].quantity");
    assert_field(|i| i.items[0].quantity = -1, "items[0].quantity");
    assert_field(|i| i.items[0].quantity = 10_001, "items[0].quantity");
    let mut input = sample_input();
    input.items[0].quantity = 10_000;
    assert!(NewOrder::parse(&input).is_ok());
}

#[test]
fn unit_price_must_not_be_negative_and_zero_is_allowed() {
    assert_field(|i| i.items[0].unit_price = -1, "items[0].unit_price");
    let mut input = sample_input();
    input.items[0].unit_price = 0;
    assert_eq!(NewOrder::parse(&input).unwrap().subtotal, Amount(0));
}

#[test]
fn sku_must_be_1_to_64_characters() {
    assert_field(|i| i.items[0].sku = "".into(), "items[0].sku");
    assert_field(|i| i.items[0].sku = "s".repeat(65), "items[0].sku");
}

#[test]
fn a_unit_price_above_the_limit_is_invalid() {
    assert_field(
        |i| i.items[0].unit_price = MAX_UNIT_PRICE + 1,
        "items[0].unit_price",
    );
    assert_field(|i| i.items[0].unit_price = i64::MAX, "items[0].unit_price");
    assert_field(|i| i.items[0].unit_price = -1, "items[0].unit_price");
}

#[test]
fn the_largest_valid_order_does_not_overflow() {
    let order = NewOrder::parse(&{
        let mut input = sample_input();
        let line = LineItemInput {
            sku: "S".into(),
            quantity: MAX_QUANTITY,
            unit_price: MAX_UNIT_PRICE,
        };
        input.items = vec![line; MAX_LINE_ITEMS];
        input
    })
    .expect("the largest order is valid");
    assert_eq!(
        order.subtotal.0,
        MAX_UNIT_PRICE * MAX_QUANTITY * MAX_LINE_ITEMS as i64
    );
}

#[test]
fn address_fields_are_bounded() {
    assert_field(
        |i| i.shipping_address.name = "".into(),
        "shipping_address.name",
    );
    assert_field(
        |i| i.shipping_address.name = "n".repeat(201),
        "shipping_address.name",
    );
    assert_field(
        |i| i.shipping_address.line1 = "l".repeat(201),
        "shipping_address.line1",
    );
    assert_field(
        |i| i.shipping_address.line2 = Some("l".repeat(201)),
        "shipping_address.line2",
    );
    assert_field(
        |i| i.shipping_address.city = "c".repeat(101),
        "shipping_address.city",
    );
    assert_field(
        |i| i.shipping_address.postal_code = "1".repeat(21),
        "shipping_address.postal_code",
    );
}

#[test]
fn country_must_be_an_alpha_2_code() {
    assert_field(
        |i| i.shipping_address.country = "DEU".into(),
        "shipping_address.country",
    );
    assert_field(
        |i| i.shipping_address.country = "de".into(),
        "shipping_address.country",
    );
    // A code no country has is refused too (it was accepted while only the form was checked).
    assert_field(
        |i| i.shipping_address.country = "ZZ".into(),
        "shipping_address.country",
    );
}

#[test]
fn metadata_is_bounded_in_entries_keys_and_values() {
    assert_field(
        |i| i.metadata = (0..33).map(|n| (n.to_string(), "v".to_owned())).collect(),
        "metadata",
    );
    assert_field(
        |i| i.metadata = [("k".repeat(65), "v".to_owned())].into(),
        "metadata",
    );
    assert_field(
        |i| i.metadata = [("k".to_owned(), "v".repeat(513))].into(),
        "metadata.k",
    );
}

#[test]
fn every_broken_rule_is_reported_at_once() {
    let Rejection::Validation(errors) = create_rejection(|i| {
        i.customer_id = "".into();
        i.items[0].quantity = 0;
        i.shipping_address.country = "x".into();
    }) else {
        panic!("expected validation errors");
    };
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "customer_id",
            "items[0].quantity",
            "shipping_address.country"
        ]
    );
}

#[test]
fn update_needs_items_or_an_address_and_validates_them() {
    let order = order_in(OrderStatus::Pending);
    let empty = CommandBody::UpdateOrder(OrderUpdateInput {
        items: None,
        shipping_address: None,
    });
    assert!(matches!(
        apply(Some(&order), empty),
        Err(Rejection::Validation(_))
    ));
    let bad = CommandBody::UpdateOrder(OrderUpdateInput {
        items: Some(vec![]),
        shipping_address: None,
    });
    assert!(
        matches!(apply(Some(&order), bad), Err(Rejection::Validation(e)) if e.0[0].field == "items")
    );
}

#[test]
fn carrier_and_tracking_number_are_bounded() {
    let order = order_in(OrderStatus::Confirmed);
    for (carrier, tracking, field) in [
        ("", "T1", "carrier"),
        (&*"c".repeat(65), "T1", "carrier"),
        ("DHL", "", "tracking_number"),
        ("DHL", &*"t".repeat(65), "tracking_number"),
    ] {
        let body = CommandBody::ShipOrder(ShippingInput {
            carrier: carrier.into(),
            tracking_number: tracking.into(),
        });
        match apply(Some(&order), body) {
            Err(Rejection::Validation(e)) => assert_eq!(e.0[0].field, field),
            other => panic!("expected {field} to be refused, got {other:?}"),
        }
    }
}

#[test]
fn cancel_reason_must_be_1_to_500_characters() {
    let order = order_in(OrderStatus::Pending);
    for reason in [String::new(), "r".repeat(501)] {
        let result = apply(Some(&order), CommandBody::CancelOrder { reason });
        assert!(matches!(result, Err(Rejection::Validation(e)) if e.0[0].field == "reason"));
    }
}

#[test]
fn every_rejection_has_a_distinct_documented_code() {
    let mut codes = Rejection::CODES.to_vec();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), Rejection::CODES.len());
    let topology = include_str!("../../../topology.md");
    for code in Rejection::CODES {
        assert!(
            topology.contains(&format!("`{code}`")),
            "topology.md does not document {code}"
        );
    }
}

mod properties;

#[test]
fn integers_may_be_written_with_a_zero_fraction_as_json_schema_allows() {
    let item = |json: &str| serde_json::from_str::<LineItemInput>(json);
    let parsed = item(r#"{"sku": "S", "quantity": 18.0, "unit_price": 1774432400548.0}"#).unwrap();
    assert_eq!(
        (parsed.quantity, parsed.unit_price),
        (18, 1_774_432_400_548)
    );
    assert_eq!(
        serde_json::to_string(&parsed).unwrap(),
        r#"{"sku":"S","quantity":18,"unit_price":1774432400548}"#
    );
    assert!(item(r#"{"sku": "S", "quantity": 1.5, "unit_price": 1}"#).is_err());
    assert!(item(r#"{"sku": "S", "quantity": 1, "unit_price": 1e300}"#).is_err());
    assert!(item(r#"{"sku": "S", "quantity": 1, "unit_price": 18446744073709551615}"#).is_err());
    assert!(item(r#"{"sku": "S", "quantity": "1", "unit_price": 1}"#).is_err());
}

#[test]
fn the_currency_codes_listed_are_exactly_those_accepted() {
    let codes: Vec<&str> = Currency::codes().collect();
    assert!(codes.len() > 100, "{}", codes.len());
    assert!(codes.contains(&"EUR") && codes.contains(&"JPY"));
    for code in &codes {
        assert!(Currency::parse(code).is_ok(), "{code}");
    }
    // Every other three-letter code is refused.
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            for c in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b, c]).unwrap();
                assert_eq!(
                    Currency::parse(&code).is_ok(),
                    codes.contains(&code.as_str()),
                    "{code}"
                );
            }
        }
    }
}

#[test]
fn the_country_codes_listed_are_exactly_those_accepted() {
    let codes: Vec<&str> = validation::country_codes().collect();
    assert!(codes.len() > 240, "{}", codes.len());
    assert!(codes.contains(&"DE") && codes.contains(&"US") && !codes.contains(&"ZZ"));
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            let code = String::from_utf8(vec![a, b]).unwrap();
            let mut input = sample_input();
            input.shipping_address.country = code.clone();
            assert_eq!(
                NewOrder::parse(&input).is_ok(),
                codes.contains(&code.as_str()),
                "{code}"
            );
        }
    }
}
