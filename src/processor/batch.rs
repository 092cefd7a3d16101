//! The pure heart of the processor: a batch of decoded commands in, everything the batch
//! changes out. No I/O here; the run loop loads the inputs and writes the outputs.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::codec::DecodeError;
use crate::domain::{self, Command, CommandId, Event, Order, OrderId, Rejection};

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
    Rejected(Rejection),
    /// Already handled earlier (or earlier in this batch): nothing changes.
    Duplicate,
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

/// Applies the batch in offset order over the loaded state. `processed` holds the command
/// ids already handled before this batch.
pub fn fold(
    batch: &[Incoming],
    mut current: HashMap<OrderId, Order>,
    processed: &HashSet<CommandId>,
) -> Folded {
    let mut folded = Folded::default();
    let mut seen: HashSet<CommandId> = HashSet::new();
    for incoming in batch {
        let next = folded
            .next_offsets
            .entry(incoming.partition)
            .or_insert(incoming.offset + 1);
        *next = (*next).max(incoming.offset + 1);
        let outcome = match &incoming.command {
            Err(_) => Outcome::Undecodable,
            Ok(command)
                if processed.contains(&command.command_id) || !seen.insert(command.command_id) =>
            {
                Outcome::Duplicate
            }
            Ok(command) => match domain::decide(current.get(&command.order_id), command) {
                Ok(applied) => {
                    folded
                        .orders
                        .insert(applied.order.order_id, applied.order.clone());
                    current.insert(applied.order.order_id, applied.order);
                    Outcome::Applied(Box::new(applied.event))
                }
                Err(rejection) => Outcome::Rejected(rejection),
            },
        };
        folded.outcomes.push(outcome);
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
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
            &HashSet::new(),
        );
        assert!(matches!(folded.outcomes[0], Outcome::Applied(_)));
        assert_eq!(folded.outcomes[1], Outcome::Duplicate);
        assert_eq!(folded.orders.len(), 1);
        assert_eq!(folded.next_offsets[&0], 7);
    }

    #[test]
    fn command_processed_in_an_earlier_batch_is_a_duplicate() {
        let command = create_command(sample_input());
        let processed = HashSet::from([command.command_id]);
        let folded = fold(&[incoming(0, command)], HashMap::new(), &processed);
        assert!(matches!(folded.outcomes[0], Outcome::Duplicate));
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
            &HashSet::new(),
        );
        assert!(matches!(
            folded.outcomes[1],
            Outcome::Rejected(Rejection::AlreadyExists)
        ));
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
            &HashSet::new(),
        );
        assert_eq!(folded.outcomes[0], Outcome::Undecodable);
        assert_eq!(folded.next_offsets[&3], 42);
    }
}
