//! The fulfillment and return endpoints (ORDER-MODEL.md "Fulfillments", "Returns"): each a
//! command like every write; the rules between facts and the order are the processor's.

use axum::response::Response;
use serde::Deserialize;

use super::write::{EmptyBody, OrderWrite, WriteHeaders, WriteResponses};
use crate::domain::{
    CommandBody, ConditionInput, FulfillmentInput, ReturnInput, ShippingInfo, ShippingInput,
    parse_fact_id, parse_fulfillment, parse_receipt, parse_return,
};
use crate::ingress::{ApiError, schemas};

fn path_param(write: &OrderWrite, name: &str) -> String {
    write.path.get(name).cloned().unwrap_or_default()
}

/// Some units of a confirmed order, to ship together (CreateFulfillment).
#[utoipa::path(post, path = "/v1/orders/{id}/fulfillments", tag = "fulfillments",
    request_body = schemas::FulfillmentInput,
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(crate) async fn create_fulfillment(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("create fulfillment", |input: FulfillmentInput| {
            parse_fulfillment(&input).map(|_| CommandBody::CreateFulfillment(input))
        })
        .await
}

/// Ship a pending fulfillment (ShipFulfillment); the order is shipped once every unit is.
#[utoipa::path(post, path = "/v1/orders/{id}/fulfillments/{fulfillment_id}/ship", tag = "fulfillments",
    request_body = schemas::ShippingInput,
    params(("id" = Uuid, Path, description = "Order id"),
        ("fulfillment_id" = String, Path, description = "The fulfillment"), WriteHeaders),
    responses(WriteResponses))]
pub(crate) async fn ship_fulfillment(write: OrderWrite) -> Result<Response, ApiError> {
    let fulfillment_id = path_param(&write, "fulfillment_id");
    write
        .submit(
            &format!("ship {fulfillment_id}"),
            |shipping: ShippingInput| {
                parse_fact_id("fulfillment_id", &fulfillment_id)?;
                ShippingInfo::parse(&shipping)?;
                Ok(CommandBody::ShipFulfillment {
                    fulfillment_id,
                    shipping,
                })
            },
        )
        .await
}

/// Mark a shipped fulfillment delivered (DeliverFulfillment); the order is delivered once
/// every unit is.
#[utoipa::path(post, path = "/v1/orders/{id}/fulfillments/{fulfillment_id}/deliver", tag = "fulfillments",
    params(("id" = Uuid, Path, description = "Order id"),
        ("fulfillment_id" = String, Path, description = "The fulfillment"), WriteHeaders),
    responses(WriteResponses))]
pub(crate) async fn deliver_fulfillment(write: OrderWrite) -> Result<Response, ApiError> {
    let fulfillment_id = path_param(&write, "fulfillment_id");
    write
        .submit(&format!("deliver {fulfillment_id}"), |_: EmptyBody| {
            parse_fact_id("fulfillment_id", &fulfillment_id)?;
            Ok(CommandBody::DeliverFulfillment { fulfillment_id })
        })
        .await
}

/// Cancel a pending fulfillment (CancelFulfillment).
#[utoipa::path(post, path = "/v1/orders/{id}/fulfillments/{fulfillment_id}/cancel", tag = "fulfillments",
    params(("id" = Uuid, Path, description = "Order id"),
        ("fulfillment_id" = String, Path, description = "The fulfillment"), WriteHeaders),
    responses(WriteResponses))]
pub(crate) async fn cancel_fulfillment(write: OrderWrite) -> Result<Response, ApiError> {
    let fulfillment_id = path_param(&write, "fulfillment_id");
    write
        .submit(&format!("cancel {fulfillment_id}"), |_: EmptyBody| {
            parse_fact_id("fulfillment_id", &fulfillment_id)?;
            Ok(CommandBody::CancelFulfillment { fulfillment_id })
        })
        .await
}

/// Delivered units coming back (RequestReturn).
#[utoipa::path(post, path = "/v1/orders/{id}/returns", tag = "fulfillments",
    request_body = schemas::ReturnInput,
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(crate) async fn request_return(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("request return", |input: ReturnInput| {
            parse_return(&input).map(|_| CommandBody::RequestReturn(input))
        })
        .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiveBody {
    /// Each sku of the return once, with the condition it arrived in.
    #[schema(value_type = Vec<schemas::ConditionInput>)]
    lines: Vec<ConditionInput>,
}

/// A requested return arrived (ReceiveReturn).
#[utoipa::path(post, path = "/v1/orders/{id}/returns/{return_id}/receive", tag = "fulfillments",
    request_body = ReceiveBody,
    params(("id" = Uuid, Path, description = "Order id"),
        ("return_id" = String, Path, description = "The return"), WriteHeaders),
    responses(WriteResponses))]
pub(crate) async fn receive_return(write: OrderWrite) -> Result<Response, ApiError> {
    let return_id = path_param(&write, "return_id");
    write
        .submit(&format!("receive {return_id}"), |body: ReceiveBody| {
            parse_receipt(&return_id, &body.lines)?;
            Ok(CommandBody::ReceiveReturn {
                return_id,
                lines: body.lines,
            })
        })
        .await
}

/// Cancel a requested return (CancelReturn).
#[utoipa::path(post, path = "/v1/orders/{id}/returns/{return_id}/cancel", tag = "fulfillments",
    params(("id" = Uuid, Path, description = "Order id"),
        ("return_id" = String, Path, description = "The return"), WriteHeaders),
    responses(WriteResponses))]
pub(crate) async fn cancel_return(write: OrderWrite) -> Result<Response, ApiError> {
    let return_id = path_param(&write, "return_id");
    write
        .submit(&format!("cancel return {return_id}"), |_: EmptyBody| {
            parse_fact_id("return_id", &return_id)?;
            Ok(CommandBody::CancelReturn { return_id })
        })
        .await
}
