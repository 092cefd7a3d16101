//! librdkafka's statistics as metrics: how many requests of each kind every client sends the
//! brokers, how many records they carry and how long the brokers take to answer — where a
//! pipeline's broker time goes (scripts/bench-e2e.sh prints them per client).

use rdkafka::ClientContext;
use rdkafka::Statistics;

/// How often librdkafka reports its statistics (`statistics.interval.ms`).
pub const INTERVAL: (&str, &str) = ("statistics.interval.ms", "5000");

/// A client context that exports the client's statistics under a fixed name (`ingress`,
/// `processor`, ...: a bounded label).
#[derive(Debug, Clone, Copy)]
pub struct ClientStats {
    pub client: &'static str,
}

impl ClientContext for ClientStats {
    fn stats(&self, statistics: Statistics) {
        crate::metrics::kafka_client(self.client, &statistics);
    }
}
