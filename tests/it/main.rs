//! The integration tests, one crate so that the harness and the helpers compile once: each
//! module is what was a test file (`cargo test --test it <module>::` runs one).

mod common;

mod cache;
mod chaos;
mod codec_registry;
mod crash;
mod dlq;
mod guarantees;
mod ingress;
mod ingress_latency;
mod loadgen;
mod openapi;
mod processor;
mod ratelimit;
mod stripe;
mod tail;
mod traces;
mod walking_skeleton;
mod webhooks;
