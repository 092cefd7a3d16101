//! Traces: W3C trace context through OpenTelemetry's propagator, and spans exported over
//! OTLP/HTTP when `--otlp-endpoint` is given (see `telemetry`).
//!
//! One trace follows a command: the HTTP request, the produce onto the commands topic, the
//! processor's handling of that command (linked to the span of the batch it was part of),
//! the PostgreSQL transaction that wrote it and the publishing of each event it caused. The
//! event carries that last span's context in its `traceparent` header (stored with the event,
//! so a relayed event carries the same one), and downstream consumers continue from it.
//!
//! Without an exporter no span is recorded, and a context passes through unchanged: the
//! command's header names the caller's span, the event's header the command's parent.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use opentelemetry::global::{self, BoxedSpan, BoxedTracer};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind, Status, TraceContextExt, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rdkafka::message::{BorrowedHeaders, Header, Headers, OwnedHeaders};

/// The header name, as W3C Trace Context defines it.
pub const HEADER: &str = "traceparent";

/// The name spans are recorded under (the instrumentation scope).
const SCOPE: &str = "orderflow";

static TRACER: OnceLock<BoxedTracer> = OnceLock::new();

fn propagator() -> &'static TraceContextPropagator {
    static PROPAGATOR: OnceLock<TraceContextPropagator> = OnceLock::new();
    PROPAGATOR.get_or_init(TraceContextPropagator::new)
}

/// Spans are recorded from now on, with the global tracer provider (set by `telemetry`).
pub(crate) fn start_recording() {
    let _ = TRACER.set(global::tracer(SCOPE));
}

/// Whether spans are recorded (an OTLP endpoint was given).
pub fn recording() -> bool {
    TRACER.get().is_some()
}

/// The trace context in HTTP request headers (an empty context if there is none).
pub fn from_http(headers: &axum::http::HeaderMap) -> Context {
    propagator().extract(&opentelemetry_http::HeaderExtractor(headers))
}

/// The (remote) span context in a Kafka record's headers, if it carries a valid one.
pub fn from_kafka(headers: Option<&BorrowedHeaders>) -> Option<SpanContext> {
    let headers = headers?;
    let cx = propagator().extract(&KafkaHeaders(headers));
    let span = cx.span().span_context().clone();
    span.is_valid().then_some(span)
}

/// `headers` with the trace context of `cx` added (nothing if it has no valid span).
pub fn into_kafka(cx: &Context, headers: OwnedHeaders) -> OwnedHeaders {
    let mut fields = HashMap::new();
    propagator().inject_context(cx, &mut fields);
    fields.iter().fold(headers, |headers, (key, value)| {
        headers.insert(Header {
            key,
            value: Some(value),
        })
    })
}

/// The `traceparent` header value naming `span`, if it is valid.
pub fn traceparent(span: &SpanContext) -> Option<String> {
    let cx = Context::new().with_remote_span_context(span.clone());
    let mut fields = HashMap::new();
    propagator().inject_context(&cx, &mut fields);
    fields.remove(HEADER)
}

/// A Kafka record's headers as a propagation carrier.
struct KafkaHeaders<'a>(&'a BorrowedHeaders);

impl Extractor for KafkaHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(key))
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|h| h.key).collect()
    }
}

/// The processor's span of one command: from the start of its batch until its events are
/// published. A child of the span that produced the command; linked to the batch's span.
pub struct CommandSpan {
    /// None while nothing is recorded: the command's context passes through.
    span: Option<BoxedSpan>,
    context: Option<SpanContext>,
    /// What became of it (the last fold's word), set on the span as it ends.
    outcome: Mutex<Option<&'static str>>,
    /// Its batch was committed; if not when it ends (abandoned, fenced, stopping), the span
    /// says so: another attempt or owner handles the command.
    committed: bool,
}

impl CommandSpan {
    /// Starts it (if recording), backdated to `started` (the batch's start).
    pub fn start(
        parent: Option<&SpanContext>,
        batch: &SpanContext,
        started: SystemTime,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Self {
        let Some(tracer) = TRACER.get() else {
            return Self {
                span: None,
                context: parent.cloned(),
                outcome: Mutex::new(None),
                committed: false,
            };
        };
        let parent = parent.map_or_else(Context::new, |p| {
            Context::new().with_remote_span_context(p.clone())
        });
        let mut builder = tracer
            .span_builder("orders.commands process")
            .with_kind(SpanKind::Consumer)
            .with_start_time(started)
            .with_attributes(attributes());
        if batch.is_valid() {
            builder = builder.with_links(vec![Link::with_context(batch.clone())]);
        }
        let span = builder.start_with_context(tracer, &parent);
        let context = Some(span.span_context().clone());
        Self {
            span: Some(span),
            context,
            outcome: Mutex::new(None),
            committed: false,
        }
    }

    /// Its batch is committed (the span ends once its events are published).
    pub fn committed(&mut self) {
        self.committed = true;
    }

    /// What the command's events descend from: this span, or (not recording) the command's
    /// own parent.
    pub fn context(&self) -> Option<&SpanContext> {
        self.context.as_ref()
    }

    /// Records, as a child, the PostgreSQL transaction that wrote the command's batch.
    pub fn transaction(&self, started: SystemTime, ended: SystemTime, commands: usize) {
        let (Some(tracer), Some(span)) = (TRACER.get(), &self.span) else {
            return;
        };
        let parent = Context::new().with_remote_span_context(span.span_context().clone());
        let mut child = tracer
            .span_builder("orders transaction")
            .with_kind(SpanKind::Client)
            .with_start_time(started)
            .with_attributes([
                KeyValue::new("db.system.name", "postgresql"),
                KeyValue::new("db.operation.name", "write batch"),
                KeyValue::new("orderflow.batch.commands", count(commands)),
            ])
            .start_with_context(tracer, &parent);
        child.end_with_timestamp(ended);
    }

    /// Records what became of the command (`applied`, `rejected`, `dlq`, ...).
    pub fn outcome(&self, outcome: &'static str) {
        if self.span.is_some() {
            *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        }
    }

    /// Starts the span of publishing one of its events: from the moment the event exists
    /// until the broker acknowledged it (it ends when dropped).
    pub fn event(&self, event_type: &'static str) -> EventSpan {
        let (Some(tracer), Some(span)) = (TRACER.get(), &self.span) else {
            return EventSpan {
                span: None,
                context: self.context.clone(),
                published: false,
            };
        };
        let parent = Context::new().with_remote_span_context(span.span_context().clone());
        let span = tracer
            .span_builder("orders.events publish")
            .with_kind(SpanKind::Producer)
            .with_attributes([
                KeyValue::new("messaging.system", "kafka"),
                KeyValue::new("messaging.operation.type", "send"),
                KeyValue::new("orderflow.event_type", event_type),
            ])
            .start_with_context(tracer, &parent);
        let context = Some(span.span_context().clone());
        EventSpan {
            span: Some(span),
            context,
            published: false,
        }
    }
}

impl Drop for CommandSpan {
    fn drop(&mut self) {
        let outcome = self
            .outcome
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(span) = &mut self.span else {
            return;
        };
        if self.committed {
            if let Some(outcome) = outcome {
                span.set_attribute(KeyValue::new("orderflow.outcome", outcome));
            }
        } else {
            span.set_attribute(KeyValue::new("orderflow.outcome", "abandoned"));
            span.set_status(Status::error("its batch was not committed by this attempt"));
        }
    }
}

/// The spans of committed batches, ended once their events are published (when dropped;
/// the events first, then the commands they are children of).
#[derive(Default)]
pub struct BatchSpans {
    pub events: Vec<EventSpan>,
    pub commands: Vec<CommandSpan>,
}

impl BatchSpans {
    pub fn extend(&mut self, other: BatchSpans) {
        self.events.extend(other.events);
        self.commands.extend(other.commands);
    }

    /// The broker acknowledged every event (otherwise, dropped, they end as errors: the
    /// relay of a next owner or assignment sends them).
    pub fn published(&mut self) {
        for event in &mut self.events {
            event.published = true;
        }
    }
}

/// The span of one event's publishing (see `CommandSpan::event`).
pub struct EventSpan {
    span: Option<BoxedSpan>,
    context: Option<SpanContext>,
    published: bool,
}

impl EventSpan {
    /// The `traceparent` the event carries.
    pub fn traceparent(&self) -> Option<String> {
        self.context.as_ref().and_then(traceparent)
    }
}

impl Drop for EventSpan {
    fn drop(&mut self) {
        if let (Some(span), false) = (&mut self.span, self.published) {
            span.set_status(Status::error(
                "not published by this attempt (not committed, or publishing stopped)",
            ));
        }
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn kafka(headers: &[(&str, &str)]) -> OwnedHeaders {
        headers.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(*value),
            })
        })
    }

    #[test]
    fn a_context_goes_from_http_to_kafka_and_back_unchanged() {
        let mut http = axum::http::HeaderMap::new();
        http.insert(HEADER, PARENT.parse().unwrap());
        http.insert("tracestate", "vendor=abc".parse().unwrap());
        let headers = into_kafka(&from_http(&http), OwnedHeaders::new());
        let span = from_kafka(Some(headers.as_borrowed())).expect("a valid context");
        assert_eq!(traceparent(&span).as_deref(), Some(PARENT));
        assert_eq!(span.trace_state().header(), "vendor=abc");
        assert!(span.is_remote() && span.is_sampled());
    }

    #[test]
    /// The propagator's rules (W3C Trace Context's, but for hex ids shorter than their size,
    /// which it reads zero-padded).
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let headers = kafka(&[(HEADER, bad)]);
            assert!(from_kafka(Some(headers.as_borrowed())).is_none(), "{bad}");
        }
        assert!(from_kafka(None).is_none());
        let mut http = axum::http::HeaderMap::new();
        http.insert(HEADER, "garbage".parse().unwrap());
        assert_eq!(
            into_kafka(&from_http(&http), OwnedHeaders::new()).count(),
            0
        );
    }

    #[test]
    fn without_an_exporter_a_command_passes_its_context_to_its_events() {
        let headers = kafka(&[(HEADER, PARENT)]);
        let parent = from_kafka(Some(headers.as_borrowed())).unwrap();
        let command = CommandSpan::start(
            Some(&parent),
            &SpanContext::empty_context(),
            SystemTime::now(),
            Vec::new,
        );
        assert_eq!(
            command.event("OrderCreated").traceparent().as_deref(),
            Some(PARENT)
        );
        let orphan = CommandSpan::start(
            None,
            &SpanContext::empty_context(),
            SystemTime::now(),
            Vec::new,
        );
        assert_eq!(orphan.event("OrderCreated").traceparent(), None);
    }
}
