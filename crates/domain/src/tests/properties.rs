//! Random command sequences over a few orders never produce an invalid order: order commands,
//! payment facts, fulfillments and returns mixed, with replays, retried facts and conflicting
//! retries.

use std::collections::HashMap;

use proptest::prelude::*;

use super::invariants::check_order;
use super::*;

#[derive(Debug, Clone)]
struct Step {
    order: usize,
    kind: usize,
    valid: bool,
    expected_version: Option<u64>,
    /// Re-send the command of an earlier step instead (same command id).
    replay: Option<prop::sample::Index>,
    /// For payment facts: which kind, status, size (a percentage of the parent's amount, so
    /// that some exceed what is left), and which earlier transaction.
    payment: (usize, usize, i64, prop::sample::Index),
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..3usize,
        // Creates often enough that most commands find their order, payments most often.
        // Then fulfillments and returns (13..=19).
        (0..36usize).prop_map(|k| match k {
            0..3 => 0,
            3..10 => k - 2,
            10..14 => 9,
            14..16 => 10,
            16 => 11,
            17..24 => 12,
            24..27 => 13,
            27..30 => 14,
            30..32 => 15,
            32 => 16,
            33 => 17,
            34 => 18,
            _ => 19,
        }),
        prop::bool::weighted(0.85),
        prop::option::weighted(0.15, 0..6u64),
        prop::option::weighted(0.1, any::<prop::sample::Index>()),
        (
            0..5usize,
            0..3usize,
            1..=130i64,
            any::<prop::sample::Index>(),
        ),
    )
        .prop_map(
            |(order, kind, valid, expected_version, replay, payment)| Step {
                order,
                kind,
                valid,
                expected_version,
                replay,
                payment,
            },
        )
}

/// A payment fact for `order`: a new transaction (its parent one of the order's), a
/// settlement, a retry of a recorded fact, or a recorded id with other content.
fn payment_body(kind: usize, step: &Step, n: usize, order: Option<&Order>) -> CommandBody {
    const KINDS: [&str; 5] = ["authorization", "capture", "sale", "void", "refund"];
    const STATES: [&str; 3] = ["pending", "succeeded", "failed"];
    let (payment_kind, state, percent, pick) = &step.payment;
    let known = order.map_or(&[][..], |o| &o.payments.0[..]);
    let earlier = (!known.is_empty()).then(|| &known[pick.index(known.len())]);
    let kind_name = KINDS[*payment_kind];
    // A capture or void names an authorization, a refund a capture or sale (mostly).
    let parents: Vec<&crate::Transaction> = known
        .iter()
        .filter(|t| match kind_name {
            "capture" | "void" => t.kind == crate::PaymentKind::Authorization,
            _ => matches!(
                t.kind,
                crate::PaymentKind::Capture | crate::PaymentKind::Sale
            ),
        })
        .collect();
    let parent = match (parents.is_empty(), percent % 10) {
        (_, 0) => earlier,
        (true, _) => None,
        (false, _) => Some(parents[pick.index(parents.len())]),
    };
    let as_input = |t: &crate::Transaction| PaymentInput {
        transaction_id: t.transaction_id.clone(),
        kind: t.kind.as_str().into(),
        amount: t.amount.0,
        status: t.status.as_str().into(),
        provider: t.provider.clone(),
        provider_reference: t.provider_reference.clone(),
        parent_id: t.parent_id.clone(),
        return_id: t.return_id.clone(),
    };
    match (kind, earlier) {
        (9, Some(t)) => CommandBody::SettlePayment(settlement(
            &t.transaction_id,
            if *percent % 3 == 0 {
                "failed"
            } else {
                "succeeded"
            },
        )),
        (10, Some(t)) => CommandBody::RecordPayment(as_input(t)),
        (11, Some(t)) => CommandBody::RecordPayment(PaymentInput {
            amount: t.amount.0 % 2_500 + 1,
            ..as_input(t)
        }),
        _ => {
            let (parent, amount) = match (kind_name, parent) {
                ("authorization" | "sale", _) | (_, None) => (None, percent * 20),
                (_, Some(p)) => (
                    Some(p.transaction_id.as_str()),
                    (p.amount.0 * percent / 100).max(1),
                ),
            };
            let mut input = payment(&format!("t{n}"), kind_name, amount, STATES[*state], parent);
            if !step.valid {
                input.amount = 0;
            }
            CommandBody::RecordPayment(input)
        }
    }
}

/// A fulfillment or return command for `order`: of its first line's sku, naming one of its
/// fulfillments or returns (or a new one).
fn shipment_body(kind: usize, step: &Step, n: usize, order: Option<&Order>) -> CommandBody {
    let (_, _, percent, pick) = &step.payment;
    let sku = order.map_or_else(|| "SKU-X".to_owned(), |o| o.items[0].sku.to_string());
    let quantity = percent % 3 + 1;
    let units = vec![UnitsInput {
        sku: sku.clone(),
        quantity,
    }];
    let fulfillments = order.map_or(&[][..], |o| &o.shipments.fulfillments[..]);
    let returns = order.map_or(&[][..], |o| &o.shipments.returns[..]);
    let fulfillment_id = if fulfillments.is_empty() {
        format!("f{n}")
    } else {
        fulfillments[pick.index(fulfillments.len())]
            .fulfillment_id
            .clone()
    };
    let return_id = if returns.is_empty() {
        format!("r{n}")
    } else {
        returns[pick.index(returns.len())].return_id.clone()
    };
    match kind {
        // Half of them: everything not yet fulfilled, so that whole orders ship this way too.
        13 => CommandBody::CreateFulfillment(FulfillmentInput {
            fulfillment_id: format!("f{n}"),
            lines: match order.map(Order::unfulfilled) {
                Some(rest) if percent % 2 == 0 && !rest.is_empty() => rest
                    .into_iter()
                    .map(|u| UnitsInput {
                        sku: u.sku.to_string(),
                        quantity: i64::from(u.quantity),
                    })
                    .collect(),
                _ => units,
            },
        }),
        14 => CommandBody::ShipFulfillment {
            fulfillment_id,
            shipping: ShippingInput {
                carrier: "DHL".into(),
                tracking_number: format!("T{n}"),
            },
        },
        15 => CommandBody::DeliverFulfillment { fulfillment_id },
        16 => CommandBody::CancelFulfillment { fulfillment_id },
        17 => CommandBody::RequestReturn(ReturnInput {
            return_id: format!("r{n}"),
            lines: units,
            reason: "damaged in transit".into(),
        }),
        18 => CommandBody::ReceiveReturn {
            return_id,
            lines: vec![ConditionInput {
                sku,
                condition: if percent % 2 == 0 {
                    "damaged"
                } else {
                    "resellable"
                }
                .into(),
            }],
        },
        _ => CommandBody::CancelReturn { return_id },
    }
}

fn body(kind: usize, valid: bool, n: usize) -> CommandBody {
    let quantity = if valid { 1 + (n as i64 % 5) } else { 0 };
    let lines = vec![
        LineItemInput {
            sku: format!("SKU-{n}"),
            quantity,
            unit_price: 100 + n as i64,
        },
        LineItemInput {
            sku: "SKU-X".into(),
            quantity: 2,
            unit_price: 999,
        },
    ];
    let text = |s: &str| if valid { s.to_owned() } else { String::new() };
    match kind {
        0 => CommandBody::CreateOrder(NewOrderInput {
            items: lines,
            adjustments: vec![adjustment("shipping", 495)],
            ..sample_input()
        }),
        1 => CommandBody::UpdateOrder(OrderUpdateInput {
            items: Some(lines),
            shipping_address: None,
            adjustments: n
                .is_multiple_of(2)
                .then(|| vec![adjustment("discount", -(n as i64 % 700))]),
        }),
        2 => CommandBody::ConfirmOrder,
        3 => CommandBody::ShipOrder(ShippingInput {
            carrier: text("DHL"),
            tracking_number: "T".into(),
        }),
        4 => CommandBody::UpdateShipping(ShippingInput {
            carrier: "UPS".into(),
            tracking_number: text("1Z"),
        }),
        5 => CommandBody::DeliverOrder,
        6 => CommandBody::CancelOrder {
            reason: text("no longer needed"),
        },
        _ => CommandBody::DeleteOrder,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_command_sequences_keep_every_order_valid(steps in prop::collection::vec(step(), 1..120)) {
        let ids = [OrderId::new_random(), OrderId::new_random(), OrderId::new_random()];
        let mut orders: HashMap<OrderId, Order> = HashMap::new();
        let mut outcomes: HashMap<CommandId, PriorOutcome> = HashMap::new();
        let mut sent: Vec<Command> = Vec::new();
        // Every fulfillment ever seen shipped: it is never cancelled afterwards.
        let mut shipped: std::collections::HashSet<(OrderId, String)> = Default::default();

        for (n, step) in steps.iter().enumerate() {
            let command = match (&step.replay, sent.is_empty()) {
                (Some(index), false) => sent[index.index(sent.len())].clone(),
                _ => {
                    let id = ids[step.order];
                    let body = match step.kind {
                        13.. => shipment_body(step.kind, step, n, orders.get(&id)),
                        8.. => payment_body(step.kind, step, n, orders.get(&id)),
                        kind => body(kind, step.valid, n),
                    };
                    let mut c = command_for(id, body);
                    c.expected_version = step.expected_version;
                    c.issued_at = at((n % 60) as u32);
                    c
                }
            };
            let before = orders.get(&command.order_id).cloned();
            match handle(before.as_ref(), outcomes.get(&command.command_id), &command) {
                Decision::Applied(applied) => {
                    let after = applied.order;
                    let expected_version = before.as_ref().map_or(1, |b| b.version + 1);
                    prop_assert_eq!(after.version, expected_version, "version grows by exactly 1");
                    prop_assert_eq!(applied.event.version, after.version);
                    if let Some(before) = &before {
                        prop_assert!(
                            !before.status.is_terminal()
                                || after.status == before.status
                                || (before.status == OrderStatus::Cancelled && after.status == OrderStatus::Deleted),
                            "terminal {} became {}", before.status, after.status
                        );
                        prop_assert_eq!(after.created_at, before.created_at);
                    }
                    check_order(&after);
                    for f in &after.shipments.fulfillments {
                        let key = (after.order_id, f.fulfillment_id.clone());
                        match f.status {
                            FulfillmentState::Shipped | FulfillmentState::Delivered => {
                                shipped.insert(key);
                            }
                            FulfillmentState::Cancelled => {
                                prop_assert!(!shipped.contains(&key), "shipped {} was cancelled", f.fulfillment_id);
                            }
                            FulfillmentState::Pending => {
                                prop_assert!(!shipped.contains(&key), "shipped {} went back", f.fulfillment_id);
                            }
                        }
                    }
                    outcomes.insert(command.command_id, PriorOutcome::Applied { version: after.version });
                    orders.insert(after.order_id, after);
                }
                Decision::Rejected(rejection) => {
                    // (The order cannot change: `handle` only reads it.) What it says can be
                    // wrong: a stable code, an event at the order's version, and the same
                    // command handled again is a duplicate of this rejection.
                    let code = rejection.code();
                    prop_assert!(Rejection::codes().contains(&code), "unlisted code {}", code);
                    let event = rejected_event(before.as_ref(), &command, &rejection);
                    prop_assert_eq!(event.version, before.as_ref().map_or(0, |b| b.version));
                    let prior = PriorOutcome::Rejected { code: code.into() };
                    prop_assert!(
                        matches!(handle(before.as_ref(), Some(&prior), &command), Decision::Duplicate(_)),
                        "a rejected command sent again is a duplicate"
                    );
                    outcomes.insert(command.command_id, prior);
                }
                Decision::Unchanged { version } => {
                    // Only a fact the order holds, with the same content, changes nothing.
                    let before = before.expect("an unchanged order exists");
                    prop_assert_eq!(version, before.version);
                    match &command.body {
                        CommandBody::RecordPayment(input) => {
                            let fact = crate::parse_payment(input).unwrap();
                            prop_assert_eq!(before.payments.get(&fact.transaction_id), Some(&fact));
                        }
                        CommandBody::SettlePayment(input) => {
                            let (id, status) = crate::parse_settlement(input).unwrap();
                            prop_assert_eq!(before.payments.get(&id).map(|t| t.status), Some(status));
                        }
                        CommandBody::CreateFulfillment(_)
                        | CommandBody::ShipFulfillment { .. }
                        | CommandBody::DeliverFulfillment { .. }
                        | CommandBody::CancelFulfillment { .. }
                        | CommandBody::RequestReturn(_)
                        | CommandBody::ReceiveReturn { .. }
                        | CommandBody::CancelReturn { .. } => {}
                        other => panic!("{} left the order unchanged", other.kind()),
                    }
                    outcomes.insert(command.command_id, PriorOutcome::Applied { version });
                }
                Decision::Duplicate(prior) => {
                    prop_assert_eq!(Some(&prior), outcomes.get(&command.command_id), "the original outcome");
                    // Only a command sent before can be a duplicate; a new one never is.
                    prop_assert!(
                        step.replay.is_some() && sent.iter().any(|c| c.command_id == command.command_id),
                        "a new command taken for a duplicate"
                    );
                }
            }
            sent.push(command);
        }
        for order in orders.values() {
            check_order(order);
        }
    }
}
