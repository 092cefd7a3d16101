//! orderflow: a Kafka-first order-management service.
//!
//! Imports point one way: `cli → loadgen, tail → args → processor, ingress → webhooks →
//! codec, kafka, store → domain`.

pub mod app;
pub mod args;
pub mod cli;
pub mod codec;
pub mod dlq;
pub use orderflow_domain as domain;
pub mod ingress;
pub mod kafka;
pub mod loadgen;
pub mod metrics;
pub mod processor;
pub mod progress;
pub mod shutdown;
pub mod store;
pub mod tail;
pub mod telemetry;
pub mod trace;
pub mod webhooks;
