//! The payment endpoints: a payment fact recorded, a pending one settled (ORDER-MODEL.md
//! "Payments"). Each is a command like every write; the ledger's rules are the processor's.

use axum::response::Response;
use serde::Deserialize;

use super::write::{OrderWrite, WriteHeaders, WriteResponses};
use crate::domain::{CommandBody, PaymentInput, SettlementInput, parse_payment, parse_settlement};
use crate::ingress::{ApiError, schemas};

/// Record a payment transaction (RecordPayment): an authorization, capture, sale, void or
/// refund, named by the client's `transaction_id`. The same fact sent again changes nothing;
/// the same id with other content is rejected `conflicting_fact`.
#[utoipa::path(post, path = "/v1/orders/{id}/payments", tag = "payments",
    request_body = schemas::PaymentInput,
    params(("id" = Uuid, Path, description = "Order id"), WriteHeaders), responses(WriteResponses))]
pub(crate) async fn record_payment(write: OrderWrite) -> Result<Response, ApiError> {
    write
        .submit("record payment", |input: PaymentInput| {
            parse_payment(&input).map(|_| CommandBody::RecordPayment(input))
        })
        .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettleBody {
    /// Where the pending transaction ended: succeeded or failed.
    status: String,
}

/// Settle a pending payment transaction (SettlePayment).
#[utoipa::path(post, path = "/v1/orders/{id}/payments/{transaction_id}/settle", tag = "payments",
    request_body = SettleBody,
    params(("id" = Uuid, Path, description = "Order id"),
        ("transaction_id" = String, Path, description = "The pending transaction"), WriteHeaders),
    responses(WriteResponses))]
pub(crate) async fn settle_payment(write: OrderWrite) -> Result<Response, ApiError> {
    let transaction_id = write
        .path
        .get("transaction_id")
        .cloned()
        .unwrap_or_default();
    write
        .submit(&format!("settle {transaction_id}"), |body: SettleBody| {
            let input = SettlementInput {
                transaction_id,
                status: body.status,
            };
            parse_settlement(&input).map(|_| CommandBody::SettlePayment(input))
        })
        .await
}
