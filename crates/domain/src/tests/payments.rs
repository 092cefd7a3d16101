//! The payment ledger: each rule and code, and random sequences of facts (with replays and
//! conflicting retries) checked against a recomputation after every step.

use proptest::prelude::*;

use crate::Amount;
use crate::payments::{
    PaymentKind::{self, Authorization, Capture, Refund, Sale, Void},
    PaymentLedger, PaymentRejection, PaymentState, PaymentStatus, Recorded, Transaction,
};

fn fact(id: &str, kind: PaymentKind, amount: i64, parent: Option<&str>) -> Transaction {
    Transaction {
        transaction_id: id.to_owned(),
        kind,
        amount: Amount(amount),
        status: PaymentState::Succeeded,
        provider: "manual".to_owned(),
        provider_reference: None,
        parent_id: parent.map(str::to_owned),
        return_id: None,
    }
}

fn pending(mut t: Transaction) -> Transaction {
    t.status = PaymentState::Pending;
    t
}

fn code(result: Result<Recorded, PaymentRejection>) -> &'static str {
    result.expect_err("refused").code()
}

#[test]
fn authorize_capture_in_parts_then_refund_in_parts() {
    let mut ledger = PaymentLedger::default();
    let total = Amount(10_000);
    let status = |l: &PaymentLedger| l.summary(total, false).unwrap().payment_status;
    assert_eq!(status(&ledger), PaymentStatus::Unpaid);
    ledger
        .record(fact("a", Authorization, 10_000, None))
        .unwrap();
    assert_eq!(status(&ledger), PaymentStatus::Authorized);
    ledger
        .record(fact("c1", Capture, 4_000, Some("a")))
        .unwrap();
    assert_eq!(status(&ledger), PaymentStatus::PartiallyPaid);
    ledger
        .record(fact("c2", Capture, 6_000, Some("a")))
        .unwrap();
    assert_eq!(status(&ledger), PaymentStatus::Paid);
    ledger
        .record(fact("r1", Refund, 1_000, Some("c1")))
        .unwrap();
    let summary = ledger.summary(total, false).unwrap();
    assert_eq!(summary.payment_status, PaymentStatus::PartiallyRefunded);
    assert_eq!(
        (summary.captured, summary.refunded, summary.balance_due),
        (Amount(10_000), Amount(1_000), Amount(1_000))
    );
    ledger
        .record(fact("r2", Refund, 3_000, Some("c1")))
        .unwrap();
    ledger
        .record(fact("r3", Refund, 6_000, Some("c2")))
        .unwrap();
    assert_eq!(status(&ledger), PaymentStatus::Refunded);
}

#[test]
fn a_retried_fact_is_a_duplicate_and_the_same_id_with_other_content_is_refused() {
    let mut ledger = PaymentLedger::default();
    let a = fact("a", Authorization, 500, None);
    assert_eq!(ledger.record(a.clone()), Ok(Recorded::Applied));
    assert_eq!(ledger.record(a.clone()), Ok(Recorded::Duplicate));
    let mut other = a;
    other.amount = Amount(501);
    assert_eq!(code(ledger.record(other)), "conflicting_fact");
    assert_eq!(ledger.0.len(), 1);
}

#[test]
fn every_broken_rule_has_its_code() {
    let mut ledger = PaymentLedger::default();
    ledger
        .record(fact("a", Authorization, 1_000, None))
        .unwrap();
    ledger
        .record(pending(fact("p", Authorization, 1_000, None)))
        .unwrap();
    ledger.record(fact("s", Sale, 300, None)).unwrap();
    let cases = [
        (
            fact("x", Capture, 1_001, Some("a")),
            "capture_exceeds_authorization",
        ),
        (fact("x", Capture, 10, None), "missing_parent"),
        (fact("x", Sale, 10, Some("a")), "unexpected_parent"),
        (fact("x", Capture, 10, Some("s")), "invalid_parent"),
        (fact("x", Refund, 10, Some("a")), "invalid_parent"),
        (fact("x", Capture, 10, Some("p")), "parent_not_succeeded"),
        (fact("x", Refund, 301, Some("s")), "refund_exceeds_captured"),
    ];
    let mut reached = std::collections::BTreeSet::new();
    for (bad, expected) in cases {
        assert_eq!(code(ledger.clone().record(bad)), expected);
        reached.insert(expected);
    }
    ledger.record(fact("c", Capture, 10, Some("a"))).unwrap();
    assert_eq!(
        code(ledger.clone().record(fact("v", Void, 1_000, Some("a")))),
        "void_after_capture"
    );
    ledger
        .record(fact("v", Void, 1_000, Some("p")))
        .expect_err("pending parent");
    assert_eq!(
        code(ledger.settle("nope", PaymentState::Failed)),
        "unknown_transaction"
    );
    assert_eq!(
        code(ledger.settle("a", PaymentState::Failed)),
        "already_settled"
    );
    assert_eq!(
        code(ledger.settle("a", PaymentState::Pending)),
        "already_settled"
    );
    for n in ledger.0.len()..crate::payments::MAX_TRANSACTIONS {
        ledger
            .record(fact(&format!("s{n}"), Sale, 1, None))
            .unwrap();
    }
    assert_eq!(
        code(ledger.record(fact("one-more", Sale, 1, None))),
        "too_many_transactions"
    );
    reached.extend([
        "void_after_capture",
        "unknown_transaction",
        "already_settled",
        "too_many_transactions",
    ]);
    for code in reached {
        assert!(PaymentRejection::CODES.contains(&code), "{code} is listed");
    }
}

#[test]
fn a_voided_authorization_takes_no_capture_and_shows_voided() {
    let mut ledger = PaymentLedger::default();
    ledger
        .record(fact("a", Authorization, 1_000, None))
        .unwrap();
    ledger.record(fact("v", Void, 1_000, Some("a"))).unwrap();
    let summary = ledger.summary(Amount(1_000), false).unwrap();
    assert_eq!(summary.payment_status, PaymentStatus::Voided);
    assert_eq!(summary.authorized, Amount(0));
    assert_eq!(
        code(ledger.clone().record(fact("c", Capture, 1, Some("a")))),
        "authorization_voided"
    );
    assert_eq!(
        code(ledger.record(fact("v2", Void, 1_000, Some("a")))),
        "authorization_voided"
    );
}

#[test]
fn a_pending_capture_is_checked_again_when_it_settles() {
    let mut ledger = PaymentLedger::default();
    ledger
        .record(fact("a", Authorization, 1_000, None))
        .unwrap();
    ledger
        .record(pending(fact("c1", Capture, 800, Some("a"))))
        .unwrap();
    ledger
        .record(pending(fact("c2", Capture, 800, Some("a"))))
        .unwrap();
    assert_eq!(
        ledger.settle("c1", PaymentState::Succeeded),
        Ok(Recorded::Applied)
    );
    assert_eq!(
        ledger.settle("c1", PaymentState::Succeeded),
        Ok(Recorded::Duplicate)
    );
    assert_eq!(
        code(ledger.settle("c2", PaymentState::Succeeded)),
        "capture_exceeds_authorization"
    );
    assert_eq!(
        ledger.settle("c2", PaymentState::Failed),
        Ok(Recorded::Applied)
    );
    let summary = ledger.summary(Amount(1_000), false).unwrap();
    assert_eq!(summary.captured, Amount(800));
}

#[test]
fn overpaid_is_shown_and_a_cancelled_order_shows_its_refund_due() {
    let mut ledger = PaymentLedger::default();
    ledger.record(fact("s", Sale, 1_200, None)).unwrap();
    let summary = ledger.summary(Amount(1_000), false).unwrap();
    assert_eq!(summary.payment_status, PaymentStatus::Overpaid);
    assert_eq!(
        (summary.balance_due, summary.refund_due),
        (Amount(-200), Amount(0))
    );
    ledger.record(fact("r", Refund, 200, Some("s"))).unwrap();
    let summary = ledger.summary(Amount(1_000), true).unwrap();
    assert_eq!(summary.refund_due, Amount(1_000));
}

/// One random step: a new fact (its parent among the earlier ones), a settlement, a replay of
/// an earlier fact, or an earlier id with other content.
#[derive(Debug, Clone)]
enum Step {
    Record {
        kind: u8,
        amount: i64,
        parent: usize,
        pending: bool,
    },
    Settle {
        target: usize,
        succeed: bool,
    },
    Replay(usize),
    Conflict(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..5, 1i64..2_000, any::<usize>(), any::<bool>())
            .prop_map(|(kind, amount, parent, pending)| Step::Record { kind, amount, parent, pending }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(target, succeed)| Step::Settle { target, succeed }),
        1 => any::<usize>().prop_map(Step::Replay),
        1 => any::<usize>().prop_map(Step::Conflict),
    ]
}

/// The derived status, recomputed from the ledger's facts with no help from `summary`.
fn recomputed(ledger: &PaymentLedger, total: i64) -> PaymentStatus {
    let ok = |k: PaymentKind| {
        ledger
            .0
            .iter()
            .filter(move |t| t.kind == k && t.status == PaymentState::Succeeded)
    };
    let captured: i64 = ok(Capture).chain(ok(Sale)).map(|t| t.amount.0).sum();
    let refunded: i64 = ok(Refund).map(|t| t.amount.0).sum();
    let open_authorizations = ok(Authorization)
        .filter(|a| !ok(Void).any(|v| v.parent_id.as_ref() == Some(&a.transaction_id)))
        .count();
    match () {
        () if captured > 0 && refunded == captured => PaymentStatus::Refunded,
        () if refunded > 0 => PaymentStatus::PartiallyRefunded,
        () if captured > total => PaymentStatus::Overpaid,
        () if captured > 0 && captured == total => PaymentStatus::Paid,
        () if captured > 0 => PaymentStatus::PartiallyPaid,
        () if open_authorizations > 0 => PaymentStatus::Authorized,
        () if ok(Authorization).count() > 0 => PaymentStatus::Voided,
        () => PaymentStatus::Unpaid,
    }
}

proptest! {
    #[test]
    fn random_facts_keep_every_ledger_invariant(total in 0i64..5_000, steps in proptest::collection::vec(step(), 1..60)) {
        let mut ledger = PaymentLedger::default();
        for (n, step) in steps.into_iter().enumerate() {
            let before = ledger.clone();
            let ids: Vec<String> = ledger.0.iter().map(|t| t.transaction_id.clone()).collect();
            let result = match step {
                Step::Record { kind, amount, parent, pending } => {
                    let kind = [Authorization, Capture, Sale, Void, Refund][kind as usize];
                    let parent = (!ids.is_empty() && !matches!(kind, Authorization | Sale))
                        .then(|| ids[parent % ids.len()].as_str());
                    let mut new = fact(&format!("t{n}"), kind, amount, parent);
                    if pending { new.status = PaymentState::Pending; }
                    ledger.record(new)
                }
                Step::Settle { target, .. } if ids.is_empty() => ledger.settle(&format!("t{target}"), PaymentState::Failed),
                Step::Settle { target, succeed } => {
                    let to = if succeed { PaymentState::Succeeded } else { PaymentState::Failed };
                    ledger.settle(&ids[target % ids.len()], to)
                }
                Step::Replay(_) | Step::Conflict(_) if ids.is_empty() => continue,
                Step::Replay(i) => {
                    let again = ledger.0[i % ids.len()].clone();
                    let result = ledger.record(again);
                    prop_assert_eq!(&result, &Ok(Recorded::Duplicate));
                    result
                }
                Step::Conflict(i) => {
                    let mut other = ledger.0[i % ids.len()].clone();
                    other.amount = Amount(other.amount.0 + 1);
                    let result = ledger.record(other);
                    prop_assert_eq!(result.clone().map_err(|e| e.code()), Err("conflicting_fact"));
                    result
                }
            };
            if !matches!(result, Ok(Recorded::Applied)) {
                prop_assert_eq!(&ledger, &before, "a refused or duplicate fact changes nothing");
            }
            let s = ledger.summary(Amount(total), false).unwrap();
            let sold: i64 = ledger.0.iter().filter(|t| t.kind == Sale && t.status == PaymentState::Succeeded).map(|t| t.amount.0).sum();
            let authorized_gross: i64 = ledger.0.iter().filter(|t| t.kind == Authorization && t.status == PaymentState::Succeeded).map(|t| t.amount.0).sum();
            prop_assert!(s.captured.0 <= authorized_gross + sold, "captured ≤ authorized + sold");
            prop_assert!(s.refunded.0 <= s.captured.0, "refunded ≤ captured");
            prop_assert_eq!(s.balance_due.0, total - s.captured.0 + s.refunded.0);
            prop_assert_eq!(s.payment_status, recomputed(&ledger, total));
        }
    }
}
