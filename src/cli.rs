//! Command line: every option has a flag and an `ORDERFLOW_*` environment variable, with
//! defaults that find the local services of `scripts/services.sh`.

use clap::{Args, Parser, Subcommand};

use std::time::Duration;

use crate::args::{
    DbArgs, DispatchArgs, HttpArgs, KafkaArgs, ProcessorArgs, RedisArgs, TelemetryArgs,
    WebhookKeyArgs,
};
use crate::dlq::DlqCommand;
use crate::loadgen::LoadgenCommand;
use crate::tail::TailCommand;

#[derive(Debug, Parser)]
#[command(
    name = "orderflow",
    version,
    about = "Kafka-first order-management service",
    // A flag given twice takes its last value (repeatable ones like --kafka-config append).
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (writes produce commands; reads come from Redis, then PostgreSQL).
    Ingress(IngressCommand),
    /// Consume commands, apply them, persist, cache and publish events.
    Processor(ProcessorCommand),
    /// Ingress, processor and (with --webhooks-secret-key) the webhook dispatcher in one
    /// process: the local default.
    All(AllCommand),
    /// Deliver events to the storefronts' webhook endpoints (the dispatcher); or, with a
    /// subcommand, manage endpoints.
    Webhooks(WebhooksCommand),
    /// Apply the database migrations embedded in the binary.
    Migrate(MigrateCommand),
    /// Manage orderflow's Kafka topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Apikeys(ApikeysCommand),
    /// Print the OpenAPI 3 document of the HTTP API (as served at /openapi.json).
    Openapi,
    /// Load for benchmarks: preload commands, or measure the I/O ceiling.
    #[command(subcommand)]
    Loadgen(LoadgenCommand),
    /// Print the records of an orderflow topic as JSON lines (key, partition, offset,
    /// headers, decoded value); stops at the end unless --follow.
    Tail(TailCommand),
    /// Dead letters: list and show what the processor refused, and replay it onto the
    /// commands topic, as it was or corrected.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

#[derive(Debug, Subcommand)]
pub enum ApikeysCommand {
    /// Create an API key for a storefront; the key is printed once and only its hash is kept.
    Create {
        /// The storefront every request with this key acts for.
        #[arg(long)]
        storefront: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Args)]
pub struct IngressCommand {
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub webhooks: WebhookKeyArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Debug, Args)]
pub struct ProcessorCommand {
    #[command(flatten)]
    pub processor: ProcessorArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Debug, Args)]
pub struct AllCommand {
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub processor: ProcessorArgs,
    #[command(flatten)]
    pub webhooks: WebhookKeyArgs,
    #[command(flatten)]
    pub dispatch: DispatchArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WebhooksCommand {
    #[command(subcommand)]
    pub action: Option<WebhooksAction>,
    #[command(flatten)]
    pub dispatch: DispatchArgs,
    #[command(flatten)]
    pub webhooks: WebhookKeyArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once, at start
pub enum WebhooksAction {
    /// Manage a storefront's webhook endpoints (as /v1/webhooks does); prints JSON.
    #[command(subcommand)]
    Endpoints(EndpointsCommand),
    /// Print a new random key for --webhooks-secret-key.
    GenerateKey,
}

/// Which storefront's endpoints, and how to reach and unseal them.
#[derive(Debug, Args)]
pub struct EndpointsScope {
    /// The storefront whose endpoints these are.
    #[arg(long)]
    pub storefront: String,
    #[command(flatten)]
    pub webhooks: WebhookKeyArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Subcommand)]
pub enum EndpointsCommand {
    /// List the storefront's endpoints.
    List {
        #[command(flatten)]
        scope: EndpointsScope,
    },
    /// Create an endpoint; its secret is printed once.
    Create {
        #[command(flatten)]
        scope: EndpointsScope,
        #[arg(long)]
        url: String,
        /// An event type to deliver (repeatable); none: every type.
        #[arg(long = "event-type")]
        event_types: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Change an endpoint.
    Update {
        #[command(flatten)]
        scope: EndpointsScope,
        id: uuid::Uuid,
        #[arg(long)]
        url: Option<String>,
        /// The event types to deliver from now on (repeatable).
        #[arg(long = "event-type", conflicts_with = "all_event_types")]
        event_types: Vec<String>,
        /// Deliver every event type from now on.
        #[arg(long)]
        all_event_types: bool,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Delete an endpoint and its deliveries.
    Delete {
        #[command(flatten)]
        scope: EndpointsScope,
        id: uuid::Uuid,
    },
    /// Give an endpoint a new secret (printed once); the old one also signs for `--overlap`.
    RotateSecret {
        #[command(flatten)]
        scope: EndpointsScope,
        id: uuid::Uuid,
        #[arg(long, value_parser = humantime::parse_duration, default_value = "24h")]
        overlap: Duration,
    },
}

#[derive(Debug, Args)]
pub struct MigrateCommand {
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create the commands, events, state (compacted) and DLQ topics; existing ones are kept.
    Create {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Partitions per topic: the most processor instances that can share the work.
        #[arg(long, env = "ORDERFLOW_PARTITIONS", default_value_t = 12)]
        partitions: i32,
        /// Replicas per partition (3 on a production cluster).
        #[arg(long, env = "ORDERFLOW_REPLICATION_FACTOR", default_value_t = 1)]
        replication_factor: i32,
    },
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bare_all_uses_the_local_defaults() {
        let cli = Cli::try_parse_from(["orderflow", "all"]).unwrap();
        let Command::All(all) = cli.command else {
            panic!("parsed another command")
        };
        assert_eq!(all.http.http_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(all.kafka.kafka_brokers, "127.0.0.1:9092");
        assert_eq!(all.redis.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(all.processor.batch_max, 1000);
        assert_eq!(all.processor.batch_linger, Duration::from_millis(10));
        assert_eq!(all.processor.batch_idle, Duration::from_millis(1));
        assert_eq!(cli.telemetry.metrics_addr.to_string(), "127.0.0.1:9464");
    }

    #[test]
    fn kafka_config_passes_through_repeated_properties() {
        let cli = Cli::try_parse_from([
            "orderflow",
            "processor",
            "--kafka-config",
            "security.protocol=SASL_SSL",
            "--kafka-config",
            "sasl.mechanism=SCRAM-SHA-512",
        ])
        .unwrap();
        let Command::Processor(p) = cli.command else {
            panic!("parsed another command")
        };
        let config = p
            .kafka
            .settings()
            .client_config(&[("security.protocol", "PLAINTEXT")]);
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
    }

    #[test]
    fn malformed_kafka_config_names_the_setting() {
        let err = Cli::try_parse_from(["orderflow", "processor", "--kafka-config", "nonsense"])
            .unwrap_err();
        assert!(err.to_string().contains("--kafka-config"), "{err}");
    }

    #[test]
    fn a_flag_given_twice_takes_its_last_value() {
        let cli = Cli::try_parse_from([
            "orderflow",
            "all",
            "--redis-url",
            "redis://a",
            "--redis-url",
            "redis://b",
        ])
        .unwrap();
        let Command::All(all) = cli.command else {
            panic!("parsed another command")
        };
        assert_eq!(all.redis.redis_url, "redis://b");
    }

    #[test]
    fn the_sasl_password_joins_the_kafka_properties_without_appearing_in_debug_output() {
        let cli = Cli::try_parse_from([
            "orderflow",
            "processor",
            "--kafka-config",
            "sasl.username=orderflow",
            "--kafka-sasl-password",
            "s3cret",
        ])
        .unwrap();
        let Command::Processor(p) = cli.command else {
            panic!("parsed another command")
        };
        assert!(!format!("{:?}", p.kafka).contains("s3cret"));
        let config = p.kafka.settings().client_config(&[]);
        assert_eq!(config.get("sasl.password"), Some("s3cret"));
        assert_eq!(config.get("sasl.username"), Some("orderflow"));
    }

    #[test]
    fn zero_batch_max_is_refused() {
        assert!(Cli::try_parse_from(["orderflow", "processor", "--batch-max", "0"]).is_err());
    }

    #[test]
    fn tail_decodes_as_one_of_the_listed_ways() {
        let cli = Cli::try_parse_from(["orderflow", "tail", "orders.events", "--decode", "event"])
            .unwrap();
        let Command::Tail(t) = cli.command else {
            panic!("parsed another command")
        };
        assert_eq!(t.options.topic, "orders.events");
        assert_eq!(t.options.decode, crate::tail::DecodeAs::Event);
        let err = Cli::try_parse_from(["orderflow", "tail", "t", "--decode", "json"]).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("auto, command, event, snapshot, raw"), "{err}");
    }

    #[test]
    fn dlq_replay_needs_as_is_or_a_fix_file_and_a_fix_file_is_the_whole_selection() {
        let parse =
            |args: &[&str]| Cli::try_parse_from(["orderflow", "dlq", "replay"].iter().chain(args));
        let err = parse(&[]).unwrap_err().to_string();
        assert!(err.contains("--as-is"), "{err}");
        assert!(parse(&["--as-is", "--fix", "f.jsonl"]).is_err());
        assert!(parse(&["--fix", "f.jsonl", "--kind", "bad_magic"]).is_err());
        let cli = parse(&[
            "--as-is",
            "--kind",
            "bad_magic",
            "--at",
            "2:17",
            "--since",
            "1h",
        ])
        .unwrap();
        let Command::Dlq(crate::dlq::DlqCommand::Replay { options, .. }) = cli.command else {
            panic!("parsed another command")
        };
        assert_eq!(options.max_replays, 3);
        assert_eq!(options.selection.kinds, ["bad_magic"]);
        assert_eq!(options.selection.at[0].to_string(), "2:17");
        assert!(options.selection.since.unwrap() < std::time::SystemTime::now());
        let err = parse(&["--as-is", "--at", "2"]).unwrap_err().to_string();
        assert!(err.contains("<partition>:<offset>"), "{err}");
    }
}
