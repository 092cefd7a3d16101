//! The groups of flags that several commands share: telemetry, HTTP, Kafka, PostgreSQL,
//! Redis and the processor's batching. Each flag has an `ORDERFLOW_*` environment variable
//! and a default that finds the local services of `scripts/services.sh`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use crate::codec::{Codec, Registry, WireFormat};
use crate::ingress::auth::AuthMode;
use crate::kafka::{KafkaSettings, Topics};
use crate::telemetry::LogFormat;

#[derive(Debug, Clone, Args)]
pub struct TelemetryArgs {
    /// Log line format.
    #[arg(long, env = "ORDERFLOW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Where Prometheus metrics are served (`/metrics`), on a port of their own.
    #[arg(
        long,
        env = "ORDERFLOW_METRICS_ADDR",
        default_value = "127.0.0.1:9464",
        global = true
    )]
    pub metrics_addr: SocketAddr,
    /// Export traces over OTLP/HTTP (protobuf) to this collector (its base URL, e.g.
    /// `http://127.0.0.1:4318`; spans go to `/v1/traces`). Off when not given.
    #[arg(long, env = "ORDERFLOW_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<url::Url>,
}

#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// How callers authenticate: `api-key` (keys from `orderflow apikeys create`) or `none`
    /// (every caller is storefront `default`; local runs only, logged loudly).
    #[arg(long, env = "ORDERFLOW_AUTH", value_enum, default_value = "api-key")]
    pub auth: AuthMode,
    /// Requests per second each API key may make, across all ingress replicas (GCRA in
    /// Redis); 0 turns the limit off.
    #[arg(long, env = "ORDERFLOW_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,
    /// Requests an API key may burst above its rate.
    #[arg(long, env = "ORDERFLOW_RATE_BURST", default_value_t = 50)]
    pub rate_burst: u32,
    /// Also accept OAuth2 bearer JWTs (RS256) signed by a key of this JWKS file.
    #[arg(long, env = "ORDERFLOW_JWKS_FILE", conflicts_with = "jwks_url")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// Also accept OAuth2 bearer JWTs (RS256) signed by a key of the JWKS at this URL
    /// (fetched at start, and again for an unknown key at most once a minute).
    #[arg(long, env = "ORDERFLOW_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// The `iss` a bearer JWT must carry, if set.
    #[arg(long, env = "ORDERFLOW_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The `aud` a bearer JWT must carry, if set.
    #[arg(long, env = "ORDERFLOW_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The bearer JWT's claim that names the caller's storefront.
    #[arg(
        long,
        env = "ORDERFLOW_JWT_STOREFRONT_CLAIM",
        default_value = "storefront"
    )]
    pub jwt_storefront_claim: String,
    /// Address the HTTP API listens on.
    #[arg(long, env = "ORDERFLOW_HTTP_ADDR", default_value = "127.0.0.1:3000")]
    pub http_addr: SocketAddr,
    /// A storefront's Stripe webhook endpoint secret, `<storefront>=<whsec_...>`: Stripe's
    /// notifications to POST /v1/providers/stripe/webhook signed with it record payments
    /// for that storefront. Repeat (or separate by commas) for several storefronts, or for
    /// two secrets of one while Stripe rolls its secret. Never logged.
    #[arg(
        long = "stripe-webhook-secret",
        env = "ORDERFLOW_STRIPE_WEBHOOK_SECRETS",
        value_delimiter = ','
    )]
    pub stripe_webhook_secrets: Vec<crate::ingress::stripe::EndpointSecret>,
    /// A file of such secrets, one `<storefront>=<whsec_...>` per line (`#` comments).
    #[arg(long, env = "ORDERFLOW_STRIPE_WEBHOOK_SECRETS_FILE")]
    pub stripe_webhook_secrets_file: Option<std::path::PathBuf>,
    /// Longest a request may take, including the broker's acknowledgement of a write.
    #[arg(long, env = "ORDERFLOW_REQUEST_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (`bootstrap.servers`).
    #[arg(
        long,
        env = "ORDERFLOW_KAFKA_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub kafka_brokers: String,
    /// Any librdkafka property as KEY=VALUE (e.g. security.protocol=SASL_SSL); repeatable,
    /// comma-separated in the environment variable. Overrides orderflow's defaults.
    #[arg(long = "kafka-config", env = "ORDERFLOW_KAFKA_CONFIG", value_parser = parse_key_value, value_delimiter = ',')]
    pub kafka_config: Vec<(String, String)>,
    /// SASL password (with --kafka-config sasl.username=... for SCRAM); kept out of
    /// --kafka-config so it can be injected as a secret.
    #[arg(long, env = "ORDERFLOW_KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<SecretString>,
    /// Topic of incoming commands.
    #[arg(
        long,
        env = "ORDERFLOW_COMMANDS_TOPIC",
        default_value = "orders.commands"
    )]
    pub commands_topic: String,
    /// Topic of emitted events.
    #[arg(long, env = "ORDERFLOW_EVENTS_TOPIC", default_value = "orders.events")]
    pub events_topic: String,
    /// Compacted topic of order snapshots.
    #[arg(long, env = "ORDERFLOW_STATE_TOPIC", default_value = "orders.state")]
    pub state_topic: String,
    /// Dead-letter topic for undecodable commands.
    #[arg(
        long,
        env = "ORDERFLOW_DLQ_TOPIC",
        default_value = "orders.commands.dlq"
    )]
    pub dlq_topic: String,
    /// Wire format of the records orderflow writes: `single-object` (Avro single-object
    /// encoding, no registry) or `confluent` (schema registry framing; needs
    /// --schema-registry-url). Both are always read.
    #[arg(
        long,
        env = "ORDERFLOW_WIRE_FORMAT",
        value_enum,
        default_value = "single-object"
    )]
    pub wire_format: WireFormat,
    /// Confluent-compatible schema registry; subjects are `<topic>-value`.
    #[arg(long, env = "ORDERFLOW_SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,
    /// How long a produce may wait for the broker's acknowledgement before it fails.
    #[arg(long = "kafka-delivery-timeout", env = "ORDERFLOW_KAFKA_DELIVERY_TIMEOUT", value_parser = humantime::parse_duration, default_value = "5s")]
    pub delivery_timeout: Duration,
}

impl KafkaArgs {
    pub fn settings(&self) -> KafkaSettings {
        let mut properties = self.kafka_config.clone();
        if let Some(password) = &self.kafka_sasl_password {
            properties.push((
                "sasl.password".to_owned(),
                password.expose_secret().to_owned(),
            ));
        }
        KafkaSettings {
            brokers: self.kafka_brokers.clone(),
            properties,
        }
    }

    /// The codec these settings ask for; a bad combination names the setting.
    pub fn codec(&self) -> anyhow::Result<Codec> {
        let registry = self.schema_registry_url.as_deref().map(Registry::new);
        Codec::new(self.wire_format, registry).map_err(anyhow::Error::msg)
    }

    pub fn topics(&self) -> Topics {
        Topics {
            commands: self.commands_topic.clone(),
            events: self.events_topic.clone(),
            state: self.state_topic.clone(),
            dlq: self.dlq_topic.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "ORDERFLOW_DATABASE_URL",
        default_value = "postgres://orderflow:orderflow@127.0.0.1:5432/orderflow",
        hide_default_value = true
    )]
    pub database_url: SecretString,
    /// PostgreSQL password; overrides one in --database-url (inject it as a secret).
    #[arg(long, env = "ORDERFLOW_DATABASE_PASSWORD", hide_env_values = true)]
    pub database_password: Option<SecretString>,
    /// Most PostgreSQL connections this process opens.
    #[arg(long, env = "ORDERFLOW_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
}

#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis connection URL.
    #[arg(
        long,
        env = "ORDERFLOW_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
    /// Redis password (AUTH token); overrides one in --redis-url.
    #[arg(long, env = "ORDERFLOW_REDIS_PASSWORD", hide_env_values = true)]
    pub redis_password: Option<SecretString>,
    /// How long a cached order lives without being rewritten.
    #[arg(long, env = "ORDERFLOW_CACHE_TTL", value_parser = humantime::parse_duration, default_value = "24h")]
    pub cache_ttl: Duration,
    /// Cached orders the ingress also keeps in memory for GET /v1/orders/{id}, evicted by
    /// Redis's invalidation messages when any processor writes them (RESP3 client-side
    /// caching); 0 reads Redis every time.
    #[arg(long, env = "ORDERFLOW_LOCAL_CACHE_ENTRIES", default_value_t = 10_000)]
    pub local_cache_entries: usize,
}

#[derive(Debug, Clone, Args)]
pub struct ProcessorArgs {
    /// Kafka consumer group of the processors.
    #[arg(
        long,
        env = "ORDERFLOW_GROUP_ID",
        default_value = "orderflow-processor"
    )]
    pub group_id: String,
    /// Most commands handled as one unit: one PostgreSQL transaction, and at most this many
    /// events and dead letters published together (smaller batches that queue up while one
    /// publishes go out together).
    #[arg(long, env = "ORDERFLOW_BATCH_MAX", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_max: u32,
    /// Longest wait for a batch to fill after its first command.
    #[arg(long, env = "ORDERFLOW_BATCH_LINGER", value_parser = humantime::parse_duration, default_value = "10ms")]
    pub batch_linger: Duration,
    /// A batch goes once no further command arrived for this long, before its linger is
    /// over: a lone command does not wait for the linger, a burst still fills the batch
    /// (`0s`: always wait out the linger).
    #[arg(long, env = "ORDERFLOW_BATCH_IDLE", value_parser = humantime::parse_duration, default_value = "1ms")]
    pub batch_idle: Duration,
    /// Longest a partition revocation or a shutdown waits for the in-flight batch; keep it
    /// well below `max.poll.interval.ms` (300 s): time spent waiting is time not polling.
    #[arg(long, env = "ORDERFLOW_DRAIN_TIMEOUT", value_parser = humantime::parse_duration, default_value = "20s")]
    pub drain_timeout: Duration,
    /// Memory budget, in MiB, of the orders the processor remembers between batches (the
    /// least recently used are forgotten and loaded again when needed).
    #[arg(long, env = "ORDERFLOW_ORDER_MEMORY_MB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub order_memory_mb: u64,
    /// Orders whose Redis write failed that are kept whole until Redis answers (ten times as
    /// many more are kept by id and read from PostgreSQL then).
    #[arg(long, env = "ORDERFLOW_CACHE_BACKLOG_ORDERS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_backlog_orders: u64,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[derive(Debug, Clone, Args)]
pub struct WebhookKeyArgs {
    /// The key that seals webhook endpoint secrets in PostgreSQL (32 bytes, base64: `orderflow
    /// webhooks generate-key`), so that a database dump alone cannot sign for a storefront.
    /// Without it (or --webhooks-secret-key-file) /v1/webhooks answers 404 and no
    /// dispatcher runs. Never logged.
    #[arg(long, env = "ORDERFLOW_WEBHOOKS_SECRET_KEY", hide_env_values = true)]
    pub webhooks_secret_key: Option<SecretString>,
    /// A file holding that key.
    #[arg(
        long,
        env = "ORDERFLOW_WEBHOOKS_SECRET_KEY_FILE",
        conflicts_with = "webhooks_secret_key"
    )]
    pub webhooks_secret_key_file: Option<std::path::PathBuf>,
    /// Let endpoints be on private, loopback and link-local addresses (tests and local runs).
    #[arg(long, env = "ORDERFLOW_WEBHOOKS_ALLOW_PRIVATE")]
    pub webhooks_allow_private: bool,
}

impl WebhookKeyArgs {
    /// The sealing key, if one is configured.
    pub fn sealing_key(&self) -> anyhow::Result<Option<crate::webhooks::secrets::SealingKey>> {
        let text = match (&self.webhooks_secret_key, &self.webhooks_secret_key_file) {
            (Some(key), _) => key.expose_secret().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("--webhooks-secret-key-file {}: {e}", path.display())
            })?,
            (None, None) => return Ok(None),
        };
        crate::webhooks::secrets::SealingKey::parse(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("--webhooks-secret-key: {e}"))
    }
}

#[derive(Debug, Clone, Args)]
pub struct DispatchArgs {
    /// Kafka consumer group of the webhook dispatchers on the events topic.
    #[arg(
        long,
        env = "ORDERFLOW_WEBHOOKS_GROUP_ID",
        default_value = "orderflow-webhooks"
    )]
    pub webhooks_group_id: String,
    /// Delay before each attempt of a delivery (the first: before the first attempt); a
    /// delivery gets as many attempts as delays, each moved by up to ±20 % at random.
    #[arg(long, env = "ORDERFLOW_WEBHOOKS_RETRY_SCHEDULE", default_value = crate::webhooks::schedule::DEFAULT_SCHEDULE)]
    pub webhooks_retry_schedule: crate::webhooks::schedule::RetrySchedule,
    /// Longest an attempt waits for the endpoint's answer.
    #[arg(long, env = "ORDERFLOW_WEBHOOKS_TIMEOUT", value_parser = humantime::parse_duration, default_value = "15s")]
    pub webhooks_timeout: Duration,
    /// Most attempts in flight to one endpoint: a slow endpoint holds only its own.
    #[arg(long, env = "ORDERFLOW_WEBHOOKS_MAX_IN_FLIGHT", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub webhooks_max_in_flight: u32,
    /// An endpoint whose every attempt failed for this long is disabled (and its storefront
    /// told by a `webhook.endpoint_disabled` event).
    #[arg(long, env = "ORDERFLOW_WEBHOOKS_DISABLE_AFTER", value_parser = humantime::parse_duration, default_value = "5days")]
    pub webhooks_disable_after: Duration,
    /// How often due retries are looked for when nothing else wakes the dispatcher.
    #[arg(long, env = "ORDERFLOW_WEBHOOKS_POLL_INTERVAL", value_parser = humantime::parse_duration, default_value = "1s")]
    pub webhooks_poll_interval: Duration,
}

impl DispatchArgs {
    pub fn config(&self, allow_private: bool) -> crate::webhooks::dispatch::DispatchConfig {
        crate::webhooks::dispatch::DispatchConfig {
            schedule: self.webhooks_retry_schedule.clone(),
            timeout: self.webhooks_timeout,
            max_in_flight: self.webhooks_max_in_flight as usize,
            disable_after: self.webhooks_disable_after,
            poll_interval: self.webhooks_poll_interval,
            allow_private,
        }
    }
}
