//! Order-level adjustments and the total (ORDER-MODEL.md "Totals"), through CreateOrder and
//! UpdateOrder.

use crate::samples::{adjustment, apply, order_in, sample_input};
use crate::validation::{MAX_ADJUSTMENT_AMOUNT, MAX_ADJUSTMENTS};
use crate::{
    AdjustmentInput, AdjustmentKind, Amount, CommandBody, NewOrder, NewOrderInput, OrderStatus,
    OrderUpdateInput, Rejection,
};

/// The sample's one line: 2 × 1999.
const SUBTOTAL: i64 = 3_998;

fn create(adjustments: Vec<AdjustmentInput>) -> Result<NewOrder, crate::ValidationErrors> {
    NewOrder::parse(&NewOrderInput {
        adjustments,
        ..sample_input()
    })
}

fn fields(adjustments: Vec<AdjustmentInput>) -> Vec<String> {
    create(adjustments)
        .expect_err("refused")
        .0
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn the_total_is_the_subtotal_plus_every_adjustment() {
    let new = create(vec![
        adjustment("shipping", 500),
        adjustment("tax", 1_900),
        adjustment("discount", -1_000),
        adjustment("fee", 100),
    ])
    .unwrap();
    assert_eq!(new.subtotal, Amount(SUBTOTAL));
    assert_eq!(new.total, Amount(SUBTOTAL + 1_500));
    let kinds: Vec<AdjustmentKind> = new.adjustments.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, AdjustmentKind::ALL);
    assert_eq!(create(vec![]).unwrap().total, Amount(SUBTOTAL));
    let order = apply(
        None,
        CommandBody::CreateOrder(NewOrderInput {
            adjustments: vec![adjustment("shipping", 2)],
            ..sample_input()
        }),
    )
    .unwrap()
    .order;
    assert_eq!(
        (order.subtotal, order.total),
        (Amount(SUBTOTAL), Amount(SUBTOTAL + 2))
    );
    assert_eq!(order.payment.balance_due, order.total);
}

#[test]
fn each_broken_rule_names_its_field() {
    let input = vec![
        adjustment("gift", 1),
        adjustment("discount", 1),
        adjustment("shipping", -1),
        AdjustmentInput {
            label: " ".to_owned(),
            ..adjustment("tax", 1)
        },
        adjustment("fee", MAX_ADJUSTMENT_AMOUNT + 1),
    ];
    assert_eq!(
        fields(input),
        [
            "adjustments[0].kind",
            "adjustments[1].amount",
            "adjustments[2].amount",
            "adjustments[3].label",
            "adjustments[4].amount",
        ]
    );
    let too_many: Vec<_> = (0..=MAX_ADJUSTMENTS)
        .map(|_| adjustment("fee", 1))
        .collect();
    assert_eq!(fields(too_many), ["adjustments"]);
}

#[test]
fn a_negative_total_and_an_overflow_are_refused() {
    assert_eq!(
        fields(vec![adjustment("discount", -SUBTOTAL - 1)]),
        ["adjustments"]
    );
    assert_eq!(
        create(vec![adjustment("discount", -SUBTOTAL)])
            .unwrap()
            .total,
        Amount(0)
    );
    let errors = crate::order_total(
        Amount(i64::MAX - 1),
        &create(vec![adjustment("fee", MAX_ADJUSTMENT_AMOUNT)])
            .unwrap()
            .adjustments,
    )
    .expect_err("overflow");
    assert_eq!(errors.overflow_field(), Some("adjustments"));
}

#[test]
fn update_replaces_adjustments_and_recomputes_the_total_from_what_it_keeps() {
    let order = order_in(OrderStatus::Pending);
    let update = |items, adjustments| {
        CommandBody::UpdateOrder(OrderUpdateInput {
            items,
            shipping_address: None,
            adjustments,
        })
    };
    let with_tax = apply(
        Some(&order),
        update(None, Some(vec![adjustment("tax", 760)])),
    )
    .unwrap()
    .order;
    assert_eq!(with_tax.total, Amount(SUBTOTAL + 760));
    // New items keep the adjustments: the total follows the new subtotal.
    let items = vec![crate::LineItemInput {
        sku: "S".into(),
        quantity: 1,
        unit_price: 100,
    }];
    let fewer = apply(Some(&with_tax), update(Some(items.clone()), None))
        .unwrap()
        .order;
    assert_eq!((fewer.subtotal, fewer.total), (Amount(100), Amount(860)));
    assert_eq!(fewer.payment.balance_due, Amount(860));
    // A discount the new lines cannot carry makes a negative total: refused.
    let discounted = apply(
        Some(&order),
        update(None, Some(vec![adjustment("discount", -3_000)])),
    )
    .unwrap()
    .order;
    let refused = apply(Some(&discounted), update(Some(items), None)).unwrap_err();
    assert!(
        matches!(&refused, Rejection::Validation(e) if e.0[0].field == "adjustments"),
        "{refused}"
    );
    // An empty list removes them.
    let none = apply(Some(&with_tax), update(None, Some(vec![])))
        .unwrap()
        .order;
    assert_eq!(none.total, Amount(SUBTOTAL));
}
