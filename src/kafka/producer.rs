//! The idempotent producer every orderflow component writes with.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaSettings;
use super::stats::{self, ClientStats};

/// One record to send.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub topic: &'a str,
    pub key: &'a [u8],
    /// None: a tombstone.
    pub payload: Option<&'a [u8]>,
    pub headers: Option<OwnedHeaders>,
}

#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer<ClientStats>,
    queue_timeout: Duration,
}

impl Producer {
    /// `delivery_timeout` bounds how long a send may take before it fails (message.timeout.ms);
    /// `client` names it in the Kafka client metrics (`ingress`, `publisher`, ...).
    pub fn new(
        settings: &KafkaSettings,
        delivery_timeout: Duration,
        client: &'static str,
    ) -> Result<Self, KafkaError> {
        let timeout_ms = delivery_timeout.as_millis().to_string();
        let inner = settings
            .client_config(&[
                ("enable.idempotence", "true"),
                // Topics come from `orderflow topics create` with their partition count and
                // cleanup policy; a misnamed one must fail, not appear with broker defaults.
                ("allow.auto.create.topics", "false"),
                ("acks", "all"),
                ("linger.ms", "2"),
                ("compression.type", "lz4"),
                ("message.timeout.ms", &timeout_ms),
                stats::INTERVAL,
            ])
            .create_with_context(ClientStats { client })?;
        Ok(Self {
            inner,
            queue_timeout: delivery_timeout,
        })
    }

    /// Sends one record and waits for the broker's acknowledgement; a full local queue is
    /// retried until the delivery timeout.
    pub async fn send(&self, record: Outgoing<'_>) -> Result<(i32, i64), KafkaError> {
        let mut future = FutureRecord::to(record.topic).key(record.key);
        if let Some(payload) = record.payload {
            future = future.payload(payload);
        }
        if let Some(headers) = record.headers {
            future = future.headers(headers);
        }
        self.inner
            .send(future, self.queue_timeout)
            .await
            .map(|delivery| (delivery.partition, delivery.offset))
            .map_err(|(err, _)| err)
    }

    /// Answers when the cluster knows `topic` and its partitions (a metadata request, which
    /// also gives the producer the topic's leaders before its first record needs them).
    pub async fn ping(&self, topic: &str) -> Result<(), KafkaError> {
        let client = self.inner.clone();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let metadata = client
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(2))?;
            match metadata.topics().first() {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
                Some(t) => Err(KafkaError::MetadataFetch(
                    t.error()
                        .map_or(RDKafkaErrorCode::UnknownTopicOrPartition, Into::into),
                )),
                None => Err(KafkaError::MetadataFetch(
                    RDKafkaErrorCode::UnknownTopicOrPartition,
                )),
            }
        })
        .await
        .map_err(|_| KafkaError::Canceled)?
    }

    /// Sends every record concurrently and waits for all acknowledgements.
    pub async fn send_all(&self, records: Vec<Outgoing<'_>>) -> Result<(), KafkaError> {
        let sends = records.into_iter().map(|r| self.send(r));
        for result in futures::future::join_all(sends).await {
            result?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the deployment (terraform's ECS task, MSK) configures: TLS with SASL/SCRAM. A
    /// librdkafka built without TLS refuses this configuration when the client is created.
    #[test]
    fn a_producer_for_msk_with_tls_and_scram_can_be_created() {
        let settings = KafkaSettings {
            brokers: "b-1.example:9096".into(),
            properties: [
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "orderflow"),
                ("sasl.password", "secret"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        };
        let producer = Producer::new(&settings, Duration::from_secs(5), "test");
        assert!(producer.is_ok(), "{:?}", producer.err());
    }
}
