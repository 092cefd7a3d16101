//! The HTTP API. Writes only produce commands to Kafka; reads come from Redis, then PostgreSQL.
//! The ingress writes no order state to PostgreSQL or Redis; it writes only configuration:
//! webhook endpoints (`webhooks`).

pub mod auth;
mod command_status;
mod error;
mod health;
mod idempotency;
pub mod jwt;
pub mod openapi;
mod orders;
mod params;
pub mod ratelimit;
mod schemas;
mod strict_json;
pub mod stripe;
mod wakeups;
mod webhooks;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, MakeSpan, OnResponse, TraceLayer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::codec::Codec;
use crate::kafka::Topics;
use crate::kafka::producer::Producer;
use crate::store::{Cache, Store};

pub use error::ApiError;

/// What every handler shares; cloned per request, so one `Arc`.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(std::sync::Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The clients and settings behind `AppState`.
pub struct Services {
    pub producer: Producer,
    pub codec: Codec,
    pub store: Store,
    pub cache: Cache,
    pub topics: Topics,
    pub keys: std::sync::Arc<auth::Keys>,
    /// None: no rate limit.
    pub rate_limiter: Option<std::sync::Arc<ratelimit::RateLimiter>>,
    /// Notified when a processor commits handled commands (see `wakeups`).
    pub commands_handled: std::sync::Arc<tokio::sync::Notify>,
    /// Longest `?wait=` of `GET /v1/commands/{id}`: 30 s, and always inside the request
    /// timeout, so a long-poll answers `pending` rather than being cut off with a 503.
    pub max_wait: std::time::Duration,
    /// The storefronts' Stripe webhook secrets; None: the Stripe endpoint answers 404.
    pub stripe: Option<std::sync::Arc<stripe::StripeWebhooks>>,
    /// Webhook endpoint management; None (no sealing key): `/v1/webhooks` answers 404.
    pub webhooks: Option<crate::webhooks::endpoints::Endpoints>,
}

/// Keeps `Services::commands_handled` notified until `shutdown`.
pub async fn listen_for_handled_commands(
    state: AppState,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    wakeups::listen(
        state.store.clone(),
        state.commands_handled.clone(),
        shutdown,
    )
    .await
}

/// The longest long-poll a request timeout leaves room for: a second below it, at most 30 s.
pub fn max_wait(request_timeout: std::time::Duration) -> std::time::Duration {
    request_timeout
        .saturating_sub(std::time::Duration::from_secs(1))
        .min(std::time::Duration::from_secs(30))
}

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState, request_timeout: Duration) -> Router {
    Router::new()
        .route("/v1/orders", post(orders::create).get(orders::list))
        .route(
            "/v1/orders/{id}",
            get(orders::get)
                .patch(orders::update)
                .delete(orders::delete),
        )
        .route("/v1/orders/{id}/confirm", post(orders::confirm))
        .route("/v1/orders/{id}/ship", post(orders::ship))
        .route("/v1/orders/{id}/shipping", put(orders::update_shipping))
        .route("/v1/orders/{id}/deliver", post(orders::deliver))
        .route("/v1/orders/{id}/cancel", post(orders::cancel))
        .route("/v1/orders/{id}/payments", post(orders::record_payment))
        .route(
            "/v1/orders/{id}/payments/{transaction_id}/settle",
            post(orders::settle_payment),
        )
        .route(
            "/v1/orders/{id}/fulfillments",
            post(orders::create_fulfillment),
        )
        .route(
            "/v1/orders/{id}/fulfillments/{fulfillment_id}/ship",
            post(orders::ship_fulfillment),
        )
        .route(
            "/v1/orders/{id}/fulfillments/{fulfillment_id}/deliver",
            post(orders::deliver_fulfillment),
        )
        .route(
            "/v1/orders/{id}/fulfillments/{fulfillment_id}/cancel",
            post(orders::cancel_fulfillment),
        )
        .route("/v1/orders/{id}/returns", post(orders::request_return))
        .route(
            "/v1/orders/{id}/returns/{return_id}/receive",
            post(orders::receive_return),
        )
        .route(
            "/v1/orders/{id}/returns/{return_id}/cancel",
            post(orders::cancel_return),
        )
        .route("/v1/providers/stripe/webhook", post(stripe::webhook))
        .route("/v1/orders/{id}/events", get(orders::events))
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/v1/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry),
        )
        .route("/v1/webhooks/{id}/replay", post(webhooks::replay))
        .route("/v1/commands/{id}", get(command_status::command))
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    openapi::document(),
                )
            }),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(axum::middleware::from_fn(crate::metrics::http))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(axum::middleware::map_response(error::problem_for_bare))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    |response: &axum::http::Response<_>,
                     latency: Duration,
                     span: &tracing::Span| {
                        span.record("http.response.status_code", response.status().as_u16());
                        DefaultOnResponse::default().on_response(response, latency, span);
                    },
                ),
        )
        .with_state(state)
}

/// A request's server span, continuing the caller's trace context, while spans are exported;
/// otherwise tower-http's own debug span (free unless `RUST_LOG` asks for `tower_http`).
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    if !crate::trace::recording() {
        return DefaultMakeSpan::new().make_span(request);
    }
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", axum::extract::MatchedPath::as_str);
    let method = request.method();
    let span = tracing::info_span!(
        "http request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    // Fails only without the OpenTelemetry layer, which recording implies.
    let _ = span.set_parent(crate::trace::from_http(request.headers()));
    span
}

/// Serves `router` on `listener` until `shutdown`, finishing in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "ingress listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    tracing::info!("ingress stopped");
    Ok(())
}
