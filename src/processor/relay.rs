//! The outbox relay: publishes what the batches committed but did not yet deliver.

use std::collections::HashSet;

use anyhow::Context;

use super::publish;
use super::publish::Committed;
use super::worker::Worker;
use crate::domain::Order;
use crate::trace::BatchSpans;

/// Outbox rows read and published at once by the relay.
const RELAY_PAGE: i64 = 1_000;

impl Worker {
    /// Republishes what assigned partitions left unpublished, in outbox order and in pages,
    /// and rewrites the cache with the orders concerned: a member that crashed between its
    /// commit and its Redis write left both behind. Then rewrites the orders whose events are
    /// flagged `cache_pending`: a member whose Redis write failed, and that died before its
    /// cache backlog was written, left Redis at an older version of them.
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
            // Cached first, so the mark knows whether to flag them.
            let uncached = if self.write_cache(&orders, 1).await {
                Vec::new()
            } else {
                order_ids
            };
            let committed = Committed {
                events,
                orders,
                dead_letters: letters,
                uncached,
                // The events' spans ended with the process that committed them.
                spans: BatchSpans::default(),
            };
            publish::publish(p, &committed).await?;
        }
        let uncached = p
            .store
            .cache_pending_orders(&partitions)
            .await
            .context("reading orders flagged cache_pending")?;
        for ids in uncached.chunks(RELAY_PAGE as usize) {
            let orders: Vec<Order> = p.store.load_orders(ids).await?.into_values().collect();
            if self.write_cache(&orders, 1).await {
                let written: Vec<_> = orders.iter().map(|o| (o.order_id, o.version)).collect();
                self.cache_written(&written).await;
            }
        }
        if !uncached.is_empty() {
            tracing::info!(
                ?partitions,
                orders = uncached.len(),
                "orders a previous owner could not cache: rewritten, or kept for the cache repair"
            );
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
