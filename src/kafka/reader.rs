//! Reading a topic outside any consumer group: from chosen offsets to the end of every
//! partition, or on as records arrive. What `tail` and `dlq` read with.

use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaSettings;

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Beginning,
    End,
    /// In every partition, the first record at or after this time (ms since the epoch).
    Time(i64),
    /// One partition, at one offset.
    At(i32, i64),
}

/// A reader of one topic; `next` gives records until every partition read to the end as it
/// was when the reader opened (unless it follows).
pub struct TopicReader {
    consumer: StreamConsumer,
    /// Partitions still to read to their end, as (partition, end offset).
    unfinished: Vec<(i32, i64)>,
    follow: bool,
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl TopicReader {
    pub fn open(
        settings: &KafkaSettings,
        topic: &str,
        start: Start,
        follow: bool,
    ) -> anyhow::Result<Self> {
        let group = format!("orderflow-reader-{}", uuid::Uuid::new_v4());
        let consumer: StreamConsumer = settings
            .client_config(&[("group.id", &group), ("enable.auto.commit", "false")])
            .create()
            .context("creating the kafka consumer")?;
        let metadata = consumer
            .fetch_metadata(Some(topic), TIMEOUT)
            .context("reading topic metadata")?;
        let mut partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| {
                t.partitions()
                    .iter()
                    .map(rdkafka::metadata::MetadataPartition::id)
            })
            .collect();
        anyhow::ensure!(!partitions.is_empty(), "topic {topic} does not exist");
        if let Start::At(partition, _) = start {
            anyhow::ensure!(
                partitions.contains(&partition),
                "topic {topic} has no partition {partition}"
            );
            partitions = vec![partition];
        }
        let by_time = match start {
            Start::Time(ms) => {
                let mut wanted = TopicPartitionList::new();
                for &partition in &partitions {
                    wanted.add_partition_offset(topic, partition, Offset::Offset(ms))?;
                }
                Some(
                    consumer
                        .offsets_for_times(wanted, TIMEOUT)
                        .context("finding offsets by time")?,
                )
            }
            _ => None,
        };

        let mut assignment = TopicPartitionList::new();
        let mut unfinished = Vec::new();
        for &partition in &partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, TIMEOUT)
                .context("reading partition offsets")?;
            let first = match start {
                Start::Beginning => low,
                Start::End => high,
                Start::At(_, offset) => {
                    anyhow::ensure!(
                        (low..high).contains(&offset),
                        "no record at {partition}:{offset}: {}",
                        if low == high {
                            format!("partition {partition} is empty")
                        } else {
                            format!("partition {partition} holds offsets {low} to {}", high - 1)
                        }
                    );
                    offset
                }
                // No record at or after the time: the end.
                Start::Time(_) => match by_time
                    .as_ref()
                    .and_then(|list| list.find_partition(topic, partition))
                    .map(|p| p.offset())
                {
                    Some(Offset::Offset(offset)) => offset.max(low),
                    _ => high,
                },
            };
            assignment.add_partition_offset(topic, partition, Offset::Offset(first))?;
            if high > first {
                unfinished.push((partition, high));
            }
        }
        consumer.assign(&assignment)?;
        Ok(Self {
            consumer,
            unfinished,
            follow,
        })
    }

    /// The next record; None once every partition is read to its end (never, following).
    pub async fn next(&mut self) -> anyhow::Result<Option<BorrowedMessage<'_>>> {
        if !self.follow && self.unfinished.is_empty() {
            return Ok(None);
        }
        let message = self.consumer.recv().await.context("reading the topic")?;
        let (partition, offset) = (message.partition(), message.offset());
        self.unfinished
            .retain(|&(p, end)| !(p == partition && offset + 1 >= end));
        Ok(Some(message))
    }
}
