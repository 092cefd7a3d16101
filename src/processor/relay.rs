//! The outbox relay: publishes what the batches committed but did not yet deliver.

use std::collections::HashSet;

use anyhow::Context;

use super::publish;
use super::publish::Committed;
use super::worker::Worker;
use crate::domain::Order;

/// Outbox rows read and published at once by the relay.
const RELAY_PAGE: i64 = 1_000;

impl Worker {
    /// Republishes what assigned partitions left unpublished, in outbox order and in pages,
    /// and rewrites the cache with the orders concerned: a member that crashed between its
    /// commit and its Redis write left both behind.
    pub(super) async fn relay(&self) -> anyhow::Result<()> {
        let pending = self.shared.assignments().relay_pending();
        if pending.is_empty() {
            return Ok(());
        }
        let partitions: Vec<i32> = pending.iter().map(|(p, _)| *p).collect();
        // Let the publishing in flight finish first, so the relay sends only what it left.
        self.publisher.flush().await;
        let p = &self.processor;
        let (mut events_total, mut letters_total) = (0, 0);
        loop {
            let (events, letters) = p
                .store
                .unpublished(&partitions, RELAY_PAGE)
                .await
                .context("reading the outbox")?;
            if events.is_empty() && letters.is_empty() {
                break;
            }
            let order_ids: Vec<_> = events
                .iter()
                .map(|e| e.order_id)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let orders: Vec<Order> = p
                .store
                .load_orders(&order_ids)
                .await?
                .into_values()
                .collect();
            events_total += events.len();
            letters_total += letters.len();
            let committed = Committed {
                events,
                orders,
                dead_letters: letters,
            };
            publish::publish(p, &committed).await?;
            self.write_cache(&committed.orders, 1).await;
        }
        if events_total + letters_total > 0 {
            tracing::info!(
                ?partitions,
                events = events_total,
                dead_letters = letters_total,
                "relayed the outbox"
            );
        }
        let mut assignments = self.shared.assignments();
        for (partition, generation) in pending {
            assignments.relayed(partition, generation);
        }
        Ok(())
    }
}
