//! Order-level adjustments (shipping, tax, discount, fee) and the total they make.

use super::super::input::AdjustmentInput;
use super::super::values::{Adjustment, AdjustmentKind, Amount, bounded_echo, bounded_text};
use super::{
    MAX_ADJUSTMENT_AMOUNT, MAX_ADJUSTMENT_LABEL_LEN, MAX_ADJUSTMENTS, ValidationErrors, overflow,
};

/// Each adjustment on its own: a known kind, a label, an amount of the kind's sign. Field
/// paths are `adjustments[i].kind` etc.; broken rules go to `errors`.
pub(super) fn parse_adjustments(
    input: &[AdjustmentInput],
    errors: &mut ValidationErrors,
) -> Option<Vec<Adjustment>> {
    if input.len() > MAX_ADJUSTMENTS {
        errors.push(
            "adjustments",
            format!("must hold at most {MAX_ADJUSTMENTS} adjustments"),
        );
        return None;
    }
    let before = errors.0.len();
    let adjustments: Vec<Adjustment> = input
        .iter()
        .enumerate()
        .filter_map(|(i, a)| parse_adjustment(a, &format!("adjustments[{i}]"), errors))
        .collect();
    (errors.0.len() == before).then_some(adjustments)
}

fn parse_adjustment(
    a: &AdjustmentInput,
    path: &str,
    errors: &mut ValidationErrors,
) -> Option<Adjustment> {
    let kind = errors.check(
        format!("{path}.kind"),
        AdjustmentKind::parse(&a.kind).ok_or_else(|| {
            format!(
                "must be one of shipping, tax, discount, fee; got {}",
                bounded_echo(&a.kind, 32)
            )
        }),
    );
    let label = errors.check(
        format!("{path}.label"),
        bounded_text(a.label.clone(), MAX_ADJUSTMENT_LABEL_LEN),
    );
    let kind = kind?;
    let range = if kind == AdjustmentKind::Discount {
        -MAX_ADJUSTMENT_AMOUNT..=0
    } else {
        0..=MAX_ADJUSTMENT_AMOUNT
    };
    let amount = errors.check(
        format!("{path}.amount"),
        range
            .contains(&a.amount)
            .then_some(Amount(a.amount))
            .ok_or_else(|| {
                format!(
                    "a {} must be between {} and {}",
                    kind.as_str(),
                    range.start(),
                    range.end()
                )
            }),
    );
    Some(Adjustment {
        kind,
        label: label?,
        amount: amount?,
    })
}

/// `total = subtotal + Σ adjustments`, checked, and never negative (field `adjustments`).
pub fn order_total(
    subtotal: Amount,
    adjustments: &[Adjustment],
) -> Result<Amount, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let total = adjustments
        .iter()
        .try_fold(subtotal.0, |acc, a| acc.checked_add(a.amount.0));
    let total = errors.check("adjustments", total.map(Amount).ok_or_else(overflow));
    if let Some(total) = total
        && total.0 < 0
    {
        errors.push(
            "adjustments",
            format!(
                "the total must not be negative: subtotal {} and adjustments make {}",
                subtotal.0, total.0
            ),
        );
    }
    errors.into_result(|| total)
}
