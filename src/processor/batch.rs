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
}

impl Refused {
    /// Stable name of the reason, used in DLQ headers and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Refused::Decode(error) => error.kind(),
            Refused::KeyMismatch { .. } => "key_mismatch",
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
    /// Handled before (or earlier in this batch): nothing changes.
    Duplicate(PriorOutcome),
    /// Not decodable: goes to the dead-letter topic.
    Undecodable,
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
}

/// Applies the batch in offset order over the loaded state. `prior` holds the outcomes of
/// command ids handled before this batch.
pub fn fold(
    batch: &[Incoming],
    mut current: HashMap<OrderId, Order>,
    mut prior: HashMap<CommandId, PriorOutcome>,
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
        let outcome = match domain::handle(state, prior.get(&command.command_id), command) {
            Decision::Duplicate(earlier) => Outcome::Duplicate(earlier),
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
                let event = domain::rejected_event(state, command, &rejection);
                Outcome::Rejected {
                    rejection,
                    event: Box::new(event),
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
    use crate::domain::tests::{create_command, sample_input};

    fn incoming(offset: i64, command: Command) -> Incoming {
        Incoming {
            partition: 0,
            offset,
            command: Ok(command),
        }
    }

    #[test]
    fn same_command_twice_in_one_batch_is_applied_once() {
        let command = create_command(sample_input());
        let folded = fold(
            &[incoming(5, command.clone()), incoming(6, command.clone())],
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
        let folded = fold(&[incoming(0, command)], HashMap::new(), prior);
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
            }],
            HashMap::new(),
            HashMap::new(),
        );
        assert_eq!(folded.outcomes[0], Outcome::Undecodable);
        assert_eq!(folded.next_offsets[&3], 42);
    }
}
