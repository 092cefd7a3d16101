//! The order domain: every rule of an order, with no I/O.
//!
//! Values are parsed into types at the edge ([`NewOrder::parse`] and friends); the state
//! machine is the pure function [`handle`]; everything else in orderflow moves these types
//! around. Read `status.rs` for the life of an order and `decide.rs` for what each command does.

// One way, each module importing only those above it:
// values → payments → fulfillments → input → validation → status → command → order → event → rejection →
// decide.
mod command;
mod decide;
mod event;
pub mod fulfillments;
mod input;
mod order;
pub mod payments;
mod rejection;
mod status;
pub mod validation;
mod values;

pub use command::{Command, CommandBody, CommandId};
pub use decide::{
    Applied, Decision, PriorOutcome, belongs_to_another_storefront, decide, handle, rejected_event,
};
pub use event::{Event, EventBody, EventId};
pub use fulfillments::{
    Condition, Fulfillment, FulfillmentRejection, FulfillmentState, FulfillmentStatus, Progress,
    Return, ReturnLine, ReturnState, ReturnStatus, Shipments, Units,
};
pub use input::{
    AddressInput, AdjustmentInput, ConditionInput, FulfillmentInput, LineItemInput, NewOrderInput,
    OrderUpdateInput, PaymentInput, ReturnInput, SettlementInput, ShippingInput, UnitsInput,
};
pub use order::Order;
pub use payments::{
    PaymentKind, PaymentLedger, PaymentRejection, PaymentState, PaymentStatus, PaymentSummary,
    Transaction,
};
pub use rejection::Rejection;
pub use status::OrderStatus;
pub use validation::{
    FieldError, NewOrder, OrderUpdate, ValidationErrors, order_total, parse_cancel_reason,
    parse_fact_id, parse_fulfillment, parse_payment, parse_receipt, parse_return, parse_settlement,
};
pub use values::{
    Address, Adjustment, AdjustmentKind, Amount, Currency, CustomerId, LineItem, OrderId,
    ShippingInfo, Sku, StorefrontId, bounded_echo,
};

#[cfg(any(test, feature = "samples"))]
pub mod samples;
#[cfg(test)]
mod tests;
