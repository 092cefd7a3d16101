//! Command payloads as they arrive, before any rule is checked: plain strings and numbers,
//! exactly what the wire carries (`validation` turns them into typed values).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A CreateOrder payload as it arrives, before any rule is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrderInput {
    pub customer_id: String,
    pub currency: String,
    pub items: Vec<LineItemInput>,
    pub shipping_address: AddressInput,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Shipping, tax, discount and fee on top of the line items (ORDER-MODEL.md "Totals").
    #[serde(default)]
    pub adjustments: Vec<AdjustmentInput>,
}

/// An order-level adjustment as it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentInput {
    pub kind: String,
    pub label: String,
    /// Minor units of the order's currency; a discount is negative.
    #[serde(deserialize_with = "integer")]
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItemInput {
    pub sku: String,
    #[serde(deserialize_with = "integer")]
    pub quantity: i64,
    /// Minor units of the order's currency.
    #[serde(deserialize_with = "integer")]
    pub unit_price: i64,
}

/// An integer as JSON Schema means it: `3` or `3.0` (a number without a fractional part).
/// Beyond 2⁵³ a number with a decimal point is not known exactly, so it is refused; every
/// limit of the model lies below that.
fn integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct Integer;
    impl serde::de::Visitor<'_> for Integer {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("integer out of range"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
            const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
            if v.fract() == 0.0 && v.abs() <= EXACT {
                #[allow(clippy::cast_possible_truncation)] // integral and within 2^53
                Ok(v as i64)
            } else {
                Err(E::invalid_type(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    deserializer.deserialize_i64(Integer)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

/// An UpdateOrder payload as it arrives: new items, a new address, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderUpdateInput {
    #[serde(default)]
    pub items: Option<Vec<LineItemInput>>,
    #[serde(default)]
    pub shipping_address: Option<AddressInput>,
    /// Replaces every adjustment (an empty list removes them); absent keeps them.
    #[serde(default)]
    pub adjustments: Option<Vec<AdjustmentInput>>,
}

/// Carrier and tracking number as they arrive (ShipOrder, UpdateShipping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingInput {
    pub carrier: String,
    pub tracking_number: String,
}

/// A RecordPayment payload as it arrives: one payment fact, named by its `transaction_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    pub transaction_id: String,
    /// authorization | capture | sale | void | refund
    pub kind: String,
    /// Minor units of the order's currency, > 0.
    #[serde(deserialize_with = "integer")]
    pub amount: i64,
    /// pending | succeeded | failed
    pub status: String,
    pub provider: String,
    #[serde(default)]
    pub provider_reference: Option<String>,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub return_id: Option<String>,
}

/// A SettlePayment payload as it arrives: where a pending transaction ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementInput {
    pub transaction_id: String,
    /// succeeded | failed
    pub status: String,
}

/// Units of one sku as they arrive (a fulfillment's or a return's line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitsInput {
    pub sku: String,
    #[serde(deserialize_with = "integer")]
    pub quantity: i64,
}

/// A CreateFulfillment payload: the client's id for the shipment and its units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FulfillmentInput {
    pub fulfillment_id: String,
    pub lines: Vec<UnitsInput>,
}

/// A RequestReturn payload: the client's id for the return, its units and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnInput {
    pub return_id: String,
    pub lines: Vec<UnitsInput>,
    pub reason: String,
}

/// The condition one returned sku arrived in, as it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionInput {
    pub sku: String,
    /// resellable | damaged
    pub condition: String,
}
