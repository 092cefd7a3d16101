//! `POST /v1/providers/stripe/webhook`: a verified Stripe notification becomes the payment
//! facts it means, produced as commands like every write; what it does not mean for a ledger
//! is answered 2xx and counted. A bad signature is a 400 and produces nothing.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use uuid::Uuid;

use super::events::{self, Fact, Meaning, PROVIDER, Subject};
use crate::domain::{Command, CommandBody, CommandId, OrderId, StorefrontId};
use crate::ingress::{ApiError, AppState, orders};

/// Namespace of the command ids of Stripe notifications: UUIDv5 of the event id and the
/// fact's place in it, so a notification delivered again produces the same commands.
const STRIPE_NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_7266_6c6f_7700_0000_0000_0003);

/// What became of a notification, as the response and the metrics say.
fn answered(outcome: &'static str, event: &events::Event, detail: serde_json::Value) -> Response {
    crate::metrics::stripe_event(outcome);
    tracing::info!(event_id = %event.id, kind = %event.kind, outcome, "stripe notification");
    axum::Json(serde_json::json!({ "event_id": event.id, "outcome": outcome, "detail": detail }))
        .into_response()
}

/// Headers of a Stripe notification.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // read from the HeaderMap; this type documents them
pub(in crate::ingress) struct StripeHeaders {
    /// `t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=...]`, as Stripe signs.
    #[serde(rename = "Stripe-Signature")]
    stripe_signature: String,
}

/// What a Stripe notification answers.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documents the responses; the handler builds them
pub(in crate::ingress) enum StripeResponses {
    /// Taken: `outcome` is recorded (its commands produced), ignored or unmatched.
    #[response(status = 200)]
    Taken(serde_json::Value),
    /// The signature does not verify with any storefront's secret, or is older than 5 minutes.
    #[response(status = 400, content_type = "application/problem+json")]
    BadSignature(crate::ingress::error::Problem<'static>),
    /// No Stripe webhook secret is configured.
    #[response(status = 404, content_type = "application/problem+json")]
    NotConfigured(crate::ingress::error::Problem<'static>),
    /// A verified notification orderflow cannot read (Stripe retries it).
    #[response(status = 422, content_type = "application/problem+json")]
    Unreadable(crate::ingress::error::Problem<'static>),
    /// A refund whose capture or sale is not recorded yet, or a dependency down (Stripe
    /// retries it).
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(crate::ingress::error::Problem<'static>),
}

/// Stripe's event notifications (PaymentIntents, charges, refunds), signed with the endpoint
/// secret of a storefront (`--stripe-webhook-secret`); no API key. Payment facts are recorded
/// for the storefront whose secret verifies, on the order the PaymentIntent's metadata
/// `order_id` names. See topology.md for the events and the facts they make.
#[utoipa::path(post, path = "/v1/providers/stripe/webhook", tag = "payments",
    request_body(content = serde_json::Value, description = "A Stripe event object"),
    params(StripeHeaders), responses(StripeResponses), security(()))]
pub(in crate::ingress) async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(stripe) = state.stripe.as_ref() else {
        return Err(ApiError::NotFound);
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let storefront = match stripe.verify(&body, header, Utc::now().timestamp()) {
        Ok(storefront) => storefront.clone(),
        Err(error) => {
            crate::metrics::stripe_event("bad_signature");
            return Err(ApiError::BadSignature(error.to_string()));
        }
    };
    let event: events::Event = serde_json::from_slice(&body)
        .map_err(|e| unreadable(format!("not a Stripe event: {e}")))?;
    let (subject, facts) = match events::meaning(&event) {
        Ok(Meaning::Facts { subject, facts }) => (subject, facts),
        Ok(Meaning::Ignored(reason)) => {
            return Ok(answered("ignored", &event, reason.into()));
        }
        Err(e) => {
            tracing::error!(event_id = %event.id, kind = %event.kind, error = %e, "a Stripe notification orderflow cannot read");
            return Err(unreadable(format!("{} {}: {e}", event.kind, event.id)));
        }
    };
    let ledger = state
        .store
        .payments_of_reference(PROVIDER, &subject.payment_intent)
        .await
        .map_err(ApiError::from_store)?;
    let Some(order_id) = order_of(&subject, &ledger, &storefront) else {
        return Ok(answered("unmatched", &event, "order_unknown".into()));
    };
    if let Some(order) = state
        .store
        .get_order(order_id)
        .await
        .map_err(ApiError::from_store)?
        && order.storefront_id == storefront
        && order.currency.code() != subject.currency
    {
        tracing::warn!(event_id = %event.id, %order_id, order_currency = order.currency.code(), stripe_currency = %subject.currency, "a Stripe payment in another currency than its order's: not recorded");
        return Ok(answered("ignored", &event, "currency_mismatch".into()));
    }
    let known: Vec<&str> = ledger.iter().map(|(_, _, id)| id.as_str()).collect();
    let mut bodies = Vec::new();
    for fact in facts {
        match fact {
            Fact::Command(body) => bodies.push(body),
            Fact::Refund { mut record, settle } => {
                let parents = events::refund_parents(&subject.payment_intent);
                let Some(parent) = parents.iter().find(|p| known.contains(&p.as_str())) else {
                    // The capture or sale it returns is on its way (or not ours): Stripe
                    // retries, with backoff, for days.
                    crate::metrics::stripe_event("retry_later");
                    return Err(ApiError::NotYetKnown(format!(
                        "no capture or sale of {} is recorded yet",
                        subject.payment_intent
                    )));
                };
                record.parent_id = Some(parent.clone());
                bodies.push(CommandBody::RecordPayment(record));
                bodies.extend(settle.map(CommandBody::SettlePayment));
            }
        }
    }
    for (n, body) in bodies.iter().enumerate() {
        let command = Command {
            command_id: CommandId(Uuid::new_v5(
                &STRIPE_NAMESPACE,
                format!("{storefront}\n{}\n{n}", event.id).as_bytes(),
            )),
            order_id,
            storefront_id: storefront.clone(),
            expected_version: None,
            issued_at: Utc::now(),
            issued_by: Some(format!("stripe:{}", event.id)),
            body: body.clone(),
        };
        orders::produce(&state, &command, &opentelemetry::Context::new(), None).await?;
    }
    Ok(answered(
        "recorded",
        &event,
        serde_json::json!({ "order_id": order_id, "commands": bodies.len() }),
    ))
}

fn unreadable(detail: String) -> ApiError {
    crate::metrics::stripe_event("unreadable");
    ApiError::UnreadableEvent(detail)
}

/// The order a notification is about: from the metadata, else from the ledger rows of its
/// PaymentIntent; never another storefront's.
fn order_of(
    subject: &Subject,
    ledger: &[(OrderId, String, String)],
    storefront: &StorefrontId,
) -> Option<OrderId> {
    let ours = |o: &&(OrderId, String, String)| o.1 == storefront.as_str();
    match &subject.order_id {
        Some(id) => Uuid::parse_str(id).ok().map(OrderId),
        None => ledger.iter().find(ours).map(|(id, _, _)| *id),
    }
}
