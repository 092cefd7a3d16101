//! The worker: one batch at a time — decode, fold, write in one transaction, remember.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::batch::{Incoming, Outcome, Refused};
use super::cache_backlog::CacheBacklog;
use super::publish::{Committed, Publisher};
use super::rebalance::{BatchGuard, Shared};
use super::rows::{dead_letter, processed_row};
use super::{Attempt, BatchEnd, Processor, Record, Unencodable, batch, retry};
use crate::codec::EncodeError;
use crate::domain::{Event, OrderId};
use crate::metrics;
use crate::store::{BatchWrite, EventRow, OffsetMove, StoredDeadLetter, StoredEvent, WriteError};
use crate::trace::{self, BatchSpans, CommandSpan};

/// Handles batches; one at a time, on its own task so the poller can keep polling.
pub(super) struct Worker {
    pub(super) processor: Processor,
    pub(super) shared: Arc<Shared>,
    /// Orders whose cache write failed, rewritten with a later batch.
    pub(super) cache_backlog: std::sync::Mutex<CacheBacklog>,
    pub(super) publisher: Publisher,
}

impl Worker {
    pub(super) async fn handle(
        self: Arc<Self>,
        records: Vec<Record>,
        generations: BTreeMap<i32, u64>,
        guard: BatchGuard,
        shutdown: CancellationToken,
    ) -> BatchEnd {
        // The batch's span (only while spans are exported): its commands' spans link to it,
        // and the PostgreSQL write is its child.
        let span = if trace::recording() && !records.is_empty() {
            tracing::info_span!(
                "orders.commands batch",
                otel.kind = "consumer",
                messaging.system = "kafka",
                messaging.batch.message_count = records.len(),
            )
        } else {
            tracing::Span::none()
        };
        self.handle_in(records, generations, guard, shutdown)
            .instrument(span)
            .await
    }

    async fn handle_in(
        self: Arc<Self>,
        records: Vec<Record>,
        generations: BTreeMap<i32, u64>,
        _guard: BatchGuard,
        shutdown: CancellationToken,
    ) -> BatchEnd {
        let started = Instant::now();
        let started_at = SystemTime::now();
        if retry::until_ok("relay", &shutdown, || self.relay())
            .await
            .is_none()
        {
            return BatchEnd::Abandoned;
        }
        if records.is_empty() {
            return BatchEnd::Done(Vec::new());
        }
        let Some(incoming) = retry::until_ok("decode", &shutdown, || self.decode(&records)).await
        else {
            return BatchEnd::Abandoned;
        };
        metrics::stage("decode", started.elapsed());
        let spans = self.command_spans(&records, &incoming, started_at);

        // Retried until committed; fenced or abandoned (assignment lost, shutdown) ends it.
        // A failure of one command's own making (its event can never be encoded) is not
        // retried: that command goes to the DLQ and the batch folds again without it.
        let mut incoming = incoming;
        let (mut committed, offsets) = loop {
            let step = || async {
                // A partition revoked (or restarted) since the batch was taken belongs to
                // another generation now: the batch must not commit (PostgreSQL's fence backs
                // this up).
                if self.shared.abandon.load(Ordering::SeqCst)
                    || !self.shared.assignments().still_current(&generations)
                {
                    return Ok(Attempt::End(BatchEnd::Abandoned));
                }
                match self.commit(&records, &generations, &incoming, &spans).await {
                    Ok(Some(committed)) => Ok(Attempt::Committed(committed)),
                    Ok(None) => Ok(Attempt::End(BatchEnd::Fenced)),
                    Err(error) => match error.downcast::<Unencodable>() {
                        Ok(Unencodable { index, message }) => {
                            Ok(Attempt::Unencodable(index, message))
                        }
                        Err(error) => Err(error),
                    },
                }
            };
            match retry::until_ok("commit", &shutdown, step).await {
                Some(Attempt::Committed(committed)) => break committed,
                Some(Attempt::End(end)) => return end,
                Some(Attempt::Unencodable(index, message)) => {
                    metrics::unencodable_command();
                    incoming[index].command = Err(Refused::Unencodable(message));
                }
                None => return BatchEnd::Abandoned,
            }
        };

        committed.spans.commands = spans;
        for span in &mut committed.spans.commands {
            span.committed();
        }
        let cache_started = Instant::now();
        if !self.write_cache(&committed.orders, 1).await {
            committed.uncached = committed.orders.iter().map(|o| o.order_id.0).collect();
        }
        metrics::stage("cache", cache_started.elapsed());

        // Publishing overlaps the next batches' work (see `publish`); it counts as work in
        // flight, so a revocation waits for it. Committed state is never rolled back.
        self.publisher
            .enqueue(committed, self.shared.start_batch())
            .await;
        metrics::batch_done(records.len(), started.elapsed());
        BatchEnd::Done(offsets)
    }

    /// A span per command (see `trace::CommandSpan`), in the trace its record carried.
    fn command_spans(
        &self,
        records: &[Record],
        incoming: &[Incoming],
        started: SystemTime,
    ) -> Vec<CommandSpan> {
        let batch = tracing::Span::current()
            .context()
            .span()
            .span_context()
            .clone();
        let topic = &self.processor.config.topics.commands;
        records
            .iter()
            .zip(incoming)
            .map(|(record, incoming)| {
                CommandSpan::start(record.trace.as_ref(), &batch, started, || {
                    let mut attributes = vec![
                        KeyValue::new("messaging.system", "kafka"),
                        KeyValue::new("messaging.operation.type", "process"),
                        KeyValue::new("messaging.destination.name", topic.clone()),
                        KeyValue::new(
                            "messaging.destination.partition.id",
                            record.partition.to_string(),
                        ),
                        KeyValue::new("messaging.kafka.offset", record.offset),
                    ];
                    if let Ok(command) = &incoming.command {
                        attributes.extend([
                            KeyValue::new("orderflow.command_id", command.command_id.to_string()),
                            KeyValue::new("orderflow.order_id", command.order_id.to_string()),
                            KeyValue::new("orderflow.command_type", command.body.kind()),
                        ]);
                    }
                    attributes
                })
            })
            .collect()
    }

    pub(super) async fn decode(&self, records: &[Record]) -> anyhow::Result<Vec<Incoming>> {
        let mut incoming = Vec::with_capacity(records.len());
        for r in records {
            let command = match self.processor.codec.decode_command(&r.payload).await {
                Ok(command) => Refused::check_key(r.key.as_deref(), command),
                Err(error) if error.is_transient() => anyhow::bail!(
                    "decoding offset {} of partition {}: {error}",
                    r.offset,
                    r.partition
                ),
                Err(error) => Err(error.into()),
            };
            incoming.push(Incoming {
                partition: r.partition,
                offset: r.offset,
                command,
                idempotency: r.idempotency.clone(),
            });
        }
        Ok(incoming)
    }

    /// Loads state, folds and writes the batch in one transaction.
    pub(super) async fn commit(
        &self,
        records: &[Record],
        generations: &BTreeMap<i32, u64>,
        incoming: &[Incoming],
        spans: &[CommandSpan],
    ) -> anyhow::Result<Option<(Committed, Vec<OffsetMove>)>> {
        let p = &self.processor;
        let stage = Instant::now();
        let current = self.load_orders(incoming, generations).await?;
        // The version each order's fold starts from: its row moves only from there.
        let base: HashMap<OrderId, u64> = current.iter().map(|(id, o)| (*id, o.version)).collect();
        let command_ids: Vec<_> = incoming
            .iter()
            .filter_map(|i| i.command.as_ref().ok().map(|c| c.command_id.0))
            .collect();
        let prior = p
            .store
            .prior_outcomes(&command_ids)
            .await
            .context("loading processed commands")?;
        let idempotency_keys: Vec<&[u8]> = incoming
            .iter()
            .filter_map(|i| i.idempotency.as_ref().map(|k| k.key.as_slice()))
            .collect();
        let keys = if idempotency_keys.is_empty() {
            HashMap::new()
        } else {
            p.store
                .idempotency_fingerprints(&idempotency_keys)
                .await
                .context("loading idempotency keys")?
        };
        metrics::stage("load", stage.elapsed());

        let stage = Instant::now();
        let folded = batch::fold(incoming, current, prior, keys);
        let mut write = BatchWrite {
            base_versions: folded
                .orders
                .keys()
                .map(|id| base.get(id).map(|&v| i64::try_from(v).unwrap_or(i64::MAX)))
                .collect(),
            orders: folded.orders.values().cloned().collect(),
            offsets: self.offset_moves(&folded.next_offsets).await?,
            idempotency_keys: folded
                .new_keys
                .iter()
                .map(|(k, command)| (k.key.clone(), k.fingerprint.clone(), command.0))
                .collect(),
            ..BatchWrite::default()
        };
        let mut event_spans = Vec::new();
        for (index, ((record, incoming), outcome)) in records
            .iter()
            .zip(incoming)
            .zip(&folded.outcomes)
            .enumerate()
        {
            metrics::command_handled(outcome.label());
            spans[index].outcome(outcome.label());
            let (command, event, result) = match (&incoming.command, outcome) {
                (Err(error), _) => {
                    write
                        .dead_letters
                        .push(dead_letter(&p.config.topics.commands, record, error));
                    continue;
                }
                (Ok(command), Outcome::Applied(event)) => (command, event, Ok(event.version)),
                (Ok(command), Outcome::Rejected { rejection, event }) => {
                    (command, event, Err(rejection))
                }
                (Ok(command), Outcome::RejectedPrivately(rejection)) => {
                    write.processed.push(processed_row(command, Err(rejection)));
                    continue;
                }
                (Ok(command), Outcome::Unchanged { version }) => {
                    write.processed.push(processed_row(command, Ok(*version)));
                    continue;
                }
                (Ok(_), Outcome::Duplicate(_) | Outcome::Undecodable) => continue,
            };
            let event_span = spans[index].event(event.body.kind());
            let traceparent = event_span.traceparent();
            event_spans.push(event_span);
            let row = match self.event_row(event, incoming.partition, traceparent).await {
                Ok(row) => row,
                Err(error) if !error.is_transient() => {
                    return Err(Unencodable {
                        index,
                        message: error.to_string(),
                    }
                    .into());
                }
                Err(error) => return Err(anyhow::Error::new(error).context("encoding an event")),
            };
            write.events.push(row);
            write.processed.push(processed_row(command, result));
        }
        metrics::stage("fold", stage.elapsed());

        let stage = Instant::now();
        let transaction_started = SystemTime::now();
        let seqs = match p
            .store
            .write_batch(&p.config.group_id, &p.config.topics.commands, &write)
            .await
        {
            Ok(seqs) => seqs,
            Err(WriteError::Fenced) => return Ok(None),
            Err(WriteError::IdempotencyRace) => {
                // Another partition's batch took one of the keys first: fold again with it.
                metrics::stale_order_write();
                anyhow::bail!("an idempotency key was taken by another batch meanwhile");
            }
            Err(WriteError::StaleOrder) => {
                // This member's memory of an order was behind its row: forget the batch's
                // orders and fold again from what PostgreSQL holds (the retry reloads them).
                metrics::stale_order_write();
                for (partition, generation) in generations {
                    for i in incoming.iter().filter(|i| i.partition == *partition) {
                        if let Ok(c) = &i.command {
                            self.shared
                                .orders
                                .forget(*partition, *generation, c.order_id);
                        }
                    }
                }
                anyhow::bail!("an order's row moved past the version the batch folded from");
            }
            Err(WriteError::Db(e)) => {
                return Err(anyhow::Error::new(e).context("writing the batch"));
            }
        };
        metrics::stage("commit", stage.elapsed());
        let transaction_ended = SystemTime::now();
        for span in spans {
            span.transaction(transaction_started, transaction_ended, records.len());
        }
        self.remember(&write, generations);
        let committed = Committed {
            events: write
                .events
                .into_iter()
                .map(|e| StoredEvent {
                    event_id: e.event_id,
                    order_id: e.order_id,
                    payload: e.payload,
                    traceparent: e.traceparent,
                })
                .collect(),
            orders: write.orders,
            dead_letters: write
                .dead_letters
                .into_iter()
                .filter_map(|letter| {
                    let (seq, ..) = seqs.iter().find(|(_, p, o)| {
                        (*p, *o) == (letter.source_partition, letter.source_offset)
                    })?;
                    Some(StoredDeadLetter {
                        seq: *seq,
                        key: letter.key,
                        payload: letter.payload,
                        headers: letter.headers,
                    })
                })
                .collect(),
            uncached: Vec::new(),
            spans: BatchSpans {
                commands: Vec::new(),
                events: event_spans,
            },
        };
        Ok(Some((committed, write.offsets)))
    }

    pub(super) async fn event_row(
        &self,
        event: &Event,
        partition: i32,
        traceparent: Option<String>,
    ) -> Result<EventRow, EncodeError> {
        Ok(EventRow {
            event_id: event.event_id.0,
            order_id: event.order_id.0,
            // A version is one per command applied: never near 2^63.
            version: i64::try_from(event.version).unwrap_or(i64::MAX),
            event_type: event.body.kind(),
            causation_id: event.causation_id.0,
            occurred_at: event.occurred_at,
            payload: self
                .processor
                .codec
                .encode_event(&self.processor.config.topics.events, event)
                .await?,
            source_partition: partition,
            traceparent,
        })
    }
}
