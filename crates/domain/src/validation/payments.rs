//! RecordPayment and SettlePayment payloads: each field on its own. The rules between
//! transactions are the ledger's (`payments`).

use super::super::input::{PaymentInput, SettlementInput};
use super::super::payments::{MAX_TRANSACTION_AMOUNT, PaymentKind, PaymentState, Transaction};
use super::super::values::{Amount, bounded_echo, bounded_text};
use super::ValidationErrors;

/// Longest transaction id, provider reference, parent or return id, in characters.
pub const MAX_TRANSACTION_ID_LEN: usize = 128;
/// Longest provider name, in characters.
pub const MAX_PROVIDER_LEN: usize = 64;

fn one_of<T: Copy>(
    name: &str,
    all: &[T],
    parse: impl Fn(&str) -> Option<T>,
    shown: impl Fn(T) -> &'static str,
) -> Result<T, String> {
    parse(name).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|&v| shown(v)).collect();
        format!(
            "must be one of {}; got {}",
            names.join(", "),
            bounded_echo(name, 32)
        )
    })
}

fn id(value: &str) -> Result<String, String> {
    bounded_text(value.to_owned(), MAX_TRANSACTION_ID_LEN)
}

/// A payment fact with every field valid; whether it fits the ledger is decided there.
pub fn parse_payment(input: &PaymentInput) -> Result<Transaction, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let transaction_id = errors.check("transaction_id", id(&input.transaction_id));
    let kind = errors.check(
        "kind",
        one_of(
            &input.kind,
            PaymentKind::ALL,
            PaymentKind::parse,
            PaymentKind::as_str,
        ),
    );
    let amount = errors.check(
        "amount",
        (1..=MAX_TRANSACTION_AMOUNT)
            .contains(&input.amount)
            .then_some(Amount(input.amount))
            .ok_or_else(|| format!("must be between 1 and {MAX_TRANSACTION_AMOUNT}")),
    );
    let status = errors.check(
        "status",
        one_of(
            &input.status,
            PaymentState::ALL,
            PaymentState::parse,
            PaymentState::as_str,
        ),
    );
    let provider = errors.check(
        "provider",
        bounded_text(input.provider.clone(), MAX_PROVIDER_LEN),
    );
    let mut optional = |field: &str, value: &Option<String>| match value {
        Some(value) => errors.check(field.to_owned(), id(value)).map(Some),
        None => Some(None),
    };
    let provider_reference = optional("provider_reference", &input.provider_reference);
    let parent_id = optional("parent_id", &input.parent_id);
    let return_id = optional("return_id", &input.return_id);
    if input.return_id.is_some() && kind.is_some_and(|k| k != PaymentKind::Refund) {
        errors.push("return_id", "only a refund names a return");
    }
    errors.into_result(|| {
        Some(Transaction {
            transaction_id: transaction_id?,
            kind: kind?,
            amount: amount?,
            status: status?,
            provider: provider?,
            provider_reference: provider_reference?,
            parent_id: parent_id?,
            return_id: return_id?,
        })
    })
}

/// A settlement: an id and where the pending transaction ended (succeeded or failed).
pub fn parse_settlement(
    input: &SettlementInput,
) -> Result<(String, PaymentState), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let transaction_id = errors.check("transaction_id", id(&input.transaction_id));
    let settled = [PaymentState::Succeeded, PaymentState::Failed];
    let status = errors.check(
        "status",
        one_of(
            &input.status,
            &settled,
            |s| PaymentState::parse(s).filter(|s| settled.contains(s)),
            PaymentState::as_str,
        ),
    );
    errors.into_result(|| Some((transaction_id?, status?)))
}
