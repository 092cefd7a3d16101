//! The Order aggregate and the value types it is made of.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::command::Command;
use super::status::OrderStatus;
use super::validation::NewOrder;

/// An order's identity; also the Kafka record key (canonical UUID string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub Uuid);

impl OrderId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! bounded_string {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in characters.
            pub const MAX_LEN: usize = $max;

            /// Accepts 1..=MAX_LEN characters, none of them control characters.
            pub fn parse(value: impl Into<String>) -> Result<Self, String> {
                super::validation::bounded_text(value.into(), Self::MAX_LEN).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bounded_string!(
    /// The tenant an order belongs to; comes from the caller's credentials.
    StorefrontId,
    64
);
bounded_string!(
    /// The storefront's own id for the customer.
    CustomerId,
    128
);
bounded_string!(
    /// Stock-keeping unit of a line item.
    Sku,
    64
);

impl StorefrontId {
    /// The storefront of unauthenticated local runs.
    pub fn default_storefront() -> Self {
        Self("default".to_owned())
    }
}

/// Money in integer minor units of the order's currency (cents for EUR, yen for JPY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(pub i64);

/// An ISO 4217 currency that has minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, String> {
        match iso_currency::Currency::from_code(code) {
            Some(c) if c.exponent().is_some() => Ok(Self(c)),
            Some(_) => Err(format!("{code} is not a currency with minor units")),
            None => Err(format!("{code:?} is not an ISO 4217 currency code")),
        }
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Every code `parse` accepts.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        <iso_currency::Currency as iso_currency::IntoEnumIterator>::iter()
            .filter(|c| c.exponent().is_some())
            .map(|c| c.code())
    }

    /// Digits after the decimal point of the minor unit (2 for EUR, 0 for JPY).
    pub fn minor_unit_exponent(&self) -> u16 {
        self.0.exponent().unwrap_or(0)
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(code: String) -> Result<Self, String> {
        Self::parse(&code)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}

/// One product line; `line_total` is ours, computed with checked arithmetic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price: Amount,
    pub line_total: Amount,
}

/// Where an order ships to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// How an order ships, once it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingInfo {
    pub carrier: String,
    pub tracking_number: String,
}

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
