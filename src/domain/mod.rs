//! The order domain: every rule of an order, with no I/O.
//!
//! Values are parsed into types at the edge ([`NewOrder::parse`]); the state machine is the
//! pure function [`decide`]; everything else in orderflow moves these types around.

mod command;
mod event;
mod order;
mod validation;

pub use command::{Command, CommandBody, CommandId};
pub use event::{Event, EventBody, EventId};
pub use order::{
    Address, Amount, Currency, CustomerId, LineItem, Order, OrderId, OrderStatus, ShippingInfo,
    Sku, StorefrontId,
};
pub use validation::{
    AddressInput, FieldError, LineItemInput, NewOrder, NewOrderInput, ValidationErrors,
};

/// Why a command was refused. Becomes a `CommandRejected` event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// CreateOrder for an order id that already exists.
    #[error("order already exists")]
    AlreadyExists,
    /// The command's payload broke a rule.
    #[error("invalid command: {0}")]
    Validation(ValidationErrors),
}

impl Rejection {
    /// A stable, machine-readable code; part of the public contract (topology.md).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::AlreadyExists => "already_exists",
            Rejection::Validation(_) => "validation",
        }
    }
}

/// The outcome of a command that was applied: the new state and the event saying so.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub order: Order,
    pub event: Event,
}

/// The state machine: decide what `command` does to `current` (None = no such order yet).
pub fn decide(current: Option<&Order>, command: &Command) -> Result<Applied, Rejection> {
    match &command.body {
        CommandBody::CreateOrder(input) => {
            if current.is_some() {
                return Err(Rejection::AlreadyExists);
            }
            let new = NewOrder::parse(input).map_err(Rejection::Validation)?;
            let order = Order::create(command, new);
            let event = Event::new(command, &order, EventBody::OrderCreated(order.clone()));
            Ok(Applied { order, event })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
