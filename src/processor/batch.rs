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
    pub command: Result<Command, DecodeError>,
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
    fn undecodable_record_still_advances_the_offset() {
        let folded = fold(
            &[Incoming {
                partition: 3,
                offset: 41,
                command: Err(DecodeError::Empty),
            }],
            HashMap::new(),
            HashMap::new(),
        );
        assert_eq!(folded.outcomes[0], Outcome::Undecodable);
        assert_eq!(folded.next_offsets[&3], 42);
    }
}
