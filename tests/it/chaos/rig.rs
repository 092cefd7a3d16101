//! The services under test and the faults done to them: the test's own broker and Redis,
//! the ingress and processors as child processes, and the seeded fault schedule.

use super::*;

/// A service this test runs itself, started again on the same port after a kill.
pub(super) struct Service {
    pub(super) program: &'static str,
    pub(super) args: Vec<String>,
    pub(super) dir: PathBuf,
    pub(super) child: Option<Child>,
}

impl Service {
    pub(super) fn nisshi(port: u16, dir: &Path) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let args = [
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "sqlite://nisshi.db",
            "--group-initial-rebalance-delay",
            "0s",
        ];
        Self::new("nisshi", &args, dir.join("nisshi"))
    }

    pub(super) fn redis(port: u16, dir: &Path) -> Self {
        let port = port.to_string();
        let args = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        Self::new("redis-server", &args, dir.join("redis"))
    }

    pub(super) fn new(program: &'static str, args: &[&str], dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let mut service = Self {
            program,
            args: args.iter().map(|&a| a.to_owned()).collect(),
            dir,
            child: None,
        };
        service.start();
        service
    }

    pub(super) fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log"))
            .unwrap();
        let child = tokio::process::Command::new(self.program)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{}: {e} (scripts/services.sh up installs it)", self.program)
            });
        self.child = Some(child);
    }

    pub(super) async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().unwrap(); // SIGKILL
            child.wait().await.unwrap();
        }
    }
}

pub(super) async fn broker_answers(addr: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .unwrap();
    let consumer = Arc::new(consumer);
    eventually("the broker to answer", Duration::from_secs(60), || {
        let consumer = consumer.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                consumer.fetch_metadata(None, Duration::from_secs(1)).ok()
            })
            .await
            .unwrap()
            .map(|_| ())
        }
    })
    .await;
}

pub(super) async fn redis_answers(url: &str) {
    let client = redis::Client::open(url).unwrap();
    eventually("redis to answer", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            let mut connection = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Fault {
    KillProcessor(usize),
    KillIngress,
    CutPostgres,
    RestartBroker,
    RestartRedis,
    /// Redis unreachable with its data kept (through a proxy): writes it misses must be
    /// repaired, not just forgotten as a restart would.
    CutRedis,
}

/// Every kind of fault once, in a seeded order, then random ones: one every ~9 s of load.
pub(super) fn schedule(rng: &mut StdRng, load: Duration) -> Vec<Fault> {
    let mut faults = vec![
        Fault::KillProcessor(0),
        Fault::KillIngress,
        Fault::CutPostgres,
        Fault::RestartBroker,
        Fault::RestartRedis,
        Fault::CutRedis,
    ];
    faults.shuffle(rng);
    let total = (load.as_secs() / 9).max(faults.len() as u64) as usize;
    while faults.len() < total {
        faults.push(match rng.random_range(0..8) {
            0..3 => Fault::KillProcessor(rng.random_range(0..PROCESSORS)),
            3 => Fault::KillIngress,
            4 => Fault::RestartRedis,
            5 => Fault::RestartBroker,
            6 => Fault::CutRedis,
            _ => Fault::CutPostgres,
        });
    }
    faults
}

/// Everything the test runs, and how the children reach PostgreSQL (through the proxy).
pub(super) struct Rig {
    pub(super) env: TestEnv,
    /// `env` with the database behind the proxy: what the children are given.
    pub(super) children: TestEnv,
    pub(super) proxy: TcpProxy,
    /// In front of Redis, for the children (the test reads Redis directly).
    pub(super) redis_proxy: TcpProxy,
    pub(super) broker: Service,
    pub(super) redis: Service,
    pub(super) processors: Vec<Child>,
    pub(super) ingress: Child,
    pub(super) ingress_addr: String,
    pub(super) logs: PathBuf,
}

impl Rig {
    pub(super) async fn start(logs: PathBuf) -> Self {
        let (kafka_port, redis_port) = (free_port(), free_port());
        let broker = Service::nisshi(kafka_port, &logs);
        let redis = Service::redis(redis_port, &logs);
        let kafka = format!("127.0.0.1:{kafka_port}");
        let redis_url = format!("redis://127.0.0.1:{redis_port}");
        broker_answers(&kafka).await;
        redis_answers(&redis_url).await;
        let env = TestEnv::on(PARTITIONS, &kafka, &redis_url).await;
        let proxy = TcpProxy::start("127.0.0.1:5432").await;
        let redis_proxy = TcpProxy::start(&format!("127.0.0.1:{redis_port}")).await;
        let mut children = env.clone();
        children.database_url = env
            .database_url
            .replace("127.0.0.1:5432", &proxy.addr.to_string());
        children.redis = format!("redis://{}", redis_proxy.addr);
        let ingress_addr = format!("127.0.0.1:{}", free_port());
        let mut rig = Self {
            ingress: spawn_ingress(&children, &ingress_addr, &logs),
            processors: Vec::new(),
            env,
            children,
            proxy,
            redis_proxy,
            broker,
            redis,
            ingress_addr,
            logs,
        };
        for i in 0..PROCESSORS {
            let processor = rig.spawn_processor(i);
            rig.processors.push(processor);
        }
        wait_for_http(&rig.url()).await;
        rig
    }

    pub(super) fn url(&self) -> String {
        format!("http://{}", self.ingress_addr)
    }

    pub(super) fn spawn_processor(&self, i: usize) -> Child {
        let log = log_file(&self.logs, &format!("processor-{i}"));
        tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .arg("processor")
            .args(["--group-id", &self.children.group()])
            .args(["--redis-url", &self.children.redis])
            .args(["--metrics-addr", "127.0.0.1:0"])
            .args(self.children.args())
            .env("RUST_LOG", "info,librdkafka=warn,apache_avro=error")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn orderflow processor")
    }

    pub(super) async fn inflict(&mut self, fault: Fault, outage: &AtomicBool) {
        match fault {
            Fault::KillProcessor(i) => {
                let processor = &mut self.processors[i];
                processor.start_kill().unwrap(); // SIGKILL
                processor.wait().await.unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.processors[i] = self.spawn_processor(i);
            }
            Fault::KillIngress => {
                self.ingress.start_kill().unwrap();
                self.ingress.wait().await.unwrap();
                self.ingress = spawn_ingress(&self.children, &self.ingress_addr, &self.logs);
                wait_for_http(&self.url()).await;
            }
            Fault::CutPostgres => {
                self.proxy.cut();
                tokio::time::sleep(POSTGRES_OUTAGE).await;
                self.proxy.restore();
            }
            Fault::RestartBroker => {
                self.broker.kill().await;
                outage.store(true, Ordering::SeqCst);
                tokio::time::sleep(BROKER_OUTAGE).await;
                self.broker.start();
                broker_answers(&self.env.kafka).await;
                outage.store(false, Ordering::SeqCst);
            }
            Fault::CutRedis => {
                self.redis_proxy.cut();
                tokio::time::sleep(Duration::from_secs(5)).await;
                self.redis_proxy.restore();
            }
            Fault::RestartRedis => {
                self.redis.kill().await;
                tokio::time::sleep(Duration::from_secs(2)).await;
                self.redis.start();
                redis_answers(&self.env.redis).await;
            }
        }
    }
}

pub(super) fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .unwrap()
}

pub(super) fn spawn_ingress(env: &TestEnv, addr: &str, logs: &Path) -> Child {
    env.spawn_ingress_at(
        addr,
        &["--auth", "api-key", "--rate-limit", "0"],
        "warn",
        log_file(logs, "ingress").into(),
    )
}
