//! Random command sequences over a few orders never produce an invalid order.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
struct Step {
    order: usize,
    kind: usize,
    valid: bool,
    expected_version: Option<u64>,
    /// Re-send the command of an earlier step instead (same command id).
    replay: Option<prop::sample::Index>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..3usize,
        0..8usize,
        prop::bool::weighted(0.85),
        prop::option::weighted(0.15, 0..6u64),
        prop::option::weighted(0.1, any::<prop::sample::Index>()),
    )
        .prop_map(|(order, kind, valid, expected_version, replay)| Step {
            order,
            kind,
            valid,
            expected_version,
            replay,
        })
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
            ..sample_input()
        }),
        1 => CommandBody::UpdateOrder(OrderUpdateInput {
            items: Some(lines),
            shipping_address: None,
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

fn check_order(order: &Order) {
    let sum = order.items.iter().map(|i| i.line_total.0).sum::<i64>();
    assert_eq!(order.subtotal.0, sum, "subtotal is the sum of the lines");
    assert_eq!(order.total, order.subtotal);
    for item in &order.items {
        assert_eq!(
            item.line_total.0,
            item.unit_price.0 * i64::from(item.quantity)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_command_sequences_keep_every_order_valid(steps in prop::collection::vec(step(), 1..80)) {
        let ids = [OrderId::new_random(), OrderId::new_random(), OrderId::new_random()];
        let mut orders: HashMap<OrderId, Order> = HashMap::new();
        let mut outcomes: HashMap<CommandId, PriorOutcome> = HashMap::new();
        let mut sent: Vec<Command> = Vec::new();

        for (n, step) in steps.iter().enumerate() {
            let command = match (&step.replay, sent.is_empty()) {
                (Some(index), false) => sent[index.index(sent.len())].clone(),
                _ => {
                    let mut c = command_for(ids[step.order], body(step.kind, step.valid, n));
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
                                || (before.status == OrderStatus::Cancelled && after.status == OrderStatus::Deleted),
                            "terminal {} became {}", before.status, after.status
                        );
                        prop_assert_eq!(after.created_at, before.created_at);
                    }
                    check_order(&after);
                    outcomes.insert(command.command_id, PriorOutcome::Applied { version: after.version });
                    orders.insert(after.order_id, after);
                }
                Decision::Rejected(rejection) => {
                    // (The order cannot change: `handle` only reads it.) What it says can be
                    // wrong: a stable code, an event at the order's version, and the same
                    // command handled again is a duplicate of this rejection.
                    let code = rejection.code();
                    prop_assert!(Rejection::CODES.contains(&code), "unlisted code {}", code);
                    let event = rejected_event(before.as_ref(), &command, &rejection);
                    prop_assert_eq!(event.version, before.as_ref().map_or(0, |b| b.version));
                    let prior = PriorOutcome::Rejected { code: code.into() };
                    prop_assert!(
                        matches!(handle(before.as_ref(), Some(&prior), &command), Decision::Duplicate(_)),
                        "a rejected command sent again is a duplicate"
                    );
                    outcomes.insert(command.command_id, prior);
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
