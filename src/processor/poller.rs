//! The poller's side of the processor: collecting a batch (up to `batch_max`, lingering at
//! most `batch_linger`, and no longer than `batch_idle` without a new record), polling on while the worker runs it, committing offsets to the
//! broker for lag, and restarting partitions at their stored offsets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::assignment::{self, StoredOffset};
use super::batch::Idempotency;
use super::buffer::Buffer;
use super::rebalance::{ProcessorContext, Shared};
use super::worker::Worker;
use super::{BatchEnd, Processor, Record, retry};
use crate::kafka::{IDEMPOTENCY_FINGERPRINT_HEADER, IDEMPOTENCY_KEY_HEADER, dlq_headers};
use crate::metrics;
use crate::store::OffsetMove;
use crate::trace;

/// How often an idle poller checks for partitions whose outbox awaits relay.
const RELAY_CHECK: Duration = Duration::from_millis(100);

impl Processor {
    /// Up to `batch_max` records, waiting at most `batch_linger` after the first one and at
    /// most `batch_idle` after the latest: under load the batch fills, and a lone command
    /// goes at once.
    pub(super) async fn collect(
        &self,
        consumer: &StreamConsumer<ProcessorContext>,
        buffered: &mut Buffer,
    ) -> Vec<Record> {
        let mut records = buffered.take();
        let waited = Instant::now();
        while records.is_empty() {
            tokio::select! {
                message = consumer.recv() => match message {
                    Ok(message) => records.extend(detach(&message, consumer)),
                    Err(error) => consumer_error(error).await,
                },
                // Newly assigned partitions are relayed even when no command arrives.
                _ = tokio::time::sleep(RELAY_CHECK) => {
                    if consumer.context().shared.relay_is_pending() {
                        return records;
                    }
                }
            }
        }
        let deadline = tokio::time::Instant::now() + self.config.batch_linger;
        while records.len() < self.config.batch_max {
            let until = if self.config.batch_idle.is_zero() {
                deadline
            } else {
                deadline.min(tokio::time::Instant::now() + self.config.batch_idle)
            };
            match tokio::time::timeout_at(until, consumer.recv()).await {
                Ok(Ok(message)) => records.extend(detach(&message, consumer)),
                Ok(Err(error)) => {
                    consumer_error(error).await;
                    break;
                }
                Err(_) => break,
            }
        }
        metrics::stage("poll", waited.elapsed());
        if records.len() > self.config.batch_max {
            buffered.put_back(records.split_off(self.config.batch_max));
        }
        records
    }

    /// Hands the batch to the worker and keeps polling (paused) until it is done.
    pub(super) async fn run_batch(
        &self,
        consumer: &StreamConsumer<ProcessorContext>,
        worker: &Arc<Worker>,
        admitted: assignment::Admitted,
        buffered: &mut Buffer,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<BatchEnd> {
        let guard = worker.shared.start_batch();
        let mut task = tokio::spawn(worker.clone().handle(
            admitted.records,
            admitted.generations,
            guard,
            shutdown.clone(),
        ));
        let mut stopping_since: Option<Instant> = None;
        // The next batch is collected while this one runs (see `Buffer`).
        loop {
            tokio::select! {
                ended = &mut task => break ended.context("the batch worker panicked"),
                message = consumer.recv() => match message {
                    Ok(message) => {
                        if let Some(record) = detach(&message, consumer) {
                            buffered.push(consumer, record);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "polling while a batch runs"),
                },
                _ = shutdown.cancelled(), if stopping_since.is_none() => stopping_since = Some(Instant::now()),
                _ = tokio::time::sleep(Duration::from_millis(100)), if stopping_since.is_some() => {
                    if stopping_since.is_some_and(|t| t.elapsed() > self.config.drain_timeout) {
                        tracing::warn!("the in-flight batch did not drain in time; abandoning it");
                        task.abort();
                        break Ok(BatchEnd::Abandoned);
                    }
                }
            }
        }
    }

    /// Stores a batch's offsets for librdkafka's next automatic commit to the broker.
    pub(super) fn store_for_lag(
        &self,
        consumer: &StreamConsumer<ProcessorContext>,
        offsets: &[OffsetMove],
    ) {
        let mut tpl = TopicPartitionList::new();
        for m in offsets {
            if tpl
                .add_partition_offset(
                    &self.config.topics.commands,
                    m.partition,
                    Offset::Offset(m.next),
                )
                .is_err()
            {
                metrics::broker_commit_failed();
                return;
            }
        }
        // Fails for a partition revoked meanwhile: its next owner stores its own.
        if let Err(error) = consumer.store_offsets(&tpl) {
            metrics::broker_commit_failed();
            tracing::debug!(%error, "storing offsets for the broker failed; only lag reporting is affected");
        }
    }

    /// Restarts `partitions` at their stored offsets in a new generation: after a fenced
    /// commit (forget what this member believed) or a gap. Reading the offsets is retried
    /// until it succeeds (or the process stops): until then the partitions' records are not
    /// admitted, since their old generation is closed first.
    pub(super) async fn resync(
        &self,
        consumer: &StreamConsumer<ProcessorContext>,
        shared: &Shared,
        partitions: &[i32],
    ) -> anyhow::Result<()> {
        // Close the old generations at once: nothing buffered from them is admitted.
        {
            let mut assignments = shared.assignments();
            for &p in partitions {
                if assignments.generation(p).is_some() {
                    assignments.assign(p, StoredOffset::Unknown);
                }
            }
        }
        let never = CancellationToken::new();
        let Some(stored) = retry::until_ok("read offsets for a resync", &never, || async {
            Ok(self
                .store
                .load_offsets(
                    &self.config.group_id,
                    &self.config.topics.commands,
                    partitions,
                )
                .await?)
        })
        .await
        else {
            return Ok(());
        };
        let mut assignments = shared.assignments();
        for &p in partitions {
            if assignments.generation(p).is_none() {
                continue; // revoked meanwhile
            }
            let (state, offset) = match stored.get(&p) {
                Some(&n) => (StoredOffset::At(n), Offset::Offset(n)),
                None => (StoredOffset::Missing, Offset::Beginning),
            };
            // A partition that did not move to its stored offset would continue where it
            // was, and its next record would look like the broker's own skip: a gap. Never
            // run on like that; a restart starts every partition at its stored offset.
            retry::blocking("seek for a resync", 10, || {
                consumer
                    .seek(
                        &self.config.topics.commands,
                        p,
                        offset,
                        Duration::from_secs(5),
                    )
                    .with_context(|| format!("seeking partition {p} to its stored offset"))
            })?;
            assignments.assign(p, state);
        }
        Ok(())
    }
}

/// librdkafka reports broker trouble through the consumer and recovers by itself: log it,
/// wait a moment and poll again. Never fatal, never a skipped record.
pub(super) async fn consumer_error(error: rdkafka::error::KafkaError) {
    tracing::warn!(%error, "consuming the commands topic; retrying");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The record, owned and tagged with its partition's generation; None if it is not to be
/// handled here (see `Assignments::tag`).
pub(super) fn detach(
    message: &BorrowedMessage<'_>,
    consumer: &StreamConsumer<ProcessorContext>,
) -> Option<Record> {
    let tag = consumer
        .context()
        .shared
        .assignments()
        .tag(message.partition(), message.offset())?;
    let trace = trace::from_kafka(message.headers());
    let header = |name: &str| {
        message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(<[u8]>::to_vec)
        })
    };
    let idempotency = match (
        header(IDEMPOTENCY_KEY_HEADER),
        header(IDEMPOTENCY_FINGERPRINT_HEADER),
    ) {
        (Some(key), Some(fingerprint)) if key.len() <= 64 && fingerprint.len() <= 64 => {
            Some(Idempotency { key, fingerprint })
        }
        _ => None,
    };
    let replay_count = header(dlq_headers::REPLAY_COUNT)
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(Record {
        idempotency,
        replay_count,
        partition: message.partition(),
        offset: message.offset(),
        tag,
        timestamp: message.timestamp().to_millis(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        trace,
    })
}
