//! The payment ledger through RecordPayment and SettlePayment: retries, conflicts, field
//! validation, deleted and cancelled orders.

use crate::samples::{apply, command_for, order_in, payment, settlement};
use crate::{
    Amount, CommandBody, Decision, OrderStatus, PaymentInput, PaymentStatus, Rejection, handle,
};

fn record(input: PaymentInput) -> CommandBody {
    CommandBody::RecordPayment(input)
}

#[test]
fn a_retried_fact_changes_nothing_and_a_conflicting_one_is_refused() {
    let order = order_in(OrderStatus::Pending);
    let auth = payment("a", "authorization", 1_000, "succeeded", None);
    let authorized = apply(Some(&order), record(auth.clone())).unwrap().order;
    assert_eq!(authorized.version, order.version + 1);
    assert_eq!(authorized.payment.payment_status, PaymentStatus::Authorized);
    // The same fact under a new command id: applied, nothing changes.
    let again = command_for(order.order_id, record(auth.clone()));
    assert_eq!(
        handle(Some(&authorized), None, &again),
        Decision::Unchanged {
            version: authorized.version
        }
    );
    let other = command_for(
        order.order_id,
        record(PaymentInput {
            amount: 999,
            ..auth
        }),
    );
    let Decision::Rejected(rejection) = handle(Some(&authorized), None, &other) else {
        panic!()
    };
    assert_eq!(rejection.code(), "conflicting_fact");
    // A settlement already made is the same kind of retry.
    let pending = apply(
        Some(&authorized),
        record(payment("c", "capture", 400, "pending", Some("a"))),
    )
    .unwrap()
    .order;
    let settled = apply(
        Some(&pending),
        CommandBody::SettlePayment(settlement("c", "succeeded")),
    )
    .unwrap()
    .order;
    assert_eq!(settled.payment.captured, Amount(400));
    assert_eq!(settled.payment.balance_due, Amount(settled.total.0 - 400));
    let resettle = command_for(
        order.order_id,
        CommandBody::SettlePayment(settlement("c", "succeeded")),
    );
    assert!(matches!(
        handle(Some(&settled), None, &resettle),
        Decision::Unchanged { .. }
    ));
}

#[test]
fn payment_fields_are_validated_with_their_paths() {
    let order = order_in(OrderStatus::Pending);
    let bad = PaymentInput {
        transaction_id: String::new(),
        kind: "gift".into(),
        amount: 0,
        status: "maybe".into(),
        provider: String::new(),
        provider_reference: Some("\u{7}".into()),
        parent_id: None,
        return_id: Some("r-1".into()),
    };
    let Err(Rejection::Validation(errors)) = apply(Some(&order), record(bad)) else {
        panic!()
    };
    let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "transaction_id",
            "kind",
            "amount",
            "status",
            "provider",
            "provider_reference"
        ]
    );
    let refund_elsewhere = PaymentInput {
        return_id: Some("r-1".into()),
        ..payment("s", "sale", 5, "succeeded", None)
    };
    let Err(Rejection::Validation(errors)) = apply(Some(&order), record(refund_elsewhere)) else {
        panic!()
    };
    assert_eq!(errors.0[0].field, "return_id");
    let Err(Rejection::Validation(errors)) = apply(
        Some(&order),
        CommandBody::SettlePayment(settlement("x", "pending")),
    ) else {
        panic!()
    };
    assert_eq!(errors.0[0].field, "status");
}

#[test]
fn a_deleted_order_takes_no_payment_facts() {
    let deleted = order_in(OrderStatus::Deleted);
    let refused = apply(
        Some(&deleted),
        record(payment("s", "sale", 5, "succeeded", None)),
    )
    .unwrap_err();
    assert_eq!(refused.code(), "payment_on_deleted_order");
}

#[test]
fn a_cancelled_order_with_money_captured_shows_the_refund_due() {
    let order = order_in(OrderStatus::Pending);
    let paid = apply(
        Some(&order),
        record(payment("s", "sale", 1_000, "succeeded", None)),
    )
    .unwrap()
    .order;
    assert_eq!(paid.payment.refund_due, Amount(0));
    let cancelled = apply(
        Some(&paid),
        CommandBody::CancelOrder {
            reason: "out of stock".into(),
        },
    )
    .unwrap()
    .order;
    assert_eq!(cancelled.payment.refund_due, Amount(1_000));
    let refunded = apply(
        Some(&cancelled),
        record(payment("r", "refund", 1_000, "succeeded", Some("s"))),
    )
    .unwrap()
    .order;
    assert_eq!(refunded.payment.refund_due, Amount(0));
    assert_eq!(refunded.payment.payment_status, PaymentStatus::Refunded);
}

#[test]
fn a_pending_fact_sent_again_after_it_settled_changes_nothing() {
    // Found in review: a provider's late "pending" notification of a settled refund was
    // refused `conflicting_fact`.
    let order = order_in(OrderStatus::Pending);
    let pending = payment("s", "sale", 100, "pending", None);
    let recorded = apply(Some(&order), record(pending.clone())).unwrap().order;
    let settled = apply(
        Some(&recorded),
        CommandBody::SettlePayment(settlement("s", "succeeded")),
    )
    .unwrap()
    .order;
    let late = command_for(order.order_id, record(pending.clone()));
    assert_eq!(
        handle(Some(&settled), None, &late),
        Decision::Unchanged {
            version: settled.version
        }
    );
    // Other content is still a conflict.
    let other = command_for(
        order.order_id,
        record(PaymentInput {
            amount: 99,
            ..pending
        }),
    );
    assert!(matches!(
        handle(Some(&settled), None, &other),
        Decision::Rejected(_)
    ));
}
