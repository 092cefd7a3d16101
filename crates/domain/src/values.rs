//! The value types an order is made of — ids, bounded text, money, currency, address,
//! lines — and the rules for text every one of them shares.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
                bounded_text(value.into(), Self::MAX_LEN).map(Self)
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

/// `as_str` (the wire name) and `parse` of a field-less enum, over its `ALL`.
macro_rules! named {
    ($type:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }

            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }
    };
}
pub(crate) use named;

/// What an order-level adjustment is for (ORDER-MODEL.md "Totals"): the storefront states
/// it, orderflow keeps the arithmetic honest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentKind {
    Shipping,
    Tax,
    /// Negative or zero.
    Discount,
    Fee,
}

named!(AdjustmentKind {
    Shipping => "shipping",
    Tax => "tax",
    Discount => "discount",
    Fee => "fee",
});

/// An order-level amount added to the subtotal (a discount subtracts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    pub kind: AdjustmentKind,
    pub label: String,
    pub amount: Amount,
}

/// What a payment, fulfillment or return fact did to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The order changed.
    Applied,
    /// The same fact again: nothing changed.
    Duplicate,
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

/// `text` made safe to echo into a message, a header or a database row: control characters
/// (NUL among them, which PostgreSQL cannot store in text) written as escapes, and cut after
/// `max` characters with a note of how many more there were.
pub fn bounded_echo(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 2));
    let mut chars = text.chars();
    for c in chars.by_ref().take(max) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    let rest = chars.count();
    if rest > 0 {
        out.push_str(&format!("... ({rest} more characters)"));
    }
    out
}

/// 1..=max characters, no control characters, not only whitespace.
pub(super) fn bounded_text(value: String, max: usize) -> Result<String, String> {
    let len = value.chars().count();
    if value.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else if len > max {
        Err(format!("must be at most {max} characters, got {len}"))
    } else if value.chars().any(char::is_control) {
        Err("must not contain control characters".to_owned())
    } else {
        Ok(value)
    }
}
