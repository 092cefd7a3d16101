//! What Stripe's notifications mean, event by event.

use super::*;
use serde_json::json;

fn event(kind: &str, object: serde_json::Value) -> Event {
    Event {
        id: "evt_1".into(),
        kind: kind.into(),
        data: EventData { object },
    }
}

fn pi(status: &str, capture_method: &str) -> serde_json::Value {
    json!({"id": "pi_1", "object": "payment_intent", "amount": 5000, "amount_received": 4000,
           "currency": "eur", "status": status, "capture_method": capture_method,
           "latest_charge": "ch_1", "metadata": {"order_id": "o-1"}})
}

fn ids(meaning: &Meaning) -> Vec<String> {
    let Meaning::Facts { facts, .. } = meaning else {
        panic!("{meaning:?}")
    };
    facts
        .iter()
        .map(|f| match f {
            Fact::Command(CommandBody::RecordPayment(p)) => {
                format!("{} {} {} {}", p.transaction_id, p.kind, p.amount, p.status)
            }
            Fact::Refund { record, settle } => format!(
                "{} refund {} then {:?}",
                record.transaction_id,
                record.amount,
                settle.as_ref().map(|s| s.status.as_str())
            ),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_manual_capture_is_an_authorization_and_its_capture_whichever_event_says_so() {
    let authorized = meaning(&event(
        "payment_intent.amount_capturable_updated",
        pi("requires_capture", "manual"),
    ))
    .unwrap();
    assert_eq!(
        ids(&authorized),
        ["stripe:pi_1:authorization authorization 5000 succeeded"]
    );
    let succeeded = meaning(&event(
        "payment_intent.succeeded",
        pi("succeeded", "manual"),
    ))
    .unwrap();
    let captured = meaning(&event(
        "charge.captured",
        json!({"id": "ch_1", "object": "charge", "amount": 5000, "amount_captured": 4000,
               "currency": "eur", "payment_intent": "pi_1", "metadata": {}}),
    ))
    .unwrap();
    let both = [
        "stripe:pi_1:authorization authorization 5000 succeeded",
        "stripe:pi_1:capture capture 4000 succeeded",
    ];
    assert_eq!(ids(&succeeded), both);
    assert_eq!(
        ids(&captured),
        both,
        "the same facts: duplicates in the ledger"
    );
    let Meaning::Facts { subject, .. } = captured else {
        panic!()
    };
    assert_eq!(
        subject.order_id, None,
        "a charge's order is found by its PaymentIntent"
    );
    assert_eq!(subject.currency, "EUR");
}

#[test]
fn an_automatic_capture_is_a_sale_and_a_failure_counts_nothing() {
    let paid = meaning(&event(
        "payment_intent.succeeded",
        pi("succeeded", "automatic"),
    ))
    .unwrap();
    assert_eq!(ids(&paid), ["stripe:pi_1:sale sale 4000 succeeded"]);
    let failed = meaning(&event(
        "payment_intent.payment_failed",
        pi("requires_payment_method", "automatic"),
    ))
    .unwrap();
    assert_eq!(ids(&failed), ["stripe:pi_1:failed:ch_1 sale 5000 failed"]);
}

#[test]
fn a_refund_is_recorded_pending_and_settled_as_stripe_says() {
    let refund = |status: &str| {
        json!({"id": "re_1", "object": "refund", "amount": 1000, "currency": "eur",
               "status": status, "payment_intent": "pi_1", "charge": "ch_1"})
    };
    assert_eq!(
        ids(&meaning(&event("refund.created", refund("pending"))).unwrap()),
        ["stripe:re_1 refund 1000 then None"]
    );
    assert_eq!(
        ids(&meaning(&event("refund.updated", refund("succeeded"))).unwrap()),
        ["stripe:re_1 refund 1000 then Some(\"succeeded\")"]
    );
    assert_eq!(
        ids(&meaning(&event("charge.refund.updated", refund("canceled"))).unwrap()),
        ["stripe:re_1 refund 1000 then Some(\"failed\")"]
    );
    let listed = json!({"id": "ch_1", "object": "charge", "amount": 5000, "currency": "eur",
        "payment_intent": "pi_1", "metadata": {"order_id": "o-1"},
        "refunds": {"object": "list", "data": [refund("succeeded")]}});
    let meaning = meaning(&event("charge.refunded", listed)).unwrap();
    assert_eq!(
        ids(&meaning),
        ["stripe:re_1 refund 1000 then Some(\"succeeded\")"]
    );
    let Meaning::Facts { subject, .. } = meaning else {
        panic!()
    };
    assert_eq!(
        subject.order_id.as_deref(),
        Some("o-1"),
        "from the charge's metadata"
    );
}

#[test]
fn other_events_and_shapes_are_ignored_with_a_reason() {
    let unlisted = json!({"id": "ch_1", "object": "charge", "amount": 5000, "currency": "eur",
        "payment_intent": "pi_1"});
    for (kind, object, reason) in [
        ("customer.created", json!({"id": "cus_1"}), "unknown_type"),
        ("charge.refunded", unlisted, "refunds_not_listed"),
        (
            "payment_intent.amount_capturable_updated",
            pi("processing", "manual"),
            "not_capturable",
        ),
    ] {
        assert_eq!(
            meaning(&event(kind, object)).unwrap(),
            Meaning::Ignored(reason)
        );
    }
    assert!(meaning(&event("payment_intent.succeeded", json!({"id": 1}))).is_err());
}
