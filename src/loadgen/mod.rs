//! `orderflow loadgen`: load for benchmarks.
//!
//! - `preload` produces a realistic command mix: orders created, updated, confirmed,
//!   shipped, re-tracked, delivered, some cancelled or deleted, a few invalid.
//! - `io-ceiling` is the upper bound the processor is measured against (`io_ceiling`): the
//!   processor's I/O, pipelined as the processor's, with no decoding, domain or cache.
//! - `latency` sends orders' lives over HTTP at a fixed rate (or as fast as answered) and
//!   reports how long each command took to be applied (`latency`).
//! - `webhook-receiver` and `webhook-ceiling` are the two ends of the webhook benchmark
//!   (`webhooks`).
//! - `watch` is a benchmark phase's progress bar on a terminal (`watch`).

mod io_ceiling;
mod latency;
mod watch;
mod webhooks;

pub use io_ceiling::io_ceiling;
pub use latency::{Load, latency};
pub use watch::{Watched, watch};

pub use webhooks::{ceiling as webhook_ceiling, receiver as webhook_receiver};

use std::time::{Duration, Instant};

use std::net::SocketAddr;

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::args::{DbArgs, KafkaArgs, ProcessorArgs};
use crate::codec::Codec;
use crate::domain::{
    AddressInput, AdjustmentInput, Command, CommandBody, CommandId, LineItemInput, NewOrderInput,
    OrderId, OrderUpdateInput, ShippingInput, StorefrontId,
};
use crate::kafka::producer::{Outgoing, Producer};
use crate::kafka::{KafkaSettings, order_key};

/// `orderflow loadgen <...>`.
#[derive(Debug, Subcommand)]
pub enum LoadgenCommand {
    /// Produce a realistic mix of commands (all eight kinds, a few invalid) to the commands topic.
    Preload {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// How many commands to produce.
        #[arg(long, default_value_t = 200_000)]
        commands: usize,
        /// Orders in flight at a time (their commands interleave).
        #[arg(long, default_value_t = 1_000)]
        concurrent_orders: usize,
        /// Commands per second at most (a steady load, e.g. for a soak); unset: as fast as
        /// the broker takes them.
        #[arg(long)]
        rate: Option<std::num::NonZeroU32>,
    },
    /// Send orders' lives (create, update, confirm, ship, ...) to the ingress over HTTP for
    /// `--duration`, at `--rate` commands/s (open loop) or, with `--rate 0`, as fast as
    /// `--connections` clients get answers; then print how long each command took from when
    /// it was due to its `handled_at` (percentiles) and how many were handled per second.
    Latency {
        /// The ingress's base URL.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        url: String,
        /// Commands per second; 0: a closed loop of `--connections` clients (the maximum).
        #[arg(long)]
        rate: u32,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// An API key (unneeded with `--auth none` on the ingress).
        #[arg(long, env = "ORDERFLOW_API_KEY")]
        api_key: Option<String>,
    },
    /// Serve a bare HTTP handler that answers at once (the ingress benchmark's HTTP ceiling).
    HttpCeiling {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3101")]
        http_addr: SocketAddr,
    },
    /// Serve a POST handler that produces one pre-encoded command and awaits the ack (the
    /// ingress benchmark's I/O ceiling).
    ProduceCeiling {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3102")]
        http_addr: SocketAddr,
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// Answer every webhook request 204 at once; after `--expect` requests print their rate
    /// and stop (the webhook benchmark's receiver).
    WebhookReceiver {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3103")]
        http_addr: SocketAddr,
        #[arg(long)]
        expect: u64,
    },
    /// POST one pre-signed webhook body in a loop with the dispatcher's HTTP client, as many
    /// at once as the dispatcher may per endpoint (the webhook benchmark's ceiling).
    WebhookCeiling {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 20_000)]
        requests: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Size of the body, as the dispatcher's deliveries are.
        #[arg(long, default_value_t = 1500)]
        body_bytes: usize,
    },
    /// Show a benchmark phase's progress while it runs: commands consumed (the offsets
    /// stored in `--database-url`) out of `--total`, or the seconds of a phase of
    /// `--seconds`; exits once there. A bar on a terminal, nothing at all otherwise (CI).
    Watch {
        #[command(flatten)]
        db: DbArgs,
        /// Commands to wait for, as the processor's stored offsets count them.
        #[arg(long, conflicts_with = "seconds", required_unless_present = "seconds")]
        total: Option<u64>,
        /// The phase's length instead.
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Consume the commands topic and write and produce what the processor would, with no
    /// decoding, domain or cache: the I/O ceiling the processor is measured against.
    IoCeiling {
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        processor: ProcessorArgs,
        /// Stop after this many records.
        #[arg(long)]
        stop_after: usize,
    },
}

/// The commands of one order's life, in order: `step` 0 is its creation.
fn lifecycle(order_id: OrderId, n: u64, step: usize) -> Option<CommandBody> {
    let line = |q| LineItemInput {
        sku: format!("SKU-{}", n % 97),
        quantity: q,
        unit_price: 1999,
    };
    let shipping = |t: &str| ShippingInput {
        carrier: "DHL".into(),
        tracking_number: format!("{t}{n}"),
    };
    // Every 10th order is cancelled after confirmation, every 20th deleted while pending;
    // every 50th gets an invalid update (rejected).
    let fate = order_id.0.as_u128() % 100;
    Some(match step {
        0 => CommandBody::CreateOrder(NewOrderInput {
            customer_id: format!("c-{}", n % 10_007),
            currency: "EUR".into(),
            items: vec![line(2), line(1)],
            shipping_address: AddressInput {
                name: "Ada Lovelace".into(),
                line1: "1 Main St".into(),
                line2: None,
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country: "DE".into(),
            },
            metadata: [("channel".to_owned(), "web".to_owned())].into(),
            adjustments: vec![AdjustmentInput {
                kind: "shipping".into(),
                label: "Standard".into(),
                amount: 495,
            }],
        }),
        1 => CommandBody::UpdateOrder(OrderUpdateInput {
            items: Some(vec![line(if fate.is_multiple_of(50) { 0 } else { 3 })]),
            shipping_address: None,
            adjustments: None,
        }),
        2 if fate % 20 == 5 => CommandBody::DeleteOrder,
        2 => CommandBody::ConfirmOrder,
        3 if fate % 10 == 3 => CommandBody::CancelOrder {
            reason: "customer asked".into(),
        },
        3 => CommandBody::ShipOrder(shipping("T")),
        4 => CommandBody::UpdateShipping(shipping("U")),
        5 => CommandBody::DeliverOrder,
        _ => return None,
    })
}

/// Produces `total` commands to `topic`, `concurrent` orders in flight at a time.
pub async fn preload(
    settings: &KafkaSettings,
    topic: &str,
    codec: &Codec,
    total: usize,
    concurrent: usize,
    rate: Option<std::num::NonZeroU32>,
) -> anyhow::Result<()> {
    let limiter = rate.map(|r| governor::RateLimiter::direct(governor::Quota::per_second(r)));
    let producer: FutureProducer = settings
        .client_config(&[
            ("enable.idempotence", "true"),
            ("linger.ms", "20"),
            ("compression.type", "lz4"),
        ])
        .create()
        .context("creating the kafka producer")?;
    let started = Instant::now();
    let progress = crate::progress::bar(total as u64, "preloading commands");
    // (order, its next step) for the orders in flight.
    let mut active: Vec<(OrderId, usize)> = Vec::new();
    let mut deliveries = Vec::with_capacity(10_000);
    let mut n = 0u64;
    let mut slot = 0usize;
    while (n as usize) < total {
        if active.len() < concurrent {
            active.push((OrderId::new_random(), 0));
        }
        slot = (slot + 7) % active.len();
        let (order_id, step) = active[slot];
        let Some(body) = lifecycle(order_id, n, step) else {
            active.swap_remove(slot);
            continue;
        };
        active[slot].1 += 1;
        n += 1;
        if let Some(limiter) = &limiter {
            limiter.until_ready().await;
        }
        let command = Command {
            command_id: CommandId::new_random(),
            order_id,
            storefront_id: StorefrontId::default_storefront(),
            expected_version: None,
            issued_at: Utc::now(),
            issued_by: Some("loadgen".into()),
            body,
        };
        let payload = codec.encode_command(topic, &command).await?;
        progress.inc(1);
        let key = order_key(order_id);
        loop {
            match producer.send_result(FutureRecord::to(topic).key(&key).payload(&payload)) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((error, _)) => {
                    tracing::debug!(%error, "producer queue full; waiting for deliveries");
                    for d in deliveries.drain(..) {
                        d.await?.map_err(|(e, _)| e)?;
                    }
                }
            }
        }
        if deliveries.len() >= 10_000 {
            for d in deliveries.drain(..) {
                d.await?.map_err(|(e, _)| e)?;
            }
        }
    }
    for d in deliveries {
        d.await?.map_err(|(e, _)| e)?;
    }
    progress.finish_and_clear();
    let took = started.elapsed();
    tracing::info!(
        commands = total,
        ?took,
        per_s = (total as f64 / took.as_secs_f64()) as u64,
        "preloaded"
    );
    Ok(())
}

/// A bare axum server that answers at once: the HTTP ceiling of `scripts/bench-ingress.sh`.
pub async fn http_ceiling(listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    use axum::routing::get;
    let accepted = r#"{"order_id":"00000000-0000-0000-0000-000000000000","command_id":"00000000-0000-0000-0000-000000000000","status_url":"/v1/commands/00000000-0000-0000-0000-000000000000"}"#;
    let app = axum::Router::new()
        .route(
            "/v1/orders",
            axum::routing::post(
                move || async move { (axum::http::StatusCode::ACCEPTED, accepted) },
            ),
        )
        .route(
            "/v1/orders/{id}",
            get(|| async { r#"{"status":"pending"}"# }),
        );
    axum::serve(listener, app).await?;
    Ok(())
}

/// A bare axum server whose POST produces one pre-encoded command of the same size with
/// the same producer settings and awaits its acknowledgement: the I/O ceiling of
/// `scripts/bench-ingress.sh`. Each request gets a fresh key, so records spread over the
/// partitions as real orders do (one fixed key would batch everything into one partition).
pub async fn produce_ceiling(
    listener: tokio::net::TcpListener,
    settings: &KafkaSettings,
    topic: String,
    codec: &Codec,
    delivery_timeout: Duration,
) -> anyhow::Result<()> {
    let order_id = OrderId::new_random();
    let command = Command {
        command_id: CommandId::new_random(),
        order_id,
        storefront_id: StorefrontId::default_storefront(),
        expected_version: None,
        issued_at: Utc::now(),
        issued_by: Some("none".into()),
        body: lifecycle(order_id, 1, 0).expect("a create"),
    };
    let payload = std::sync::Arc::new(codec.encode_command(&topic, &command).await?);
    let topic = std::sync::Arc::new(topic);
    let producer = Producer::new(settings, delivery_timeout, "loadgen")?;
    let app = axum::Router::new().route(
        "/v1/orders",
        axum::routing::post(move || {
            let (producer, payload, topic) = (producer.clone(), payload.clone(), topic.clone());
            async move {
                let key = order_key(OrderId::new_random());
                let record = Outgoing {
                    topic: &topic,
                    key: key.as_bytes(),
                    payload: Some(&payload),
                    headers: None,
                };
                match producer.send(record).await {
                    Ok(_) => axum::http::StatusCode::ACCEPTED,
                    Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE,
                }
            }
        }),
    );
    axum::serve(listener, app).await?;
    Ok(())
}
