//! Order-level adjustments and the total (ORDER-MODEL.md "Totals").

use crate::validation::{MAX_ADJUSTMENT_AMOUNT, MAX_ADJUSTMENTS, parse_adjustments};
use crate::{AdjustmentInput, AdjustmentKind, Amount};

fn adjustment(kind: &str, amount: i64) -> AdjustmentInput {
    AdjustmentInput {
        kind: kind.to_owned(),
        label: format!("{kind} line"),
        amount,
    }
}

fn fields(input: &[AdjustmentInput], subtotal: i64) -> Vec<String> {
    parse_adjustments(input, Amount(subtotal))
        .expect_err("refused")
        .0
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn the_total_is_the_subtotal_plus_every_adjustment() {
    let input = [
        adjustment("shipping", 500),
        adjustment("tax", 1_900),
        adjustment("discount", -1_000),
        adjustment("fee", 100),
    ];
    let (adjustments, total) = parse_adjustments(&input, Amount(10_000)).unwrap();
    assert_eq!(total, Amount(11_500));
    let kinds: Vec<AdjustmentKind> = adjustments.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, AdjustmentKind::ALL);
    assert_eq!(parse_adjustments(&[], Amount(7)).unwrap().1, Amount(7));
}

#[test]
fn each_broken_rule_names_its_field() {
    let input = [
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
        fields(&input, 100),
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
    assert_eq!(fields(&too_many, 100), ["adjustments"]);
}

#[test]
fn a_negative_total_and_an_overflow_are_refused() {
    assert_eq!(
        fields(&[adjustment("discount", -101)], 100),
        ["adjustments"]
    );
    assert_eq!(
        parse_adjustments(&[adjustment("discount", -100)], Amount(100))
            .unwrap()
            .1,
        Amount(0)
    );
    let errors = parse_adjustments(
        &[adjustment("fee", MAX_ADJUSTMENT_AMOUNT)],
        Amount(i64::MAX - 1),
    )
    .expect_err("overflow");
    assert_eq!(errors.overflow_field(), Some("adjustments"));
}
