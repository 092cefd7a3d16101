//! Kafka clients: one place that turns settings into librdkafka configuration.

pub mod admin;
pub mod producer;

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

/// The topics orderflow reads and writes.
#[derive(Debug, Clone)]
pub struct Topics {
    pub commands: String,
    pub events: String,
    pub state: String,
    pub dlq: String,
}

/// The record key of an order: its canonical UUID string (36 bytes), so any client can
/// partition, compact and filter by it.
pub fn order_key(order_id: crate::domain::OrderId) -> String {
    order_id.0.as_hyphenated().to_string()
}
