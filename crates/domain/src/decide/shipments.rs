//! What the fulfillment and return commands do, and how ShipOrder, UpdateShipping and
//! DeliverOrder keep their meaning over fulfillments (ORDER-MODEL.md "Principles").

use super::super::command::{Command, CommandBody};
use super::super::event::EventBody;
use super::super::fulfillments::{FulfillmentState, FulfillmentStatus};
use super::super::order::Order;
use super::super::rejection::Rejection;
use super::super::status::OrderStatus;
use super::super::validation::{parse_fact_id, parse_fulfillment, parse_receipt, parse_return};
use super::super::values::Recorded;
use super::super::values::ShippingInfo;
use super::require_status;

/// ShipOrder: one fulfillment of everything not yet fulfilled (named by the command, so a
/// replay makes the same one), shipped at once with every pending fulfillment.
pub(super) fn ship_everything(
    next: &mut Order,
    command: &Command,
    shipping: &ShippingInfo,
) -> Result<(), Rejection> {
    let rest = next.unfulfilled();
    if !rest.is_empty() {
        next.shipments
            .create(&next.items, &command.command_id.to_string(), rest)?;
    }
    let pending: Vec<String> = next
        .shipments
        .fulfillments
        .iter()
        .filter(|f| f.status == FulfillmentState::Pending)
        .map(|f| f.fulfillment_id.clone())
        .collect();
    for id in pending {
        next.shipments.ship(&id, shipping)?;
    }
    Ok(())
}

/// UpdateShipping: the fulfillments shipped with the order's carrier and tracking number get
/// the new ones too.
pub(super) fn reship(next: &mut Order, shipping: &ShippingInfo) {
    let old = next.shipping.clone();
    for f in &mut next.shipments.fulfillments {
        if f.status == FulfillmentState::Shipped && f.shipping == old {
            f.shipping = Some(shipping.clone());
        }
    }
}

/// DeliverOrder: every shipped fulfillment delivered.
pub(super) fn deliver_everything(next: &mut Order) {
    for f in &mut next.shipments.fulfillments {
        if f.status == FulfillmentState::Shipped {
            f.status = FulfillmentState::Delivered;
        }
    }
}

/// A fulfillment or return command against `order` (`next` is its copy to change). `None`:
/// the same fact again, nothing changes.
pub(super) fn fact(
    order: &Order,
    next: &mut Order,
    command: &Command,
) -> Result<Option<EventBody>, Rejection> {
    let changed = |r: Recorded| r == Recorded::Applied;
    let body = match &command.body {
        CommandBody::CreateFulfillment(input) => {
            require_status(order, OrderStatus::Confirmed, command)?;
            let (id, lines) = parse_fulfillment(input)?;
            if !changed(next.shipments.create(&next.items, &id, lines)?) {
                return Ok(None);
            }
            next.derive()?;
            EventBody::FulfillmentCreated {
                fulfillment: next.shipments.fulfillment(&id).cloned().expect("created"),
                progress: next.progress,
            }
        }
        CommandBody::ShipFulfillment {
            fulfillment_id,
            shipping,
        } => {
            require_status(order, OrderStatus::Confirmed, command)?;
            let id = parse_fact_id("fulfillment_id", fulfillment_id)?;
            let shipping = ShippingInfo::parse(shipping)?;
            if !changed(next.shipments.ship(&id, &shipping)?) {
                return Ok(None);
            }
            next.shipping = Some(shipping.clone());
            next.derive()?;
            // Every unit shipped (some may be delivered already): the order is shipped.
            if next.shipments.all_shipped(&next.items) {
                next.status = OrderStatus::Shipped;
            }
            EventBody::FulfillmentShipped {
                fulfillment_id: id,
                shipping,
                status: next.status,
                progress: next.progress,
            }
        }
        CommandBody::DeliverFulfillment { fulfillment_id } => {
            if !matches!(order.status, OrderStatus::Confirmed | OrderStatus::Shipped) {
                return Err(Rejection::NotAllowedInStatus {
                    command: command.body.kind(),
                    status: order.status,
                });
            }
            let id = parse_fact_id("fulfillment_id", fulfillment_id)?;
            if !changed(next.shipments.deliver(&id)?) {
                return Ok(None);
            }
            next.derive()?;
            if next.progress.fulfillment_status == FulfillmentStatus::Delivered {
                next.status = OrderStatus::Delivered;
            }
            EventBody::FulfillmentDelivered {
                fulfillment_id: id,
                status: next.status,
                progress: next.progress,
            }
        }
        CommandBody::CancelFulfillment { fulfillment_id } => {
            require_status(order, OrderStatus::Confirmed, command)?;
            let id = parse_fact_id("fulfillment_id", fulfillment_id)?;
            if !changed(next.shipments.cancel(&id)?) {
                return Ok(None);
            }
            next.derive()?;
            EventBody::FulfillmentCancelled {
                fulfillment_id: id,
                progress: next.progress,
            }
        }
        CommandBody::RequestReturn(input) => {
            let ret = parse_return(input)?;
            if !changed(next.shipments.request_return(ret.clone())?) {
                return Ok(None);
            }
            next.derive()?;
            EventBody::ReturnRequested {
                ret,
                progress: next.progress,
            }
        }
        CommandBody::ReceiveReturn { return_id, lines } => {
            let (id, conditions) = parse_receipt(return_id, lines)?;
            if !changed(next.shipments.receive_return(&id, &conditions)?) {
                return Ok(None);
            }
            next.derive()?;
            EventBody::ReturnReceived {
                lines: next
                    .shipments
                    .return_of(&id)
                    .expect("received")
                    .lines
                    .clone(),
                return_id: id,
                progress: next.progress,
            }
        }
        CommandBody::CancelReturn { return_id } => {
            let id = parse_fact_id("return_id", return_id)?;
            if !changed(next.shipments.cancel_return(&id)?) {
                return Ok(None);
            }
            next.derive()?;
            EventBody::ReturnCancelled {
                return_id: id,
                progress: next.progress,
            }
        }
        other => unreachable!("{} is not a fulfillment or return command", other.kind()),
    };
    Ok(Some(body))
}
