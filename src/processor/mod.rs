//! The processor: the only writer of PostgreSQL, Redis and the event topics.
//!
//! Per batch: decode → load state → fold (pure, `batch.rs`) → one transaction → publish
//! events → mark them published → cache → commit offsets to the broker (lag visibility).

pub mod batch;

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::codec::{Codec, DecodeError};
use crate::domain::{Command, Rejection};
use crate::kafka::producer::{Outgoing, Producer};
use crate::kafka::{KafkaSettings, Topics, order_key};
use crate::metrics;
use crate::store::{BatchWrite, Cache, EventRow, OffsetRow, ProcessedRow, Store};
use batch::{Incoming, Outcome};

/// How the processor consumes.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub kafka: KafkaSettings,
    pub topics: Topics,
    pub group_id: String,
    pub batch_max: usize,
    pub batch_linger: Duration,
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
struct Record {
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
}

const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

impl Processor {
    /// Consumes until `shutdown` is cancelled. The in-flight batch always completes first.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer: StreamConsumer = self
            .config
            .kafka
            .client_config(&[
                ("group.id", &self.config.group_id),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
            ])
            .create()
            .context("creating the kafka consumer")?;
        consumer
            .subscribe(&[&self.config.topics.commands])
            .context("subscribing to the commands topic")?;
        tracing::info!(topic = %self.config.topics.commands, group = %self.config.group_id, "processor started");
        loop {
            let records = tokio::select! {
                _ = shutdown.cancelled() => break,
                records = self.next_batch(&consumer) => records?,
            };
            if records.is_empty() {
                continue;
            }
            let next_offsets = self.process_with_retry(&records, &shutdown).await?;
            let Some(next_offsets) = next_offsets else {
                break;
            };
            let mut tpl = TopicPartitionList::new();
            for offset in &next_offsets {
                tpl.add_partition_offset(
                    &self.config.topics.commands,
                    offset.partition,
                    Offset::Offset(offset.next_offset),
                )?;
            }
            if let Err(error) = consumer.commit(&tpl, CommitMode::Async) {
                tracing::warn!(%error, "broker offset commit failed; only lag reporting is affected");
            }
        }
        tracing::info!("processor stopped");
        Ok(())
    }

    /// Up to `batch_max` records, waiting at most `batch_linger` after the first one.
    async fn next_batch(&self, consumer: &StreamConsumer) -> anyhow::Result<Vec<Record>> {
        let mut records = Vec::new();
        let first = consumer
            .recv()
            .await
            .context("polling the commands topic")?;
        records.push(detach(&first));
        drop(first);
        let deadline = Instant::now() + self.config.batch_linger;
        while records.len() < self.config.batch_max {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(message) => {
                    records.push(detach(&message.context("polling the commands topic")?))
                }
                Err(_) => break,
            }
        }
        Ok(records)
    }

    /// Processes a batch, retrying transient failures with backoff; never skips it.
    /// Returns None when shut down before the batch could complete.
    async fn process_with_retry(
        &self,
        records: &[Record],
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<Vec<OffsetRow>>> {
        let mut delay = RETRY_FIRST;
        loop {
            match self.process(records).await {
                Ok(offsets) => return Ok(Some(offsets)),
                Err(error) => {
                    metrics::batch_retried();
                    tracing::warn!(error = format!("{error:#}"), retry_in = ?delay, "batch failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(None),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(records = records.len()))]
    async fn process(&self, records: &[Record]) -> anyhow::Result<Vec<OffsetRow>> {
        let started = std::time::Instant::now();
        let mut incoming = Vec::with_capacity(records.len());
        for r in records {
            incoming.push(Incoming {
                partition: r.partition,
                offset: r.offset,
                command: self.codec.decode_command(&r.payload).await,
            });
        }
        if let Some(error) = incoming
            .iter()
            .find_map(|i| i.command.as_ref().err().filter(|e| e.is_transient()))
        {
            anyhow::bail!("decoding the batch: {error}");
        }
        let commands: Vec<_> = incoming
            .iter()
            .filter_map(|i| i.command.as_ref().ok())
            .collect();
        let order_ids: Vec<_> = commands
            .iter()
            .map(|c| c.order_id.0)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let command_ids: Vec<_> = commands.iter().map(|c| c.command_id.0).collect();
        let current = self
            .store
            .load_orders(&order_ids)
            .await
            .context("loading orders")?;
        let processed = self
            .store
            .prior_outcomes(&command_ids)
            .await
            .context("loading processed commands")?;

        let folded = batch::fold(&incoming, current, processed);

        // Undecodable records go to the DLQ before the offsets move past them.
        let dlq: Vec<Outgoing> = records
            .iter()
            .zip(&incoming)
            .filter_map(|(record, incoming)| {
                let error = incoming.command.as_ref().err()?;
                Some(self.dead_letter(record, error))
            })
            .collect();
        self.producer
            .send_all(dlq)
            .await
            .context("publishing to the dead-letter topic")?;

        let mut write = BatchWrite {
            orders: folded.orders.values().cloned().collect(),
            offsets: folded
                .next_offsets
                .iter()
                .map(|(&partition, &next_offset)| OffsetRow {
                    partition,
                    next_offset,
                })
                .collect(),
            ..BatchWrite::default()
        };
        for (incoming, outcome) in incoming.iter().zip(&folded.outcomes) {
            metrics::command_handled(outcome);
            let Ok(command) = &incoming.command else {
                continue;
            };
            let (event, result) = match outcome {
                Outcome::Applied(event) => (event, Ok(event.version)),
                Outcome::Rejected { rejection, event } => (event, Err(rejection)),
                Outcome::Duplicate(_) | Outcome::Undecodable => continue,
            };
            write.events.push(EventRow {
                event_id: event.event_id.0,
                order_id: event.order_id.0,
                version: i64::try_from(event.version).context("version overflow")?,
                event_type: event.body.kind(),
                causation_id: event.causation_id.0,
                occurred_at: event.occurred_at,
                payload: self
                    .codec
                    .encode_event(&self.config.topics.events, event)
                    .await?,
                source_partition: incoming.partition,
            });
            write.processed.push(processed_row(command, result));
        }
        self.store
            .write_batch(&self.config.group_id, &self.config.topics.commands, &write)
            .await
            .context("writing the batch")?;

        let keys: Vec<String> = write
            .events
            .iter()
            .map(|e| order_key(crate::domain::OrderId(e.order_id)))
            .collect();
        let sends = write
            .events
            .iter()
            .zip(&keys)
            .map(|(e, key)| Outgoing {
                topic: &self.config.topics.events,
                key,
                payload: &e.payload,
                headers: None,
            })
            .collect();
        self.producer
            .send_all(sends)
            .await
            .context("publishing events")?;
        let event_ids: Vec<_> = write.events.iter().map(|e| e.event_id).collect();
        self.store
            .mark_published(&event_ids)
            .await
            .context("marking events published")?;
        metrics::events_published(event_ids.len());

        // The cache is an optimisation: a failure here is counted and logged, never fatal.
        if let Err(error) = self.cache.put_orders(&write.orders).await {
            metrics::cache_error();
            tracing::warn!(%error, orders = write.orders.len(), "cache write failed");
        }
        metrics::batch_done(records.len(), started.elapsed());
        Ok(write.offsets)
    }

    fn dead_letter<'a>(&'a self, record: &'a Record, error: &DecodeError) -> Outgoing<'a> {
        tracing::warn!(partition = record.partition, offset = record.offset, kind = error.kind(), %error, "undecodable command sent to the dead-letter topic");
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "orderflow.error.kind",
                value: Some(error.kind()),
            })
            .insert(Header {
                key: "orderflow.error.message",
                value: Some(&error.to_string()),
            })
            .insert(Header {
                key: "orderflow.source.topic",
                value: Some(&self.config.topics.commands),
            })
            .insert(Header {
                key: "orderflow.source.partition",
                value: Some(&record.partition.to_string()),
            })
            .insert(Header {
                key: "orderflow.source.offset",
                value: Some(&record.offset.to_string()),
            })
            .insert(Header {
                key: "orderflow.source.timestamp",
                value: record.timestamp.map(|t| t.to_string()).as_deref(),
            });
        Outgoing {
            topic: &self.config.topics.dlq,
            key: record
                .key
                .as_deref()
                .map(std::str::from_utf8)
                .and_then(Result::ok)
                .unwrap_or(""),
            payload: &record.payload,
            headers: Some(headers),
        }
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
        rejection_msg: result.err().map(ToString::to_string),
    }
}

fn detach(message: &rdkafka::message::BorrowedMessage<'_>) -> Record {
    Record {
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    }
}
