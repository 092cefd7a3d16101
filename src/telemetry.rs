//! Logging and trace export: one call at start. Logs are text or JSON, filtered by `RUST_LOG`
//! (default `info`); with an OTLP endpoint, orderflow's spans are exported over OTLP/HTTP
//! (protobuf) as well, whatever `RUST_LOG` says.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How logs are written: human-readable text or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What has to be flushed before the process exits.
#[must_use = "call shutdown before exiting, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops exporting.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "flushing the last spans");
        }
    }
}

/// Logs go to stderr, so stdout stays clean for `orderflow tail`'s JSON lines. With
/// `otlp_endpoint` (the collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`: spans go to
/// `<it>/v1/traces`), spans are batched and exported from a thread of the SDK's own.
pub fn init(format: LogFormat, otlp_endpoint: Option<&url::Url>) -> anyhow::Result<Telemetry> {
    // The v1 schemas have single-branch unions; they are published and cannot change, so
    // apache-avro's warning about them at every start says nothing new.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,apache_avro::schema::parser=error"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    let provider = otlp_endpoint.map(provider).transpose()?;
    let spans = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("orderflow"))
            .with_filter(Targets::new().with_target("orderflow", Level::INFO))
    });
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .init();
    if let Some(provider) = &provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
        crate::trace::start_recording();
    }
    Ok(Telemetry { provider })
}

fn provider(endpoint: &url::Url) -> anyhow::Result<SdkTracerProvider> {
    let traces = format!("{}/v1/traces", endpoint.as_str().trim_end_matches('/'));
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces)
        .build()
        .context("building the OTLP span exporter")?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("orderflow").build())
        .build())
}
