//! Events into deliveries: the dispatcher's consumer group reads `orders.events` in batches
//! and hands the scheduler one delivery per (event, subscribed endpoint) — except those whose
//! row exists already (the batch consumed again after a crash: delivered or pending, they are
//! not sent twice), and, marked to be written as pending, those behind a pending delivery of
//! their order. The scheduler commits the offsets once every delivery of an event is recorded.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::dispatch::{Input, Item, MAX_UNRECORDED, Mark};
use super::{Data, Payload, event_type};
use crate::codec::{Codec, Subject};
use crate::kafka::KafkaSettings;
use crate::store::Store;
use crate::store::postgres::NewDelivery;

/// An endpoint subscribed to a storefront's events: id, storefront, types, last change.
type Subscribed = (Uuid, String, Vec<String>, DateTime<Utc>);

/// Most events read as one batch.
const BATCH_MAX: usize = 500;
/// How long a batch waits for more events after its first.
const BATCH_LINGER: Duration = Duration::from_millis(5);
/// Larger payloads carry the order id and version but not the event: the receiver reads it
/// from `GET /v1/orders/{id}/events`.
pub const MAX_PAYLOAD: usize = 256 * 1024;

pub struct Fanout {
    pub consumer: Arc<StreamConsumer>,
    pub store: Store,
    pub codec: Codec,
    pub scheduler: mpsc::Sender<Input>,
    /// Permits for deliveries handed on and not yet recorded.
    pub unrecorded: Arc<Semaphore>,
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
                // Fewer, larger fetches: under load the broker spent a core answering small
                // ones. An event that arrives alone waits at most 50 ms for company.
                ("fetch.min.bytes", "262144"),
                ("fetch.wait.max.ms", "50"),
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
                m = self.consumer.recv() => m,
            };
            // A consumer error (the broker away, a rebalance) is librdkafka's to recover
            // from; it is logged, and reading goes on.
            let first = match first {
                Ok(m) => m.detach(),
                Err(error) => {
                    tracing::warn!(%error, "reading the events topic failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match tokio::time::timeout(BATCH_LINGER, self.consumer.recv()).await {
                    Ok(Ok(m)) => batch.push(m.detach()),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "reading the events topic failed");
                        break;
                    }
                    Err(_) => break,
                }
            }
            let Some(mut input) = self.deliveries(&batch, &shutdown).await else {
                return Ok(());
            };
            let Input::Batch {
                fresh,
                behind,
                unpermitted,
                ..
            } = &mut input
            else {
                unreachable!("a batch")
            };
            let total = fresh.len() + behind.len();
            *unpermitted = total.saturating_sub(MAX_UNRECORDED);
            let n = u32::try_from(total - *unpermitted).unwrap_or(u32::MAX);
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                permits = self.unrecorded.acquire_many(n) => permits?.forget(),
            }
            metrics::counter!("orderflow_webhook_deliveries_created_total").increment(total as u64);
            if self.scheduler.send(input).await.is_err() {
                return Ok(());
            }
        }
    }

    /// The deliveries of `batch`'s events to the endpoints subscribed to them now; None when
    /// stopping while PostgreSQL was away.
    async fn deliveries(
        &self,
        batch: &[OwnedMessage],
        shutdown: &CancellationToken,
    ) -> Option<Input> {
        let mut notifications = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        for message in batch {
            let mark = Mark {
                partition: message.partition(),
                offset: message.offset(),
            };
            let notification = match message.payload() {
                None => None,
                Some(bytes) => match self.decode(bytes, shutdown).await? {
                    Ok(json) => {
                        let n = Notification::of(&json, message.offset());
                        if n.is_none() {
                            undeliverable(message, "the event lacks an id, order or type");
                        }
                        n
                    }
                    Err(error) => {
                        undeliverable(message, &error.to_string());
                        None
                    }
                },
            };
            notifications.push((mark, notification));
        }
        let mut storefronts: Vec<&str> = notifications
            .iter()
            .filter_map(|(_, n)| n.as_ref().map(|n| n.storefront.as_str()))
            .collect();
        storefronts.sort_unstable();
        storefronts.dedup();
        let endpoints = if storefronts.is_empty() {
            Vec::new()
        } else {
            retry_db(shutdown, || {
                self.store.subscribed_webhook_endpoints(&storefronts)
            })
            .await?
        };
        let mut by_storefront: HashMap<&str, Vec<&Subscribed>> = HashMap::new();
        for endpoint in &endpoints {
            by_storefront
                .entry(endpoint.1.as_str())
                .or_default()
                .push(endpoint);
        }
        // Every (event, endpoint) it goes to.
        let mut pairs = Vec::new();
        for (mark, n) in &notifications {
            let Some(n) = n else {
                events.push((*mark, 0));
                continue;
            };
            let subscribed = by_storefront.get(n.storefront.as_str());
            let mut count = 0;
            for (endpoint_id, _, types, updated_at) in subscribed.into_iter().flatten() {
                if types.is_empty() || types.iter().any(|t| t == n.kind) {
                    pairs.push((*mark, n, *endpoint_id, *updated_at));
                    count += 1;
                }
            }
            events.push((*mark, count));
        }
        let (known, pending) = if pairs.is_empty() {
            (HashSet::new(), HashSet::new())
        } else {
            let by_event: Vec<(Uuid, Uuid)> = pairs.iter().map(|p| (p.2, p.1.event_id)).collect();
            let by_order: Vec<(Uuid, Uuid)> = pairs.iter().map(|p| (p.2, p.1.order_id)).collect();
            let known =
                retry_db(shutdown, || self.store.known_webhook_deliveries(&by_event)).await?;
            let pending =
                retry_db(shutdown, || self.store.pending_webhook_orders(&by_order)).await?;
            (
                known.into_iter().collect::<HashSet<_>>(),
                pending.into_iter().collect::<HashSet<_>>(),
            )
        };
        let (mut fresh, mut behind) = (Vec::new(), Vec::new());
        for (mark, n, endpoint_id, updated_at) in pairs {
            let row = NewDelivery {
                delivery_id: Uuid::now_v7(),
                endpoint_id,
                event_id: n.event_id,
                event_type: n.kind.to_owned(),
                order_id: Some(n.order_id),
                sequence: n.sequence,
                occurred_at: n.occurred_at,
                payload: None,
            };
            if known.contains(&(endpoint_id, n.event_id)) {
                // Written by a run before this one: recorded already, nothing to send.
                if let Some(e) = events.iter_mut().find(|(m, _)| *m == mark) {
                    e.1 -= 1;
                }
            } else if pending.contains(&(endpoint_id, n.order_id)) {
                behind.push((row, mark));
            } else {
                fresh.push(Item {
                    delivery_id: row.delivery_id,
                    endpoint_id,
                    event_id: n.event_id,
                    order_id: Some(n.order_id),
                    body: n.payload.clone(),
                    step: 0,
                    endpoint_updated_at: updated_at,
                    fresh: Some((row, mark)),
                });
            }
        }
        Some(Input::Batch {
            fresh,
            behind,
            events,
            unpermitted: 0,
        })
    }

    /// An event as JSON; a registry that does not answer is waited for (the event is not
    /// skipped), None only when stopping meanwhile.
    async fn decode(
        &self,
        bytes: &[u8],
        shutdown: &CancellationToken,
    ) -> Option<Result<Value, crate::codec::DecodeError>> {
        let mut wait = Duration::from_millis(100);
        loop {
            match self.codec.decode_json(Subject::Event, bytes).await {
                Err(error) if error.is_transient() => {
                    tracing::warn!(%error, "decoding an event failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return None,
                        () = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                decoded => return Some(decoded),
            }
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
    payload: Bytes,
}

/// The webhook body of an event as `Codec::decode_json` shows it (the retry path builds the
/// bodies of pending deliveries with it).
pub fn body_of(event: &Value) -> Option<Bytes> {
    Notification::of(event, 0).map(|n| n.payload)
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
            payload: payload.into(),
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

/// Runs `query` until PostgreSQL answers; None if stopping first.
async fn retry_db<T, F, Fut>(shutdown: &CancellationToken, query: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = sqlx::Result<T>>,
{
    let mut wait = Duration::from_millis(100);
    loop {
        match query().await {
            Ok(value) => return Some(value),
            Err(error) => {
                tracing::warn!(%error, "reading webhook state failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(wait) => {}
                }
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
