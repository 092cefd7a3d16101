//! The order domain: every rule of an order, with no I/O.
//!
//! Values are parsed into types at the edge ([`NewOrder::parse`] and friends); the state
//! machine is the pure function [`handle`]; everything else in orderflow moves these types
//! around. Read `status.rs` for the life of an order and `decide.rs` for what each command does.

mod command;
mod decide;
mod event;
mod order;
mod rejection;
mod status;
pub mod validation;

pub use command::{Command, CommandBody, CommandId};
pub use decide::{
    Applied, Decision, PriorOutcome, belongs_to_another_storefront, decide, handle, rejected_event,
};
pub use event::{Event, EventBody, EventId};
pub use order::{
    Address, Amount, Currency, CustomerId, LineItem, Order, OrderId, ShippingInfo, Sku,
    StorefrontId,
};
pub use rejection::Rejection;
pub use status::OrderStatus;
pub use validation::{
    AddressInput, FieldError, LineItemInput, NewOrder, NewOrderInput, OrderUpdate,
    OrderUpdateInput, ShippingInput, ValidationErrors, bounded_echo, parse_cancel_reason,
};

#[cfg(any(test, feature = "samples"))]
pub mod samples;
#[cfg(test)]
mod tests;
