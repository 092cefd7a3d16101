//! Writing orders to Redis after their batch, and repairing what a failed write left behind.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::cache_backlog;
use super::worker::Worker;
use crate::domain::{Order, OrderId};
use crate::metrics;

/// Orders of the cache backlog written to Redis at a time once it answers again.
const CACHE_REPAIR_CHUNK: usize = 1_000;
/// How often orders whose cache write failed are tried again without a batch.
const CACHE_REPAIR: Duration = Duration::from_secs(1);

impl Worker {
    /// The cache is an optimisation: a failure is counted and logged, never fatal, and the
    /// orders are rewritten with a later batch or by `repair_cache`, whichever comes first.
    /// The batch's own orders go first, on their own; only once Redis took them is the backlog
    /// written, a chunk at a time (at most `chunks` of them: a batch takes one, `repair_cache`
    /// the rest), each removed once written. Returns whether Redis took `orders`; if not, the
    /// caller flags their events `cache_pending` (see `Committed::uncached`).
    pub(super) async fn write_cache(&self, orders: &[Order], chunks: usize) -> bool {
        if !orders.is_empty() {
            if let Err(error) = self.processor.cache.put_orders(orders).await {
                let error = anyhow::Error::new(error);
                let pending = cache_backlog::Pending {
                    orders: orders.iter().map(|o| (o.order_id, o.clone())).collect(),
                    ids: Default::default(),
                };
                self.cache_failed(&error, pending);
                return false;
            }
            // An older copy left in the backlog must not be written after this one: Redis
            // may restart empty in between, and nothing would refuse it then.
            let superseded = self
                .cache_backlog
                .lock()
                .expect("lock")
                .forget_written(orders);
            self.cache_written(&superseded).await;
        }
        for _ in 0..chunks {
            let mut chunk = self
                .cache_backlog
                .lock()
                .expect("lock")
                .take_chunk(CACHE_REPAIR_CHUNK);
            if chunk.orders.is_empty() && chunk.ids.is_empty() {
                break;
            }
            if let Err(error) = self.write_cache_chunk(&mut chunk).await {
                self.cache_failed(&error, chunk);
                break;
            }
            let written: Vec<(OrderId, u64)> = chunk
                .orders
                .values()
                .map(|o| (o.order_id, o.version))
                .collect();
            self.cache_written(&written).await;
        }
        true
    }

    /// Clears the `cache_pending` flags these orders' events carry up to the version now in
    /// Redis (a no-op for orders that never failed). If PostgreSQL does not answer, the
    /// flags stay and a next owner rewrites these orders once more: harmless.
    pub(super) async fn cache_written(&self, written: &[(OrderId, u64)]) {
        if written.is_empty() {
            return;
        }
        let rows: Vec<(uuid::Uuid, i64)> = written
            .iter()
            .map(|(id, v)| (id.0, i64::try_from(*v).unwrap_or(i64::MAX)))
            .collect();
        if let Err(error) = self.processor.store.clear_cache_pending(&rows).await {
            tracing::warn!(%error, orders = rows.len(), "clearing cache_pending flags failed; a next owner rewrites these orders again");
        }
    }

    /// Writes one chunk of the backlog: its ids are read from PostgreSQL first.
    pub(super) async fn write_cache_chunk(
        &self,
        chunk: &mut cache_backlog::Pending,
    ) -> anyhow::Result<()> {
        if !chunk.ids.is_empty() {
            let ids: Vec<uuid::Uuid> = chunk.ids.iter().map(|id| id.0).collect();
            let rows = self.processor.store.load_orders(&ids).await?;
            for (id, order) in rows {
                chunk.ids.remove(&id);
                chunk.orders.entry(id).or_insert(order);
            }
            chunk.ids.clear(); // no row: nothing to cache
        }
        let all: Vec<Order> = chunk.orders.values().cloned().collect();
        self.processor.cache.put_orders(&all).await?;
        Ok(())
    }

    pub(super) fn cache_failed(&self, error: &anyhow::Error, pending: cache_backlog::Pending) {
        metrics::cache_error();
        let waiting = pending.orders.len() + pending.ids.len();
        tracing::warn!(
            error = format!("{error:#}"),
            orders = waiting,
            "cache write failed; retrying with a later batch"
        );
        let dropped = self.cache_backlog.lock().expect("lock").keep(pending);
        if dropped > 0 {
            metrics::cache_backlog_dropped(dropped);
            tracing::error!(
                dropped,
                "cache backlog full: these orders may be served at an older version until written again"
            );
        }
    }
}

/// Rewrites the orders whose cache write failed once Redis answers again, also when no
/// batch comes to do it: until then Redis may serve an older version (or a deleted order).
pub(super) async fn repair_cache(worker: Arc<Worker>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(CACHE_REPAIR);
    while !shutdown.is_cancelled() {
        tick.tick().await;
        if !worker.cache_backlog.lock().expect("lock").is_empty() {
            worker.write_cache(&[], usize::MAX).await;
        }
    }
}
