//! The input rules: every field's bounds, every broken rule reported at once with its path.

use super::*;

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
        adjustments: None,
    });
    assert!(matches!(
        apply(Some(&order), empty),
        Err(Rejection::Validation(_))
    ));
    let bad = CommandBody::UpdateOrder(OrderUpdateInput {
        items: Some(vec![]),
        shipping_address: None,
        adjustments: None,
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
