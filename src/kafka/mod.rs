//! Kafka clients: one place that turns settings into librdkafka configuration.

pub mod admin;
pub mod producer;
pub mod reader;
pub mod stats;

use rdkafka::ClientConfig;

/// Connection settings shared by every client orderflow creates.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Arbitrary librdkafka properties (security.protocol, sasl.*, ...), applied last so
    /// they override orderflow's own defaults.
    pub properties: Vec<(String, String)>,
}

impl KafkaSettings {
    /// A client configuration with `defaults` overridden by the user's properties.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}

/// Consumer fetch settings of the processor (and of the benchmark's I/O ceiling, which reads
/// the same way). After a pause, a resumed partition's records must be back before the
/// buffered ones run out: smaller fetch responses come back sooner, and a fetch the broker
/// holds while nothing is fetchable delays the next one by at most 100 ms (librdkafka's
/// defaults, 1 MiB and 500 ms, stalled the processor for over a second after each resume).
pub const FETCH_WAIT: (&str, &str) = ("fetch.wait.max.ms", "100");
pub const PARTITION_FETCH_BYTES: (&str, &str) = ("max.partition.fetch.bytes", "262144");

/// Headers of a command sent over HTTP with an idempotency key: the key (hashed with its
/// storefront, hex) and the fingerprint of the request (hex). The processor keeps the first
/// fingerprint of every key and rejects a command whose request differs.
pub const IDEMPOTENCY_KEY_HEADER: &str = "orderflow.idempotency.key";
pub const IDEMPOTENCY_FINGERPRINT_HEADER: &str = "orderflow.idempotency.fingerprint";

/// Headers of a dead letter (topology.md, "orders.commands.dlq"), and of a command replayed
/// from one by `orderflow dlq replay`.
pub mod dlq_headers {
    pub const ERROR_KIND: &str = "orderflow.error.kind";
    pub const ERROR_MESSAGE: &str = "orderflow.error.message";
    pub const SOURCE_TOPIC: &str = "orderflow.source.topic";
    pub const SOURCE_PARTITION: &str = "orderflow.source.partition";
    pub const SOURCE_OFFSET: &str = "orderflow.source.offset";
    pub const SOURCE_TIMESTAMP: &str = "orderflow.source.timestamp";
    pub const PAYLOAD_TRUNCATED: &str = "orderflow.payload.truncated";
    pub const KEY_TRUNCATED: &str = "orderflow.key.truncated";
    /// How many times the command was replayed from the DLQ: set on the replayed command,
    /// and carried by the processor onto its dead letter if it is refused again, so a replay
    /// can stop at a cap instead of looping.
    pub const REPLAY_COUNT: &str = "orderflow.replay.count";
    /// On a replayed command: the dead letter it came from, `<topic>/<partition>/<offset>`.
    pub const REPLAY_OF: &str = "orderflow.replay.of";
}

/// The topics orderflow reads and writes.
#[derive(Debug, Clone)]
pub struct Topics {
    pub commands: String,
    pub events: String,
    pub state: String,
    pub dlq: String,
}

impl Topics {
    /// Every topic orderflow uses, in the order `topics create` makes them.
    pub fn all(&self) -> [&str; 4] {
        [&self.commands, &self.events, &self.state, &self.dlq]
    }
}

/// The record key of an order: its canonical UUID string (36 bytes), so any client can
/// partition, compact and filter by it.
pub fn order_key(order_id: crate::domain::OrderId) -> String {
    order_id.0.as_hyphenated().to_string()
}
