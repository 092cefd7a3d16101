//! The OpenAPI schemas of the domain's types, as the API shows them. The domain crate knows
//! nothing of OpenAPI, so its serde shapes are described here, at the HTTP edge; `openapi.rs`
//! adds the limits. These types are documentation only (never built): the checked-in
//! `openapi.json` (staleness test) and schemathesis's response checks keep them true to what
//! the server sends and accepts.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// An order's identity; also the Kafka record key (canonical UUID string).
#[derive(ToSchema)]
pub(super) struct OrderId(Uuid);

/// The idempotency key of a command: applying the same id twice changes nothing.
#[derive(ToSchema)]
pub(super) struct CommandId(Uuid);

/// The tenant an order belongs to; comes from the caller's credentials.
#[derive(ToSchema)]
pub(super) struct StorefrontId(String);

/// The storefront's own id for the customer.
#[derive(ToSchema)]
pub(super) struct CustomerId(String);

/// Stock-keeping unit of a line item.
#[derive(ToSchema)]
pub(super) struct Sku(String);

/// Money in integer minor units of the order's currency (cents for EUR, yen for JPY).
#[derive(ToSchema)]
pub(super) struct Amount(i64);

/// An ISO 4217 currency that has minor units.
#[derive(ToSchema)]
#[schema(value_type = String, example = "EUR")]
pub(super) struct Currency(String);

/// Where an order is in its life.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(super) enum OrderStatus {
    Pending,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
    /// Gone from every read; its event history stays for audit.
    Deleted,
}

/// One product line; `line_total` is ours, computed with checked arithmetic.
#[derive(ToSchema)]
pub(super) struct LineItem {
    sku: Sku,
    quantity: u32,
    unit_price: Amount,
    line_total: Amount,
}

/// Where an order ships to.
#[derive(ToSchema)]
pub(super) struct Address {
    name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    postal_code: String,
    /// ISO 3166-1 alpha-2.
    country: String,
}

/// How an order ships, once it does.
#[derive(ToSchema)]
pub(super) struct ShippingInfo {
    carrier: String,
    tracking_number: String,
}

/// What an order-level adjustment is for.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(super) enum AdjustmentKind {
    Shipping,
    Tax,
    /// Negative or zero.
    Discount,
    Fee,
}

/// An order-level amount added to the subtotal (a discount subtracts).
#[derive(ToSchema)]
pub(super) struct Adjustment {
    kind: AdjustmentKind,
    label: String,
    amount: Amount,
}

/// What a transaction does with money.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(super) enum PaymentKind {
    /// Money reserved on the customer's instrument, not yet taken.
    Authorization,
    /// Money taken against an authorization (names it as parent).
    Capture,
    /// Money taken at once, with no authorization.
    Sale,
    /// An authorization released (names it as parent) with nothing captured.
    Void,
    /// Money given back (names its capture or sale as parent).
    Refund,
}

/// Where a transaction is at its provider.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(super) enum PaymentState {
    Pending,
    Succeeded,
    Failed,
}

/// One payment fact, as recorded.
#[derive(ToSchema)]
pub(super) struct Transaction {
    transaction_id: String,
    kind: PaymentKind,
    amount: Amount,
    status: PaymentState,
    /// `stripe`, `manual`, ...
    provider: String,
    provider_reference: Option<String>,
    /// The authorization a capture or void concerns, the capture or sale a refund returns.
    parent_id: Option<String>,
    /// The return a refund pays back.
    return_id: Option<String>,
}

/// The payment status of an order, derived from its ledger and total.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(super) enum PaymentStatus {
    Unpaid,
    Authorized,
    PartiallyPaid,
    Paid,
    /// More captured than the total: shown for a human, not refused.
    Overpaid,
    PartiallyRefunded,
    Refunded,
    /// Every authorization released, nothing captured.
    Voided,
}

/// Units of one sku.
#[derive(ToSchema)]
pub(super) struct Units {
    sku: Sku,
    quantity: u32,
}

/// Where a fulfillment is.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(super) enum FulfillmentState {
    Pending,
    Shipped,
    Delivered,
    Cancelled,
}

/// One shipment: some units of some lines.
#[derive(ToSchema)]
pub(super) struct Fulfillment {
    fulfillment_id: String,
    lines: Vec<Units>,
    status: FulfillmentState,
    /// Carrier and tracking number, once shipped.
    shipping: Option<ShippingInfo>,
}

/// The condition a returned unit arrived in.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(super) enum Condition {
    Resellable,
    Damaged,
}

/// Units of one sku coming back, with their condition once received.
#[derive(ToSchema)]
pub(super) struct ReturnLine {
    sku: Sku,
    quantity: u32,
    condition: Option<Condition>,
}

/// Where a return is.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(super) enum ReturnState {
    Requested,
    Received,
    Cancelled,
}

/// Delivered units a customer sends back.
#[derive(ToSchema)]
pub(super) struct Return {
    return_id: String,
    lines: Vec<ReturnLine>,
    reason: String,
    status: ReturnState,
}

/// How far an order's units have gone, derived from its fulfillments.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(super) enum FulfillmentStatus {
    Unfulfilled,
    PartiallyFulfilled,
    Fulfilled,
    PartiallyDelivered,
    Delivered,
}

/// Where an order's returns are, derived from them and the refunds naming them.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(super) enum ReturnStatus {
    None,
    Requested,
    Received,
    /// Every received return's value refunded.
    Refunded,
}

/// The order as every reader sees it (GET response, cache value, state snapshot).
/// `authorized` to `payment_status` are derived from `payments` and `total`.
#[derive(ToSchema)]
pub(super) struct Order {
    order_id: OrderId,
    storefront_id: StorefrontId,
    customer_id: CustomerId,
    status: OrderStatus,
    currency: Currency,
    items: Vec<LineItem>,
    /// Σ line totals.
    subtotal: Amount,
    /// Shipping, tax, discount and fee on top of the lines.
    adjustments: Vec<Adjustment>,
    /// `subtotal + Σ adjustments`.
    total: Amount,
    shipping_address: Address,
    shipping: Option<ShippingInfo>,
    metadata: BTreeMap<String, String>,
    /// The payment transactions, in the order they were recorded.
    payments: Vec<Transaction>,
    /// Succeeded authorizations not voided.
    authorized: Amount,
    /// Succeeded captures and sales.
    captured: Amount,
    /// Succeeded refunds.
    refunded: Amount,
    /// `total − captured + refunded` (negative when overpaid).
    balance_due: Amount,
    /// `captured − refunded` once the order is cancelled, else 0.
    refund_due: Amount,
    payment_status: PaymentStatus,
    /// Several shipments, in the order they were created.
    fulfillments: Vec<Fulfillment>,
    /// Returns, in the order they were requested.
    returns: Vec<Return>,
    fulfillment_status: FulfillmentStatus,
    return_status: ReturnStatus,
    /// Per-order sequence: 1 after creation, +1 per applied command.
    version: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One rule broken by one field, e.g. `items[0].quantity`.
#[derive(ToSchema)]
pub(super) struct FieldError {
    field: String,
    reason: String,
}

/// A CreateOrder payload as it arrives, before any rule is checked.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewOrderInput {
    customer_id: String,
    currency: String,
    items: Vec<LineItemInput>,
    shipping_address: AddressInput,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    /// Shipping, tax, discount and fee; `total = subtotal + Σ amounts` must not be negative.
    #[serde(default)]
    adjustments: Vec<AdjustmentInput>,
}

/// An order-level adjustment as it arrives.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AdjustmentInput {
    /// shipping, tax, discount or fee.
    kind: String,
    label: String,
    /// Minor units of the order's currency; a discount is <= 0, the others >= 0.
    amount: i64,
}

/// A RecordPayment payload: one payment fact, named by its `transaction_id`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PaymentInput {
    /// The client's id for the fact: a retry sends the same.
    transaction_id: String,
    /// authorization, capture, sale, void or refund.
    kind: String,
    /// Minor units of the order's currency.
    amount: i64,
    /// pending, succeeded or failed.
    status: String,
    /// Who moved the money: `stripe`, `manual`, ...
    provider: String,
    /// The provider's id for it.
    provider_reference: Option<String>,
    /// The authorization a capture or void concerns, the capture or sale a refund returns.
    parent_id: Option<String>,
    /// For a refund: the return it pays back.
    return_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LineItemInput {
    sku: String,
    quantity: i64,
    /// Minor units of the order's currency.
    unit_price: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AddressInput {
    name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    postal_code: String,
    country: String,
}

/// An UpdateOrder payload as it arrives: new items, a new address, new adjustments, or
/// several.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OrderUpdateInput {
    items: Option<Vec<LineItemInput>>,
    shipping_address: Option<AddressInput>,
    /// Replaces every adjustment (an empty list removes them); absent keeps them.
    adjustments: Option<Vec<AdjustmentInput>>,
}

/// Carrier and tracking number as they arrive (ShipOrder, UpdateShipping).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ShippingInput {
    carrier: String,
    tracking_number: String,
}

/// Units of one sku as they arrive (a fulfillment's or a return's line).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UnitsInput {
    /// A sku of the order's lines.
    sku: String,
    quantity: i64,
}

/// A CreateFulfillment payload.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FulfillmentInput {
    /// The client's id for the shipment: a retry sends the same.
    fulfillment_id: String,
    lines: Vec<UnitsInput>,
}

/// A RequestReturn payload.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReturnInput {
    /// The client's id for the return: a retry sends the same.
    return_id: String,
    lines: Vec<UnitsInput>,
    reason: String,
}

/// The condition one returned sku arrived in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ConditionInput {
    sku: String,
    /// resellable or damaged.
    condition: String,
}
