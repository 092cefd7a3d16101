//! Commands: what someone asks of an order. Carried on `orders.commands`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::input::{
    ConditionInput, FulfillmentInput, NewOrderInput, OrderUpdateInput, PaymentInput, ReturnInput,
    SettlementInput, ShippingInput,
};
use super::values::{OrderId, StorefrontId};

/// The idempotency key of a command: applying the same id twice changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommandId(pub Uuid);

impl CommandId {
    /// A new, time-ordered id.
    pub fn new_random() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The envelope every command travels in.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub command_id: CommandId,
    pub order_id: OrderId,
    pub storefront_id: StorefrontId,
    /// When given, the command applies only to this version of the order.
    pub expected_version: Option<u64>,
    pub issued_at: DateTime<Utc>,
    /// Who issued it (API key id, user or upstream system), for audit.
    pub issued_by: Option<String>,
    pub body: CommandBody,
}

/// What the command asks for. Payloads arrive raw and are validated when decided, because
/// upstream systems produce commands without passing through the ingress.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandBody {
    CreateOrder(NewOrderInput),
    /// New items and/or address; only while pending.
    UpdateOrder(OrderUpdateInput),
    ConfirmOrder,
    ShipOrder(ShippingInput),
    /// New carrier or tracking number; only while shipped.
    UpdateShipping(ShippingInput),
    DeliverOrder,
    CancelOrder {
        reason: String,
    },
    DeleteOrder,
    /// A payment fact (ORDER-MODEL.md "Payments"), named by its transaction id.
    RecordPayment(PaymentInput),
    /// A pending transaction succeeded or failed.
    SettlePayment(SettlementInput),
    /// Some units of a confirmed order, to ship together (ORDER-MODEL.md "Fulfillments").
    CreateFulfillment(FulfillmentInput),
    ShipFulfillment {
        fulfillment_id: String,
        shipping: ShippingInput,
    },
    DeliverFulfillment {
        fulfillment_id: String,
    },
    /// Only while the fulfillment is pending.
    CancelFulfillment {
        fulfillment_id: String,
    },
    /// Delivered units coming back (ORDER-MODEL.md "Returns").
    RequestReturn(ReturnInput),
    /// The return arrived: each of its skus with its condition.
    ReceiveReturn {
        return_id: String,
        lines: Vec<ConditionInput>,
    },
    /// Only while the return is requested.
    CancelReturn {
        return_id: String,
    },
}

impl CommandBody {
    /// The command's name as it appears in logs, metrics labels and the Avro union.
    pub fn kind(&self) -> &'static str {
        match self {
            CommandBody::CreateOrder(_) => "CreateOrder",
            CommandBody::UpdateOrder(_) => "UpdateOrder",
            CommandBody::ConfirmOrder => "ConfirmOrder",
            CommandBody::ShipOrder(_) => "ShipOrder",
            CommandBody::UpdateShipping(_) => "UpdateShipping",
            CommandBody::DeliverOrder => "DeliverOrder",
            CommandBody::CancelOrder { .. } => "CancelOrder",
            CommandBody::DeleteOrder => "DeleteOrder",
            CommandBody::RecordPayment(_) => "RecordPayment",
            CommandBody::SettlePayment(_) => "SettlePayment",
            CommandBody::CreateFulfillment(_) => "CreateFulfillment",
            CommandBody::ShipFulfillment { .. } => "ShipFulfillment",
            CommandBody::DeliverFulfillment { .. } => "DeliverFulfillment",
            CommandBody::CancelFulfillment { .. } => "CancelFulfillment",
            CommandBody::RequestReturn(_) => "RequestReturn",
            CommandBody::ReceiveReturn { .. } => "ReceiveReturn",
            CommandBody::CancelReturn { .. } => "CancelReturn",
        }
    }
}
