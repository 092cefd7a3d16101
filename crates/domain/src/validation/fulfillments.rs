//! Fulfillment and return payloads, field by field. The rules between them and the order
//! (what is ordered, shipped, delivered) are `fulfillments`'.

use super::super::fulfillments::{Condition, Return, ReturnLine, ReturnState, Units};
use super::super::input::{ConditionInput, FulfillmentInput, ReturnInput, UnitsInput};
use super::super::values::{Sku, bounded_echo, bounded_text};
use super::{MAX_LINE_ITEMS, MAX_QUANTITY, ValidationErrors};

/// Longest fulfillment or return id, in characters.
pub const MAX_FULFILLMENT_ID_LEN: usize = 128;
/// Longest return reason, in characters.
pub const MAX_RETURN_REASON_LEN: usize = 500;

fn id(errors: &mut ValidationErrors, field: &str, value: &str) -> Option<String> {
    errors.check(
        field,
        bounded_text(value.to_owned(), MAX_FULFILLMENT_ID_LEN),
    )
}

fn units(errors: &mut ValidationErrors, lines: &[UnitsInput]) -> Option<Vec<Units>> {
    if lines.is_empty() || lines.len() > MAX_LINE_ITEMS {
        errors.push("lines", format!("must hold 1 to {MAX_LINE_ITEMS} lines"));
        return None;
    }
    let before = errors.0.len();
    let parsed: Vec<Units> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let sku = errors.check(format!("lines[{i}].sku"), Sku::parse(&line.sku));
            let quantity = errors.check(
                format!("lines[{i}].quantity"),
                u32::try_from(line.quantity)
                    .ok()
                    .filter(|q| (1..=MAX_QUANTITY).contains(&i64::from(*q)))
                    .ok_or_else(|| format!("must be between 1 and {MAX_QUANTITY}")),
            );
            Some(Units {
                sku: sku?,
                quantity: quantity?,
            })
        })
        .collect();
    (errors.0.len() == before).then_some(parsed)
}

/// A fulfillment's id and units, each valid.
pub fn parse_fulfillment(
    input: &FulfillmentInput,
) -> Result<(String, Vec<Units>), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let fulfillment_id = id(&mut errors, "fulfillment_id", &input.fulfillment_id);
    let lines = units(&mut errors, &input.lines);
    errors.into_result(|| Some((fulfillment_id?, lines?)))
}

/// A fulfillment or return id given on its own (ship, deliver, cancel, receive).
pub fn parse_fact_id(field: &str, value: &str) -> Result<String, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let parsed = id(&mut errors, field, value);
    errors.into_result(|| parsed)
}

/// A requested return, each field valid.
pub fn parse_return(input: &ReturnInput) -> Result<Return, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let return_id = id(&mut errors, "return_id", &input.return_id);
    let lines = units(&mut errors, &input.lines);
    let reason = errors.check(
        "reason",
        bounded_text(input.reason.clone(), MAX_RETURN_REASON_LEN),
    );
    errors.into_result(|| {
        Some(Return {
            return_id: return_id?,
            lines: lines?
                .into_iter()
                .map(|u| ReturnLine {
                    sku: u.sku,
                    quantity: u.quantity,
                    condition: None,
                })
                .collect(),
            reason: reason?,
            status: ReturnState::Requested,
        })
    })
}

/// A return's receipt: its id and each sku's condition.
pub fn parse_receipt(
    return_id: &str,
    lines: &[ConditionInput],
) -> Result<(String, Vec<(Sku, Condition)>), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let return_id = id(&mut errors, "return_id", return_id);
    if lines.is_empty() || lines.len() > MAX_LINE_ITEMS {
        errors.push("lines", format!("must hold 1 to {MAX_LINE_ITEMS} lines"));
    }
    let parsed: Vec<Option<(Sku, Condition)>> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let sku = errors.check(format!("lines[{i}].sku"), Sku::parse(&line.sku));
            let condition = errors.check(
                format!("lines[{i}].condition"),
                Condition::parse(&line.condition).ok_or_else(|| {
                    format!(
                        "must be resellable or damaged; got {}",
                        bounded_echo(&line.condition, 32)
                    )
                }),
            );
            Some((sku?, condition?))
        })
        .collect();
    errors.into_result(|| Some((return_id?, parsed.into_iter().collect::<Option<Vec<_>>>()?)))
}
