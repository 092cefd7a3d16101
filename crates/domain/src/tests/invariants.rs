//! What must hold of every order, whatever commands made it: totals, the payment ledger's
//! rules and its derived summary (recomputed here independently), fulfillments and returns
//! within what is ordered and delivered, and the lifecycle agreeing with them.

use super::*;

pub(super) fn check_order(order: &Order) {
    let sum = order.items.iter().map(|i| i.line_total.0).sum::<i64>();
    assert_eq!(order.subtotal.0, sum, "subtotal is the sum of the lines");
    let adjusted = order.adjustments.iter().map(|a| a.amount.0).sum::<i64>();
    assert_eq!(
        order.total.0,
        order.subtotal.0 + adjusted,
        "total = subtotal + adjustments"
    );
    assert!(order.total.0 >= 0);
    for item in &order.items {
        assert_eq!(
            item.line_total.0,
            item.unit_price.0 * i64::from(item.quantity)
        );
    }
    check_payments(order);
    check_shipments(order);
}

/// Per sku, fulfilled ≤ ordered and returned ≤ delivered; the lifecycle status agrees with
/// the fulfillments.
fn check_shipments(order: &Order) {
    use FulfillmentState::*;
    let sh = &order.shipments;
    let units = |sku: &crate::Sku, states: &[FulfillmentState]| -> u64 {
        sh.fulfillments
            .iter()
            .filter(|f| states.contains(&f.status))
            .flat_map(|f| &f.lines)
            .filter(|l| &l.sku == sku)
            .map(|l| u64::from(l.quantity))
            .sum()
    };
    let (mut ordered_all, mut shipped_all, mut delivered_all) = (0, 0, 0);
    let mut skus: Vec<&crate::Sku> = order.items.iter().map(|i| &i.sku).collect();
    skus.dedup();
    for sku in skus {
        let ordered: u64 = order
            .items
            .iter()
            .filter(|i| &i.sku == sku)
            .map(|i| u64::from(i.quantity))
            .sum();
        assert!(
            units(sku, &[Pending, Shipped, Delivered]) <= ordered,
            "{sku} over-fulfilled"
        );
        let returned: u64 = sh
            .returns
            .iter()
            .filter(|r| r.status != crate::ReturnState::Cancelled)
            .flat_map(|r| &r.lines)
            .filter(|l| &l.sku == sku)
            .map(|l| u64::from(l.quantity))
            .sum();
        assert!(
            returned <= units(sku, &[Delivered]),
            "{sku}: returned more than delivered"
        );
        ordered_all += ordered;
        shipped_all += units(sku, &[Shipped, Delivered]);
        delivered_all += units(sku, &[Delivered]);
    }
    match order.status {
        OrderStatus::Shipped => assert_eq!(shipped_all, ordered_all, "shipped, every unit"),
        OrderStatus::Delivered => assert_eq!(delivered_all, ordered_all, "delivered, every unit"),
        OrderStatus::Pending | OrderStatus::Cancelled => {
            assert_eq!(shipped_all, 0, "{}: nothing shipped", order.status);
        }
        OrderStatus::Confirmed => {
            assert!(shipped_all < ordered_all, "all shipped, still confirmed");
        }
        OrderStatus::Deleted => {}
    }
    let status = match () {
        () if delivered_all == ordered_all => crate::FulfillmentStatus::Delivered,
        () if delivered_all > 0 => crate::FulfillmentStatus::PartiallyDelivered,
        () if shipped_all == ordered_all => crate::FulfillmentStatus::Fulfilled,
        () if shipped_all > 0 => crate::FulfillmentStatus::PartiallyFulfilled,
        () => crate::FulfillmentStatus::Unfulfilled,
    };
    assert_eq!(order.progress.fulfillment_status, status);
}

/// The ledger's rules and what is derived from it, recomputed here independently of
/// `PaymentLedger::summary`.
fn check_payments(order: &Order) {
    use crate::{PaymentKind::*, PaymentState, PaymentStatus};
    let ledger = &order.payments.0;
    let ok = |t: &&crate::Transaction| t.status == PaymentState::Succeeded;
    let of = |kind: crate::PaymentKind| -> i64 {
        ledger
            .iter()
            .filter(ok)
            .filter(|t| t.kind == kind)
            .map(|t| t.amount.0)
            .sum()
    };
    let voided: Vec<&str> = ledger
        .iter()
        .filter(ok)
        .filter(|t| t.kind == Void)
        .filter_map(|t| t.parent_id.as_deref())
        .collect();
    let authorized: i64 = ledger
        .iter()
        .filter(ok)
        .filter(|t| t.kind == Authorization && !voided.contains(&t.transaction_id.as_str()))
        .map(|t| t.amount.0)
        .sum();
    let (sold, captures, refunded) = (of(Sale), of(Capture), of(Refund));
    let captured = captures + sold;
    assert!(
        captured <= authorized + sold,
        "captured {captured} > authorized {authorized} + sold {sold}"
    );
    assert!(
        refunded <= captured,
        "refunded {refunded} > captured {captured}"
    );
    for t in ledger.iter().filter(ok).filter(|t| t.kind == Capture) {
        let parent = t.parent_id.as_deref().unwrap();
        let taken: i64 = ledger
            .iter()
            .filter(ok)
            .filter(|c| c.kind == Capture && c.parent_id.as_deref() == Some(parent))
            .map(|c| c.amount.0)
            .sum();
        let limit = ledger
            .iter()
            .find(|a| a.transaction_id == parent)
            .unwrap()
            .amount
            .0;
        assert!(taken <= limit, "captures of {parent}: {taken} > {limit}");
    }
    let p = &order.payment;
    assert_eq!(p.authorized.0, authorized);
    assert_eq!(p.captured.0, captured);
    assert_eq!(p.refunded.0, refunded);
    assert_eq!(
        p.balance_due.0,
        order.total.0 - captured + refunded,
        "balance_due"
    );
    let cancelled = order.status == OrderStatus::Cancelled;
    assert_eq!(
        p.refund_due.0,
        if cancelled { captured - refunded } else { 0 }
    );
    let any_authorization = ledger.iter().filter(ok).any(|t| t.kind == Authorization);
    let status = match () {
        () if captured > 0 && refunded == captured => PaymentStatus::Refunded,
        () if refunded > 0 => PaymentStatus::PartiallyRefunded,
        () if captured > order.total.0 => PaymentStatus::Overpaid,
        () if captured > 0 && captured == order.total.0 => PaymentStatus::Paid,
        () if captured > 0 => PaymentStatus::PartiallyPaid,
        () if authorized > 0 => PaymentStatus::Authorized,
        () if any_authorization => PaymentStatus::Voided,
        () => PaymentStatus::Unpaid,
    };
    assert_eq!(p.payment_status, status, "{ledger:?}");
}
