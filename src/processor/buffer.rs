//! The records polled ahead of the batch that handles them, and the pause that bounds them.

use rdkafka::consumer::{Consumer, StreamConsumer};

use super::Record;
use super::rebalance::ProcessorContext;
use crate::metrics;

/// Records polled ahead of the batch that handles them. Polling never stops (rebalances
/// must be served), but a full buffer pauses the assignment, and only a buffer drained to
/// half resumes it: each pause drops librdkafka's prefetched records, so pausing and resuming
/// every batch would refetch them every time and starve the broker of time for our produces.
pub(super) struct Buffer {
    pub(super) records: Vec<Record>,
    pub(super) capacity: usize,
    pub(super) paused: bool,
}

impl Buffer {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            records: Vec::new(),
            capacity,
            paused: false,
        }
    }

    pub(super) fn push(&mut self, consumer: &StreamConsumer<ProcessorContext>, record: Record) {
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
    pub(super) fn resume_if_drained(&mut self, consumer: &StreamConsumer<ProcessorContext>) {
        if self.paused && self.records.len() <= self.capacity / 2 {
            match consumer.assignment().and_then(|a| consumer.resume(&a)) {
                Ok(()) => self.paused = false,
                Err(error) => tracing::warn!(%error, "resuming the assignment"),
            }
        }
    }

    pub(super) fn take(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }

    pub(super) fn put_back(&mut self, rest: Vec<Record>) {
        self.records = rest;
    }
}
