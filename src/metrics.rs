//! Metric names (constants, bounded labels: never an order id) and the Prometheus exporter.

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;

pub const COMMANDS_TOTAL: &str = "orderflow_commands_total";
pub const BATCH_SIZE: &str = "orderflow_batch_size";
pub const BATCH_DURATION_SECONDS: &str = "orderflow_batch_duration_seconds";
pub const BATCH_RETRIES_TOTAL: &str = "orderflow_batch_retries_total";
pub const EVENTS_PUBLISHED_TOTAL: &str = "orderflow_events_published_total";
pub const CACHE_ERRORS_TOTAL: &str = "orderflow_cache_errors_total";
pub const HTTP_COMMANDS_PRODUCED_TOTAL: &str = "orderflow_http_commands_produced_total";
pub const STRIPE_EVENTS_TOTAL: &str = "orderflow_stripe_events_total";
pub const STAGE_DURATION_SECONDS: &str = "orderflow_batch_stage_duration_seconds";
pub const CONSUMER_LAG: &str = "orderflow_consumer_lag";
pub const CONSUMER_PAUSES_TOTAL: &str = "orderflow_consumer_pauses_total";
pub const OUTBOX_PENDING: &str = "orderflow_outbox_pending";
pub const HTTP_REQUESTS_TOTAL: &str = "orderflow_http_requests_total";
pub const RATE_LIMIT_FALLBACK_TOTAL: &str = "orderflow_rate_limit_fallback_total";
pub const RATE_LIMITED_TOTAL: &str = "orderflow_rate_limited_total";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "orderflow_http_request_duration_seconds";
/// Estimated bytes of the orders the processor remembers (bounded by --order-memory-mb).
pub const ORDER_MEMORY_BYTES: &str = "orderflow_order_memory_bytes";
/// Things that went wrong and were handled, by `kind`: `gap` (records missing between poll
/// and batch: the partition restarted at its stored offset), `stale_order` (an order's row
/// had moved past the batch's memory: folded again), `broker_commit` (storing a batch's offsets
/// for the automatic, lag-only commit to the broker failed), `unencodable` (a command's event can never be encoded: the command
/// went to the DLQ), `snapshot_skipped` (an order snapshot could never be encoded),
/// `cache_backlog` (orders whose Redis write failed beyond the backlog's bounds).
pub const PROCESSOR_FAULTS_TOTAL: &str = "orderflow_processor_faults_total";
/// Requests a Kafka client sent the brokers, by `client` and `request` (Produce, Fetch, ...).
pub const KAFKA_REQUESTS_TOTAL: &str = "orderflow_kafka_requests_total";
/// Records a Kafka client produced (`direction` = sent) or fetched (received).
pub const KAFKA_RECORDS_TOTAL: &str = "orderflow_kafka_records_total";
/// The brokers' mean round trip over librdkafka's last statistics window, by `client`.
pub const KAFKA_RTT_SECONDS: &str = "orderflow_kafka_rtt_seconds";
/// Topics a Kafka client knows a partition leader of (holds usable metadata for), by `client`.
pub const KAFKA_TOPICS: &str = "orderflow_kafka_topics";

/// Serves `/metrics` on its own port.
pub fn install(addr: SocketAddr) -> anyhow::Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| anyhow::anyhow!("starting the metrics exporter on {addr}: {e}"))
}

/// One command handled; `outcome` is one of a few fixed labels (applied, rejected,
/// duplicate, dlq), never anything of the command's.
pub fn command_handled(outcome: &'static str) {
    metrics::counter!(COMMANDS_TOTAL, "outcome" => outcome).increment(1);
}

pub fn batch_done(size: usize, took: Duration) {
    metrics::histogram!(BATCH_SIZE).record(size as f64);
    metrics::histogram!(BATCH_DURATION_SECONDS).record(took.as_secs_f64());
}

pub fn batch_retried() {
    metrics::counter!(BATCH_RETRIES_TOTAL).increment(1);
}

pub fn events_published(n: usize) {
    metrics::counter!(EVENTS_PUBLISHED_TOTAL).increment(n as u64);
}

pub fn order_memory_bytes(bytes: u64) {
    metrics::gauge!(ORDER_MEMORY_BYTES).set(bytes as f64);
}

pub fn partition_gap(partitions: usize) {
    metrics::counter!(PROCESSOR_FAULTS_TOTAL, "kind" => "gap").increment(partitions as u64);
}

pub fn stale_order_write() {
    metrics::counter!(PROCESSOR_FAULTS_TOTAL, "kind" => "stale_order").increment(1);
}

pub fn unencodable_command() {
    metrics::counter!(PROCESSOR_FAULTS_TOTAL, "kind" => "unencodable").increment(1);
}

pub fn cache_backlog_dropped(n: usize) {
    metrics::counter!(PROCESSOR_FAULTS_TOTAL, "kind" => "cache_backlog").increment(n as u64);
}

pub fn snapshot_skipped() {
    metrics::counter!(PROCESSOR_FAULTS_TOTAL, "kind" => "snapshot_skipped").increment(1);
}

pub fn broker_commit_failed() {
    metrics::counter!(PROCESSOR_FAULTS_TOTAL, "kind" => "broker_commit").increment(1);
}

pub fn cache_error() {
    metrics::counter!(CACHE_ERRORS_TOTAL).increment(1);
}

pub fn command_produced(kind: &'static str) {
    metrics::counter!(HTTP_COMMANDS_PRODUCED_TOTAL, "command" => kind).increment(1);
}

/// What became of a Stripe notification: recorded, ignored, unmatched, retry_later,
/// unreadable, bad_signature.
pub fn stripe_event(outcome: &'static str) {
    metrics::counter!(STRIPE_EVENTS_TOTAL, "outcome" => outcome).increment(1);
}

/// Time a batch spent in one stage: poll (waiting for its records), decode, load, fold,
/// commit, cache, publish (send + mark).
pub fn stage(stage: &'static str, took: Duration) {
    metrics::histogram!(STAGE_DURATION_SECONDS, "stage" => stage).record(took.as_secs_f64());
}

/// The buffer of polled records filled up and the assignment was paused.
pub fn consumer_paused() {
    metrics::counter!(CONSUMER_PAUSES_TOTAL).increment(1);
}

/// Records behind the end of a partition, as librdkafka's statistics report it.
pub fn consumer_lag(partition: i32, lag: i64) {
    metrics::gauge!(CONSUMER_LAG, "partition" => partition.to_string()).set(lag as f64);
}

/// A Kafka client's statistics (librdkafka's cumulative counters, summed over brokers).
pub fn kafka_client(client: &'static str, statistics: &rdkafka::Statistics) {
    let mut requests: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    let (mut rtt_sum, mut rtt_count) = (0i64, 0i64);
    for broker in statistics.brokers.values() {
        for (request, n) in &broker.req {
            *requests.entry(request.as_str()).or_default() += n;
        }
        if let Some(rtt) = &broker.rtt {
            rtt_sum += rtt.sum;
            rtt_count += rtt.cnt;
        }
    }
    for (request, n) in requests.into_iter().filter(|(_, n)| *n > 0) {
        metrics::counter!(KAFKA_REQUESTS_TOTAL, "client" => client, "request" => request.to_owned())
            .absolute(n as u64);
    }
    for (direction, n) in [("sent", statistics.txmsgs), ("received", statistics.rxmsgs)] {
        metrics::counter!(KAFKA_RECORDS_TOTAL, "client" => client, "direction" => direction)
            .absolute(n.max(0) as u64);
    }
    // A topic handle alone (a name asked about) is not metadata: a partition with a leader is.
    let known = statistics
        .topics
        .values()
        .filter(|t| {
            t.partitions
                .values()
                .any(|p| p.partition >= 0 && p.leader >= 0 && !p.unknown)
        })
        .count();
    metrics::gauge!(KAFKA_TOPICS, "client" => client).set(known as f64);
    if rtt_count > 0 {
        metrics::gauge!(KAFKA_RTT_SECONDS, "client" => client)
            .set(rtt_sum as f64 / rtt_count as f64 / 1e6);
    }
}

/// Outbox rows (events and dead letters) stored but not yet on Kafka.
pub fn outbox_pending(n: i64) {
    metrics::gauge!(OUTBOX_PENDING).set(n as f64);
}

/// axum middleware: requests by method, matched route (bounded: never a raw path) and status.
pub async fn http(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS_TOTAL, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A rate-limit decision made by the per-process limiter because Redis did not answer.
pub fn rate_limit_fallback() {
    metrics::counter!(RATE_LIMIT_FALLBACK_TOTAL).increment(1);
}

/// A request refused with 429.
pub fn rate_limited() {
    metrics::counter!(RATE_LIMITED_TOTAL).increment(1);
}

#[cfg(test)]
mod tests {
    #[test]
    fn topology_md_documents_every_metric_and_every_stage() {
        let topology = include_str!("../topology.md");
        let source = include_str!("metrics.rs");
        let names: Vec<&str> = source
            .split('"')
            .filter(|s| s.len() > "orderflow_".len() && s.starts_with("orderflow_"))
            .filter(|s| !s.contains(' '))
            .collect();
        assert!(names.len() >= 15, "{names:?}");
        for name in names {
            assert!(
                topology.contains(&format!("`{name}`")),
                "{name} is not in topology.md's metrics table"
            );
        }
        let processor = [
            include_str!("processor/poller.rs"),
            include_str!("processor/worker.rs"),
            include_str!("processor/publish.rs"),
        ];
        let stages_row = topology
            .lines()
            .find(|l| l.starts_with("| `orderflow_batch_stage_duration_seconds`"))
            .expect("the stage metric's row");
        for file in processor {
            for stage in file.split("metrics::stage(\"").skip(1) {
                let stage = stage.split('"').next().unwrap();
                assert!(
                    stages_row.contains(stage),
                    "stage {stage} is not documented"
                );
            }
        }
    }
}
