//! The Order aggregate: what every reader sees, and how a valid CreateOrder makes one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::command::Command;
use super::fulfillments::{Fulfillment, FulfillmentState, Progress, Return, Shipments, Units};
use super::payments::{PaymentLedger, PaymentRejection, PaymentSummary};
use super::status::OrderStatus;
use super::validation::NewOrder;
use super::values::{
    Address, Adjustment, Amount, Currency, CustomerId, LineItem, OrderId, ShippingInfo,
    StorefrontId,
};

/// The order as every reader sees it (GET response, cache value, state snapshot).
///
/// `payment` is derived from `payments` and `total` (ORDER-MODEL.md "Principles"): it is
/// written out for readers, and recomputed, never read back, whenever an order is read
/// (`Deserialize` goes through [`StoredOrder`]) or changed ([`Order::derive`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredOrder")]
pub struct Order {
    pub order_id: OrderId,
    pub storefront_id: StorefrontId,
    pub customer_id: CustomerId,
    pub status: OrderStatus,
    pub currency: Currency,
    pub items: Vec<LineItem>,
    /// Σ line totals.
    pub subtotal: Amount,
    /// Shipping, tax, discount and fee on top of the lines.
    pub adjustments: Vec<Adjustment>,
    /// `subtotal + Σ adjustments`.
    pub total: Amount,
    pub shipping_address: Address,
    pub shipping: Option<ShippingInfo>,
    pub metadata: BTreeMap<String, String>,
    /// The payment transactions, in the order they were recorded.
    pub payments: PaymentLedger,
    /// Derived from `payments`: authorized, captured, refunded, balance_due, refund_due,
    /// payment_status.
    #[serde(flatten)]
    pub payment: PaymentSummary,
    /// The fulfillments (several shipments) and returns, in the order they were created.
    #[serde(flatten)]
    pub shipments: Shipments,
    /// Derived from `shipments` (and the refunds that name a return): fulfillment_status,
    /// return_status.
    #[serde(flatten)]
    pub progress: Progress,
    /// Per-order sequence: 1 after creation, +1 per applied command.
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// The order a valid CreateOrder makes; times come from the command, so replays agree.
    pub(super) fn create(command: &Command, new: NewOrder) -> Self {
        Order {
            order_id: command.order_id,
            storefront_id: command.storefront_id.clone(),
            customer_id: new.customer_id,
            status: OrderStatus::Pending,
            currency: new.currency,
            subtotal: new.subtotal,
            adjustments: new.adjustments,
            total: new.total,
            items: new.items,
            shipping_address: new.shipping_address,
            shipping: None,
            metadata: new.metadata,
            payments: PaymentLedger::default(),
            payment: PaymentSummary::unpaid(new.total),
            shipments: Shipments::default(),
            progress: Progress::NONE,
            version: 1,
            created_at: command.issued_at,
            updated_at: command.issued_at,
        }
    }

    /// Recomputes what is derived (`payment`, `progress`) from the facts; call after
    /// changing them. An order shipped before fulfillments existed (read from an older body or
    /// snapshot) is given the one fulfillment of everything that ShipOrder now makes, id
    /// `legacy`, so that its fulfillment status says what its status does.
    pub fn derive(&mut self) -> Result<(), PaymentRejection> {
        self.payment = self
            .payments
            .summary(self.total, self.status == OrderStatus::Cancelled)?;
        let shipped = match self.status {
            OrderStatus::Shipped => Some(FulfillmentState::Shipped),
            OrderStatus::Delivered => Some(FulfillmentState::Delivered),
            _ => None,
        };
        if let Some(status) = shipped
            && self.shipments.fulfillments.is_empty()
        {
            self.shipments.fulfillments.push(Fulfillment {
                fulfillment_id: "legacy".to_owned(),
                lines: self.shipments.unfulfilled(&self.items),
                status,
                shipping: self.shipping.clone(),
            });
        }
        let ledger = &self.payments;
        self.progress = Progress {
            fulfillment_status: self.shipments.fulfillment_status(&self.items),
            return_status: self
                .shipments
                .return_status(&self.items, |id| ledger.refunded_for(id)),
        };
        Ok(())
    }

    /// Every unit of the order not yet in a fulfillment that is not cancelled.
    pub fn unfulfilled(&self) -> Vec<Units> {
        self.shipments.unfulfilled(&self.items)
    }
}

/// An order as stored (JSON body, cache value): every fact of [`Order`]; what is derived is
/// ignored and recomputed. Orders written before adjustments and payments read with none.
#[derive(Deserialize)]
struct StoredOrder {
    order_id: OrderId,
    storefront_id: StorefrontId,
    customer_id: CustomerId,
    status: OrderStatus,
    currency: Currency,
    items: Vec<LineItem>,
    subtotal: Amount,
    #[serde(default)]
    adjustments: Vec<Adjustment>,
    total: Amount,
    shipping_address: Address,
    shipping: Option<ShippingInfo>,
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    payments: PaymentLedger,
    #[serde(default)]
    fulfillments: Vec<Fulfillment>,
    #[serde(default)]
    returns: Vec<Return>,
    version: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<StoredOrder> for Order {
    type Error = PaymentRejection;

    fn try_from(s: StoredOrder) -> Result<Self, PaymentRejection> {
        let mut order = Order {
            order_id: s.order_id,
            storefront_id: s.storefront_id,
            customer_id: s.customer_id,
            status: s.status,
            currency: s.currency,
            items: s.items,
            subtotal: s.subtotal,
            adjustments: s.adjustments,
            payment: PaymentSummary::unpaid(s.total),
            total: s.total,
            shipping_address: s.shipping_address,
            shipping: s.shipping,
            metadata: s.metadata,
            payments: s.payments,
            shipments: Shipments {
                fulfillments: s.fulfillments,
                returns: s.returns,
            },
            progress: Progress::NONE,
            version: s.version,
            created_at: s.created_at,
            updated_at: s.updated_at,
        };
        order.derive()?;
        Ok(order)
    }
}
