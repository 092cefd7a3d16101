//! The processor's input, fuzzed: arbitrary bytes and mutations of valid commands (with
//! hostile text in every field) through decode → key check → fold → the rows a batch
//! stores. Never a panic, never a row PostgreSQL cannot store (no NUL in text or JSON),
//! never an unbounded message.

use std::collections::HashMap;

use proptest::prelude::*;

use super::Record;
use super::assignment::Tag;
use super::batch::{self, Incoming, Outcome, Refused};
use super::rows::{DLQ_KEY_MAX, DLQ_MESSAGE_LEN, DLQ_PAYLOAD_MAX, dead_letter, processed_row};
use crate::codec::Codec;
use crate::domain::samples::create_command;
use crate::domain::{AddressInput, CommandBody, LineItemInput, NewOrderInput, Rejection};

/// Text as hostile peers send it: control characters, NULs, long runs, any Unicode.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{1,20}",
        "\\PC{0,40}",
        ".{0,40}",
        "[\\x00-\\x1f]{1,10}",
        (1usize..3000).prop_map(|n| "\0".repeat(n)),
        (1usize..200_000).prop_map(|n| "x".repeat(n)),
    ]
}

fn hostile_create() -> impl Strategy<Value = crate::domain::Command> {
    (
        proptest::collection::vec(hostile_text(), 9),
        proptest::collection::btree_map(hostile_text(), hostile_text(), 0..4),
    )
        .prop_map(|(t, metadata)| {
            create_command(NewOrderInput {
                customer_id: t[0].clone(),
                currency: t[1].clone(),
                items: vec![LineItemInput {
                    sku: t[2].clone(),
                    quantity: 1,
                    unit_price: 100,
                }],
                shipping_address: AddressInput {
                    name: t[3].clone(),
                    line1: t[4].clone(),
                    line2: Some(t[5].clone()),
                    city: t[6].clone(),
                    postal_code: t[7].clone(),
                    country: t[8].clone(),
                },
                metadata,
                adjustments: vec![crate::domain::AdjustmentInput {
                    kind: t[0].clone(),
                    label: t[1].clone(),
                    amount: 1,
                }],
            })
        })
}

#[derive(Debug, Clone)]
enum Mutation {
    None,
    Truncate(usize),
    Flip(usize, u8),
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::None),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, x)| Mutation::Flip(at, x)),
        proptest::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Append),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    match mutation {
        Mutation::None => {}
        Mutation::Truncate(at) => bytes.truncate(at % bytes.len().max(1)),
        Mutation::Flip(at, x) => {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] ^= x | 1;
            }
        }
        Mutation::Append(extra) => bytes.extend(extra),
    }
    bytes
}

fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// Runs one record through the processor's pure path and checks every row it would write.
fn check(payload: Vec<u8>, key: Option<Vec<u8>>) -> Result<(), TestCaseError> {
    let codec = Codec::single_object();
    let decoded = futures::executor::block_on(codec.decode_command(&payload));
    let command = decoded
        .map_err(Refused::from)
        .and_then(|c| Refused::check_key(key.as_deref(), c));
    let record = Record {
        partition: 0,
        offset: 7,
        tag: Tag {
            generation: 1,
            seq: 0,
        },
        timestamp: None,
        key,
        payload,
        trace: None,
        idempotency: None,
        replay_count: 0,
    };
    let incoming = [Incoming {
        partition: 0,
        offset: 7,
        command,
        idempotency: None,
    }];
    let folded = batch::fold(&incoming, HashMap::new(), HashMap::new(), HashMap::new());
    match (&incoming[0].command, &folded.outcomes[0]) {
        (Err(error), Outcome::Undecodable) => {
            let row = dead_letter("orders.commands", &record, error);
            prop_assert!(row.payload.len() <= DLQ_PAYLOAD_MAX);
            prop_assert!(row.key.as_ref().is_none_or(|k| k.len() <= DLQ_KEY_MAX));
            for (name, value) in &row.headers {
                prop_assert!(
                    storable(name) && storable(value),
                    "header {name}: {value:?}"
                );
                prop_assert!(value.chars().count() <= DLQ_MESSAGE_LEN + 40);
            }
        }
        (Ok(command), Outcome::Applied(event)) => {
            let order = folded.orders.values().next().expect("the created order");
            let json = serde_json::to_string(order).unwrap();
            prop_assert!(
                !json.contains("\\u0000"),
                "jsonb cannot store NUL: {json:.200}"
            );
            let row = processed_row(command, Ok(event.version));
            prop_assert!(storable(&row.storefront_id));
            futures::executor::block_on(codec.encode_event("orders.events", event))
                .expect("an applied event encodes");
        }
        (Ok(command), Outcome::Rejected { rejection, event }) => {
            let row = processed_row(command, Err(rejection));
            let message = row.rejection_msg.expect("a message");
            prop_assert!(storable(&message) && storable(&row.storefront_id));
            prop_assert!(message.chars().count() <= Rejection::MAX_MESSAGE_LEN + 40);
            let bytes = futures::executor::block_on(codec.encode_event("orders.events", event))
                .expect("a rejection encodes");
            prop_assert!(
                bytes.len() < 16 * 1024,
                "a bounded event: {} bytes",
                bytes.len()
            );
        }
        (command, outcome) => prop_assert!(false, "{command:?} became {outcome:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_or_write_an_unstorable_row(
        payload in proptest::collection::vec(any::<u8>(), 0..512),
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
    ) {
        check(payload, key)?;
    }

    #[test]
    fn hostile_and_mutated_commands_never_panic_or_write_an_unstorable_row(
        command in hostile_create(),
        mutation in mutation(),
        keyed in any::<bool>(),
    ) {
        let codec = Codec::single_object();
        let bytes = futures::executor::block_on(codec.encode_command("orders.commands", &command))
            .expect("any command encodes");
        let key = keyed.then(|| command.order_id.to_string().into_bytes());
        check(mutate(bytes, &mutation), key)?;
    }

    #[test]
    fn hostile_follow_up_commands_are_bounded_too(
        reason in hostile_text(),
        carrier in hostile_text(),
        tracking in hostile_text(),
    ) {
        let created = crate::domain::decide(None, &create_command(crate::domain::samples::sample_input()))
            .unwrap()
            .unwrap()
            .order;
        for body in [
            CommandBody::CancelOrder { reason: reason.clone() },
            CommandBody::ShipOrder(crate::domain::ShippingInput { carrier: carrier.clone(), tracking_number: tracking.clone() }),
            CommandBody::RecordPayment(crate::domain::PaymentInput {
                provider: carrier.clone(),
                provider_reference: Some(tracking.clone()),
                ..crate::domain::samples::payment(&reason, "sale", 100, "succeeded", None)
            }),
        ] {
            let command = crate::domain::samples::command_for(created.order_id, body);
            let folded = batch::fold(
                &[Incoming { partition: 0, offset: 0, command: Ok(command.clone()), idempotency: None }],
                HashMap::from([(created.order_id, created.clone())]),
                HashMap::new(),
                HashMap::new(),
            );
            match &folded.outcomes[0] {
                Outcome::Applied(_) => {
                    let json = serde_json::to_string(&folded.orders[&created.order_id]).unwrap();
                    prop_assert!(!json.contains("\\u0000"));
                }
                Outcome::Rejected { rejection, .. } | Outcome::RejectedPrivately(rejection) => {
                    let message = rejection.message();
                    prop_assert!(storable(&message));
                    prop_assert!(message.chars().count() <= Rejection::MAX_MESSAGE_LEN + 40);
                }
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
