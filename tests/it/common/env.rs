//! A test's isolated resources (a fresh database, unique topics and consumer group) and
//! orderflow started on them, in this process or as child processes.

use std::sync::Arc;

use super::*;

/// A fresh database with orderflow's schema and unique topics: what instances of orderflow
/// (in-process or child processes) share across restarts.
#[derive(Clone)]
pub(crate) struct TestEnv {
    pub suffix: String,
    pub database_url: String,
    /// The shared broker (`KAFKA`) unless the test runs its own.
    pub kafka: String,
    pub redis: String,
    /// Dropped with the last clone: the database and topics go with it.
    _resources: Arc<Resources>,
}

/// A test's database and topics, dropped at the end of the test, unless it failed: then
/// they are kept for a look, and named.
struct Resources {
    database: String,
    topics: Vec<String>,
    /// Topics are deleted from the shared broker only; a test's own broker goes with its
    /// data folder.
    shared_broker: bool,
}

impl Drop for Resources {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "the failed test's database {} and topics {:?} are kept",
                self.database, self.topics
            );
            return;
        }
        let (database, topics, shared) = (
            std::mem::take(&mut self.database),
            std::mem::take(&mut self.topics),
            self.shared_broker,
        );
        // Drop cannot await; a thread of its own with its own runtime does the work, so
        // this works from any runtime flavour (or none).
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            runtime.block_on(drop_resources(&database, &topics, shared));
        });
        let _ = cleanup.join();
    }
}

async fn drop_resources(database: &str, topics: &[String], shared_broker: bool) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;

    if let Ok(admin) = PgPool::connect(ADMIN_DB).await {
        // FORCE ends the connections the test's orderflow may still hold.
        let drop = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&admin).await {
            eprintln!("dropping test database {database}: {error}");
        }
    }
    if shared_broker {
        let admin: Result<AdminClient<DefaultClientContext>, _> =
            ClientConfig::new().set("bootstrap.servers", KAFKA).create();
        if let Ok(admin) = admin {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
            if let Err(error) = admin.delete_topics(&names, &options).await {
                eprintln!("deleting test topics {names:?}: {error}");
            }
        }
    }
}

impl TestEnv {
    pub(crate) async fn new(partitions: i32) -> Self {
        Self::on(partitions, KAFKA, REDIS).await
    }

    /// An environment whose topics live on `kafka` and whose cache is `redis`.
    pub(crate) async fn on(partitions: i32, kafka: &str, redis: &str) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let database = format!("orderflow_test_{suffix}");
        let admin = PgPool::connect(ADMIN_DB)
            .await
            .expect("postgres is up (scripts/services.sh up)");
        // The name is ours: a fixed prefix and hex digits.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&admin)
            .await
            .expect("create test database");
        let topics = [
            "orders.commands",
            "orders.events",
            "orders.state",
            "orders.commands.dlq",
        ]
        .map(|base| format!("{base}.{suffix}"))
        .to_vec();
        let env = TestEnv {
            database_url: format!("postgres://orderflow:orderflow@127.0.0.1:5432/{database}"),
            kafka: kafka.to_owned(),
            redis: redis.to_owned(),
            _resources: Arc::new(Resources {
                database,
                topics,
                shared_broker: kafka == KAFKA,
            }),
            suffix,
        };
        let mut migrate = vec!["migrate".to_owned()];
        migrate.extend(env.args()[..2].iter().cloned());
        app::run(parse(migrate)).await.expect("migrate");
        let mut topics = vec![
            "topics".to_owned(),
            "create".to_owned(),
            "--partitions".to_owned(),
            partitions.to_string(),
        ];
        topics.extend(env.args()[2..].iter().cloned());
        app::run(parse(topics)).await.expect("create topics");
        env
    }

    pub(crate) fn topic(&self, base: &str) -> String {
        format!("{base}.{}", self.suffix)
    }

    pub(crate) fn group(&self) -> String {
        format!("orderflow-test-{}", self.suffix)
    }

    /// `--database-url` and the topic flags of this environment.
    pub(crate) fn args(&self) -> Vec<String> {
        isolation_args(&self.suffix, &self.database_url, &self.kafka)
    }

    /// A new API key of `storefront`, written straight to this environment's database.
    pub(crate) async fn api_key(&self, storefront: &str) -> String {
        let store = orderflow::store::Store::connect(&self.database_url.clone().into(), None, 2)
            .await
            .unwrap();
        let storefront = StorefrontId::parse(storefront).unwrap();
        orderflow::ingress::auth::create_key(&store, &storefront)
            .await
            .unwrap()
            .1
    }

    pub(crate) async fn db(&self) -> PgPool {
        PgPool::connect(&self.database_url)
            .await
            .expect("connect test database")
    }

    /// Starts `orderflow all` in this process.
    pub(crate) async fn start(&self, extra: &[&str]) -> TestApp {
        let mut all = vec![
            "all".to_owned(),
            "--http-addr".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--group-id".to_owned(),
            self.group(),
            "--redis-url".to_owned(),
            self.redis.clone(),
            // Tests of authentication pass `--auth api-key` (the last flag wins).
            "--auth".to_owned(),
            "none".to_owned(),
        ];
        all.extend(self.args());
        all.extend(extra.iter().map(|s| (*s).to_owned()));
        let shutdown = CancellationToken::new();
        let running: Running = app::start(parse(all).command, shutdown.clone())
            .await
            .expect("start orderflow");
        let http = running.http_addr.expect("all serves HTTP");
        let redis = redis::Client::open(self.redis.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("redis is up");
        TestApp {
            http,
            db: self.db().await,
            redis,
            suffix: self.suffix.clone(),
            env: self.clone(),
            client: reqwest::Client::new(),
            shutdown,
            running: Some(tokio::spawn(running.wait())),
        }
    }

    /// `orderflow ingress` as a child process on a free port (killed when dropped).
    pub(crate) async fn spawn_ingress(&self, extra: &[&str]) -> (tokio::process::Child, String) {
        self.spawn_ingress_logging(extra, "error", std::process::Stdio::inherit())
            .await
    }

    /// `spawn_ingress` with its logs at `rust_log` going to `stderr`.
    pub(crate) async fn spawn_ingress_logging(
        &self,
        extra: &[&str],
        rust_log: &str,
        stderr: std::process::Stdio,
    ) -> (tokio::process::Child, String) {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = self.spawn_ingress_at(&addr, extra, rust_log, stderr);
        let url = format!("http://{addr}");
        wait_for_http(&url).await;
        (child, url)
    }

    /// `orderflow ingress` listening on `addr` (killed when dropped); returns at once.
    pub(crate) fn spawn_ingress_at(
        &self,
        addr: &str,
        extra: &[&str],
        rust_log: &str,
        stderr: std::process::Stdio,
    ) -> tokio::process::Child {
        self.child("ingress", &["--http-addr", addr], extra, rust_log)
            .stderr(stderr)
            .spawn()
            .expect("spawn orderflow ingress")
    }

    /// `orderflow processor` as a child process (killed when dropped).
    pub(crate) fn spawn_processor(&self, extra: &[&str]) -> tokio::process::Child {
        let group = self.group();
        self.child(
            "processor",
            &["--group-id", &group],
            extra,
            "warn,librdkafka=error,apache_avro=error",
        )
        .spawn()
        .expect("spawn orderflow processor")
    }

    /// `orderflow <subcommand>` on this test's resources, its own flags, then `extra` (the
    /// last flag wins); stdout discarded, killed when dropped.
    fn child(
        &self,
        subcommand: &str,
        own: &[&str],
        extra: &[&str],
        rust_log: &str,
    ) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"));
        command
            .arg(subcommand)
            .args(own)
            .args(["--redis-url", &self.redis, "--metrics-addr", "127.0.0.1:0"])
            .args(self.args())
            .args(extra)
            .env("RUST_LOG", rust_log)
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }
}

/// Arguments every orderflow command needs to find this test's isolated resources.
pub(super) fn isolation_args(suffix: &str, database_url: &str, kafka: &str) -> Vec<String> {
    [
        ("--database-url", database_url.to_owned()),
        ("--kafka-brokers", kafka.to_owned()),
        ("--commands-topic", format!("orders.commands.{suffix}")),
        ("--events-topic", format!("orders.events.{suffix}")),
        ("--state-topic", format!("orders.state.{suffix}")),
        ("--dlq-topic", format!("orders.commands.dlq.{suffix}")),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value])
    .collect()
}

pub(super) fn parse(args: Vec<String>) -> Cli {
    Cli::try_parse_from(std::iter::once("orderflow".to_owned()).chain(args))
        .expect("valid test arguments")
}

/// Starts `orderflow all` (ingress + processor) on port 0 with a fresh database and topics.
pub(crate) async fn spawn_app() -> TestApp {
    TestEnv::new(3).await.start(&[]).await
}

pub(crate) async fn spawn_app_with(extra: &[&str]) -> TestApp {
    TestEnv::new(3).await.start(extra).await
}
