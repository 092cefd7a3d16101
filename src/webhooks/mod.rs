//! Webhooks to storefronts (ORDER-MODEL.md "Notifications"): endpoints a storefront registers,
//! and the dispatcher that delivers each event of `orders.events` to them, signed the Standard
//! Webhooks way, at least once and in version order per (endpoint, order).
//!
//! One file per job: `endpoints` (registering and changing endpoints, for the HTTP API and the
//! CLI), `secrets` (signing secrets and their sealing at rest), `address` (where a delivery may
//! go), `schedule` (when a failed delivery is tried again), `fanout` (events into deliveries),
//! `retry` (pending deliveries due again), `attempt` (one HTTP attempt and what its answer
//! means), `dispatch` (the scheduler: order per (endpoint, order), the per-endpoint limit,
//! recording every attempt, committing offsets).

pub mod address;
pub mod attempt;
pub mod dispatch;
pub mod endpoints;
pub mod fanout;
pub mod retry;
pub mod schedule;
pub mod secrets;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// The webhook type of each event (the `type` of the payload, and what an endpoint subscribes
/// to), by the event's name on `orders.events`.
pub const EVENT_TYPES: [(&str, &str); 18] = [
    ("OrderCreated", "order.created"),
    ("OrderUpdated", "order.updated"),
    ("OrderConfirmed", "order.confirmed"),
    ("OrderShipped", "order.shipped"),
    ("ShippingUpdated", "order.shipping_updated"),
    ("OrderDelivered", "order.delivered"),
    ("OrderCancelled", "order.cancelled"),
    ("OrderDeleted", "order.deleted"),
    ("PaymentRecorded", "order.payment_recorded"),
    ("PaymentSettled", "order.payment_settled"),
    ("FulfillmentCreated", "order.fulfillment_created"),
    ("FulfillmentShipped", "order.fulfillment_shipped"),
    ("FulfillmentDelivered", "order.fulfillment_delivered"),
    ("FulfillmentCancelled", "order.fulfillment_cancelled"),
    ("ReturnRequested", "order.return_requested"),
    ("ReturnReceived", "order.return_received"),
    ("ReturnCancelled", "order.return_cancelled"),
    ("CommandRejected", "order.command_rejected"),
];

/// Sent to a storefront's other endpoints when orderflow disables one (it answered 410, or
/// failed for too long).
pub const ENDPOINT_DISABLED: &str = "webhook.endpoint_disabled";

/// Every type an endpoint may subscribe to.
pub fn event_types() -> impl Iterator<Item = &'static str> {
    EVENT_TYPES
        .iter()
        .map(|(_, t)| *t)
        .chain(std::iter::once(ENDPOINT_DISABLED))
}

/// Whether an endpoint may subscribe to `name`.
pub fn is_event_type(name: &str) -> bool {
    event_types().any(|t| t == name)
}

/// The webhook type of the event named `kind` on `orders.events`.
pub fn event_type(kind: &str) -> Option<&'static str> {
    EVENT_TYPES
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, t)| *t)
}

/// What an endpoint receives: `{type, timestamp, data}`, the Standard Webhooks payload.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub timestamp: DateTime<Utc>,
    pub data: Data<'a>,
}

/// The payload's `data`: the order and its version, to drop stale events by, and the event as
/// `GET /v1/orders/{id}/events` shows it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Data<'a> {
    Order {
        order_id: Uuid,
        version: u64,
        event: &'a Value,
    },
    EndpointDisabled {
        endpoint_id: Uuid,
        url: &'a str,
        reason: &'a str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_on_the_topic_has_a_webhook_type() {
        for branch in orderflow_codec::avro::EVENT_BRANCHES {
            let kind = event_type(branch).unwrap_or_else(|| panic!("{branch} has no type"));
            assert!(is_event_type(kind));
        }
        assert!(is_event_type(ENDPOINT_DISABLED));
        assert!(!is_event_type("order.exploded"));
    }

    #[test]
    fn topology_md_lists_every_event_type() {
        let topology = include_str!("../../topology.md");
        for t in event_types() {
            assert!(
                topology.contains(&format!("`{t}`")),
                "topology.md does not list {t}"
            );
        }
    }
}
