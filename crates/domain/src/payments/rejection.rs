//! Why a payment fact is refused: one variant per rule of the ledger, each with its code.

use super::{MAX_TRANSACTIONS, PaymentKind};

/// A payment fact that breaks a rule; each code is part of the public contract (topology.md).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRejection {
    #[error("transaction {0:?} was recorded with other content")]
    ConflictingFact(String),
    #[error("no transaction {0:?} on this order")]
    UnknownTransaction(String),
    #[error("a {kind:?} must name its {wanted}")]
    MissingParent {
        kind: PaymentKind,
        wanted: &'static str,
    },
    #[error("a {0:?} names no parent")]
    UnexpectedParent(PaymentKind),
    #[error("parent {parent:?} is not a {wanted}")]
    InvalidParent {
        parent: String,
        wanted: &'static str,
    },
    #[error("parent {0:?} has not succeeded")]
    ParentNotSucceeded(String),
    #[error("capture of {amount} exceeds the {left} authorization {parent:?} has left")]
    CaptureExceedsAuthorization {
        parent: String,
        amount: i64,
        left: i64,
    },
    #[error("authorization {0:?} is voided")]
    AuthorizationVoided(String),
    #[error("authorization {0:?} has money captured: it cannot be voided")]
    VoidAfterCapture(String),
    #[error("refund of {amount} exceeds the {left} captured and not yet refunded")]
    RefundExceedsCaptured { amount: i64, left: i64 },
    #[error("transaction {0:?} is already settled")]
    AlreadySettled(String),
    #[error("an order holds at most {MAX_TRANSACTIONS} transactions")]
    TooManyTransactions,
    #[error("a ledger sum does not fit in 64-bit minor units")]
    AmountOverflow,
}

impl PaymentRejection {
    /// Every code, for documentation and tests.
    pub const CODES: [&'static str; 13] = [
        "conflicting_fact",
        "unknown_transaction",
        "missing_parent",
        "unexpected_parent",
        "invalid_parent",
        "parent_not_succeeded",
        "capture_exceeds_authorization",
        "authorization_voided",
        "void_after_capture",
        "refund_exceeds_captured",
        "already_settled",
        "too_many_transactions",
        "amount_overflow",
    ];

    /// The stable code of the CommandRejected event.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ConflictingFact(_) => "conflicting_fact",
            Self::UnknownTransaction(_) => "unknown_transaction",
            Self::MissingParent { .. } => "missing_parent",
            Self::UnexpectedParent(_) => "unexpected_parent",
            Self::InvalidParent { .. } => "invalid_parent",
            Self::ParentNotSucceeded(_) => "parent_not_succeeded",
            Self::CaptureExceedsAuthorization { .. } => "capture_exceeds_authorization",
            Self::AuthorizationVoided(_) => "authorization_voided",
            Self::VoidAfterCapture(_) => "void_after_capture",
            Self::RefundExceedsCaptured { .. } => "refund_exceeds_captured",
            Self::AlreadySettled(_) => "already_settled",
            Self::TooManyTransactions => "too_many_transactions",
            Self::AmountOverflow => "amount_overflow",
        }
    }
}
