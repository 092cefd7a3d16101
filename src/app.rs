//! Turns a parsed command line into running components.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::args::{
    DbArgs, DispatchArgs, HttpArgs, KafkaArgs, ProcessorArgs, RedisArgs, WebhookKeyArgs,
};
use crate::cli::{
    ApikeysCommand, Cli, Command, EndpointsCommand, EndpointsScope, TopicsCommand, WebhooksAction,
    WebhooksCommand,
};
use crate::domain::StorefrontId;
use crate::ingress::{self, AppState, Services};
use crate::kafka::admin;
use crate::kafka::producer::Producer;
use crate::loadgen::{self, LoadgenCommand};
use crate::processor::{Processor, ProcessorConfig};
use crate::store::{Cache, Store};
use crate::tail;
use crate::webhooks::dispatch::Scheduler;
use crate::webhooks::endpoints::{EndpointPatch, Endpoints, NewEndpoint};
use crate::webhooks::fanout::Fanout;
use crate::webhooks::retry::Retries;

/// Runs the command line's command to completion (servers: until a signal).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate(m) => {
            let report = connect_store(&m.db)
                .await?
                .migrate()
                .await
                .context("applying migrations")?;
            for migration in &report.applied {
                println!("migrate: applied {migration}");
            }
            println!(
                "migrate: {} applied now, {} applied before; the database is current",
                report.applied.len(),
                report.already
            );
            Ok(())
        }
        Command::Topics(TopicsCommand::Create {
            kafka,
            partitions,
            replication_factor,
        }) => {
            let created = admin::create_topics(
                &kafka.settings(),
                &kafka.topics(),
                partitions,
                replication_factor,
            )
            .await?;
            for name in kafka.topics().all() {
                if created.iter().any(|c| c == name) {
                    println!("topics: created {name} ({partitions} partitions)");
                } else {
                    println!("topics: {name} exists, left as it is");
                }
            }
            Ok(())
        }
        Command::Loadgen(LoadgenCommand::Preload {
            kafka,
            commands,
            concurrent_orders,
            rate,
        }) => {
            loadgen::preload(
                &kafka.settings(),
                &kafka.commands_topic,
                &kafka.codec()?,
                commands,
                concurrent_orders,
                rate,
            )
            .await
        }
        Command::Loadgen(LoadgenCommand::Watch { db, total, seconds }) => {
            let watched = match (total, seconds) {
                (Some(total), _) => loadgen::Watched::Consumed {
                    store: connect_store(&db).await?,
                    total,
                },
                (None, seconds) => loadgen::Watched::Seconds(seconds.unwrap_or_default()),
            };
            loadgen::watch(watched).await
        }
        Command::Loadgen(LoadgenCommand::Latency {
            url,
            rate,
            connections,
            duration,
            api_key,
        }) => {
            let load = match rate {
                0 => loadgen::Load::Closed { connections },
                rate => loadgen::Load::Open { rate },
            };
            loadgen::latency(&url, api_key, load, duration).await
        }
        Command::Loadgen(LoadgenCommand::WebhookReceiver { http_addr, expect }) => {
            loadgen::webhook_receiver(TcpListener::bind(http_addr).await?, expect).await
        }
        Command::Loadgen(LoadgenCommand::WebhookCeiling {
            url,
            requests,
            concurrency,
            body_bytes,
        }) => loadgen::webhook_ceiling(&url, requests, concurrency, body_bytes).await,
        Command::Loadgen(LoadgenCommand::HttpCeiling { http_addr }) => {
            loadgen::http_ceiling(TcpListener::bind(http_addr).await?).await
        }
        Command::Loadgen(LoadgenCommand::ProduceCeiling { http_addr, kafka }) => {
            let listener = TcpListener::bind(http_addr).await?;
            loadgen::produce_ceiling(
                listener,
                &kafka.settings(),
                kafka.commands_topic.clone(),
                &kafka.codec()?,
                kafka.delivery_timeout,
            )
            .await
        }
        Command::Loadgen(LoadgenCommand::IoCeiling {
            kafka,
            db,
            processor,
            stop_after,
        }) => {
            let store = connect_store(&db).await?;
            let rate = loadgen::io_ceiling(
                &kafka.settings(),
                &kafka.topics(),
                &store,
                &processor.group_id,
                processor.batch_max as usize,
                processor.batch_linger,
                stop_after,
            )
            .await?;
            println!("io_ceiling_records_per_s={rate:.0}");
            Ok(())
        }
        Command::Apikeys(ApikeysCommand::Create { storefront, db }) => {
            let storefront = StorefrontId::parse(storefront)
                .map_err(|e| anyhow::anyhow!("--storefront: {e}"))?;
            let store = connect_store(&db).await?;
            let (key_id, key) = ingress::auth::create_key(&store, &storefront).await?;
            println!("{key}");
            eprintln!("created {key_id} for storefront {storefront}; the key above is shown once");
            Ok(())
        }
        Command::Openapi => {
            print!("{}", ingress::openapi::document());
            Ok(())
        }
        Command::Webhooks(WebhooksCommand {
            action: Some(action),
            ..
        }) => match action {
            WebhooksAction::GenerateKey => {
                println!(
                    "{}",
                    crate::webhooks::secrets::SealingKey::generate_base64()
                );
                Ok(())
            }
            WebhooksAction::Endpoints(command) => manage_endpoints(command).await,
        },
        Command::Dlq(command) => crate::dlq::run(command).await,
        Command::Tail(t) => {
            let mut stdout = std::io::stdout().lock();
            tail::run(
                &t.kafka.settings(),
                &t.kafka.topics(),
                &t.kafka.codec()?,
                &t.options,
                &mut stdout,
            )
            .await?;
            Ok(())
        }
        serving => {
            crate::metrics::install(cli.telemetry.metrics_addr)?;
            start(serving, crate::shutdown::on_signal())
                .await?
                .wait()
                .await
        }
    }
}

/// Components started by [`start`].
pub struct Running {
    /// Where the HTTP API listens, when this command serves one.
    pub http_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl Running {
    /// Waits for every component; the first to fail stops the others.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let outcome = joined.context("component panicked").and_then(|r| r);
            if let Err(error) = outcome {
                self.shutdown.cancel();
                if result.is_ok() {
                    result = Err(error);
                }
            }
        }
        result
    }
}

/// Starts the serving components of `command` (ingress, processor or both).
pub async fn start(command: Command, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let mut running = Running {
        http_addr: None,
        shutdown: shutdown.clone(),
        tasks: JoinSet::new(),
    };
    match command {
        Command::Ingress(c) => {
            let (store, cache) = connect(&c.db, &c.redis).await?;
            let endpoints = endpoints_of(&c.webhooks, &store)?;
            start_ingress(&mut running, &c.http, &c.kafka, store, cache, endpoints).await?;
        }
        Command::Processor(c) => {
            let (store, cache) = connect(&c.db, &c.redis).await?;
            start_processor(&mut running, &c.processor, &c.kafka, store, cache)?;
        }
        Command::All(c) => {
            let (store, cache) = connect(&c.db, &c.redis).await?;
            // The processor publishes with a producer of its own: sharing one, its bulk
            // publishing and the ingress's single commands queued behind each other in one
            // connection's few in-flight requests (scripts/bench-e2e.sh).
            start_processor(
                &mut running,
                &c.processor,
                &c.kafka,
                store.clone(),
                cache.clone(),
            )?;
            if !start_dispatcher(&mut running, &c.dispatch, &c.webhooks, &c.kafka, &store)? {
                tracing::info!("webhooks are off: no --webhooks-secret-key");
            }
            let endpoints = endpoints_of(&c.webhooks, &store)?;
            start_ingress(&mut running, &c.http, &c.kafka, store, cache, endpoints).await?;
        }
        Command::Webhooks(c) => {
            let store = connect_store(&c.db).await?;
            if !start_dispatcher(&mut running, &c.dispatch, &c.webhooks, &c.kafka, &store)? {
                anyhow::bail!("the dispatcher needs --webhooks-secret-key (or its file)");
            }
        }
        Command::Migrate(_)
        | Command::Topics(_)
        | Command::Tail(_)
        | Command::Dlq(_)
        | Command::Loadgen(_)
        | Command::Apikeys(_)
        | Command::Openapi => {
            anyhow::bail!("not a serving command")
        }
    }
    Ok(running)
}

pub(crate) async fn connect_store(db: &DbArgs) -> anyhow::Result<Store> {
    Store::connect(
        &db.database_url,
        db.database_password.as_ref(),
        db.db_max_connections,
    )
    .await
    .context("connecting to PostgreSQL (--database-url)")
}

async fn connect(db: &DbArgs, redis: &RedisArgs) -> anyhow::Result<(Store, Cache)> {
    let store = connect_store(db).await?;
    let cache = Cache::connect(
        &redis.redis_url,
        redis.redis_password.as_ref(),
        redis.cache_ttl,
        redis.local_cache_entries,
    )
    .context("parsing --redis-url")?;
    Ok((store, cache))
}

/// A producer named `client` in the Kafka client metrics.
fn producer(kafka: &KafkaArgs, client: &'static str) -> anyhow::Result<Producer> {
    Producer::new(&kafka.settings(), kafka.delivery_timeout, client)
        .context("creating the Kafka producer (--kafka-brokers, --kafka-config)")
}

async fn start_ingress(
    running: &mut Running,
    http: &HttpArgs,
    kafka: &KafkaArgs,
    store: Store,
    cache: Cache,
    webhooks: Option<Endpoints>,
) -> anyhow::Result<()> {
    let producer = producer(kafka, "ingress")?;
    let listener = TcpListener::bind(http.http_addr)
        .await
        .with_context(|| format!("binding the HTTP API to {} (--http-addr)", http.http_addr))?;
    running.http_addr = Some(listener.local_addr()?);
    let state = AppState::new(Services {
        producer,
        codec: kafka.codec()?,
        keys: std::sync::Arc::new(ingress::auth::Keys::new(
            http.auth,
            store.clone(),
            jwt_verifier(http).await?,
        )),
        rate_limiter: ingress::ratelimit::RateLimiter::new(
            http.rate_limit,
            http.rate_burst,
            cache.clone(),
        )
        .map(std::sync::Arc::new),
        store,
        cache,
        topics: kafka.topics(),
        commands_handled: std::sync::Arc::new(tokio::sync::Notify::new()),
        max_wait: ingress::max_wait(http.request_timeout),
        stripe: stripe_webhooks(http)?.map(std::sync::Arc::new),
        webhooks,
    });
    running.tasks.spawn(ingress::listen_for_handled_commands(
        state.clone(),
        running.shutdown.clone(),
    ));
    let router = ingress::router(state, http.request_timeout);
    running
        .tasks
        .spawn(ingress::serve(listener, router, running.shutdown.clone()));
    Ok(())
}

/// The bearer-JWT verifier, when a JWKS is configured.
async fn jwt_verifier(http: &HttpArgs) -> anyhow::Result<Option<ingress::jwt::Verifier>> {
    use ingress::jwt::{JwksSource, JwtSettings, Verifier};
    let jwks = match (&http.jwks_file, &http.jwks_url) {
        (Some(path), _) => JwksSource::File(path.clone()),
        (None, Some(url)) => JwksSource::Url(url.clone()),
        (None, None) => return Ok(None),
    };
    let verifier = Verifier::load(JwtSettings {
        jwks,
        issuer: http.jwt_issuer.clone(),
        audience: http.jwt_audience.clone(),
        storefront_claim: http.jwt_storefront_claim.clone(),
    })
    .await?;
    Ok(Some(verifier))
}

fn start_processor(
    running: &mut Running,
    args: &ProcessorArgs,
    kafka: &KafkaArgs,
    store: Store,
    cache: Cache,
) -> anyhow::Result<()> {
    let producer = producer(kafka, "publisher")?;
    let processor = Processor {
        config: ProcessorConfig {
            kafka: kafka.settings(),
            topics: kafka.topics(),
            group_id: args.group_id.clone(),
            batch_max: args.batch_max as usize,
            batch_linger: args.batch_linger,
            batch_idle: args.batch_idle,
            drain_timeout: args.drain_timeout,
            order_memory_bytes: args.order_memory_mb * 1024 * 1024,
            cache_backlog_orders: usize::try_from(args.cache_backlog_orders).unwrap_or(usize::MAX),
        },
        store,
        cache,
        producer,
        codec: kafka.codec()?,
    };
    running.tasks.spawn(processor.run(running.shutdown.clone()));
    Ok(())
}

/// The Stripe webhook secrets configured, if any (their number is logged, never a secret).
fn stripe_webhooks(http: &HttpArgs) -> anyhow::Result<Option<ingress::stripe::StripeWebhooks>> {
    let webhooks = ingress::stripe::StripeWebhooks::from_config(
        &http.stripe_webhook_secrets,
        http.stripe_webhook_secrets_file.as_deref(),
    )?;
    if let Some(w) = &webhooks {
        tracing::info!(secrets = w.len(), "Stripe webhook endpoint enabled");
    }
    Ok(webhooks)
}

/// Endpoint management, when a sealing key is configured.
fn endpoints_of(keys: &WebhookKeyArgs, store: &Store) -> anyhow::Result<Option<Endpoints>> {
    Ok(keys
        .sealing_key()?
        .map(|key| Endpoints::new(store.clone(), key, keys.webhooks_allow_private)))
}

/// Starts the webhook fan-out and dispatcher; false when no sealing key is configured.
fn start_dispatcher(
    running: &mut Running,
    dispatch: &DispatchArgs,
    keys: &WebhookKeyArgs,
    kafka: &KafkaArgs,
    store: &Store,
) -> anyhow::Result<bool> {
    let Some(key) = keys.sealing_key()? else {
        return Ok(false);
    };
    let consumer = std::sync::Arc::new(Fanout::consumer(
        &kafka.settings(),
        &dispatch.webhooks_group_id,
        &kafka.events_topic,
    )?);
    let config = dispatch.config(keys.webhooks_allow_private);
    let (to_scheduler, inputs) = tokio::sync::mpsc::channel(16);
    let unrecorded = std::sync::Arc::new(tokio::sync::Semaphore::new(
        crate::webhooks::dispatch::MAX_UNRECORDED,
    ));
    let load = std::sync::Arc::new(crate::webhooks::dispatch::Load::default());
    let due = std::sync::Arc::new(tokio::sync::Notify::new());
    let fanout = Fanout {
        consumer: consumer.clone(),
        store: store.clone(),
        codec: kafka.codec()?,
        scheduler: to_scheduler.clone(),
        unrecorded: unrecorded.clone(),
    };
    let retries = Retries {
        store: store.clone(),
        codec: kafka.codec()?,
        config: config.clone(),
        load: load.clone(),
        due: due.clone(),
        scheduler: to_scheduler,
    };
    let scheduler = Scheduler {
        store: store.clone(),
        key,
        config,
        consumer,
        topic: kafka.events_topic.clone(),
        unrecorded,
        load,
        due,
    };
    let shutdown = running.shutdown.clone();
    running.tasks.spawn(fanout.run(shutdown.clone()));
    running.tasks.spawn(retries.run(shutdown.clone()));
    running.tasks.spawn(scheduler.run(inputs, shutdown));
    tracing::info!("webhook dispatcher started");
    Ok(true)
}

/// `orderflow webhooks endpoints ...`: prints the endpoint(s) as JSON.
async fn manage_endpoints(command: EndpointsCommand) -> anyhow::Result<()> {
    let scope: &EndpointsScope = match &command {
        EndpointsCommand::List { scope }
        | EndpointsCommand::Create { scope, .. }
        | EndpointsCommand::Update { scope, .. }
        | EndpointsCommand::Delete { scope, .. }
        | EndpointsCommand::RotateSecret { scope, .. } => scope,
    };
    let store = connect_store(&scope.db).await?;
    let endpoints = endpoints_of(&scope.webhooks, &store)?
        .context("endpoints need --webhooks-secret-key (or its file)")?;
    let storefront = StorefrontId::parse(scope.storefront.clone())
        .map_err(|e| anyhow::anyhow!("--storefront: {e}"))?;
    let storefront = storefront.as_str();
    let printed = match command {
        EndpointsCommand::List { .. } => {
            serde_json::to_string_pretty(&endpoints.list(storefront).await?)?
        }
        EndpointsCommand::Create {
            url,
            event_types,
            description,
            disabled,
            ..
        } => {
            let created = endpoints
                .create(
                    storefront,
                    NewEndpoint {
                        url,
                        event_types,
                        description,
                        enabled: !disabled,
                    },
                )
                .await?;
            eprintln!("created {}; its secret is shown once", created.endpoint.id);
            serde_json::to_string_pretty(&created)?
        }
        EndpointsCommand::Update {
            id,
            url,
            event_types,
            all_event_types,
            description,
            enable,
            disable,
            ..
        } => {
            let patch = EndpointPatch {
                url,
                event_types: (all_event_types || !event_types.is_empty()).then_some(event_types),
                description,
                enabled: (enable || disable).then_some(enable),
            };
            serde_json::to_string_pretty(&endpoints.update(storefront, id, patch).await?)?
        }
        EndpointsCommand::Delete { id, .. } => {
            endpoints.delete(storefront, id).await?;
            format!("deleted {id}")
        }
        EndpointsCommand::RotateSecret { id, overlap, .. } => {
            let rotated = endpoints.rotate_secret(storefront, id, overlap).await?;
            eprintln!(
                "rotated {id}; the new secret is shown once, the old one signs until {}",
                rotated
                    .endpoint
                    .previous_secret_valid_until
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            );
            serde_json::to_string_pretty(&rotated)?
        }
    };
    println!("{printed}");
    Ok(())
}
