//! The processor: the only writer of PostgreSQL, Redis and the event topics.
//!
//! A poller (`poller.rs`) owns the consumer; a worker task (`worker.rs`, starting from and
//! remembering `state.rs`) handles one batch at a time. While a batch runs, the poller keeps
//! polling and buffers the next records (a full buffer pauses the assignment, see `Buffer`),
//! so rebalances are served and the group never times the member out (RDKAFKA-NOTES.md). Per
//! batch, the worker:
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
mod buffer;
mod cache_backlog;
mod cache_writer;
#[cfg(test)]
mod fuzz;
mod memory;
mod poller;
mod publish;
mod rebalance;
mod relay;
mod retry;
mod rows;
mod state;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use tokio_util::sync::CancellationToken;

use crate::codec::Codec;
use crate::kafka::producer::Producer;
use crate::kafka::{KafkaSettings, Topics};
use crate::metrics;
use crate::store::{Cache, OffsetMove, Store};
use assignment::Tag;
use batch::Idempotency;
use buffer::Buffer;
use cache_backlog::CacheBacklog;
use cache_writer::repair_cache;
use publish::{Committed, Publisher};
use rebalance::{ProcessorContext, Shared};
use worker::Worker;

/// How the processor consumes.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub kafka: KafkaSettings,
    pub topics: Topics,
    pub group_id: String,
    pub batch_max: usize,
    pub batch_linger: Duration,
    /// A batch goes once no record arrived for this long (zero: at the linger).
    pub batch_idle: Duration,
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
    /// The trace context it carried (`traceparent`, `tracestate`).
    pub trace: Option<opentelemetry::trace::SpanContext>,
    /// From the `orderflow.idempotency.*` headers the ingress sets.
    pub idempotency: Option<Idempotency>,
    /// From `orderflow.replay.count`: how many times it was replayed from the DLQ.
    pub replay_count: u32,
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

impl Processor {
    /// Consumes until `shutdown` is cancelled; the in-flight batch drains first.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tokio::select! {
            () = self.warm_publisher() => {}
            () = shutdown.cancelled() => return Ok(()),
        }
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
                // Offsets live in PostgreSQL; the broker's copy is for lag reporting only.
                // Each batch stores its offsets with librdkafka, which commits whatever is
                // stored once a second in one request (a commit per batch was a tenth of the
                // broker's requests under HTTP load: scripts/bench-e2e.sh).
                ("enable.auto.commit", "true"),
                ("auto.commit.interval.ms", "1000"),
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
                Ok(BatchEnd::Done(offsets)) => self.store_for_lag(&consumer, &offsets),
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
}

impl Processor {
    /// Gives the publishing producer the metadata of every topic it writes before the first
    /// batch needs it: otherwise that batch's publish waits for it (~0.8 s on a new topic
    /// here), and every batch committed meanwhile queues behind it (scripts/bench-latency.sh
    /// saw all commands of its first second applied that much later). A topic that does not
    /// answer now is only logged: publishing retries it.
    async fn warm_publisher(&self) {
        let topics = &self.config.topics;
        let pings = [&topics.events, &topics.state, &topics.dlq]
            .map(|topic| async move { (topic, self.producer.ping(topic).await) });
        for (topic, result) in futures::future::join_all(pings).await {
            if let Err(error) = result {
                tracing::warn!(%error, topic, "no metadata for an output topic yet; publishing will retry");
            }
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
