//! Why a command was refused: typed, with a stable code for the CommandRejected event.

use super::fulfillments::FulfillmentRejection;
use super::payments::PaymentRejection;
use super::status::OrderStatus;
use super::validation::ValidationErrors;

/// A refused command. Its [`code`](Rejection::code) is part of the public contract
/// (topology.md); its `Display` is the human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The status machine does not allow this change.
    #[error("an order cannot go from {from} to {to}")]
    InvalidTransition { from: OrderStatus, to: OrderStatus },
    /// The command applies only in other statuses (e.g. UpdateOrder after confirmation).
    #[error("{command} is not allowed while the order is {status}")]
    NotAllowedInStatus {
        command: &'static str,
        status: OrderStatus,
    },
    /// The command's expected_version is not the order's version.
    #[error("expected version {expected}, but the order is at version {actual}")]
    VersionConflict { expected: u64, actual: u64 },
    /// No such order, or it was deleted.
    #[error("order not found")]
    NotFound,
    /// CreateOrder for an order id that is (or was) taken.
    #[error("an order with this id already exists")]
    AlreadyExists,
    /// The payload broke a rule; every broken rule is listed.
    #[error("invalid command: {0}")]
    Validation(ValidationErrors),
    /// The command's idempotency key was first used for another request: the key names that
    /// request, and this one is not applied.
    #[error("this idempotency key was first used with another request")]
    IdempotencyConflict,
    /// A computed total does not fit in 64-bit minor units.
    #[error("{field}: the amount exceeds the largest representable total")]
    AmountOverflow { field: String },
    /// A payment fact on an order that was deleted.
    #[error("the order is deleted: it takes no payment facts")]
    PaymentOnDeletedOrder,
    /// A payment fact that breaks a rule of the ledger.
    #[error("{0}")]
    Payment(PaymentRejection),
    /// A fulfillment or return fact that breaks a rule.
    #[error("{0}")]
    Fulfillment(FulfillmentRejection),
}

impl Rejection {
    /// Every code of the order's own rules; [`Rejection::codes`] adds the ledger's.
    const ORDER_CODES: [&'static str; 9] = [
        "invalid_transition",
        "not_allowed_in_status",
        "version_conflict",
        "not_found",
        "already_exists",
        "validation",
        "amount_overflow",
        "idempotency_conflict",
        "payment_on_deleted_order",
    ];

    /// Every code a rejection can carry, each once, for documentation and tests.
    pub fn codes() -> Vec<&'static str> {
        let mut codes = Self::ORDER_CODES.to_vec();
        for code in PaymentRejection::CODES
            .into_iter()
            .chain(FulfillmentRejection::CODES)
        {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        codes
    }

    /// Longest message a rejection carries, in characters.
    pub const MAX_MESSAGE_LEN: usize = 1_000;

    /// The human message as it is stored and published: whatever it echoes of the command
    /// is escaped and the whole is bounded (see `bounded_echo`).
    pub fn message(&self) -> String {
        super::values::bounded_echo(&self.to_string(), Self::MAX_MESSAGE_LEN)
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::InvalidTransition { .. } => "invalid_transition",
            Rejection::NotAllowedInStatus { .. } => "not_allowed_in_status",
            Rejection::VersionConflict { .. } => "version_conflict",
            Rejection::NotFound => "not_found",
            Rejection::AlreadyExists => "already_exists",
            Rejection::Validation(_) => "validation",
            Rejection::AmountOverflow { .. } => "amount_overflow",
            Rejection::IdempotencyConflict => "idempotency_conflict",
            Rejection::PaymentOnDeletedOrder => "payment_on_deleted_order",
            Rejection::Payment(rejection) => rejection.code(),
            Rejection::Fulfillment(rejection) => rejection.code(),
        }
    }
}

impl From<ValidationErrors> for Rejection {
    /// An overflow anywhere is reported as such; otherwise every broken rule is listed.
    fn from(errors: ValidationErrors) -> Self {
        match errors.overflow_field() {
            Some(field) => Rejection::AmountOverflow {
                field: field.to_owned(),
            },
            None => Rejection::Validation(errors),
        }
    }
}

impl From<PaymentRejection> for Rejection {
    /// A ledger sum that overflows is the same `amount_overflow` as an order's.
    fn from(rejection: PaymentRejection) -> Self {
        match rejection {
            PaymentRejection::AmountOverflow => Rejection::AmountOverflow {
                field: "payments".to_owned(),
            },
            other => Rejection::Payment(other),
        }
    }
}

impl From<FulfillmentRejection> for Rejection {
    fn from(rejection: FulfillmentRejection) -> Self {
        Rejection::Fulfillment(rejection)
    }
}
