//! The processor: the only writer of PostgreSQL, Redis and the event topics.
//!
//! A poller task owns the consumer; a worker task handles one batch at a time. While a batch
//! runs, the poller keeps polling and buffers the next records (a full buffer pauses the
//! assignment, see `Buffer`), so rebalances are served and the group never times the member
//! out (RDKAFKA-NOTES.md). Per batch, the worker:
//! 1. relays what newly assigned partitions left unpublished;
//! 2. decodes, loads state, folds (pure, `batch.rs`) and commits ONE transaction — orders,
//!    event rows, processed command ids, dead letters and the fenced offset move — retried
//!    until committed, fenced or abandoned;
//! 3. writes Redis, best effort;
//! 4. hands the batch to the publishing task (`publish.rs`), which sends its events,
//!    snapshots and dead letters (together with batches queued behind it) and marks them
//!    published, retried until delivered (or left to the relay of the partition's next
//!    owner), while the worker goes on with the next batch;
//! 5. lets the poller commit the offsets to the broker, for lag visibility only.

mod assignment;
pub mod batch;
mod cache_backlog;
#[cfg(test)]
mod fuzz;
mod memory;
mod publish;
mod rebalance;
mod retry;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::codec::{Codec, EncodeError};
use crate::domain::{Command, Event, Order, OrderId, Rejection, bounded_echo};
use crate::kafka::producer::Producer;
use crate::kafka::{IDEMPOTENCY_FINGERPRINT_HEADER, IDEMPOTENCY_KEY_HEADER, KafkaSettings, Topics};
use crate::metrics;
use crate::store::{
    BatchWrite, Cache, DeadLetterRow, EventRow, OffsetMove, ProcessedRow, Store, StoredDeadLetter,
    StoredEvent, WriteError,
};
use crate::trace;
use assignment::{StoredOffset, Tag};
use batch::{Idempotency, Incoming, Outcome, Refused};
use cache_backlog::CacheBacklog;
use publish::{Committed, Publisher};
use rebalance::{BatchGuard, ProcessorContext, Shared};

/// How the processor consumes.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub kafka: KafkaSettings,
    pub topics: Topics,
    pub group_id: String,
    pub batch_max: usize,
    pub batch_linger: Duration,
    /// Longest a revocation or shutdown waits for the in-flight batch.
    pub drain_timeout: Duration,
    /// Memory budget of the orders remembered between batches, in bytes.
    pub order_memory_bytes: u64,
    /// Orders kept whole while Redis is unreachable (see `cache_backlog`).
    pub cache_backlog_orders: usize,
}

/// Everything the processor talks to.
#[derive(Clone)]
pub struct Processor {
    pub config: ProcessorConfig,
    pub store: Store,
    pub cache: Cache,
    pub producer: Producer,
    pub codec: Codec,
}

/// A consumed record kept past the poll that returned it.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    /// The assignment generation it was polled in, and its arrival number there.
    pub tag: Tag,
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub traceparent: Option<String>,
    /// From the `orderflow.idempotency.*` headers the ingress sets.
    pub idempotency: Option<Idempotency>,
}

/// One attempt at committing a batch.
enum Attempt {
    Committed((Committed, Vec<OffsetMove>)),
    End(BatchEnd),
    /// `incoming[.0]`'s event can never be encoded.
    Unencodable(usize, String),
}

/// The event of the batch's `index`-th record cannot be encoded, permanently.
#[derive(Debug, thiserror::Error)]
#[error("the event of record {index} of the batch cannot be encoded: {message}")]
struct Unencodable {
    index: usize,
    message: String,
}

/// How a batch ended.
#[derive(Debug)]
enum BatchEnd {
    /// Committed; these are the next offsets to consume, per partition.
    Done(Vec<OffsetMove>),
    /// The assignment was lost or the process is stopping: nothing was committed.
    Abandoned,
    /// Another member owns a partition of the batch now: nothing was committed.
    Fenced,
}

/// Records buffered while a batch runs before the assignment is paused (at least). Resuming
/// at half leaves 15 batches to work on while the resumed partitions' first fetch comes back
/// (measured up to ~1.3 s on nisshi with 10 000, which then stalled the processor each time).
const BUFFER_MIN: usize = 30_000;
/// Consumer group liveness (see `run`); `--kafka-config` overrides either.
const SESSION_TIMEOUT: (&str, &str) = ("session.timeout.ms", "10000");
const HEARTBEAT_INTERVAL: (&str, &str) = ("heartbeat.interval.ms", "1000");
/// Orders of the cache backlog written to Redis at a time once it answers again.
const CACHE_REPAIR_CHUNK: usize = 1_000;
/// How often an idle poller checks for partitions whose outbox awaits relay.
const RELAY_CHECK: Duration = Duration::from_millis(100);
/// Longest `orderflow.error.message` header of a dead letter, in characters.
const DLQ_MESSAGE_LEN: usize = 1_000;
/// Longest payload a dead letter carries: a record near the broker's size limit would not fit
/// on the DLQ once headers are added. A longer one keeps this prefix, and its header
/// `orderflow.payload.truncated` gives the original length in bytes.
const DLQ_PAYLOAD_MAX: usize = 512 * 1024;
/// Longest key a dead letter carries (`orderflow.key.truncated` as for the payload).
const DLQ_KEY_MAX: usize = 1024;
/// How often orders whose cache write failed are tried again without a batch.
const CACHE_REPAIR: Duration = Duration::from_secs(1);
/// Outbox rows read and published at once by the relay.
const RELAY_PAGE: i64 = 1_000;

impl Processor {
    /// Consumes until `shutdown` is cancelled; the in-flight batch drains first.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let shared = Arc::new(Shared::new(self.config.order_memory_bytes));
        let context = ProcessorContext {
            shared: shared.clone(),
            store: self.store.clone(),
            runtime: tokio::runtime::Handle::current(),
            group_id: self.config.group_id.clone(),
            topic: self.config.topics.commands.clone(),
            drain_timeout: self.config.drain_timeout,
        };
        let consumer: StreamConsumer<ProcessorContext> = self
            .config
            .kafka
            .client_config(&[
                ("group.id", &self.config.group_id),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("statistics.interval.ms", "5000"),
                // A SIGKILLed member's partitions sit idle until the group notices it is gone:
                // the session timeout (librdkafka's default, 45 s, is far too long for an
                // order service). 10 s with a heartbeat every second tolerates a few lost
                // heartbeats; static membership is not used (a restarted member would keep its
                // partitions idle for the whole timeout instead of handing them over at once).
                SESSION_TIMEOUT,
                HEARTBEAT_INTERVAL,
                crate::kafka::FETCH_WAIT,
                crate::kafka::PARTITION_FETCH_BYTES,
            ])
            .create_with_context(context)
            .context("creating the kafka consumer (--kafka-brokers, --kafka-config)")?;
        consumer
            .subscribe(&[&self.config.topics.commands])
            .context("subscribing to the commands topic")?;
        tracing::info!(topic = %self.config.topics.commands, group = %self.config.group_id, "processor started");
        let gauges = tokio::spawn(report_gauges(
            self.store.clone(),
            shared.clone(),
            shutdown.clone(),
        ));

        let worker = Arc::new(Worker {
            processor: self.clone(),
            shared: shared.clone(),
            cache_backlog: std::sync::Mutex::new(CacheBacklog::new(
                self.config.cache_backlog_orders,
            )),
            publisher: Publisher::start(self.clone(), shutdown.clone()),
        });
        let repair = tokio::spawn(repair_cache(worker.clone(), shutdown.clone()));
        let mut buffered = Buffer::new((self.config.batch_max * 2).max(BUFFER_MIN));
        let result = loop {
            buffered.resume_if_drained(&consumer);
            let records = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                records = self.collect(&consumer, &mut buffered) => records,
            };
            // Only records of the partitions' current generations, each partition's continuing
            // exactly where its last batch stopped (see `assignment.rs`).
            let admitted = shared.assignments().admit(records);
            if !admitted.gaps.is_empty() {
                metrics::partition_gap(admitted.gaps.len());
                tracing::error!(partitions = ?admitted.gaps, "records went missing between poll and batch; restarting the partitions at their stored offsets");
                if let Err(error) = self.resync(&consumer, &shared, &admitted.gaps).await {
                    break Err(error);
                }
            }
            if admitted.records.is_empty() && !shared.relay_is_pending() {
                continue;
            }
            match self
                .run_batch(&consumer, &worker, admitted, &mut buffered, &shutdown)
                .await
            {
                Ok(BatchEnd::Done(offsets)) => self.commit_to_broker(&consumer, &offsets),
                Ok(BatchEnd::Abandoned) => {}
                Ok(BatchEnd::Fenced) => {
                    let partitions = shared.assignments().assigned();
                    tracing::warn!(
                        ?partitions,
                        "batch fenced: another member moved the offsets; resyncing"
                    );
                    if let Err(error) = self.resync(&consumer, &shared, &partitions).await {
                        break Err(error);
                    }
                }
                Err(error) => break Err(error),
            }
            if shutdown.is_cancelled() {
                break Ok(());
            }
        };
        if tokio::time::timeout(self.config.drain_timeout, worker.publisher.flush())
            .await
            .is_err()
        {
            tracing::warn!("publishing did not finish in time; the next owner relays the rest");
        }
        gauges.abort();
        repair.abort();
        tracing::info!("processor stopped");
        result
    }

    /// Up to `batch_max` records, waiting at most `batch_linger` after the first one.
    async fn collect(
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
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
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
    async fn run_batch(
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

    fn commit_to_broker(
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
        if let Err(error) = consumer.commit(&tpl, CommitMode::Async) {
            metrics::broker_commit_failed();
            tracing::warn!(%error, "broker offset commit failed; only lag reporting is affected");
        }
    }

    /// Restarts `partitions` at their stored offsets in a new generation: after a fenced
    /// commit (forget what this member believed) or a gap. Reading the offsets is retried
    /// until it succeeds (or the process stops): until then the partitions' records are not
    /// admitted, since their old generation is closed first.
    async fn resync(
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

/// Records polled ahead of the batch that handles them. Polling never stops (rebalances
/// must be served), but a full buffer pauses the assignment, and only a buffer drained to
/// half resumes it: each pause drops librdkafka's prefetched records, so pausing and resuming
/// every batch would refetch them every time and starve the broker of time for our produces.
struct Buffer {
    records: Vec<Record>,
    capacity: usize,
    paused: bool,
}

impl Buffer {
    fn new(capacity: usize) -> Self {
        Self {
            records: Vec::new(),
            capacity,
            paused: false,
        }
    }

    fn push(&mut self, consumer: &StreamConsumer<ProcessorContext>, record: Record) {
        self.records.push(record);
        if !self.paused && self.records.len() >= self.capacity {
            match consumer.assignment().and_then(|a| consumer.pause(&a)) {
                Ok(()) => {
                    self.paused = true;
                    metrics::consumer_paused();
                }
                Err(error) => tracing::warn!(%error, "pausing the assignment"),
            }
        }
    }

    /// A pause also survives a revoke and re-assign, so the whole current assignment resumes.
    fn resume_if_drained(&mut self, consumer: &StreamConsumer<ProcessorContext>) {
        if self.paused && self.records.len() <= self.capacity / 2 {
            match consumer.assignment().and_then(|a| consumer.resume(&a)) {
                Ok(()) => self.paused = false,
                Err(error) => tracing::warn!(%error, "resuming the assignment"),
            }
        }
    }

    fn take(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }

    fn put_back(&mut self, rest: Vec<Record>) {
        self.records = rest;
    }
}

/// Handles batches; one at a time, on its own task so the poller can keep polling.
struct Worker {
    processor: Processor,
    shared: Arc<Shared>,
    /// Orders whose cache write failed, rewritten with a later batch.
    cache_backlog: std::sync::Mutex<CacheBacklog>,
    publisher: Publisher,
}

impl Worker {
    async fn handle(
        self: Arc<Self>,
        records: Vec<Record>,
        generations: BTreeMap<i32, u64>,
        _guard: BatchGuard,
        shutdown: CancellationToken,
    ) -> BatchEnd {
        let started = Instant::now();
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

        // Retried until committed; fenced or abandoned (assignment lost, shutdown) ends it.
        // A failure of one command's own making (its event can never be encoded) is not
        // retried: that command goes to the DLQ and the batch folds again without it.
        let mut incoming = incoming;
        let (committed, offsets) = loop {
            let step = || async {
                // A partition revoked (or restarted) since the batch was taken belongs to
                // another generation now: the batch must not commit (PostgreSQL's fence backs
                // this up).
                if self.shared.abandon.load(Ordering::SeqCst)
                    || !self.shared.assignments().still_current(&generations)
                {
                    return Ok(Attempt::End(BatchEnd::Abandoned));
                }
                match self.commit(&records, &generations, &incoming).await {
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

        let cache_started = Instant::now();
        self.write_cache(&committed.orders, 1).await;
        metrics::stage("cache", cache_started.elapsed());

        // Publishing overlaps the next batches' work (see `publish`); it counts as work in
        // flight, so a revocation waits for it. Committed state is never rolled back.
        self.publisher
            .enqueue(committed, self.shared.start_batch())
            .await;
        metrics::batch_done(records.len(), started.elapsed());
        BatchEnd::Done(offsets)
    }

    /// Republishes what assigned partitions left unpublished, in outbox order and in pages,
    /// and rewrites the cache with the orders concerned: a member that crashed between its
    /// commit and its Redis write left both behind.
    async fn relay(&self) -> anyhow::Result<()> {
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

    async fn decode(&self, records: &[Record]) -> anyhow::Result<Vec<Incoming>> {
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
    async fn commit(
        &self,
        records: &[Record],
        generations: &BTreeMap<i32, u64>,
        incoming: &[Incoming],
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
        for (index, ((record, incoming), outcome)) in records
            .iter()
            .zip(incoming)
            .zip(&folded.outcomes)
            .enumerate()
        {
            metrics::command_handled(outcome.label());
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
                (Ok(_), Outcome::Duplicate(_) | Outcome::Undecodable) => continue,
            };
            let traceparent = record
                .traceparent
                .as_deref()
                .and_then(|t| trace::child(t, event.event_id));
            if let Some(trace_id) = record.traceparent.as_deref().and_then(trace::trace_id) {
                tracing::debug!(trace_id, order_id = %command.order_id, command_id = %command.command_id, kind = event.body.kind(), "command handled");
            }
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
        };
        Ok(Some((committed, write.offsets)))
    }

    /// The batch's orders: from this member's memory of its partitions, else one query.
    async fn load_orders(
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
    async fn offset_moves(&self, next: &BTreeMap<i32, i64>) -> anyhow::Result<Vec<OffsetMove>> {
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
    fn remember(&self, write: &BatchWrite, generations: &BTreeMap<i32, u64>) {
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

    async fn event_row(
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

    /// The cache is an optimisation: a failure is counted and logged, never fatal, and the
    /// orders are rewritten with a later batch or by `repair_cache`, whichever comes first.
    /// The batch's own orders go first, on their own; only once Redis took them is the backlog
    /// written, a chunk at a time (at most `chunks` of them: a batch takes one, `repair_cache`
    /// the rest), each removed once written.
    async fn write_cache(&self, orders: &[Order], chunks: usize) {
        if !orders.is_empty()
            && let Err(error) = self.processor.cache.put_orders(orders).await
        {
            let error = anyhow::Error::new(error);
            let pending = cache_backlog::Pending {
                orders: orders.iter().map(|o| (o.order_id, o.clone())).collect(),
                ids: Default::default(),
            };
            self.cache_failed(&error, pending);
            return;
        }
        for _ in 0..chunks {
            let mut chunk = self
                .cache_backlog
                .lock()
                .expect("lock")
                .take_chunk(CACHE_REPAIR_CHUNK);
            if chunk.orders.is_empty() && chunk.ids.is_empty() {
                return;
            }
            if let Err(error) = self.write_cache_chunk(&mut chunk).await {
                self.cache_failed(&error, chunk);
                return;
            }
        }
    }

    /// Writes one chunk of the backlog: its ids are read from PostgreSQL first.
    async fn write_cache_chunk(&self, chunk: &mut cache_backlog::Pending) -> anyhow::Result<()> {
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

    fn cache_failed(&self, error: &anyhow::Error, pending: cache_backlog::Pending) {
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
async fn repair_cache(worker: Arc<Worker>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(CACHE_REPAIR);
    while !shutdown.is_cancelled() {
        tick.tick().await;
        if !worker.cache_backlog.lock().expect("lock").is_empty() {
            worker.write_cache(&[], usize::MAX).await;
        }
    }
}

/// Keeps the `outbox pending` and `order memory` gauges current.
async fn report_gauges(store: Store, shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    while !shutdown.is_cancelled() {
        tick.tick().await;
        metrics::order_memory_bytes(shared.orders.weighted_size());
        if let Ok(n) = store.count_unpublished().await {
            metrics::outbox_pending(n);
        }
    }
}

/// The dead-letter row of a refused record from `topic`: bounded and storable whatever the
/// record held (see `DLQ_*`).
fn dead_letter(topic: &str, record: &Record, error: &Refused) -> DeadLetterRow {
    let message = bounded_echo(&error.to_string(), DLQ_MESSAGE_LEN);
    tracing::warn!(partition = record.partition, offset = record.offset, kind = error.kind(), error = %message, "refused command goes to the dead-letter topic");
    let mut headers = vec![
        ("orderflow.error.kind".to_owned(), error.kind().to_owned()),
        ("orderflow.error.message".to_owned(), message),
        ("orderflow.source.topic".to_owned(), topic.to_owned()),
        (
            "orderflow.source.partition".to_owned(),
            record.partition.to_string(),
        ),
        (
            "orderflow.source.offset".to_owned(),
            record.offset.to_string(),
        ),
    ];
    if let Some(timestamp) = record.timestamp {
        headers.push((
            "orderflow.source.timestamp".to_owned(),
            timestamp.to_string(),
        ));
    }
    let mut payload = record.payload.clone();
    if payload.len() > DLQ_PAYLOAD_MAX {
        headers.push((
            "orderflow.payload.truncated".to_owned(),
            payload.len().to_string(),
        ));
        payload.truncate(DLQ_PAYLOAD_MAX);
    }
    let mut key = record.key.clone();
    if let Some(k) = key.as_mut().filter(|k| k.len() > DLQ_KEY_MAX) {
        headers.push(("orderflow.key.truncated".to_owned(), k.len().to_string()));
        k.truncate(DLQ_KEY_MAX);
    }
    DeadLetterRow {
        source_topic: topic.to_owned(),
        source_partition: record.partition,
        source_offset: record.offset,
        key,
        payload,
        headers,
        error_kind: error.kind(),
    }
}

/// The idempotency record of a handled command: applied at a version, or rejected.
fn processed_row(command: &Command, result: Result<u64, &Rejection>) -> ProcessedRow {
    ProcessedRow {
        command_id: command.command_id.0,
        order_id: command.order_id.0,
        storefront_id: command.storefront_id.to_string(),
        command_type: command.body.kind(),
        outcome: if result.is_ok() {
            "applied"
        } else {
            "rejected"
        },
        version: result.ok().map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
        rejection_code: result.err().map(Rejection::code),
        rejection_msg: result.err().map(Rejection::message),
    }
}

/// librdkafka reports broker trouble through the consumer and recovers by itself: log it,
/// wait a moment and poll again. Never fatal, never a skipped record.
async fn consumer_error(error: rdkafka::error::KafkaError) {
    tracing::warn!(%error, "consuming the commands topic; retrying");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The record, owned and tagged with its partition's generation; None if it is not to be
/// handled here (see `Assignments::tag`).
fn detach(
    message: &BorrowedMessage<'_>,
    consumer: &StreamConsumer<ProcessorContext>,
) -> Option<Record> {
    let tag = consumer
        .context()
        .shared
        .assignments()
        .tag(message.partition(), message.offset())?;
    let traceparent = message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == trace::HEADER)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
    });
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
    Some(Record {
        idempotency,
        partition: message.partition(),
        offset: message.offset(),
        tag,
        timestamp: message.timestamp().to_millis(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        traceparent,
    })
}
