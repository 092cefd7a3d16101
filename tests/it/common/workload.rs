//! A seeded command workload over many orders, and the oracle: the domain applied in order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use orderflow::domain::{
    AddressInput, AdjustmentInput, Command, CommandBody, CommandId, ConditionInput, Decision,
    EventId, FulfillmentInput, LineItemInput, NewOrderInput, Order, OrderId, OrderUpdateInput,
    PaymentInput, PriorOutcome, ReturnInput, SettlementInput, ShippingInput, StorefrontId,
    UnitsInput, handle,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub(crate) struct Workload {
    /// In send order; each order's commands keep their relative order.
    pub commands: Vec<Command>,
}

/// What the oracle expects of one order.
#[derive(Debug, Default)]
pub(crate) struct Expected {
    pub order: Option<Order>,
    /// Every event the order's commands cause (applied or rejected), in order.
    pub events: Vec<(EventId, u64)>,
}

fn issued(n: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_790_000_000_000_000 + n as i64 * 1000).unwrap()
}

fn body(rng: &mut StdRng, kind: u32, n: u64) -> CommandBody {
    let invalid = rng.random_bool(0.08);
    let text = |s: &str| if invalid { String::new() } else { s.to_owned() };
    let lines = |rng: &mut StdRng| {
        (0..rng.random_range(1..4))
            .map(|i| LineItemInput {
                sku: format!("SKU-{i}"),
                quantity: if invalid { 0 } else { rng.random_range(1..20) },
                unit_price: rng.random_range(0..50_000),
            })
            .collect::<Vec<_>>()
    };
    match kind {
        0 => CommandBody::CreateOrder(NewOrderInput {
            customer_id: format!("c-{n}"),
            currency: ["EUR", "USD", "JPY"][rng.random_range(0..3)].into(),
            items: lines(rng),
            shipping_address: AddressInput {
                name: "Ada".into(),
                line1: "1 Main St".into(),
                line2: None,
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country: "DE".into(),
            },
            metadata: Default::default(),
            adjustments: vec![AdjustmentInput {
                kind: "shipping".into(),
                label: "Standard".into(),
                amount: rng.random_range(0..1_000),
            }],
        }),
        1 => CommandBody::UpdateOrder(OrderUpdateInput {
            items: Some(lines(rng)),
            shipping_address: None,
            adjustments: None,
        }),
        2 => CommandBody::ConfirmOrder,
        3 => CommandBody::ShipOrder(ShippingInput {
            carrier: text("DHL"),
            tracking_number: format!("T{n}"),
        }),
        4 => CommandBody::UpdateShipping(ShippingInput {
            carrier: "UPS".into(),
            tracking_number: text("1Z"),
        }),
        5 => CommandBody::DeliverOrder,
        6 => CommandBody::CancelOrder {
            reason: text("changed my mind"),
        },
        7 => CommandBody::DeleteOrder,
        // Payment facts named p0..p5 per order: parents, amounts and statuses at random, so
        // that some break the ledger's rules.
        8 => {
            let kind =
                ["authorization", "capture", "sale", "void", "refund"][rng.random_range(0..5)];
            let parent = matches!(kind, "capture" | "void" | "refund")
                .then(|| format!("p{}", rng.random_range(0..6)));
            CommandBody::RecordPayment(PaymentInput {
                transaction_id: format!("p{}", rng.random_range(0..6)),
                kind: kind.into(),
                amount: if invalid {
                    0
                } else {
                    rng.random_range(1..60_000)
                },
                status: ["pending", "succeeded", "succeeded", "failed"][rng.random_range(0..4)]
                    .into(),
                provider: "manual".into(),
                provider_reference: None,
                parent_id: parent,
                return_id: None,
            })
        }
        9 => CommandBody::SettlePayment(SettlementInput {
            transaction_id: format!("p{}", rng.random_range(0..6)),
            status: ["succeeded", "failed"][rng.random_range(0..2)].into(),
        }),
        // Fulfillments f0..f3 and returns r0..r2 per order, of SKU-0 (every order's first
        // line): some exceed what is ordered or delivered, some name nothing.
        10 => CommandBody::CreateFulfillment(FulfillmentInput {
            fulfillment_id: format!("f{}", rng.random_range(0..4)),
            lines: vec![UnitsInput {
                sku: "SKU-0".into(),
                quantity: if invalid { 0 } else { rng.random_range(1..6) },
            }],
        }),
        11 => CommandBody::ShipFulfillment {
            fulfillment_id: format!("f{}", rng.random_range(0..4)),
            shipping: ShippingInput {
                carrier: "DHL".into(),
                tracking_number: format!("F{n}"),
            },
        },
        12 => CommandBody::DeliverFulfillment {
            fulfillment_id: format!("f{}", rng.random_range(0..4)),
        },
        13 => CommandBody::CancelFulfillment {
            fulfillment_id: format!("f{}", rng.random_range(0..4)),
        },
        14 => CommandBody::RequestReturn(ReturnInput {
            return_id: format!("r{}", rng.random_range(0..3)),
            lines: vec![UnitsInput {
                sku: "SKU-0".into(),
                quantity: rng.random_range(1..4),
            }],
            reason: text("too small"),
        }),
        15 => CommandBody::ReceiveReturn {
            return_id: format!("r{}", rng.random_range(0..3)),
            lines: vec![ConditionInput {
                sku: "SKU-0".into(),
                condition: ["resellable", "damaged"][rng.random_range(0..2)].into(),
            }],
        },
        _ => CommandBody::CancelReturn {
            return_id: format!("r{}", rng.random_range(0..3)),
        },
    }
}

impl Workload {
    /// `orders` orders with `per_order` commands each on average, every kind (payment facts
    /// among them, some retried under a new command id), some invalid, some with a wrong
    /// expected version, some sent twice.
    pub(crate) fn generate(seed: u64, orders: usize, per_order: usize) -> Workload {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut n = 0u64;
        let mut per: Vec<Vec<Command>> = (0..orders)
            .map(|_| {
                let order_id = OrderId::new_random();
                let mut sequence: Vec<Command> = Vec::new();
                let count = rng.random_range(per_order / 2..=per_order * 3 / 2);
                for i in 0..count {
                    n += 1;
                    if i > 0 && rng.random_bool(0.05) {
                        let again = sequence[rng.random_range(0..sequence.len())].clone();
                        sequence.push(again); // the same command id, sent again
                        continue;
                    }
                    // Early commands are mostly progress through the life of an order.
                    let kind = if i == 0 {
                        0
                    } else if rng.random_bool(0.6) {
                        (i as u32).min(5)
                    } else {
                        rng.random_range(0..17)
                    };
                    // A payment fact retried by its provider: a new command, the same fact.
                    let retried = sequence
                        .iter()
                        .rev()
                        .find(|c| matches!(c.body, CommandBody::RecordPayment(_)))
                        .filter(|_| (8..10).contains(&kind) && rng.random_bool(0.2))
                        .map(|c| c.body.clone());
                    let body = retried.unwrap_or_else(|| body(&mut rng, kind, n));
                    sequence.push(Command {
                        command_id: CommandId(uuid::Uuid::from_u64_pair(seed, n)),
                        order_id,
                        storefront_id: StorefrontId::default_storefront(),
                        expected_version: rng.random_bool(0.1).then(|| rng.random_range(0..4)),
                        issued_at: issued(n),
                        issued_by: None,
                        body,
                    });
                }
                sequence
            })
            .collect();
        // Interleave the orders at random, keeping each order's own order.
        let mut commands = Vec::with_capacity(per.iter().map(Vec::len).sum());
        let mut cursors = vec![0usize; per.len()];
        let mut live: Vec<usize> = (0..per.len()).collect();
        while !live.is_empty() {
            let pick = rng.random_range(0..live.len());
            let o = live[pick];
            commands.push(per[o][cursors[o]].clone());
            cursors[o] += 1;
            if cursors[o] == per[o].len() {
                live.swap_remove(pick);
                per[o].clear();
            }
        }
        Workload { commands }
    }

    /// The domain applied to each order's commands in order.
    pub(crate) fn oracle(&self) -> HashMap<OrderId, Expected> {
        let mut expected: HashMap<OrderId, Expected> = HashMap::new();
        let mut prior: HashMap<CommandId, PriorOutcome> = HashMap::new();
        for command in &self.commands {
            let entry = expected.entry(command.order_id).or_default();
            match handle(
                entry.order.as_ref(),
                prior.get(&command.command_id),
                command,
            ) {
                Decision::Applied(applied) => {
                    prior.insert(
                        command.command_id,
                        PriorOutcome::Applied {
                            version: applied.order.version,
                        },
                    );
                    entry
                        .events
                        .push((applied.event.event_id, applied.order.version));
                    entry.order = Some(applied.order);
                }
                Decision::Rejected(rejection) => {
                    prior.insert(
                        command.command_id,
                        PriorOutcome::Rejected {
                            code: rejection.code().into(),
                        },
                    );
                    let version = entry.order.as_ref().map_or(0, |o| o.version);
                    entry
                        .events
                        .push((EventId::caused_by(command.command_id), version));
                }
                Decision::Unchanged { version } => {
                    prior.insert(command.command_id, PriorOutcome::Applied { version });
                }
                Decision::Duplicate(_) => {}
            }
        }
        expected
    }
}
