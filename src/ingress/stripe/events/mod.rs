//! Stripe's event notifications as payment facts: which events count, and the RecordPayment /
//! SettlePayment commands each one means. Pure: the webhook finds the order and produces.
//!
//! Transaction ids derive from Stripe's object ids, so a notification delivered twice, or
//! two notifications of one money movement (`payment_intent.succeeded` and
//! `charge.captured`), name the same fact and change the ledger once:
//!
//! | Stripe | fact |
//! |---|---|
//! | PaymentIntent `pi` authorized (`payment_intent.amount_capturable_updated` in `requires_capture`) | `stripe:{pi}:authorization`, succeeded |
//! | captured (`payment_intent.succeeded` with manual capture, `charge.captured`) | the authorization again (Stripe does not order its notifications), then `stripe:{pi}:capture` |
//! | paid at once (`payment_intent.succeeded`, automatic capture) | `stripe:{pi}:sale` |
//! | failed (`payment_intent.payment_failed`) | `stripe:{pi}:failed:{charge}`, failed (counts nothing) |
//! | refund `re` (`charge.refunded` listing it, `refund.created`, `refund.updated`, `charge.refund.updated`) | `stripe:{re}` recorded pending, then settled when Stripe says it succeeded or failed |

use serde::Deserialize;

use crate::domain::{CommandBody, PaymentInput, SettlementInput};

/// The provider name of every fact from Stripe.
pub const PROVIDER: &str = "stripe";

/// A Stripe event notification, as much of it as orderflow reads.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    amount: i64,
    #[serde(default)]
    amount_received: i64,
    currency: String,
    status: String,
    #[serde(default)]
    capture_method: Option<String>,
    #[serde(default)]
    latest_charge: Option<String>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Charge {
    amount: i64,
    #[serde(default)]
    amount_captured: i64,
    currency: String,
    payment_intent: Option<String>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    #[serde(default)]
    refunds: Option<List<Refund>>,
}

#[derive(Debug, Deserialize)]
struct List<T> {
    data: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    amount: i64,
    currency: String,
    status: String,
    payment_intent: Option<String>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

/// Whose payment a notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The order id the storefront put in the PaymentIntent's (or charge's, or refund's)
    /// metadata, if it is there.
    pub order_id: Option<String>,
    /// The PaymentIntent: how a charge or refund without metadata finds its order.
    pub payment_intent: String,
    /// ISO 4217, upper case.
    pub currency: String,
}

/// A fact a notification means: a command as it is, or a refund whose parent (the
/// PaymentIntent's capture or sale, whichever the ledger holds) the webhook names.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Command(CommandBody),
    /// A refund of the PaymentIntent's capture or sale; the webhook names the parent.
    Refund {
        record: PaymentInput,
        settle: Option<SettlementInput>,
    },
}

/// What a notification means.
#[derive(Debug, Clone, PartialEq)]
pub enum Meaning {
    Facts {
        subject: Subject,
        facts: Vec<Fact>,
    },
    /// Taken and answered 2xx, but nothing to record: why.
    Ignored(&'static str),
}

fn transaction(
    id: String,
    kind: &str,
    amount: i64,
    status: &str,
    pi: &str,
    parent: Option<String>,
) -> PaymentInput {
    PaymentInput {
        transaction_id: id,
        kind: kind.to_owned(),
        amount,
        status: status.to_owned(),
        provider: PROVIDER.to_owned(),
        provider_reference: Some(pi.to_owned()),
        parent_id: parent,
        return_id: None,
    }
}

fn authorization(pi: &str, amount: i64) -> CommandBody {
    CommandBody::RecordPayment(transaction(
        format!("stripe:{pi}:authorization"),
        "authorization",
        amount,
        "succeeded",
        pi,
        None,
    ))
}

fn capture(pi: &str, amount: i64) -> CommandBody {
    CommandBody::RecordPayment(transaction(
        format!("stripe:{pi}:capture"),
        "capture",
        amount,
        "succeeded",
        pi,
        Some(format!("stripe:{pi}:authorization")),
    ))
}

/// The transaction ids a refund of `pi` may name as its parent, in order of preference.
pub fn refund_parents(pi: &str) -> [String; 2] {
    [format!("stripe:{pi}:capture"), format!("stripe:{pi}:sale")]
}

fn refund(
    r: Refund,
    charge_metadata: Option<&std::collections::HashMap<String, String>>,
) -> Option<(Subject, Fact)> {
    let pi = r.payment_intent?;
    let id = format!("stripe:{}", r.id);
    let settled = match r.status.as_str() {
        "succeeded" => Some("succeeded"),
        "failed" | "canceled" => Some("failed"),
        _ => None, // pending, requires_action
    };
    let subject = Subject {
        order_id: r
            .metadata
            .get("order_id")
            .or_else(|| charge_metadata.and_then(|m| m.get("order_id")))
            .cloned(),
        payment_intent: pi.clone(),
        currency: r.currency.to_ascii_uppercase(),
    };
    let fact = Fact::Refund {
        record: transaction(id.clone(), "refund", r.amount, "pending", &pi, None),
        settle: settled.map(|status| SettlementInput {
            transaction_id: id,
            status: status.to_owned(),
        }),
    };
    Some((subject, fact))
}

/// What the notification `event` means for the ledger.
pub fn meaning(event: &Event) -> Result<Meaning, serde_json::Error> {
    let object = &event.data.object;
    Ok(match event.kind.as_str() {
        "payment_intent.amount_capturable_updated"
        | "payment_intent.succeeded"
        | "payment_intent.payment_failed" => {
            let pi: PaymentIntent = serde_json::from_value(object.clone())?;
            let manual = pi.capture_method.as_deref() == Some("manual");
            let facts = match (event.kind.as_str(), pi.status.as_str()) {
                ("payment_intent.amount_capturable_updated", "requires_capture") => {
                    vec![authorization(&pi.id, pi.amount)]
                }
                ("payment_intent.amount_capturable_updated", _) => {
                    return Ok(Meaning::Ignored("not_capturable"));
                }
                ("payment_intent.succeeded", _) if manual => vec![
                    authorization(&pi.id, pi.amount),
                    capture(&pi.id, pi.amount_received),
                ],
                ("payment_intent.succeeded", _) => {
                    vec![CommandBody::RecordPayment(transaction(
                        format!("stripe:{}:sale", pi.id),
                        "sale",
                        pi.amount_received,
                        "succeeded",
                        &pi.id,
                        None,
                    ))]
                }
                _ => {
                    // One failed attempt: its charge names it (a PaymentIntent may fail, then
                    // succeed with another payment method).
                    let attempt = pi.latest_charge.clone().unwrap_or_else(|| event.id.clone());
                    vec![CommandBody::RecordPayment(transaction(
                        format!("stripe:{}:failed:{attempt}", pi.id),
                        if manual { "authorization" } else { "sale" },
                        pi.amount,
                        "failed",
                        &pi.id,
                        None,
                    ))]
                }
            };
            Meaning::Facts {
                subject: Subject {
                    order_id: pi.metadata.get("order_id").cloned(),
                    payment_intent: pi.id,
                    currency: pi.currency.to_ascii_uppercase(),
                },
                facts: facts.into_iter().map(Fact::Command).collect(),
            }
        }
        "charge.captured" => {
            let charge: Charge = serde_json::from_value(object.clone())?;
            let Some(pi) = charge.payment_intent else {
                return Ok(Meaning::Ignored("no_payment_intent"));
            };
            Meaning::Facts {
                subject: Subject {
                    order_id: charge.metadata.get("order_id").cloned(),
                    currency: charge.currency.to_ascii_uppercase(),
                    payment_intent: pi.clone(),
                },
                facts: vec![
                    Fact::Command(authorization(&pi, charge.amount)),
                    Fact::Command(capture(&pi, charge.amount_captured)),
                ],
            }
        }
        "charge.refunded" => {
            let charge: Charge = serde_json::from_value(object.clone())?;
            // Newer API versions do not list a charge's refunds: their refund.* events carry them.
            let Some(refunds) = charge.refunds else {
                return Ok(Meaning::Ignored("refunds_not_listed"));
            };
            let mut subject = None;
            let mut facts = Vec::new();
            for r in refunds.data {
                if let Some((s, fact)) = refund(r, Some(&charge.metadata)) {
                    subject.get_or_insert(s);
                    facts.push(fact);
                }
            }
            match subject {
                Some(subject) => Meaning::Facts { subject, facts },
                None => Meaning::Ignored("no_payment_intent"),
            }
        }
        "refund.created" | "refund.updated" | "charge.refund.updated" => {
            let r: Refund = serde_json::from_value(object.clone())?;
            match refund(r, None) {
                Some((subject, fact)) => Meaning::Facts {
                    subject,
                    facts: vec![fact],
                },
                None => Meaning::Ignored("no_payment_intent"),
            }
        }
        _ => Meaning::Ignored("unknown_type"),
    })
}

#[cfg(test)]
mod tests;
