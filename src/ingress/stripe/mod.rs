//! Stripe in: its webhook notifications become payment facts (ORDER-MODEL.md "Payments").
//! So far only the verification of the `Stripe-Signature` header is built; the endpoint and
//! the mapping of PaymentIntent and charge events to RecordPayment/SettlePayment are not.

pub mod signature;
