//! orderflow: a Kafka-first order-management service.
//!
//! Imports point one way: `cli → processor, ingress → codec, kafka, store → domain`.

pub mod codec;
pub mod domain;
pub mod store;
pub mod kafka;
pub mod metrics;
pub mod processor;
