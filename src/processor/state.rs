//! What a batch starts from and what this member remembers after it: the orders (from
//! memory, else PostgreSQL) and each partition's stored offset, which the batch's offset
//! move is fenced on.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context;

use super::assignment::StoredOffset;
use super::batch::Incoming;
use super::worker::Worker;
use crate::domain::{Order, OrderId};
use crate::store::{BatchWrite, OffsetMove};

impl Worker {
    /// The batch's orders: from this member's memory of its partitions, else one query.
    pub(super) async fn load_orders(
        &self,
        incoming: &[Incoming],
        generations: &BTreeMap<i32, u64>,
    ) -> anyhow::Result<HashMap<OrderId, Order>> {
        let mut found = HashMap::new();
        let mut missing = HashSet::new();
        for i in incoming {
            let Ok(command) = &i.command else { continue };
            let remembered = generations
                .get(&i.partition)
                .and_then(|&g| self.shared.orders.get(i.partition, g, command.order_id));
            match remembered {
                Some(order) => {
                    found.insert(command.order_id, order);
                }
                None => {
                    missing.insert(command.order_id.0);
                }
            }
        }
        if !missing.is_empty() {
            let ids: Vec<_> = missing.into_iter().collect();
            found.extend(
                self.processor
                    .store
                    .load_orders(&ids)
                    .await
                    .context("loading orders")?,
            );
        }
        Ok(found)
    }

    /// Where each partition's offset row moves: from what this member knows is stored to
    /// past the batch (never backwards, if the broker redelivered older records).
    pub(super) async fn offset_moves(
        &self,
        next: &BTreeMap<i32, i64>,
    ) -> anyhow::Result<Vec<OffsetMove>> {
        let unknown: Vec<i32> = {
            let assignments = self.shared.assignments();
            next.keys()
                .copied()
                .filter(|&p| assignments.stored(p) == Some(StoredOffset::Unknown))
                .collect()
        };
        if !unknown.is_empty() {
            let p = &self.processor;
            let read = p
                .store
                .load_offsets(&p.config.group_id, &p.config.topics.commands, &unknown)
                .await?;
            let mut assignments = self.shared.assignments();
            for partition in unknown {
                let state = read
                    .get(&partition)
                    .map_or(StoredOffset::Missing, |&n| StoredOffset::At(n));
                assignments.learn_stored(partition, state);
            }
        }
        let assignments = self.shared.assignments();
        next.iter()
            .map(|(&partition, &next)| {
                let expected = match assignments.stored(partition) {
                    Some(StoredOffset::At(n)) => Some(n),
                    Some(StoredOffset::Missing) => None,
                    _ => anyhow::bail!("partition {partition} is not assigned with a known offset"),
                };
                Ok(OffsetMove {
                    partition,
                    expected,
                    next: next.max(expected.unwrap_or(0)),
                })
            })
            .collect()
    }

    /// After a commit: the stored offsets and the batch's orders are what this member knows,
    /// in the generation the batch was taken in (a later generation keeps its own).
    pub(super) fn remember(&self, write: &BatchWrite, generations: &BTreeMap<i32, u64>) {
        let mut assignments = self.shared.assignments();
        for m in &write.offsets {
            if let Some(&generation) = generations.get(&m.partition) {
                assignments.set_stored(m.partition, generation, StoredOffset::At(m.next));
            }
        }
        drop(assignments);
        let partition_of: HashMap<OrderId, i32> = write
            .events
            .iter()
            .map(|e| (OrderId(e.order_id), e.source_partition))
            .collect();
        for order in &write.orders {
            let Some(&partition) = partition_of.get(&order.order_id) else {
                continue;
            };
            if let Some(&generation) = generations.get(&partition) {
                self.shared.orders.put(partition, generation, order.clone());
            }
        }
    }
}
