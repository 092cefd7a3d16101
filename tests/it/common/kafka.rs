//! Records produced to and consumed from the test's topics, owned.

use super::*;

/// A consumed record, owned.
#[derive(Debug)]
pub(crate) struct Consumed {
    pub key: Option<String>,
    /// Empty for a tombstone (see `tombstone`).
    pub payload: Vec<u8>,
    pub tombstone: bool,
    pub partition: i32,
    pub offset: i64,
    pub headers: Vec<(String, String)>,
}

impl Consumed {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Produces one raw record; returns where it landed.
pub(crate) async fn produce(
    topic: &str,
    key: &str,
    payload: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> (i32, i64) {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    static PRODUCER: std::sync::OnceLock<FutureProducer> = std::sync::OnceLock::new();
    let producer = PRODUCER.get_or_init(|| {
        ClientConfig::new()
            .set("bootstrap.servers", KAFKA)
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .create()
            .expect("test producer")
    });
    let mut record = FutureRecord::to(topic).key(key);
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    let headers = headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
        h.insert(Header {
            key: k,
            value: Some(*v),
        })
    });
    let delivery = producer
        .send(record.headers(headers), Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .expect("produce");
    (delivery.partition, delivery.offset)
}

pub(crate) async fn consume(topic: &str, want: usize, timeout: Duration) -> Vec<Consumed> {
    consume_from(KAFKA, topic, want, timeout).await
}

/// `consume` from the broker at `kafka`.
pub(crate) async fn consume_from(
    kafka: &str,
    topic: &str,
    want: usize,
    timeout: Duration,
) -> Vec<Consumed> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka)
        .set("group.id", format!("test-reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("test consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    // A rebalance of this reader's group (nothing committed) starts it over from the
    // beginning: a record read twice must not count twice, or the tail would go unread.
    let (mut read, mut twice) = (std::collections::HashSet::new(), 0);
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < want {
        let Ok(message) = tokio::time::timeout_at(deadline, consumer.recv()).await else {
            break;
        };
        let message = message.expect("consume");
        if !read.insert((message.partition(), message.offset())) {
            twice += 1;
            continue;
        }
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Consumed {
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            payload: message.payload().unwrap_or_default().to_vec(),
            tombstone: message.payload().is_none(),
            partition: message.partition(),
            offset: message.offset(),
            headers,
        });
    }
    if twice > 0 {
        println!("{topic}: {twice} records delivered twice to the reader (skipped)");
    }
    out
}
