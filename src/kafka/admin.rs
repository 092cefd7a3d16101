//! Topic administration: `orderflow topics create`.

use std::time::Duration;

use anyhow::Context;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::{KafkaSettings, Topics};

/// What a topic holds, which decides its cleanup policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// A log of records kept for the retention period.
    Log,
    /// Latest value per key (order snapshots); deletes are tombstones.
    Compacted,
}

/// Creates orderflow's topics; topics that already exist are left as they are.
/// Returns the names that were created.
pub async fn create_topics(
    settings: &KafkaSettings,
    topics: &Topics,
    partitions: i32,
    replication: i32,
) -> anyhow::Result<Vec<String>> {
    let admin: AdminClient<DefaultClientContext> = settings.client_config(&[]).create()?;
    let wanted = topics.all().map(|name| {
        let retention = if name == topics.state {
            Retention::Compacted
        } else {
            Retention::Log
        };
        (name, retention)
    });
    let new_topics: Vec<NewTopic> = wanted
        .iter()
        .map(|(name, retention)| {
            let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
            match retention {
                Retention::Log => topic,
                Retention::Compacted => topic.set("cleanup.policy", "compact"),
            }
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut created = Vec::new();
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(anyhow::Error::new(KafkaError::AdminOp(code)))
                    .with_context(|| format!("creating topic {name}"));
            }
        }
    }
    Ok(created)
}
