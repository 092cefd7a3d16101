//! Why a fulfillment or return fact is refused: one variant per rule, each with its code.

use super::MAX_FULFILLMENTS;

/// A fulfillment or return fact that breaks a rule; each code is in topology.md.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FulfillmentRejection {
    #[error("{0:?} was recorded with other content")]
    ConflictingFact(String),
    #[error("no fulfillment {0:?} on this order")]
    UnknownFulfillment(String),
    #[error("no return {0:?} on this order")]
    UnknownReturn(String),
    #[error("{0} is not a line of this order")]
    UnknownSku(String),
    #[error("{sku}: {wanted} units would be fulfilled, {ordered} are ordered")]
    ExceedsOrdered {
        sku: String,
        wanted: u64,
        ordered: u64,
    },
    #[error("{sku}: {wanted} units would be returned, {delivered} are delivered")]
    ExceedsDelivered {
        sku: String,
        wanted: u64,
        delivered: u64,
    },
    #[error("fulfillment {id:?} is {status}, not {wanted}")]
    FulfillmentNotInState {
        id: String,
        status: &'static str,
        wanted: &'static str,
    },
    #[error("return {id:?} is {status}, not requested")]
    ReturnNotRequested { id: String, status: &'static str },
    #[error("units of the order are shipped: it cannot be cancelled (a return is the way back)")]
    UnitsShipped,
    #[error("a return's receipt names every line once, with its condition")]
    ConditionsMismatch,
    #[error("an order holds at most {MAX_FULFILLMENTS} fulfillments and as many returns")]
    TooMany,
}

impl FulfillmentRejection {
    pub const CODES: [&'static str; 11] = [
        "conflicting_fact",
        "unknown_fulfillment",
        "unknown_return",
        "unknown_sku",
        "exceeds_ordered",
        "exceeds_delivered",
        "fulfillment_not_in_state",
        "return_not_requested",
        "units_shipped",
        "conditions_mismatch",
        "too_many",
    ];

    pub fn code(&self) -> &'static str {
        match self {
            Self::ConflictingFact(_) => "conflicting_fact",
            Self::UnknownFulfillment(_) => "unknown_fulfillment",
            Self::UnknownReturn(_) => "unknown_return",
            Self::UnknownSku(_) => "unknown_sku",
            Self::ExceedsOrdered { .. } => "exceeds_ordered",
            Self::ExceedsDelivered { .. } => "exceeds_delivered",
            Self::FulfillmentNotInState { .. } => "fulfillment_not_in_state",
            Self::ReturnNotRequested { .. } => "return_not_requested",
            Self::UnitsShipped => "units_shipped",
            Self::ConditionsMismatch => "conditions_mismatch",
            Self::TooMany => "too_many",
        }
    }
}
