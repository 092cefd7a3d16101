//! The Order aggregate: what every reader sees, and how a valid CreateOrder makes one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::command::Command;
use super::status::OrderStatus;
use super::validation::NewOrder;
use super::values::{
    Address, Amount, Currency, CustomerId, LineItem, OrderId, ShippingInfo, StorefrontId,
};

/// The order as every reader sees it (GET response, cache value, state snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub storefront_id: StorefrontId,
    pub customer_id: CustomerId,
    pub status: OrderStatus,
    pub currency: Currency,
    pub items: Vec<LineItem>,
    pub subtotal: Amount,
    pub total: Amount,
    pub shipping_address: Address,
    pub shipping: Option<ShippingInfo>,
    pub metadata: BTreeMap<String, String>,
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
            total: new.subtotal,
            items: new.items,
            shipping_address: new.shipping_address,
            shipping: None,
            metadata: new.metadata,
            version: 1,
            created_at: command.issued_at,
            updated_at: command.issued_at,
        }
    }
}
