//! `orderflow all` running in the test's process, with clients for its HTTP API, database
//! and Redis.

use super::*;

pub(crate) struct TestApp {
    pub http: SocketAddr,
    pub db: PgPool,
    pub redis: redis::aio::MultiplexedConnection,
    pub suffix: String,
    pub env: TestEnv,
    pub client: reqwest::Client,
    pub(super) shutdown: CancellationToken,
    pub(super) running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Total next offsets stored for the commands topic: how many records were consumed.
    pub(crate) async fn consumed_commands(&self) -> i64 {
        oracle::consumed(&self.db).await
    }

    pub(crate) fn topic(&self, base: &str) -> String {
        format!("{base}.{}", self.suffix)
    }

    /// This app's topics, as its flags name them.
    pub(crate) fn topics(&self) -> orderflow::kafka::Topics {
        orderflow::kafka::Topics {
            commands: self.topic("orders.commands"),
            events: self.topic("orders.events"),
            state: self.topic("orders.state"),
            dlq: self.topic("orders.commands.dlq"),
        }
    }

    /// Waits (30 s at most) until the processor consumed `records` commands.
    pub(crate) async fn wait_consumed(&self, records: i64) {
        eventually(
            "the processor to consume every record",
            Duration::from_secs(30),
            || async { (self.consumed_commands().await >= records).then_some(()) },
        )
        .await;
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Stops orderflow and waits until it has stopped.
    pub(crate) async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.running.take() {
            task.await
                .expect("orderflow task")
                .expect("orderflow stopped cleanly");
        }
    }

    /// Reads `topic` from the beginning until `want` records arrived or `timeout` passed.
    pub(crate) async fn consume(
        &self,
        base: &str,
        want: usize,
        timeout: Duration,
    ) -> Vec<Consumed> {
        consume(&self.topic(base), want, timeout).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
