//! A command stream of the eight commands orderflow had before fulfillments, replayed: the
//! orders come out as they did before this change (`v2_replay_orders.json` was written by
//! the code of then — commit 4d238ef — with `ORDERFLOW_WRITE_REPLAY_FIXTURE=<path>`), but for
//! what the change adds (fulfillments, returns and what they derive).

use crate::{
    AddressInput, Command, CommandBody, CommandId, Decision, LineItemInput, NewOrderInput, Order,
    OrderId, OrderUpdateInput, PriorOutcome, ShippingInput, StorefrontId, handle,
};

/// A small deterministic generator (the same in both versions of this file).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn stream() -> Vec<Command> {
    let mut rng = Lcg(20_261_203);
    let mut commands = Vec::new();
    for o in 0..40u64 {
        let order_id = OrderId(uuid::Uuid::from_u64_pair(7, o));
        let lines = |rng: &mut Lcg| -> Vec<LineItemInput> {
            (0..=rng.next(3))
                .map(|i| LineItemInput {
                    sku: format!("SKU-{i}"),
                    quantity: 1 + rng.next(4) as i64,
                    unit_price: 100 * (1 + rng.next(50) as i64),
                })
                .collect()
        };
        for step in 0..(4 + rng.next(6)) {
            let kind = if step == 0 {
                0
            } else if rng.next(3) > 0 {
                step.min(5)
            } else {
                rng.next(8)
            };
            let body = match kind {
                0 => CommandBody::CreateOrder(NewOrderInput {
                    customer_id: format!("c-{o}"),
                    currency: "EUR".into(),
                    items: lines(&mut rng),
                    shipping_address: AddressInput {
                        name: "Ada".into(),
                        line1: "1 Main St".into(),
                        line2: None,
                        city: "Berlin".into(),
                        postal_code: "10115".into(),
                        country: "DE".into(),
                    },
                    metadata: Default::default(),
                    adjustments: Vec::new(),
                }),
                1 => CommandBody::UpdateOrder(OrderUpdateInput {
                    items: Some(lines(&mut rng)),
                    shipping_address: None,
                    adjustments: None,
                }),
                2 => CommandBody::ConfirmOrder,
                3 => CommandBody::ShipOrder(ShippingInput {
                    carrier: "DHL".into(),
                    tracking_number: format!("T{o}-{step}"),
                }),
                4 => CommandBody::UpdateShipping(ShippingInput {
                    carrier: "UPS".into(),
                    tracking_number: format!("U{o}-{step}"),
                }),
                5 => CommandBody::DeliverOrder,
                6 => CommandBody::CancelOrder {
                    reason: "changed my mind".into(),
                },
                _ => CommandBody::DeleteOrder,
            };
            commands.push(Command {
                command_id: CommandId(uuid::Uuid::from_u64_pair(o, step)),
                order_id,
                storefront_id: StorefrontId::default_storefront(),
                expected_version: None,
                issued_at: chrono::DateTime::from_timestamp(
                    1_790_000_000 + (o * 100 + step) as i64,
                    0,
                )
                .unwrap(),
                issued_by: None,
                body,
            });
        }
    }
    commands
}

/// Every order the stream leaves, as JSON, by order id.
fn replay() -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut orders: std::collections::BTreeMap<OrderId, Order> = Default::default();
    let mut prior: std::collections::HashMap<CommandId, PriorOutcome> = Default::default();
    for command in stream() {
        if let Decision::Applied(applied) = handle(
            orders.get(&command.order_id),
            prior.get(&command.command_id),
            &command,
        ) {
            prior.insert(
                command.command_id,
                PriorOutcome::Applied {
                    version: applied.order.version,
                },
            );
            orders.insert(applied.order.order_id, applied.order);
        }
    }
    orders
        .into_iter()
        .map(|(id, order)| (id.to_string(), serde_json::to_value(&order).unwrap()))
        .collect()
}

#[test]
fn a_v2_command_stream_gives_the_orders_it_gave_before() {
    let now = replay();
    if let Ok(path) = std::env::var("ORDERFLOW_WRITE_REPLAY_FIXTURE") {
        std::fs::write(path, serde_json::to_string_pretty(&now).unwrap()).unwrap();
        return;
    }
    let before: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(include_str!("v2_replay_orders.json")).unwrap();
    assert_eq!(before.len(), now.len());
    let statuses: std::collections::BTreeSet<String> = before
        .values()
        .map(|o| o["status"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        statuses.len() >= 5,
        "the stream reaches most statuses: {statuses:?}"
    );
    for (id, was) in &before {
        let mut is = now[id].clone();
        let added = [
            "fulfillments",
            "returns",
            "fulfillment_status",
            "return_status",
        ];
        for key in added {
            is.as_object_mut().unwrap().remove(key);
        }
        assert_eq!(&is, was, "order {id}");
    }
}
