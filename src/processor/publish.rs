//! Publishing of committed batches: events to the events topic, the order snapshots to the
//! state topic (a tombstone for a deleted order) and dead letters, then the outbox rows are
//! marked published.
//!
//! One task publishes, strictly in commit order. Batches committed while it sends wait in a
//! short queue and go out together, up to `--batch-max` events and dead letters: their events
//! in order, one snapshot per order (its latest state; the state topic is compacted, older
//! ones would be superseded anyway) and one mark statement. So `--batch-max 1` really handles
//! one command at a time, and small batches (a lull, a linger that expired) still publish in
//! bulk. Each queued batch holds its `BatchGuard`, so a revocation waits for its
//! publishing too. If publishing cannot finish (the process is stopping), the task ends and
//! every batch after it stays unpublished, for the relay of the partition's next owner or
//! assignment, which sends them in outbox order.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use rdkafka::message::{Header, OwnedHeaders};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::rebalance::BatchGuard;
use super::{Processor, retry};
use crate::domain::{Order, OrderId, OrderStatus};
use crate::kafka::order_key;
use crate::kafka::producer::Outgoing;
use crate::metrics;
use crate::store::{StoredDeadLetter, StoredEvent};
use crate::trace::{self, BatchSpans};

/// Committed batches waiting while a group is sent; a full queue holds the worker back.
const QUEUED_BATCHES: usize = 4;

/// What a committed batch (or a relay) has to publish.
#[derive(Default)]
pub(super) struct Committed {
    pub events: Vec<StoredEvent>,
    /// Final state of every changed order (a deleted one becomes a tombstone).
    pub orders: Vec<Order>,
    pub dead_letters: Vec<StoredDeadLetter>,
    /// Orders whose Redis write failed: their events are marked `cache_pending`, so a next
    /// owner repairs them should this process die before its cache backlog does.
    pub uncached: Vec<uuid::Uuid>,
    /// Its commands' and events' spans, ended as it is published.
    pub spans: BatchSpans,
}

impl Committed {
    /// Batches in commit order as one: every event and dead letter in order, and each order's
    /// latest state once.
    fn merge(batches: Vec<Committed>) -> Committed {
        let mut merged = Committed::default();
        let mut latest: HashMap<OrderId, Order> = HashMap::new();
        for batch in batches {
            merged.events.extend(batch.events);
            merged.dead_letters.extend(batch.dead_letters);
            merged.uncached.extend(batch.uncached);
            merged.spans.extend(batch.spans);
            for order in batch.orders {
                latest.insert(order.order_id, order);
            }
        }
        merged.orders = latest.into_values().collect();
        merged
    }
}

enum Job {
    Publish(Committed, BatchGuard),
    /// Answered once everything queued before it is published (or given up).
    Flush(oneshot::Sender<()>),
}

/// The handle of the publishing task.
pub(super) struct Publisher {
    jobs: mpsc::Sender<Job>,
}

impl Publisher {
    pub(super) fn start(processor: Processor, shutdown: CancellationToken) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUED_BATCHES);
        tokio::spawn(run(processor, queue, shutdown));
        Self { jobs }
    }

    /// Queues a committed batch, waiting while the queue is full. Once publishing has given
    /// up, the batch's rows simply stay in the outbox.
    pub(super) async fn enqueue(&self, committed: Committed, guard: BatchGuard) {
        let _ = self.jobs.send(Job::Publish(committed, guard)).await;
    }

    /// Waits until everything queued so far is published (or given up).
    pub(super) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.jobs.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(processor: Processor, mut queue: mpsc::Receiver<Job>, shutdown: CancellationToken) {
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let group = Group::gather(first, &mut queue, processor.config.batch_max, &mut carried);
        let mut published = true;
        if !group.batches.is_empty() {
            let mut merged = Committed::merge(group.batches);
            let started = Instant::now();
            published = retry::until_ok("publish", &shutdown, || publish(&processor, &merged))
                .await
                .is_some();
            if published {
                metrics::stage("publish", started.elapsed());
                merged.spans.published();
            }
            // Its spans end here, as published (or given up).
            drop(merged);
        }
        drop(group.guards);
        for done in group.flushes {
            let _ = done.send(());
        }
        if !published {
            // Nothing after an unpublished batch may go out ahead of it: stop here and
            // leave the rest to the relay.
            tracing::warn!("publishing stopped; the relay sends what is left");
            return;
        }
    }
}

/// The jobs handled together.
struct Group {
    batches: Vec<Committed>,
    guards: Vec<BatchGuard>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Group {
    /// `first` and what is queued behind it, up to `max` events and dead letters (a single
    /// larger batch still goes alone). The first batch that does not fit is `carried` over.
    fn gather(
        first: Job,
        queue: &mut mpsc::Receiver<Job>,
        max: usize,
        carried: &mut Option<Job>,
    ) -> Group {
        let mut group = Group {
            batches: Vec::new(),
            guards: Vec::new(),
            flushes: Vec::new(),
        };
        let mut size = 0;
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Job::Publish(committed, guard) => {
                    let records = committed.events.len() + committed.dead_letters.len();
                    if !group.batches.is_empty() && size + records > max {
                        *carried = Some(Job::Publish(committed, guard));
                        break;
                    }
                    size += records;
                    group.batches.push(committed);
                    group.guards.push(guard);
                }
                Job::Flush(done) => group.flushes.push(done),
            }
            next = queue.try_recv().ok();
        }
        group
    }
}

/// Sends events, snapshots and dead letters, then marks them published.
pub(super) async fn publish(p: &Processor, committed: &Committed) -> anyhow::Result<()> {
    let topics = &p.config.topics;
    let event_keys: Vec<String> = committed
        .events
        .iter()
        .map(|e| order_key(OrderId(e.order_id)))
        .collect();
    let mut snapshots = Vec::with_capacity(committed.orders.len());
    for order in &committed.orders {
        let value = match order.status {
            OrderStatus::Deleted => None,
            _ => match p.codec.encode_snapshot(&topics.state, order).await {
                Ok(value) => Some(value),
                // Retrying cannot help (the registry refused the schema): the events, the
                // truth, still go out; the state topic misses this version of the order.
                Err(error) if !error.is_transient() => {
                    metrics::snapshot_skipped();
                    tracing::error!(%error, order_id = %order.order_id, "snapshot cannot be encoded; the state topic misses this version");
                    continue;
                }
                Err(error) => return Err(error.into()),
            },
        };
        snapshots.push((order_key(order.order_id), value));
    }
    let mut records: Vec<Outgoing> =
        Vec::with_capacity(committed.events.len() * 2 + committed.dead_letters.len());
    for (event, key) in committed.events.iter().zip(&event_keys) {
        records.push(Outgoing {
            topic: &topics.events,
            key: key.as_bytes(),
            payload: Some(&event.payload),
            headers: event.traceparent.as_deref().map(|t| {
                OwnedHeaders::new().insert(Header {
                    key: trace::HEADER,
                    value: Some(t),
                })
            }),
        });
    }
    for (key, value) in &snapshots {
        records.push(Outgoing {
            topic: &topics.state,
            key: key.as_bytes(),
            payload: value.as_deref(),
            headers: None,
        });
    }
    for letter in &committed.dead_letters {
        let headers = letter
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |h, (k, v)| {
                h.insert(Header {
                    key: k,
                    value: Some(v),
                })
            });
        records.push(Outgoing {
            topic: &topics.dlq,
            key: letter.key.as_deref().unwrap_or_default(),
            payload: Some(&letter.payload),
            headers: Some(headers),
        });
    }
    let sent = Instant::now();
    p.producer.send_all(records).await.context("publishing")?;
    metrics::stage("send", sent.elapsed());
    let marked = Instant::now();
    let event_ids: Vec<_> = committed.events.iter().map(|e| e.event_id).collect();
    p.store
        .mark_published(&event_ids, &committed.uncached)
        .await
        .context("marking events published")?;
    let seqs: Vec<i64> = committed
        .dead_letters
        .iter()
        .map(|letter| letter.seq)
        .collect();
    if !seqs.is_empty() {
        p.store
            .mark_dead_letters_published(&seqs)
            .await
            .context("marking dead letters published")?;
    }
    metrics::stage("mark", marked.elapsed());
    metrics::events_published(event_ids.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::samples::{command_for, create_command, sample_input};
    use crate::domain::{CommandBody, decide};

    fn event(order: &Order, n: u8) -> StoredEvent {
        StoredEvent {
            event_id: uuid::Uuid::new_v4(),
            order_id: order.order_id.0,
            payload: vec![n],
            traceparent: None,
        }
    }

    fn letter(seq: i64) -> StoredDeadLetter {
        StoredDeadLetter {
            seq,
            key: None,
            payload: vec![],
            headers: vec![],
        }
    }

    fn batch_of(events: usize, shared: &std::sync::Arc<super::super::rebalance::Shared>) -> Job {
        let order = decide(None, &create_command(sample_input()))
            .unwrap()
            .unwrap()
            .order;
        Job::Publish(
            Committed {
                events: (0..events).map(|_| event(&order, 0)).collect(),
                orders: vec![order],
                ..Committed::default()
            },
            shared.start_batch(),
        )
    }

    #[test]
    fn queued_batches_publish_together_up_to_batch_max_records() {
        let shared = std::sync::Arc::new(super::super::rebalance::Shared::new(1 << 20));
        let (jobs, mut queue) = mpsc::channel(8);
        for events in [300, 500, 400, 100] {
            jobs.try_send(batch_of(events, &shared)).unwrap();
        }
        let (done, _wait) = oneshot::channel();
        jobs.try_send(Job::Flush(done)).unwrap();
        let first = batch_of(100, &shared);
        let mut carried = None;

        let group = Group::gather(first, &mut queue, 1000, &mut carried);
        let sizes: Vec<usize> = group.batches.iter().map(|b| b.events.len()).collect();
        assert_eq!(sizes, [100, 300, 500], "the next batch would pass 1000");
        assert_eq!(group.guards.len(), 3);
        assert!(
            group.flushes.is_empty(),
            "the flush waits behind the carried batch"
        );

        let group = Group::gather(carried.take().unwrap(), &mut queue, 1000, &mut carried);
        let sizes: Vec<usize> = group.batches.iter().map(|b| b.events.len()).collect();
        assert_eq!(sizes, [400, 100]);
        assert_eq!(group.flushes.len(), 1);
        assert!(carried.is_none());

        let group = Group::gather(batch_of(1500, &shared), &mut queue, 1000, &mut carried);
        assert_eq!(
            group.batches.len(),
            1,
            "a batch larger than the limit goes alone"
        );
    }

    #[test]
    fn merged_batches_keep_every_event_in_order_and_each_orders_latest_state_once() {
        let created = decide(None, &create_command(sample_input()))
            .unwrap()
            .unwrap()
            .order;
        let confirmed = decide(
            Some(&created),
            &command_for(created.order_id, CommandBody::ConfirmOrder),
        )
        .unwrap()
        .unwrap()
        .order;
        let other = decide(None, &create_command(sample_input()))
            .unwrap()
            .unwrap()
            .order;
        let merged = Committed::merge(vec![
            Committed {
                events: vec![event(&created, 1), event(&other, 2)],
                orders: vec![created.clone(), other.clone()],
                dead_letters: vec![letter(7)],
                uncached: vec![other.order_id.0],
                spans: BatchSpans::default(),
            },
            Committed {
                events: vec![event(&confirmed, 3)],
                orders: vec![confirmed.clone()],
                dead_letters: vec![letter(8)],
                uncached: vec![confirmed.order_id.0],
                spans: BatchSpans::default(),
            },
        ]);
        let payloads: Vec<u8> = merged.events.iter().map(|e| e.payload[0]).collect();
        assert_eq!(payloads, [1, 2, 3]);
        let seqs: Vec<i64> = merged.dead_letters.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [7, 8]);
        let mut versions: Vec<(OrderId, u64)> = merged
            .orders
            .iter()
            .map(|o| (o.order_id, o.version))
            .collect();
        versions.sort();
        let mut expected = vec![(created.order_id, 2), (other.order_id, 1)];
        expected.sort();
        assert_eq!(versions, expected, "one snapshot per order, the latest");
        let mut uncached = merged.uncached.clone();
        uncached.sort();
        let mut expected = vec![other.order_id.0, confirmed.order_id.0];
        expected.sort();
        assert_eq!(
            uncached, expected,
            "every batch's uncached orders are flagged"
        );
    }
}
