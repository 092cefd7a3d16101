//! Partition assignment and revocation, as RDKAFKA-NOTES.md verified them.
//!
//! - Assign: start each partition at the offset stored in PostgreSQL with the state it
//!   produced (never the broker's committed offset), and queue its outbox for relay before
//!   any of its new commands is applied.
//! - Revoke: wait until the in-flight batch has finished (or, if the assignment was lost,
//!   abandon it before its commit), then forget the partitions' cached state.
//!
//! The callback runs inside the poller's `recv()`; the batch runs on a separate task, so
//! waiting here with `block_in_place` lets it finish.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::assignment::{Assignments, StoredOffset};
use super::memory::OrderMemory;
use super::retry;
use crate::store::Store;

/// State shared by the rebalance callback, the poller and the batch worker.
pub(super) struct Shared {
    /// The assigned partitions, each in its current generation (see `assignment.rs`).
    pub assignments: Mutex<Assignments>,
    /// Orders seen per partition generation.
    pub orders: OrderMemory,
    /// Set while the assignment is lost: the in-flight batch must not commit.
    pub abandon: AtomicBool,
    /// Batches and publishes in flight.
    busy: Mutex<usize>,
    idle: Condvar,
}

impl Shared {
    pub(super) fn new(order_memory_bytes: u64) -> Self {
        Self {
            assignments: Mutex::new(Assignments::default()),
            orders: OrderMemory::new(order_memory_bytes),
            abandon: AtomicBool::new(false),
            busy: Mutex::new(0),
            idle: Condvar::new(),
        }
    }

    pub(super) fn assignments(&self) -> std::sync::MutexGuard<'_, Assignments> {
        self.assignments.lock().expect("lock")
    }

    pub(super) fn relay_is_pending(&self) -> bool {
        !self.assignments().relay_pending().is_empty()
    }

    /// Marks work in flight (a batch, or its publishing); the guard ends it when dropped.
    pub(super) fn start_batch(self: &Arc<Self>) -> BatchGuard {
        *self.busy.lock().expect("lock") += 1;
        BatchGuard(self.clone())
    }

    /// Waits until nothing is in flight, at most `deadline`; false if it timed out.
    fn wait_idle(&self, deadline: Duration) -> bool {
        let busy = self.busy.lock().expect("lock");
        let (busy, _) = self
            .idle
            .wait_timeout_while(busy, deadline, |busy| *busy > 0)
            .expect("lock");
        *busy == 0
    }

    pub(super) fn forget(&self, partitions: &[i32]) {
        let mut assignments = self.assignments();
        for &p in partitions {
            assignments.revoke(p);
        }
    }
}

pub(super) struct BatchGuard(Arc<Shared>);

impl Drop for BatchGuard {
    fn drop(&mut self) {
        *self.0.busy.lock().expect("lock") -= 1;
        self.0.idle.notify_all();
    }
}

pub(super) struct ProcessorContext {
    pub shared: Arc<Shared>,
    pub store: Store,
    pub runtime: tokio::runtime::Handle,
    pub group_id: String,
    pub topic: String,
    /// Longest a revocation waits for the in-flight batch (below max.poll.interval.ms).
    pub drain_timeout: Duration,
}

impl ClientContext for ProcessorContext {
    fn stats(&self, statistics: Statistics) {
        crate::metrics::kafka_client("consumer", &statistics);
        for topic in statistics.topics.values().filter(|t| t.topic == self.topic) {
            for partition in topic.partitions.values().filter(|p| p.partition >= 0) {
                if partition.consumer_lag >= 0 {
                    crate::metrics::consumer_lag(partition.partition, partition.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for ProcessorContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.start_at_stored_offsets(tpl);
                let result = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(error) = result {
                    tracing::error!(%error, "assigning partitions failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let partitions = partitions_of(tpl, &self.topic);
                let lost = consumer.assignment_lost();
                if lost {
                    self.shared.abandon.store(true, Ordering::SeqCst);
                }
                let drained =
                    tokio::task::block_in_place(|| self.shared.wait_idle(self.drain_timeout));
                if !drained {
                    tracing::warn!(
                        ?partitions,
                        "revoked partitions while a batch was still running; its commit is fenced"
                    );
                }
                self.shared.forget(&partitions);
                self.shared.abandon.store(false, Ordering::SeqCst);
                tracing::info!(?partitions, lost, "partitions revoked");
                let result = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(error) = result {
                    tracing::error!(%error, "unassigning partitions failed");
                }
            }
            other => tracing::warn!(error = ?other, "rebalance error"),
        }
    }
}

impl ProcessorContext {
    /// Sets each partition of `tpl` to start at its stored offset and queues its relay.
    fn start_at_stored_offsets(&self, tpl: &mut TopicPartitionList) {
        let partitions = partitions_of(tpl, &self.topic);
        if partitions.is_empty() {
            return; // a cooperative assign may carry an empty list
        }
        let stored =
            tokio::task::block_in_place(|| self.runtime.block_on(self.load_offsets(&partitions)));
        if stored.is_none() {
            // PostgreSQL is unreachable. The broker's committed offset is never ahead of the
            // stored one (it is committed after it), so starting there can only replay
            // commands, which their processed ids turn into duplicates.
            tracing::warn!(
                ?partitions,
                "stored offsets unavailable; starting at the broker's committed offsets"
            );
        }
        let mut assignments = self.shared.assignments();
        for &partition in &partitions {
            let (offset, state) = match stored.as_ref().map(|s| s.get(&partition).copied()) {
                Some(Some(next)) => (Offset::Offset(next), StoredOffset::At(next)),
                Some(None) => (Offset::Beginning, StoredOffset::Missing),
                None => (Offset::Stored, StoredOffset::Unknown),
            };
            if let Err(error) = tpl.set_partition_offset(&self.topic, partition, offset) {
                tracing::error!(%error, partition, "setting the start offset failed");
            }
            assignments.assign(partition, state);
        }
        drop(assignments);
        tracing::info!(
            ?partitions,
            ?stored,
            "partitions assigned at their stored offsets"
        );
    }

    /// The stored offsets, retried for at most the drain timeout.
    async fn load_offsets(&self, partitions: &[i32]) -> Option<HashMap<i32, i64>> {
        retry::within("read stored offsets", self.drain_timeout, || async {
            Ok(self
                .store
                .load_offsets(&self.group_id, &self.topic, partitions)
                .await?)
        })
        .await
        .ok()
    }
}

fn partitions_of(tpl: &TopicPartitionList, topic: &str) -> Vec<i32> {
    tpl.elements_for_topic(topic)
        .iter()
        .map(rdkafka::topic_partition_list::TopicPartitionListElem::partition)
        .collect()
}
