//! Events: what happened to an order. Carried on `orders.events`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::command::{Command, CommandId};
use super::fulfillments::{Fulfillment, Progress, Return, ReturnLine};
use super::order::Order;
use super::payments::{PaymentState, PaymentSummary, Transaction};
use super::status::OrderStatus;
use super::values::{Address, Adjustment, Amount, LineItem, OrderId, ShippingInfo, StorefrontId};

/// Namespace of event ids: an event id is UUIDv5(namespace, causing command id), so a
/// re-published event carries the same id and consumers can deduplicate on it.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_7266_6c6f_7700_0000_0000_0001);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    pub fn caused_by(command_id: CommandId) -> Self {
        Self(Uuid::new_v5(&EVENT_ID_NAMESPACE, command_id.0.as_bytes()))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The envelope every event travels in.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: EventId,
    pub order_id: OrderId,
    pub storefront_id: StorefrontId,
    /// The order's version after this event.
    pub version: u64,
    /// The command that caused this event.
    pub causation_id: CommandId,
    pub occurred_at: DateTime<Utc>,
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    OrderCreated(Box<Order>),
    OrderUpdated {
        items: Vec<LineItem>,
        subtotal: Amount,
        adjustments: Vec<Adjustment>,
        total: Amount,
        shipping_address: Address,
        /// What the new total makes of the payments.
        payment: PaymentSummary,
    },
    OrderConfirmed,
    OrderShipped(ShippingInfo),
    ShippingUpdated(ShippingInfo),
    OrderDelivered,
    OrderCancelled {
        reason: String,
    },
    OrderDeleted,
    /// A payment transaction was recorded; `payment` is the order's summary after it.
    PaymentRecorded {
        transaction: Transaction,
        payment: PaymentSummary,
    },
    /// A pending transaction settled; `payment` is the order's summary after it.
    PaymentSettled {
        transaction_id: String,
        status: PaymentState,
        payment: PaymentSummary,
    },
    /// A fulfillment was created (pending); `progress` is the order's after it.
    FulfillmentCreated {
        fulfillment: Fulfillment,
        progress: Progress,
    },
    /// A fulfillment shipped; `status` is the order's after it (shipped once every unit is).
    FulfillmentShipped {
        fulfillment_id: String,
        shipping: ShippingInfo,
        status: OrderStatus,
        progress: Progress,
    },
    /// A fulfillment was delivered (the order is delivered once every unit is).
    FulfillmentDelivered {
        fulfillment_id: String,
        status: OrderStatus,
        progress: Progress,
    },
    FulfillmentCancelled {
        fulfillment_id: String,
        progress: Progress,
    },
    ReturnRequested {
        ret: Return,
        progress: Progress,
    },
    /// A return arrived; `lines` carry each sku's condition.
    ReturnReceived {
        return_id: String,
        lines: Vec<ReturnLine>,
        progress: Progress,
    },
    ReturnCancelled {
        return_id: String,
        progress: Progress,
    },
    /// A command was refused; the order did not change (`version` is its current one).
    CommandRejected {
        command_type: String,
        code: String,
        message: String,
    },
}

impl EventBody {
    /// The event's name as it appears in logs, the event table and the Avro union.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::OrderCreated(_) => "OrderCreated",
            EventBody::OrderUpdated { .. } => "OrderUpdated",
            EventBody::OrderConfirmed => "OrderConfirmed",
            EventBody::OrderShipped(_) => "OrderShipped",
            EventBody::ShippingUpdated(_) => "ShippingUpdated",
            EventBody::OrderDelivered => "OrderDelivered",
            EventBody::OrderCancelled { .. } => "OrderCancelled",
            EventBody::OrderDeleted => "OrderDeleted",
            EventBody::PaymentRecorded { .. } => "PaymentRecorded",
            EventBody::PaymentSettled { .. } => "PaymentSettled",
            EventBody::FulfillmentCreated { .. } => "FulfillmentCreated",
            EventBody::FulfillmentShipped { .. } => "FulfillmentShipped",
            EventBody::FulfillmentDelivered { .. } => "FulfillmentDelivered",
            EventBody::FulfillmentCancelled { .. } => "FulfillmentCancelled",
            EventBody::ReturnRequested { .. } => "ReturnRequested",
            EventBody::ReturnReceived { .. } => "ReturnReceived",
            EventBody::ReturnCancelled { .. } => "ReturnCancelled",
            EventBody::CommandRejected { .. } => "CommandRejected",
        }
    }
}

impl Event {
    /// The event `command` caused, for an order now at `version`.
    pub(super) fn caused_by(command: &Command, version: u64, body: EventBody) -> Self {
        Event {
            event_id: EventId::caused_by(command.command_id),
            order_id: command.order_id,
            storefront_id: command.storefront_id.clone(),
            version,
            causation_id: command.command_id,
            occurred_at: command.issued_at,
            body,
        }
    }
}
