//! The retry path: pending deliveries in PostgreSQL whose next attempt is due (failed before,
//! written behind an earlier one of their order, retried or replayed by hand, or notices about
//! endpoints) are leased — of each (endpoint, order) only the earliest, and per endpoint only
//! as many as it can take now — and handed to the scheduler. Their bodies are built again from
//! the events' records in `order_events` (a notice keeps its own).

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::dispatch::{DispatchConfig, Input, Item, Load};
use super::fanout::body_of;
use crate::codec::{Codec, Subject};
use crate::store::Store;
use crate::store::postgres::ClaimedDelivery;

pub struct Retries {
    pub store: Store,
    pub codec: Codec,
    pub config: DispatchConfig,
    pub load: Arc<Load>,
    /// Notified when pending rows were written.
    pub due: Arc<Notify>,
    pub scheduler: mpsc::Sender<Input>,
}

impl Retries {
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let cap = self.config.max_in_flight;
        let mut more = false;
        loop {
            if !more {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = self.due.notified() => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                }
            }
            let free: Vec<(uuid::Uuid, i32)> = self
                .load
                .busy()
                .into_iter()
                .map(|(id, n)| (id, i32::try_from(cap.saturating_sub(n)).unwrap_or(0)))
                .collect();
            let cap_i32 = i32::try_from(cap).unwrap_or(i32::MAX);
            let claimed = match self
                .store
                .claim_webhook_deliveries(&free, cap_i32, self.config.lease())
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "leasing webhook deliveries failed");
                    more = false;
                    continue;
                }
            };
            more = claimed.len() >= cap;
            let mut items = Vec::with_capacity(claimed.len());
            for delivery in claimed {
                if let Some(item) = self.item(delivery).await {
                    items.push(item);
                }
            }
            if !items.is_empty() && self.scheduler.send(Input::Leased(items)).await.is_err() {
                return Ok(());
            }
            if more {
                // Let the scheduler start them before leasing more.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    }

    async fn item(&self, d: ClaimedDelivery) -> Option<Item> {
        let body = match (d.payload, d.event_record) {
            (Some(body), _) => Some(body.into()),
            (None, Some(record)) => match self.codec.decode_json(Subject::Event, &record).await {
                Ok(json) => body_of(&json),
                Err(error) => {
                    tracing::error!(delivery_id = %d.delivery_id, %error, "the event of a webhook delivery does not decode");
                    None
                }
            },
            (None, None) => None,
        };
        // Without a body the attempt fails (and is retried, then given up, on the schedule),
        // so its order's later deliveries are not held for ever.
        let body = body.unwrap_or_else(|| {
            metrics::counter!("orderflow_webhook_events_undeliverable_total").increment(1);
            tracing::error!(delivery_id = %d.delivery_id, event_id = %d.event_id,
                "a pending webhook delivery has no body and its event no record");
            axum::body::Bytes::new()
        });
        Some(Item {
            delivery_id: d.delivery_id,
            endpoint_id: d.endpoint_id,
            event_id: d.event_id,
            order_id: d.order_id,
            body,
            step: d.step,
            endpoint_updated_at: d.endpoint_updated_at,
            fresh: None,
        })
    }
}
