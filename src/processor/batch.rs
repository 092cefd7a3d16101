//! The pure heart of the processor: a batch of decoded commands in, everything the batch
//! changes out. No I/O here; the run loop loads the inputs and writes the outputs.

use std::collections::{BTreeMap, HashMap};

use crate::codec::DecodeError;
use crate::domain::{
    self, Applied, Command, CommandId, Decision, Event, Order, OrderId, PriorOutcome, Rejection,
};

/// One consumed record, decoded (or not).
#[derive(Debug)]
pub struct Incoming {
    pub partition: i32,
    pub offset: i64,
    pub command: Result<Command, Refused>,
    /// The request behind the command, when it came with an idempotency key.
    pub idempotency: Option<Idempotency>,
}

/// An idempotency key (hashed, with its storefront) and the fingerprint of the request it
/// came with: a later request under the same key must be the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: Vec<u8>,
    pub fingerprint: Vec<u8>,
}

/// Why a record is not a command this processor takes: it goes to the dead-letter topic.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Commands are keyed by their order id (per-order ordering rests on it); a record
    /// under another key (or none) could fork an order's history on another partition.
    #[error("record key {key} is not the command's order id {order_id}")]
    KeyMismatch { key: String, order_id: OrderId },
    /// What the command causes cannot be written, and never will be (the schema registry
    /// refused the event's schema, say): the command is not applied.
    #[error("the command's event cannot be encoded: {0}")]
    Unencodable(String),
}

impl Refused {
    /// Stable name of the reason, used in DLQ headers and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Refused::Decode(error) => error.kind(),
            Refused::KeyMismatch { .. } => "key_mismatch",
            Refused::Unencodable(_) => "unencodable",
        }
    }

    /// Takes a decoded command only under its own key: the order id as its canonical UUID
    /// string. The key is echoed escaped and capped at 64 characters.
    pub fn check_key(key: Option<&[u8]>, command: Command) -> Result<Command, Refused> {
        let order_id = command.order_id;
        if key == Some(order_id.0.as_hyphenated().to_string().as_bytes()) {
            return Ok(command);
        }
        let key = key.map_or_else(
            || "(none)".to_owned(),
            |k| {
                let text: String = String::from_utf8_lossy(k).chars().take(64).collect();
                format!("{text:?}")
            },
        );
        Err(Refused::KeyMismatch { key, order_id })
    }
}

/// How one record was handled.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Applied(Box<Event>),
    /// Refused: the order is unchanged and a CommandRejected event says why.
    Rejected {
        rejection: Rejection,
        event: Box<Event>,
    },
    /// Refused because the order is another storefront's: recorded for the caller's command
    /// status only, with no event (the order's history and key carry only its own facts).
    RejectedPrivately(Rejection),
    /// A new command for a payment fact the order holds already: applied at the order's
    /// `version`, with no change and no event.
    Unchanged {
        version: u64,
    },
    /// Handled before (or earlier in this batch): nothing changes.
    Duplicate(PriorOutcome),
    /// Not decodable: goes to the dead-letter topic.
    Undecodable,
}

impl Outcome {
    /// The outcome's metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied(_) => "applied",
            Outcome::Unchanged { .. } => "unchanged",
            Outcome::Rejected { .. } | Outcome::RejectedPrivately(_) => "rejected",
            Outcome::Duplicate(_) => "duplicate",
            Outcome::Undecodable => "dlq",
        }
    }
}

/// Everything a batch changes.
#[derive(Debug, Default)]
pub struct Folded {
    /// `outcomes[i]` is what became of `batch[i]`.
    pub outcomes: Vec<Outcome>,
    /// The final state of every order the batch changed.
    pub orders: BTreeMap<OrderId, Order>,
    /// Next offset to consume, per partition.
    pub next_offsets: BTreeMap<i32, i64>,
    /// Idempotency keys used for the first time, with the command that used them.
    pub new_keys: Vec<(Idempotency, CommandId)>,
}

/// Applies the batch in offset order over the loaded state. `prior` holds the outcomes of
/// command ids handled before this batch, `keys` the fingerprint each idempotency key of the
/// batch was first used with.
pub fn fold(
    batch: &[Incoming],
    mut current: HashMap<OrderId, Order>,
    mut prior: HashMap<CommandId, PriorOutcome>,
    mut keys: HashMap<Vec<u8>, Vec<u8>>,
) -> Folded {
    let mut folded = Folded::default();
    for incoming in batch {
        let next = folded
            .next_offsets
            .entry(incoming.partition)
            .or_insert(incoming.offset + 1);
        *next = (*next).max(incoming.offset + 1);
        let Ok(command) = &incoming.command else {
            folded.outcomes.push(Outcome::Undecodable);
            continue;
        };
        let state = current.get(&command.order_id);
        let earlier = prior.get(&command.command_id);
        let conflict = match (&incoming.idempotency, earlier) {
            (Some(idem), None) => match keys.get(&idem.key) {
                Some(first) => first != &idem.fingerprint,
                None => {
                    keys.insert(idem.key.clone(), idem.fingerprint.clone());
                    folded.new_keys.push((idem.clone(), command.command_id));
                    false
                }
            },
            _ => false,
        };
        let decision = if conflict {
            Decision::Rejected(Rejection::IdempotencyConflict)
        } else {
            domain::handle(state, earlier, command)
        };
        let outcome = match decision {
            Decision::Duplicate(earlier) => Outcome::Duplicate(earlier),
            Decision::Unchanged { version } => {
                prior.insert(command.command_id, PriorOutcome::Applied { version });
                Outcome::Unchanged { version }
            }
            Decision::Applied(applied) => {
                let Applied { order, event } = *applied;
                prior.insert(
                    command.command_id,
                    PriorOutcome::Applied {
                        version: order.version,
                    },
                );
                folded.orders.insert(order.order_id, order.clone());
                current.insert(order.order_id, order);
                Outcome::Applied(Box::new(event))
            }
            Decision::Rejected(rejection) => {
                prior.insert(
                    command.command_id,
                    PriorOutcome::Rejected {
                        code: rejection.code().to_owned(),
                    },
                );
                if domain::belongs_to_another_storefront(state, command) {
                    Outcome::RejectedPrivately(rejection)
                } else {
                    let event = domain::rejected_event(state, command, &rejection);
                    Outcome::Rejected {
                        rejection,
                        event: Box::new(event),
                    }
                }
            }
        };
        folded.outcomes.push(outcome);
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventBody;
    use crate::domain::samples::{create_command, sample_input};

    fn incoming(offset: i64, command: Command) -> Incoming {
        Incoming {
            partition: 0,
            offset,
            command: Ok(command),
            idempotency: None,
        }
    }

    #[test]
    fn same_command_twice_in_one_batch_is_applied_once() {
        let command = create_command(sample_input());
        let folded = fold(
            &[incoming(5, command.clone()), incoming(6, command.clone())],
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
        );
        assert!(matches!(folded.outcomes[0], Outcome::Applied(_)));
        assert_eq!(
            folded.outcomes[1],
            Outcome::Duplicate(PriorOutcome::Applied { version: 1 })
        );
        assert_eq!(folded.orders.len(), 1);
        assert_eq!(folded.next_offsets[&0], 7);
    }

    #[test]
    fn command_processed_in_an_earlier_batch_is_a_duplicate() {
        let command = create_command(sample_input());
        let prior = HashMap::from([(
            command.command_id,
            PriorOutcome::Rejected {
                code: "validation".into(),
            },
        )]);
        let folded = fold(
            &[incoming(0, command)],
            HashMap::new(),
            prior,
            HashMap::new(),
        );
        assert!(matches!(
            &folded.outcomes[0],
            Outcome::Duplicate(PriorOutcome::Rejected { code }) if code == "validation"
        ));
        assert!(folded.orders.is_empty());
    }

    #[test]
    fn second_create_for_an_order_in_the_same_batch_is_rejected() {
        let first = create_command(sample_input());
        let mut second = create_command(sample_input());
        second.order_id = first.order_id;
        let folded = fold(
            &[incoming(0, first), incoming(1, second)],
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
        );
        let Outcome::Rejected { rejection, event } = &folded.outcomes[1] else {
            panic!("second create was not rejected: {:?}", folded.outcomes[1]);
        };
        assert_eq!(*rejection, Rejection::AlreadyExists);
        assert_eq!(event.version, 1, "a rejection does not move the version");
        assert!(
            matches!(event.body, EventBody::CommandRejected { ref code, .. } if code == "already_exists")
        );
    }

    #[test]
    fn an_idempotency_key_reused_for_another_request_is_rejected_also_in_a_later_batch() {
        let key = |fingerprint: &[u8]| Idempotency {
            key: b"shop-1 k".to_vec(),
            fingerprint: fingerprint.to_vec(),
        };
        let first = create_command(sample_input());
        let mut other = create_command(sample_input());
        other.order_id = first.order_id;
        let keyed = |command: Command, fingerprint: &[u8], offset| Incoming {
            idempotency: Some(key(fingerprint)),
            ..incoming(offset, command)
        };
        let folded = fold(
            &[keyed(first.clone(), b"A", 0), keyed(other.clone(), b"B", 1)],
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
        );
        assert!(matches!(folded.outcomes[0], Outcome::Applied(_)));
        assert!(matches!(
            &folded.outcomes[1],
            Outcome::Rejected {
                rejection: Rejection::IdempotencyConflict,
                ..
            }
        ));
        assert_eq!(folded.new_keys, [(key(b"A"), first.command_id)]);

        // Later, the key is known from PostgreSQL: the same request is allowed (a new command
        // id only if the body differs, so this is the other body again), another is not.
        let stored = HashMap::from([(b"shop-1 k".to_vec(), b"A".to_vec())]);
        let mut again = create_command(sample_input());
        again.order_id = OrderId::new_random();
        let folded = fold(
            &[keyed(again, b"B", 2)],
            HashMap::new(),
            HashMap::new(),
            stored,
        );
        assert!(matches!(
            &folded.outcomes[0],
            Outcome::Rejected {
                rejection: Rejection::IdempotencyConflict,
                ..
            }
        ));
        assert!(folded.new_keys.is_empty());
    }

    #[test]
    fn a_command_is_taken_only_under_its_order_ids_canonical_key() {
        let command = create_command(sample_input());
        let own = command.order_id.0.as_hyphenated().to_string();
        assert!(Refused::check_key(Some(own.as_bytes()), command.clone()).is_ok());
        let other = OrderId::new_random().to_string();
        let upper = own.to_uppercase();
        let long = "k\0".repeat(500);
        for key in [
            None,
            Some(other.as_bytes()),
            Some(upper.as_bytes()),
            Some(long.as_bytes()),
        ] {
            let refused = Refused::check_key(key, command.clone()).unwrap_err();
            assert_eq!(refused.kind(), "key_mismatch");
            let message = refused.to_string();
            assert!(message.len() < 200, "bounded: {message}");
            assert!(!message.contains('\0'), "escaped: {message}");
        }
    }

    #[test]
    fn undecodable_record_still_advances_the_offset() {
        let folded = fold(
            &[Incoming {
                partition: 3,
                offset: 41,
                command: Err(DecodeError::Empty.into()),
                idempotency: None,
            }],
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
        );
        assert_eq!(folded.outcomes[0], Outcome::Undecodable);
        assert_eq!(folded.next_offsets[&3], 42);
    }
}
