//! `orderflow loadgen latency`: how long a customer waits for a command over HTTP
//! (`scripts/bench-latency.sh`). Orders go through their lives (create, update, confirm, ship,
//! re-track, deliver; some cancelled or deleted) as HTTP writes, either at a fixed arrival rate
//! (open loop: a slow server does not slow the load down) or as fast as `--connections`
//! clients get answers (closed loop: the maximum). Each command's latency runs from the moment
//! it was due to be sent to its own `handled_at` stamp in `GET /v1/commands/{id}`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;
use tokio::time::Instant;
use uuid::Uuid;

use super::lifecycle;
use crate::domain::{CommandBody, OrderId};

/// How long after a command of an order was accepted its next one is due: long enough for the
/// processor to have applied it unless it is overloaded (then the follow-up is rejected, still
/// handled and counted).
const FOLLOW_UP_AFTER: Duration = Duration::from_millis(250);

/// How the load arrives.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// A command every 1/rate seconds, whatever the answers.
    Open { rate: u32 },
    /// `connections` clients, each sending its next command when the last was answered.
    Closed { connections: usize },
}

/// A command that was accepted: when it was due and how long the POST took.
struct Sent {
    command_id: Uuid,
    due: DateTime<Utc>,
    post: Duration,
}

/// Orders waiting for their next command: (order, step, not before).
type FollowUps = Mutex<VecDeque<(OrderId, usize, Instant)>>;

#[derive(Deserialize)]
struct Accepted {
    order_id: OrderId,
    command_id: Uuid,
}

#[derive(Deserialize)]
struct CommandView {
    status: String,
    handled_at: Option<DateTime<Utc>>,
}

struct Run {
    client: reqwest::Client,
    base: String,
    api_key: Option<String>,
    follow_ups: FollowUps,
    sent: Mutex<Vec<Sent>>,
    /// Requests not accepted, by HTTP status (0: no answer).
    failed: Mutex<std::collections::BTreeMap<u16, u64>>,
    n: std::sync::atomic::AtomicU64,
}

impl Run {
    /// The next command: an order's follow-up that is due, else a new order.
    fn next(&self) -> (Option<OrderId>, usize) {
        let mut follow_ups = self.follow_ups.lock().expect("follow-ups lock");
        match follow_ups.front() {
            Some((_, _, at)) if *at <= Instant::now() => {
                let (order_id, step, _) = follow_ups.pop_front().expect("a front");
                (Some(order_id), step)
            }
            _ => (None, 0),
        }
    }

    /// Sends one command due at `due`; records it if it was accepted.
    async fn send(&self, order_id: Option<OrderId>, step: usize, due: DateTime<Utc>) {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.n.fetch_add(1, Relaxed);
        let id = order_id.unwrap_or_else(OrderId::new_random);
        let Some(body) = lifecycle(id, n, step) else {
            return;
        };
        let (method, path, json) = request(order_id, &body);
        let url = format!("{}{path}", self.base);
        let mut request = self.client.request(method, url).json(&json);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let started = Instant::now();
        let answer = match request.send().await {
            Ok(response) if response.status() == reqwest::StatusCode::ACCEPTED => {
                response.json::<Accepted>().await.map_err(|_| 202)
            }
            Ok(response) => Err(response.status().as_u16()),
            Err(_) => Err(0),
        };
        let post = started.elapsed();
        let accepted = match answer {
            Ok(accepted) => accepted,
            Err(status) => {
                *self
                    .failed
                    .lock()
                    .expect("failed lock")
                    .entry(status)
                    .or_default() += 1;
                return;
            }
        };
        self.sent.lock().expect("sent lock").push(Sent {
            command_id: accepted.command_id,
            due,
            post,
        });
        if lifecycle(accepted.order_id, n, step + 1).is_some() {
            self.follow_ups.lock().expect("follow-ups lock").push_back((
                accepted.order_id,
                step + 1,
                Instant::now() + FOLLOW_UP_AFTER,
            ));
        }
    }
}

/// The HTTP request of a command of an order's life: method, path and JSON body.
fn request(
    order_id: Option<OrderId>,
    body: &CommandBody,
) -> (reqwest::Method, String, serde_json::Value) {
    use reqwest::Method;
    fn json<T: serde::Serialize>(input: &T) -> serde_json::Value {
        serde_json::to_value(input).expect("inputs serialize")
    }
    let order = |tail: &str| match order_id {
        Some(id) => format!("/v1/orders/{id}{tail}"),
        None => "/v1/orders".to_owned(),
    };
    let empty = serde_json::json!({});
    match body {
        CommandBody::CreateOrder(input) => (Method::POST, "/v1/orders".into(), json(input)),
        CommandBody::UpdateOrder(input) => (Method::PATCH, order(""), json(input)),
        CommandBody::ConfirmOrder => (Method::POST, order("/confirm"), empty),
        CommandBody::ShipOrder(input) => (Method::POST, order("/ship"), json(input)),
        CommandBody::UpdateShipping(input) => (Method::PUT, order("/shipping"), json(input)),
        CommandBody::DeliverOrder => (Method::POST, order("/deliver"), empty),
        CommandBody::CancelOrder { reason } => (
            Method::POST,
            order("/cancel"),
            serde_json::json!({ "reason": reason }),
        ),
        CommandBody::DeleteOrder => (Method::DELETE, order(""), empty),
        other => unreachable!("an order's life has no {}", other.kind()),
    }
}

/// Loads `base` (the ingress's URL) for `duration`, then reads every accepted command's outcome
/// and prints one line: what was sent and handled, and the latency percentiles.
pub async fn latency(
    base: &str,
    api_key: Option<String>,
    load: Load,
    duration: Duration,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let run = Arc::new(Run {
        client,
        base: base.trim_end_matches('/').to_owned(),
        api_key,
        follow_ups: Mutex::new(VecDeque::new()),
        sent: Mutex::new(Vec::new()),
        failed: Mutex::default(),
        n: Default::default(),
    });
    run.warm_up().await?;
    let progress = crate::progress::bar(duration.as_secs(), "seconds of load");
    let (started, started_wall) = (Instant::now(), Utc::now());
    let mut tasks = tokio::task::JoinSet::new();
    match load {
        Load::Open { rate } => {
            let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
            let total = (duration.as_secs_f64() * f64::from(rate)) as u32;
            for i in 0..total {
                let at = started + every * i;
                tokio::time::sleep_until(at).await;
                // Due when scheduled, also if this loop fell behind: no coordinated omission.
                let due = started_wall + (at - started);
                let (order_id, step) = run.next();
                let run = run.clone();
                tasks.spawn(async move { run.send(order_id, step, due).await });
                progress.set_position(started.elapsed().as_secs());
            }
        }
        Load::Closed { connections } => {
            for _ in 0..connections {
                let run = run.clone();
                tasks.spawn(async move {
                    while started.elapsed() < duration {
                        let (order_id, step) = run.next();
                        run.send(order_id, step, Utc::now()).await;
                    }
                });
            }
            while started.elapsed() < duration {
                tokio::time::sleep(Duration::from_millis(200)).await;
                progress.set_position(started.elapsed().as_secs());
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    let loaded = started.elapsed();
    progress.finish_and_clear();

    let sent = std::mem::take(&mut *run.sent.lock().expect("sent lock"));
    let reading = crate::progress::bar(sent.len() as u64, "reading outcomes");
    let outcomes: Vec<(Sent, Option<CommandView>)> = futures::stream::iter(sent)
        .map(|sent| {
            let run = run.clone();
            let reading = reading.clone();
            async move {
                let view = run.outcome(sent.command_id).await;
                reading.inc(1);
                (sent, view)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    reading.finish_and_clear();
    let report = Report::new(&outcomes, started_wall, loaded);
    println!(
        "{} seconds={:.1} {report}",
        match load {
            Load::Open { rate } => format!("load=open rate={rate}"),
            Load::Closed { connections } => format!("load=closed connections={connections}"),
        },
        loaded.as_secs_f64(),
    );
    let failed = run.failed.lock().expect("failed lock");
    if !failed.is_empty() {
        eprintln!("requests not accepted, by HTTP status (0: no answer): {failed:?}");
    }
    Ok(())
}

impl Run {
    /// Sends orders one at a time until one is handled within 100 ms of being sent: before
    /// anything is measured the processor has its partitions (a new group's first assignment
    /// takes seconds) and its producers are warm (the first commands after that waited
    /// ~0.7 s more in a check run).
    async fn warm_up(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let due = Utc::now();
            self.send(None, 0, due).await;
            let sent = std::mem::take(&mut *self.sent.lock().expect("sent lock"));
            self.follow_ups.lock().expect("follow-ups lock").clear();
            self.failed.lock().expect("failed lock").clear();
            if let Some(sent) = sent.first()
                && let Some(CommandView {
                    handled_at: Some(at),
                    ..
                }) = self.outcome(sent.command_id).await
                && at - due < chrono::TimeDelta::milliseconds(100)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!(
            "no order sent to {} was handled within 100 ms in 60 s of trying",
            self.base
        )
    }

    /// A command's outcome, long-polled until it is handled (or 30 s passed: the server may
    /// hold a long poll for less).
    async fn outcome(&self, command_id: Uuid) -> Option<CommandView> {
        let url = format!("{}/v1/commands/{command_id}?wait=20s", self.base);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut request = self.client.get(&url);
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key);
            }
            let view: Option<CommandView> = match request.send().await {
                Ok(response) => response.json().await.ok(),
                Err(_) => None,
            };
            if view.as_ref().is_some_and(|v| v.handled_at.is_some()) || Instant::now() >= deadline {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What a run's outcomes add up to.
struct Report {
    accepted: usize,
    applied: usize,
    rejected: usize,
    pending: usize,
    accepted_per_s: f64,
    /// Commands handled (applied or rejected) while the load ran, per second.
    handled_per_s: f64,
    post_ms: Percentiles,
    applied_ms: Percentiles,
}

impl Report {
    fn new(
        outcomes: &[(Sent, Option<CommandView>)],
        started: DateTime<Utc>,
        loaded: Duration,
    ) -> Self {
        let ended = started + loaded;
        let mut report = Report {
            accepted: outcomes.len(),
            applied: 0,
            rejected: 0,
            pending: 0,
            accepted_per_s: outcomes.len() as f64 / loaded.as_secs_f64(),
            handled_per_s: 0.0,
            post_ms: Percentiles::default(),
            applied_ms: Percentiles::default(),
        };
        let (mut post, mut latency, mut in_window) = (Vec::new(), Vec::new(), 0usize);
        for (sent, view) in outcomes {
            post.push(sent.post.as_secs_f64() * 1e3);
            match view {
                Some(CommandView {
                    status,
                    handled_at: Some(at),
                }) => {
                    if status == "applied" {
                        report.applied += 1;
                    } else {
                        report.rejected += 1;
                    }
                    latency.push((*at - sent.due).as_seconds_f64() * 1e3);
                    in_window += usize::from(*at >= started && *at <= ended);
                }
                _ => report.pending += 1,
            }
        }
        report.handled_per_s = in_window as f64 / loaded.as_secs_f64();
        report.post_ms = Percentiles::of(post);
        report.applied_ms = Percentiles::of(latency);
        report
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "accepted={} applied={} rejected={} pending={} accepted_per_s={:.0} \
             handled_per_s={:.0} post_p50_ms={:.1} post_p99_ms={:.1} p50_ms={:.1} p99_ms={:.1} \
             p999_ms={:.1} max_ms={:.1}",
            self.accepted,
            self.applied,
            self.rejected,
            self.pending,
            self.accepted_per_s,
            self.handled_per_s,
            self.post_ms.p50,
            self.post_ms.p99,
            self.applied_ms.p50,
            self.applied_ms.p99,
            self.applied_ms.p999,
            self.applied_ms.max,
        )
    }
}

/// Nearest-rank percentiles of a sample (all 0 when it is empty).
#[derive(Debug, Default, PartialEq)]
struct Percentiles {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut sample: Vec<f64>) -> Self {
        if sample.is_empty() {
            return Self::default();
        }
        sample.sort_by(f64::total_cmp);
        let rank =
            |p: f64| sample[((p * sample.len() as f64).ceil() as usize).clamp(1, sample.len()) - 1];
        Percentiles {
            p50: rank(0.5),
            p99: rank(0.99),
            p999: rank(0.999),
            max: sample[sample.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of((1..=1000).rev().map(f64::from).collect());
        assert_eq!(
            p,
            Percentiles {
                p50: 500.0,
                p99: 990.0,
                p999: 999.0,
                max: 1000.0
            }
        );
        assert_eq!(Percentiles::of(vec![7.0]).p999, 7.0);
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }

    #[test]
    fn every_step_of_an_order_s_life_is_an_http_write() {
        let id = OrderId::new_random();
        for n in 0..200 {
            let order = OrderId::new_random();
            for step in 0.. {
                let Some(body) = lifecycle(order, n, step) else {
                    break;
                };
                let (method, path, _) = request((step > 0).then_some(id), &body);
                if step == 0 {
                    assert_eq!(
                        (method, path.as_str()),
                        (reqwest::Method::POST, "/v1/orders")
                    );
                } else {
                    assert!(path.starts_with(&format!("/v1/orders/{id}")), "{path}");
                }
            }
        }
    }
}
