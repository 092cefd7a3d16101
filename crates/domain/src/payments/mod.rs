//! The payment ledger of an order (ORDER-MODEL.md "Payments"): transactions recorded and
//! settled as facts, the rules between them, and the amounts and payment status derived from
//! them. Pure: the same facts in the same order give the same ledger on every replay.
//!
//! Rules count succeeded amounts only: a capture never exceeds what its authorization has
//! left, a void needs an authorization with nothing captured, refunds never exceed what was
//! captured or sold (per parent and per order). A pending fact is checked again when it
//! settles. A fact is recognised by its `transaction_id`: the same id with the same content is
//! a duplicate (nothing changes), with other content it is refused `conflicting_fact`.

use serde::{Deserialize, Serialize};

mod rejection;
pub use rejection::PaymentRejection;

pub use super::values::Recorded;
use super::values::{Amount, named};

/// Largest amount of one transaction, in minor units. With at most [`MAX_TRANSACTIONS`] per
/// order no sum of a ledger can come near `i64::MAX`; the arithmetic is checked all the same.
pub const MAX_TRANSACTION_AMOUNT: i64 = 1_000_000_000_000_000;
/// Most transactions one order's ledger holds.
pub const MAX_TRANSACTIONS: usize = 256;

/// What a transaction does with money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
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

named!(PaymentKind {
    Authorization => "authorization",
    Capture => "capture",
    Sale => "sale",
    Void => "void",
    Refund => "refund",
});

/// Where a transaction is at its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    Pending,
    Succeeded,
    Failed,
}

named!(PaymentState {
    Pending => "pending",
    Succeeded => "succeeded",
    Failed => "failed",
});

/// One payment fact, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub transaction_id: String,
    pub kind: PaymentKind,
    pub amount: Amount,
    pub status: PaymentState,
    /// `stripe`, `manual`, ...
    pub provider: String,
    pub provider_reference: Option<String>,
    /// The authorization a capture or void concerns, the capture or sale a refund returns.
    pub parent_id: Option<String>,
    /// The return a refund pays back.
    pub return_id: Option<String>,
}

/// The payment status of an order, derived from its ledger and total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Unpaid,
    Authorized,
    PartiallyPaid,
    Paid,
    /// More captured than the total (a provider may do it): shown for a human, not refused.
    Overpaid,
    PartiallyRefunded,
    Refunded,
    /// Every authorization released, nothing captured.
    Voided,
}

named!(PaymentStatus {
    Unpaid => "unpaid",
    Authorized => "authorized",
    PartiallyPaid => "partially_paid",
    Paid => "paid",
    Overpaid => "overpaid",
    PartiallyRefunded => "partially_refunded",
    Refunded => "refunded",
    Voided => "voided",
});

/// The amounts derived from a ledger (with the order's total).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSummary {
    /// Succeeded authorizations not voided.
    pub authorized: Amount,
    /// Succeeded captures and sales.
    pub captured: Amount,
    /// Succeeded refunds.
    pub refunded: Amount,
    /// `total − captured + refunded` (negative when overpaid).
    pub balance_due: Amount,
    /// `captured − refunded` once the order is cancelled, else 0.
    pub refund_due: Amount,
    pub payment_status: PaymentStatus,
}

impl PaymentSummary {
    /// The summary of an empty ledger.
    pub fn unpaid(total: Amount) -> Self {
        Self {
            authorized: Amount(0),
            captured: Amount(0),
            refunded: Amount(0),
            balance_due: total,
            refund_due: Amount(0),
            payment_status: PaymentStatus::Unpaid,
        }
    }
}

/// An order's payment transactions, in the order they were recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaymentLedger(pub Vec<Transaction>);

fn sum(mut amounts: impl Iterator<Item = i64>) -> Result<i64, PaymentRejection> {
    amounts
        .try_fold(0i64, i64::checked_add)
        .ok_or(PaymentRejection::AmountOverflow)
}

impl PaymentLedger {
    pub fn get(&self, id: &str) -> Option<&Transaction> {
        self.0.iter().find(|t| t.transaction_id == id)
    }

    fn succeeded(&self) -> impl Iterator<Item = &Transaction> {
        self.0
            .iter()
            .filter(|t| t.status == PaymentState::Succeeded)
    }

    /// Succeeded amounts of `kinds` whose parent is `parent`.
    fn children(&self, parent: &str, kinds: &[PaymentKind]) -> Result<i64, PaymentRejection> {
        sum(self
            .succeeded()
            .filter(|t| kinds.contains(&t.kind) && t.parent_id.as_deref() == Some(parent))
            .map(|t| t.amount.0))
    }

    fn total_of(&self, kinds: &[PaymentKind]) -> Result<i64, PaymentRejection> {
        sum(self
            .succeeded()
            .filter(|t| kinds.contains(&t.kind))
            .map(|t| t.amount.0))
    }

    /// Succeeded refunds that name return `return_id`.
    pub fn refunded_for(&self, return_id: &str) -> i64 {
        self.succeeded()
            .filter(|t| t.kind == PaymentKind::Refund && t.return_id.as_deref() == Some(return_id))
            .fold(0i64, |sum, t| sum.saturating_add(t.amount.0))
    }

    /// Records a new transaction, or recognises a retried one. Its amount comes validated
    /// (1..=[`MAX_TRANSACTION_AMOUNT`], see `validation::parse_payment`).
    pub fn record(&mut self, fact: Transaction) -> Result<Recorded, PaymentRejection> {
        if let Some(known) = self.get(&fact.transaction_id) {
            // A pending fact sent again after it settled (a provider's late notification)
            // is the same fact: only its status has moved on since.
            let settled_since = fact.status == PaymentState::Pending
                && *known
                    == Transaction {
                        status: known.status,
                        ..fact.clone()
                    };
            return if *known == fact || settled_since {
                Ok(Recorded::Duplicate)
            } else {
                Err(PaymentRejection::ConflictingFact(fact.transaction_id))
            };
        }
        debug_assert!(
            (1..=MAX_TRANSACTION_AMOUNT).contains(&fact.amount.0),
            "amounts come validated (validation::parse_payment)"
        );
        if self.0.len() >= MAX_TRANSACTIONS {
            return Err(PaymentRejection::TooManyTransactions);
        }
        self.check_parent(&fact)?;
        if fact.status == PaymentState::Succeeded {
            self.check_amounts(&fact)?;
        }
        self.0.push(fact);
        Ok(Recorded::Applied)
    }

    /// Settles a pending transaction. Settling it again the same way is a duplicate.
    pub fn settle(&mut self, id: &str, to: PaymentState) -> Result<Recorded, PaymentRejection> {
        let Some(index) = self.0.iter().position(|t| t.transaction_id == id) else {
            return Err(PaymentRejection::UnknownTransaction(id.to_owned()));
        };
        let current = self.0[index].status;
        match (current, to) {
            (_, PaymentState::Pending) => return Err(PaymentRejection::AlreadySettled(id.into())),
            (from, to) if from == to => return Ok(Recorded::Duplicate),
            (PaymentState::Pending, _) => {}
            _ => return Err(PaymentRejection::AlreadySettled(id.to_owned())),
        }
        if to == PaymentState::Succeeded {
            let mut settled = self.0[index].clone();
            settled.status = to;
            self.check_parent(&settled)?;
            self.check_amounts(&settled)?;
        }
        self.0[index].status = to;
        Ok(Recorded::Applied)
    }

    /// The parent a fact names exists and is of the right kind.
    fn check_parent(&self, fact: &Transaction) -> Result<(), PaymentRejection> {
        use PaymentKind::{Authorization, Capture, Refund, Sale, Void};
        let (wanted, name): (&[PaymentKind], _) = match fact.kind {
            Authorization | Sale => {
                return match fact.parent_id {
                    Some(_) => Err(PaymentRejection::UnexpectedParent(fact.kind)),
                    None => Ok(()),
                };
            }
            Capture | Void => (&[Authorization], "authorization"),
            Refund => (&[Capture, Sale], "capture or sale"),
        };
        let Some(parent_id) = fact.parent_id.as_deref() else {
            return Err(PaymentRejection::MissingParent {
                kind: fact.kind,
                wanted: name,
            });
        };
        match self.get(parent_id) {
            Some(parent) if wanted.contains(&parent.kind) => Ok(()),
            _ => Err(PaymentRejection::InvalidParent {
                parent: parent_id.to_owned(),
                wanted: name,
            }),
        }
    }

    /// The amount rules, for a fact about to count as succeeded (its parent is checked).
    fn check_amounts(&self, fact: &Transaction) -> Result<(), PaymentRejection> {
        use PaymentKind::{Capture, Refund, Sale, Void};
        let Some(parent_id) = fact.parent_id.as_deref() else {
            return Ok(()); // authorization, sale
        };
        let parent = self.get(parent_id).expect("checked by check_parent");
        if parent.status != PaymentState::Succeeded {
            return Err(PaymentRejection::ParentNotSucceeded(parent_id.to_owned()));
        }
        match fact.kind {
            Capture => {
                if self.children(parent_id, &[Void])? > 0 {
                    return Err(PaymentRejection::AuthorizationVoided(parent_id.to_owned()));
                }
                let left = parent.amount.0 - self.children(parent_id, &[Capture])?;
                if fact.amount.0 > left {
                    return Err(PaymentRejection::CaptureExceedsAuthorization {
                        parent: parent_id.to_owned(),
                        amount: fact.amount.0,
                        left,
                    });
                }
            }
            Void => {
                if self.children(parent_id, &[Void])? > 0 {
                    return Err(PaymentRejection::AuthorizationVoided(parent_id.to_owned()));
                }
                if self.children(parent_id, &[Capture])? > 0 {
                    return Err(PaymentRejection::VoidAfterCapture(parent_id.to_owned()));
                }
            }
            Refund => {
                let of_parent = parent.amount.0 - self.children(parent_id, &[Refund])?;
                let of_order = self.total_of(&[Capture, Sale])? - self.total_of(&[Refund])?;
                let left = of_parent.min(of_order);
                if fact.amount.0 > left {
                    return Err(PaymentRejection::RefundExceedsCaptured {
                        amount: fact.amount.0,
                        left,
                    });
                }
            }
            PaymentKind::Authorization | Sale => {}
        }
        Ok(())
    }

    /// The derived amounts and status, for an order of `total` (cancelled or not).
    pub fn summary(
        &self,
        total: Amount,
        cancelled: bool,
    ) -> Result<PaymentSummary, PaymentRejection> {
        use PaymentKind::{Authorization, Capture, Refund, Sale, Void};
        let voided: Vec<&str> = self
            .succeeded()
            .filter(|t| t.kind == Void)
            .filter_map(|t| t.parent_id.as_deref())
            .collect();
        let authorizations: Vec<&Transaction> = self
            .succeeded()
            .filter(|t| t.kind == Authorization)
            .collect();
        let authorized = sum(authorizations
            .iter()
            .filter(|t| !voided.contains(&t.transaction_id.as_str()))
            .map(|t| t.amount.0))?;
        let captured = self.total_of(&[Capture, Sale])?;
        let refunded = self.total_of(&[Refund])?;
        let balance_due = total
            .0
            .checked_sub(captured)
            .and_then(|b| b.checked_add(refunded))
            .ok_or(PaymentRejection::AmountOverflow)?;
        let refund_due = if cancelled { captured - refunded } else { 0 };
        let payment_status = if captured > 0 && refunded >= captured {
            PaymentStatus::Refunded
        } else if refunded > 0 {
            PaymentStatus::PartiallyRefunded
        } else if captured > total.0 {
            PaymentStatus::Overpaid
        } else if captured > 0 && captured == total.0 {
            PaymentStatus::Paid
        } else if captured > 0 {
            PaymentStatus::PartiallyPaid
        } else if authorized > 0 {
            PaymentStatus::Authorized
        } else if !authorizations.is_empty() {
            PaymentStatus::Voided
        } else {
            PaymentStatus::Unpaid
        };
        Ok(PaymentSummary {
            authorized: Amount(authorized),
            captured: Amount(captured),
            refunded: Amount(refunded),
            balance_due: Amount(balance_due),
            refund_due: Amount(refund_due),
            payment_status,
        })
    }
}
