//! What each command does to an order: the whole state machine as one pure function.

mod shipments;

use super::command::{Command, CommandBody};
use super::event::{Event, EventBody};
use super::fulfillments::{FulfillmentRejection, ReturnState};
use super::order::Order;
use super::payments::Recorded;
use super::rejection::Rejection;
use super::status::OrderStatus;
use super::validation::{
    NewOrder, OrderUpdate, order_total, parse_cancel_reason, parse_issued_by, parse_payment,
    parse_settlement,
};
use super::values::ShippingInfo;

/// A command that changed an order: the new state and the event saying so.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub order: Order,
    pub event: Event,
}

/// What happened to a command id before, as the idempotency record keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriorOutcome {
    Applied { version: u64 },
    Rejected { code: String },
}

/// The outcome of handling one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Applied(Box<Applied>),
    Rejected(Rejection),
    /// A new command id for a payment fact the order holds already (a provider's retry):
    /// applied, and nothing changes; the order stays at `version`.
    Unchanged {
        version: u64,
    },
    /// The command id was handled before: nothing changes; this was the outcome then.
    Duplicate(PriorOutcome),
}

/// Handles `command` against the order's current state (`None`: never created), knowing how
/// the same command id was handled before, if it was. A command id is applied at most once.
pub fn handle(
    current: Option<&Order>,
    prior: Option<&PriorOutcome>,
    command: &Command,
) -> Decision {
    if let Some(prior) = prior {
        return Decision::Duplicate(prior.clone());
    }
    match decide(current, command) {
        Ok(Some(applied)) => Decision::Applied(Box::new(applied)),
        Ok(None) => Decision::Unchanged {
            version: current.map_or(0, |o| o.version),
        },
        Err(rejection) => Decision::Rejected(rejection),
    }
}

/// Whether `current` is an order of another storefront than the command's. Such an order
/// does not exist for the command's storefront: whatever the command was, it is rejected, and
/// the rejection is the caller's alone (its command status), never a fact of that order.
pub fn belongs_to_another_storefront(current: Option<&Order>, command: &Command) -> bool {
    current.is_some_and(|order| order.storefront_id != command.storefront_id)
}

/// The state machine proper: what `command` does to `current`, or why it cannot. `None`: a
/// payment fact the order holds already, with the same content; nothing changes.
pub fn decide(current: Option<&Order>, command: &Command) -> Result<Option<Applied>, Rejection> {
    parse_issued_by(command.issued_by.as_deref())?;
    let order = match (current, &command.body) {
        (Some(_), CommandBody::CreateOrder(_)) => return Err(Rejection::AlreadyExists),
        (None, CommandBody::CreateOrder(input)) => {
            check_version(command, 0)?;
            let order = Order::create(command, NewOrder::parse(input)?);
            let event = Event::caused_by(
                command,
                order.version,
                EventBody::OrderCreated(Box::new(order.clone())),
            );
            return Ok(Some(Applied { order, event }));
        }
        (None, _) => return Err(Rejection::NotFound),
        (Some(_), _) if belongs_to_another_storefront(current, command) => {
            return Err(Rejection::NotFound);
        }
        (Some(order), CommandBody::RecordPayment(_) | CommandBody::SettlePayment(_))
            if order.status == OrderStatus::Deleted =>
        {
            return Err(Rejection::PaymentOnDeletedOrder);
        }
        (Some(order), _) if order.status == OrderStatus::Deleted => {
            return Err(Rejection::NotFound);
        }
        (Some(order), _) => order,
    };
    check_version(command, order.version)?;

    let mut next = order.clone();
    let body = match &command.body {
        CommandBody::CreateOrder(_) => unreachable!("handled above"),
        CommandBody::UpdateOrder(input) => {
            require_status(order, OrderStatus::Pending, command)?;
            let update = OrderUpdate::parse(input)?;
            if let Some((items, subtotal)) = update.items {
                next.items = items;
                next.subtotal = subtotal;
            }
            if let Some(address) = update.shipping_address {
                next.shipping_address = address;
            }
            if let Some(adjustments) = update.adjustments {
                next.adjustments = adjustments;
            }
            next.total = order_total(next.subtotal, &next.adjustments)?;
            next.derive()?;
            EventBody::OrderUpdated {
                items: next.items.clone(),
                subtotal: next.subtotal,
                adjustments: next.adjustments.clone(),
                total: next.total,
                shipping_address: next.shipping_address.clone(),
                payment: next.payment,
            }
        }
        CommandBody::ConfirmOrder => {
            next.status = transition(order, OrderStatus::Confirmed)?;
            EventBody::OrderConfirmed
        }
        CommandBody::ShipOrder(input) => {
            next.status = transition(order, OrderStatus::Shipped)?;
            let shipping = ShippingInfo::parse(input)?;
            shipments::ship_everything(&mut next, command, &shipping)?;
            next.shipping = Some(shipping.clone());
            EventBody::OrderShipped(shipping)
        }
        CommandBody::UpdateShipping(input) => {
            require_status(order, OrderStatus::Shipped, command)?;
            let shipping = ShippingInfo::parse(input)?;
            shipments::reship(&mut next, &shipping);
            next.shipping = Some(shipping.clone());
            EventBody::ShippingUpdated(shipping)
        }
        CommandBody::DeliverOrder => {
            next.status = transition(order, OrderStatus::Delivered)?;
            shipments::deliver_everything(&mut next);
            EventBody::OrderDelivered
        }
        CommandBody::CancelOrder { reason } => {
            next.status = transition(order, OrderStatus::Cancelled)?;
            let reason = parse_cancel_reason(reason)?;
            if order.shipments.any_shipped() {
                return Err(FulfillmentRejection::UnitsShipped.into());
            }
            next.shipments.cancel_pending();
            EventBody::OrderCancelled { reason }
        }
        CommandBody::DeleteOrder => {
            next.status = transition(order, OrderStatus::Deleted)?;
            EventBody::OrderDeleted
        }
        CommandBody::RecordPayment(input) => {
            let transaction = parse_payment(input)?;
            if let Some(id) = &transaction.return_id
                && next
                    .shipments
                    .return_of(id)
                    .is_none_or(|r| r.status == ReturnState::Cancelled)
            {
                return Err(FulfillmentRejection::UnknownReturn(id.clone()).into());
            }
            if next.payments.record(transaction.clone())? == Recorded::Duplicate {
                return Ok(None);
            }
            next.derive()?;
            EventBody::PaymentRecorded {
                transaction,
                payment: next.payment,
            }
        }
        CommandBody::SettlePayment(input) => {
            let (transaction_id, status) = parse_settlement(input)?;
            if next.payments.settle(&transaction_id, status)? == Recorded::Duplicate {
                return Ok(None);
            }
            next.derive()?;
            EventBody::PaymentSettled {
                transaction_id,
                status,
                payment: next.payment,
            }
        }
        CommandBody::CreateFulfillment(_)
        | CommandBody::ShipFulfillment { .. }
        | CommandBody::DeliverFulfillment { .. }
        | CommandBody::CancelFulfillment { .. }
        | CommandBody::RequestReturn(_)
        | CommandBody::ReceiveReturn { .. }
        | CommandBody::CancelReturn { .. } => match shipments::fact(order, &mut next, command)? {
            Some(body) => body,
            None => return Ok(None),
        },
    };
    // Whatever changed (a cancellation changes what is due back), the derived follows.
    next.derive()?;
    next.version = order.version + 1;
    next.updated_at = command.issued_at;
    let event = Event::caused_by(command, next.version, body);
    Ok(Some(Applied { order: next, event }))
}

/// The CommandRejected event for a refused command; the order's version does not move.
pub fn rejected_event(current: Option<&Order>, command: &Command, rejection: &Rejection) -> Event {
    Event::caused_by(
        command,
        current.map_or(0, |o| o.version),
        EventBody::CommandRejected {
            command_type: command.body.kind().to_owned(),
            code: rejection.code().to_owned(),
            message: rejection.message(),
        },
    )
}

fn check_version(command: &Command, actual: u64) -> Result<(), Rejection> {
    match command.expected_version {
        Some(expected) if expected != actual => {
            Err(Rejection::VersionConflict { expected, actual })
        }
        _ => Ok(()),
    }
}

fn transition(order: &Order, to: OrderStatus) -> Result<OrderStatus, Rejection> {
    if order.status.can_become(to) {
        Ok(to)
    } else {
        Err(Rejection::InvalidTransition {
            from: order.status,
            to,
        })
    }
}

fn require_status(order: &Order, status: OrderStatus, command: &Command) -> Result<(), Rejection> {
    if order.status == status {
        Ok(())
    } else {
        Err(Rejection::NotAllowedInStatus {
            command: command.body.kind(),
            status: order.status,
        })
    }
}
