//! Events into deliveries: the dispatcher's consumer group reads `orders.events` in batches,
//! writes one delivery per (event, subscribed endpoint) to PostgreSQL, and only then commits
//! the batch's offsets. A crash in between consumes the batch again, and the deliveries it
//! already wrote are kept as they are (unique per endpoint and event): none is lost, none
//! doubled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Data, Payload, event_type};
use crate::codec::{Codec, Subject};
use crate::kafka::KafkaSettings;
use crate::store::Store;
use crate::store::postgres::NewDelivery;

/// Most events fanned out as one insert.
const BATCH_MAX: usize = 500;
/// How long a batch waits for more events after its first.
const BATCH_LINGER: Duration = Duration::from_millis(5);
/// Larger payloads carry the order id and version but not the event: the receiver reads it
/// from `GET /v1/orders/{id}/events`.
pub const MAX_PAYLOAD: usize = 256 * 1024;

pub struct Fanout {
    pub consumer: StreamConsumer,
    pub topic: String,
    pub store: Store,
    pub codec: Codec,
    /// Notified when new deliveries are due, so the dispatcher claims them at once.
    pub due: Arc<Notify>,
}

impl Fanout {
    pub fn consumer(
        settings: &KafkaSettings,
        group: &str,
        topic: &str,
    ) -> anyhow::Result<StreamConsumer> {
        let consumer: StreamConsumer = settings
            .client_config(&[
                ("group.id", group),
                ("enable.auto.commit", "false"),
                ("auto.offset.reset", "earliest"),
            ])
            .create()
            .context("creating the webhooks consumer")?;
        consumer
            .subscribe(&[topic])
            .context("subscribing to the events topic")?;
        Ok(consumer)
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                m = self.consumer.recv() => m.context("reading the events topic")?.detach(),
            };
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match tokio::time::timeout(BATCH_LINGER, self.consumer.recv()).await {
                    Ok(m) => batch.push(m.context("reading the events topic")?.detach()),
                    Err(_) => break,
                }
            }
            let deliveries = self.deliveries(&batch).await;
            if self.insert(&deliveries, &shutdown).await.is_err() {
                return Ok(());
            }
            if !deliveries.is_empty() {
                self.due.notify_one();
            }
            self.commit(&batch);
        }
    }

    /// The deliveries of `batch`'s events to the endpoints subscribed to them, now.
    async fn deliveries(&self, batch: &[OwnedMessage]) -> Vec<NewDelivery> {
        let mut events = Vec::with_capacity(batch.len());
        for message in batch {
            let Some(bytes) = message.payload() else {
                continue;
            };
            match self.codec.decode_json(Subject::Event, bytes).await {
                Ok(json) => match Notification::of(&json, message.offset()) {
                    Some(n) => events.push(n),
                    None => undeliverable(message, "the event lacks an id, order or type"),
                },
                Err(error) => undeliverable(message, &error.to_string()),
            }
        }
        if events.is_empty() {
            return Vec::new();
        }
        let mut storefronts: Vec<&str> = events.iter().map(|e| e.storefront.as_str()).collect();
        storefronts.sort_unstable();
        storefronts.dedup();
        let endpoints = retry_db(|| self.store.subscribed_webhook_endpoints(&storefronts)).await;
        let mut by_storefront: HashMap<&str, Vec<(Uuid, &[String])>> = HashMap::new();
        for (id, storefront, types) in &endpoints {
            by_storefront
                .entry(storefront.as_str())
                .or_default()
                .push((*id, types.as_slice()));
        }
        let mut deliveries = Vec::new();
        for event in events {
            let Some(subscribed) = by_storefront.get(event.storefront.as_str()) else {
                continue;
            };
            for (endpoint_id, types) in subscribed {
                if types.is_empty() || types.iter().any(|t| t == event.kind) {
                    deliveries.push(NewDelivery {
                        delivery_id: Uuid::now_v7(),
                        endpoint_id: *endpoint_id,
                        event_id: event.event_id,
                        event_type: event.kind.to_owned(),
                        order_id: Some(event.order_id),
                        sequence: event.sequence,
                        occurred_at: event.occurred_at,
                        payload: event.payload.clone(),
                    });
                }
            }
        }
        deliveries
    }

    /// Inserts until PostgreSQL takes it; Err only when stopping first.
    async fn insert(
        &self,
        deliveries: &[NewDelivery],
        shutdown: &CancellationToken,
    ) -> Result<(), ()> {
        let mut wait = Duration::from_millis(100);
        loop {
            match self.store.insert_webhook_deliveries(deliveries).await {
                Ok(new) => {
                    metrics::counter!("orderflow_webhook_deliveries_created_total").increment(new);
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!(%error, "writing webhook deliveries failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return Err(()),
                        () = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn commit(&self, batch: &[OwnedMessage]) {
        let mut next: HashMap<i32, i64> = HashMap::new();
        for m in batch {
            let entry = next.entry(m.partition()).or_default();
            *entry = (*entry).max(m.offset() + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in next {
            let _ = tpl.add_partition_offset(&self.topic, partition, Offset::Offset(offset));
        }
        // A partition revoked meanwhile fails to commit: its new owner consumes the batch
        // again, and finds its deliveries written.
        if let Err(error) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(%error, "committing webhook offsets failed");
        }
    }
}

/// An event as a webhook: its id, order, type, sequence and signed body.
struct Notification {
    event_id: Uuid,
    order_id: Uuid,
    storefront: String,
    kind: &'static str,
    sequence: i64,
    occurred_at: DateTime<Utc>,
    payload: Vec<u8>,
}

impl Notification {
    /// From an event as `Codec::decode_json` shows it.
    fn of(event: &Value, offset: i64) -> Option<Self> {
        let uuid = |field: &str| event.get(field)?.as_str()?.parse::<Uuid>().ok();
        let (event_id, order_id) = (uuid("event_id")?, uuid("order_id")?);
        let storefront = event.get("storefront_id")?.as_str()?.to_owned();
        let version = event.get("version")?.as_u64()?;
        let occurred_at: DateTime<Utc> = event.get("occurred_at")?.as_str()?.parse().ok()?;
        let branch = event.get("payload")?.as_object()?.keys().next()?;
        let kind = event_type(branch)?;
        let body = |event: &Value| {
            serde_json::to_vec(&Payload {
                kind,
                timestamp: occurred_at,
                data: Data::Order {
                    order_id,
                    version,
                    event,
                },
            })
            .expect("JSON values serialize")
        };
        let mut payload = body(event);
        if payload.len() > MAX_PAYLOAD {
            let omitted = serde_json::json!({
                "event_id": event_id,
                "omitted": format!(
                    "the event is larger than {MAX_PAYLOAD} bytes: read it from GET /v1/orders/{order_id}/events"
                ),
            });
            payload = body(&omitted);
        }
        Some(Self {
            event_id,
            order_id,
            storefront,
            kind,
            sequence: offset,
            occurred_at,
            payload,
        })
    }
}

fn undeliverable(message: &OwnedMessage, why: &str) {
    metrics::counter!("orderflow_webhook_events_undeliverable_total").increment(1);
    tracing::error!(
        partition = message.partition(),
        offset = message.offset(),
        why,
        "an event on the events topic cannot be delivered as a webhook; skipped"
    );
}

/// Runs `query` until PostgreSQL answers.
async fn retry_db<T, F, Fut>(query: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = sqlx::Result<T>>,
{
    let mut wait = Duration::from_millis(100);
    loop {
        match query().await {
            Ok(value) => return value,
            Err(error) => {
                tracing::warn!(%error, "reading webhook endpoints failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_becomes_a_type_timestamp_data_payload() {
        let event = serde_json::json!({
            "event_id": "0b9f7c1e-0000-4000-8000-000000000001",
            "order_id": "0b9f7c1e-0000-4000-8000-0000000000aa",
            "storefront_id": "shop",
            "version": 3,
            "causation_id": "0b9f7c1e-0000-4000-8000-0000000000cc",
            "occurred_at": "2026-12-03T10:00:00.000000Z",
            "payload": {"OrderConfirmed": {}},
        });
        let n = Notification::of(&event, 42).unwrap();
        assert_eq!(n.kind, "order.confirmed");
        assert_eq!(n.sequence, 42);
        let body: Value = serde_json::from_slice(&n.payload).unwrap();
        assert_eq!(body["type"], "order.confirmed");
        assert_eq!(body["timestamp"], "2026-12-03T10:00:00Z");
        assert_eq!(body["data"]["order_id"], event["order_id"]);
        assert_eq!(body["data"]["version"], 3);
        assert_eq!(body["data"]["event"], event);
    }

    #[test]
    fn an_oversized_event_is_sent_as_a_pointer_to_it() {
        let event = serde_json::json!({
            "event_id": "0b9f7c1e-0000-4000-8000-000000000001",
            "order_id": "0b9f7c1e-0000-4000-8000-0000000000aa",
            "storefront_id": "shop",
            "version": 1,
            "occurred_at": "2026-12-03T10:00:00Z",
            "payload": {"OrderCancelled": {"reason": "x".repeat(MAX_PAYLOAD)}},
        });
        let n = Notification::of(&event, 0).unwrap();
        assert!(n.payload.len() < 1024);
        let body: Value = serde_json::from_slice(&n.payload).unwrap();
        assert_eq!(body["data"]["version"], 1);
        assert!(
            body["data"]["event"]["omitted"]
                .as_str()
                .unwrap()
                .contains("/events")
        );
    }
}
