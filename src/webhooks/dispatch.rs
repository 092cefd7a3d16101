//! The dispatcher: leases due deliveries from PostgreSQL (per endpoint at most
//! `--webhooks-max-in-flight` at once, and of each (endpoint, order) only the earliest
//! pending one), attempts them concurrently, and records every attempt in batches with the
//! delivery's next state. All retry state is in PostgreSQL, so a restart (or SIGKILL) loses no
//! delivery and keeps each one's place in the schedule; a delivery leased by a dispatcher that
//! died is attempted again once its lease runs out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::attempt::{Answer, Attempt, Sender, Target};
use super::endpoints::signing_keys;
use super::schedule::RetrySchedule;
use super::secrets::SealingKey;
use super::{Data, ENDPOINT_DISABLED, Payload};
use crate::store::Store;
use crate::store::postgres::{AttemptRecord, ClaimedDelivery, DisabledEndpoint, NextStep};

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    pub schedule: RetrySchedule,
    /// Longest an attempt waits for an answer.
    pub timeout: Duration,
    /// Most attempts in flight to one endpoint.
    pub max_in_flight: usize,
    /// An endpoint whose attempts all failed for this long is disabled.
    pub disable_after: Duration,
    /// How often due retries are looked for when nothing else wakes the dispatcher.
    pub poll_interval: Duration,
    pub allow_private: bool,
}

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Most finished attempts recorded as one transaction.
const RECORD_MAX: usize = 500;
/// How often the endpoints (URLs, secrets) are read again.
const TARGETS_FRESH_FOR: Duration = Duration::from_secs(1);

pub struct Dispatcher {
    store: Store,
    key: SealingKey,
    sender: Sender,
    config: DispatchConfig,
    /// Notified when deliveries may be due: new ones written, attempts recorded.
    due: Arc<Notify>,
    in_flight: Arc<Mutex<HashMap<Uuid, usize>>>,
}

struct Finished {
    delivery: ClaimedDelivery,
    attempt: Attempt,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        key: SealingKey,
        config: DispatchConfig,
        due: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            sender: Sender::new(config.timeout, config.allow_private)?,
            store,
            key,
            config,
            due,
            in_flight: Arc::default(),
        })
    }

    /// A lease outlives an attempt (its timeout) with room to record it.
    fn lease(&self) -> Duration {
        self.config.timeout + Duration::from_secs(5)
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (finished, to_record) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(Recorder::new(&self).run(to_record));
        let mut attempts = JoinSet::new();
        let mut targets = Targets::default();
        let mut more = false;
        loop {
            if !more {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = self.due.notified() => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                }
            }
            while attempts.try_join_next().is_some() {}
            if targets.stale() {
                match self.store.enabled_webhook_endpoints().await {
                    Ok(rows) => targets.refresh(&self.key, rows),
                    Err(error) => {
                        tracing::warn!(%error, "reading webhook endpoints failed");
                        more = false;
                        continue;
                    }
                }
            }
            let (free, cap) = self.free_slots();
            let claimed = match self
                .store
                .claim_webhook_deliveries(&free, cap, self.lease())
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "claiming webhook deliveries failed");
                    more = false;
                    continue;
                }
            };
            // An endpoint created or changed (URL, secret) since the last read: read them
            // again before attempting.
            if claimed
                .iter()
                .any(|d| !targets.current(d.endpoint_id, d.endpoint_updated_at))
            {
                match self.store.enabled_webhook_endpoints().await {
                    Ok(rows) => targets.refresh(&self.key, rows),
                    Err(error) => tracing::warn!(%error, "reading webhook endpoints failed"),
                }
            }
            // A full claim may have left due deliveries behind: claim again without waiting.
            more = !claimed.is_empty() && claimed.len() >= self.config.max_in_flight;
            for mut delivery in claimed {
                *self
                    .in_flight
                    .lock()
                    .expect("in-flight counts")
                    .entry(delivery.endpoint_id)
                    .or_default() += 1;
                let target = targets.get(delivery.endpoint_id);
                let sender = self.sender.clone();
                let finished = finished.clone();
                attempts.spawn(async move {
                    let attempt = match target {
                        Some(Ok(target)) => {
                            let body = std::mem::take(&mut delivery.payload);
                            sender
                                .attempt(&target, &delivery.event_id.to_string(), body)
                                .await
                        }
                        Some(Err(why)) => unsignable(Some(why)),
                        None => unsignable(None),
                    };
                    let _ = finished.send(Finished { delivery, attempt });
                });
            }
            if more {
                // Let finished attempts free their slots before claiming again.
                tokio::task::yield_now().await;
            }
        }
        // Stopping: no new claims; attempts in flight finish (each within the timeout) and
        // are recorded.
        let deadline = tokio::time::sleep(self.config.timeout + Duration::from_secs(1));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = attempts.join_next() => if joined.is_none() { break },
                () = &mut deadline => { attempts.abort_all(); break }
            }
        }
        drop(finished);
        recorder.await?;
        Ok(())
    }

    /// Free slots of the endpoints with attempts in flight, and the slots of any other.
    fn free_slots(&self) -> (Vec<(Uuid, i32)>, i32) {
        let cap = i32::try_from(self.config.max_in_flight).unwrap_or(i32::MAX);
        let counts = self.in_flight.lock().expect("in-flight counts");
        let free = counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(id, n)| (*id, cap - i32::try_from(*n).unwrap_or(cap)))
            .collect();
        (free, cap)
    }
}

/// An attempt that could not be made: the endpoint's secret does not open (another
/// --webhooks-secret-key sealed it), or the endpoint was disabled or deleted meanwhile.
fn unsignable(why: Option<String>) -> Attempt {
    Attempt {
        started_at: Utc::now(),
        latency: Duration::ZERO,
        answer: Answer::Failed {
            status: None,
            failure: super::attempt::Failure::RefusedAddress,
            error: why.unwrap_or_else(|| "the endpoint is disabled or was deleted".to_owned()),
        },
    }
}

/// The enabled endpoints as the dispatcher sends to them.
#[derive(Default)]
struct Targets {
    by_id: HashMap<Uuid, Result<Arc<Target>, String>>,
    updated: HashMap<Uuid, chrono::DateTime<Utc>>,
    read_at: Option<Instant>,
}

impl Targets {
    fn stale(&self) -> bool {
        self.read_at
            .is_none_or(|at| at.elapsed() >= TARGETS_FRESH_FOR)
    }

    fn refresh(&mut self, key: &SealingKey, rows: Vec<crate::store::postgres::EndpointRow>) {
        let now = Utc::now();
        self.updated = rows.iter().map(|r| (r.endpoint_id, r.updated_at)).collect();
        self.by_id = rows
            .into_iter()
            .map(|row| {
                let target = match (reqwest::Url::parse(&row.url), signing_keys(key, &row, now)) {
                    (Ok(url), Ok(keys)) => Ok(Arc::new(Target { url, keys })),
                    (Err(e), _) => Err(format!("the endpoint's URL does not parse: {e}")),
                    (_, Err(e)) => {
                        tracing::error!(endpoint_id = %row.endpoint_id, "{e}");
                        Err(e.to_string())
                    }
                };
                (row.endpoint_id, target)
            })
            .collect();
        self.read_at = Some(Instant::now());
    }

    /// Whether the copy of endpoint `id` is as it was at `updated_at`.
    fn current(&self, id: Uuid, updated_at: chrono::DateTime<Utc>) -> bool {
        self.updated.get(&id) == Some(&updated_at)
    }

    fn get(&self, id: Uuid) -> Option<Result<Arc<Target>, String>> {
        self.by_id.get(&id).cloned()
    }
}

/// Records finished attempts in batches, then frees their slots.
struct Recorder {
    store: Store,
    schedule: RetrySchedule,
    disable_after: Duration,
    due: Arc<Notify>,
    in_flight: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl Recorder {
    fn new(d: &Dispatcher) -> Self {
        Self {
            store: d.store.clone(),
            schedule: d.config.schedule.clone(),
            disable_after: d.config.disable_after,
            due: d.due.clone(),
            in_flight: d.in_flight.clone(),
        }
    }

    async fn run(self, mut finished: mpsc::UnboundedReceiver<Finished>) {
        let mut batch = Vec::new();
        while finished.recv_many(&mut batch, RECORD_MAX).await > 0 {
            let records: Vec<AttemptRecord> = batch.iter().map(|f| self.record_of(f)).collect();
            self.record(&records).await;
            let mut counts = self.in_flight.lock().expect("in-flight counts");
            for f in &batch {
                let outcome = f.attempt.answer.outcome();
                metrics::counter!("orderflow_webhook_attempts_total", "outcome" => outcome)
                    .increment(1);
                metrics::histogram!("orderflow_webhook_attempt_seconds", "outcome" => outcome)
                    .record(f.attempt.latency.as_secs_f64());
                if let Some(n) = counts.get_mut(&f.delivery.endpoint_id) {
                    *n = n.saturating_sub(1);
                }
            }
            counts.retain(|_, n| *n > 0);
            drop(counts);
            for r in &records {
                let result = match r.next {
                    NextStep::Delivered => "delivered",
                    NextStep::GiveUp => "failed",
                    NextStep::RetryAt(_) | NextStep::EndpointGone => continue,
                };
                metrics::counter!("orderflow_webhook_deliveries_total", "result" => result)
                    .increment(1);
            }
            batch.clear();
            self.due.notify_one();
        }
    }

    fn record_of(&self, f: &Finished) -> AttemptRecord {
        let attempt = &f.attempt;
        let step = f.delivery.step + 1;
        let next = match &attempt.answer {
            Answer::Delivered { .. } => NextStep::Delivered,
            Answer::Gone => NextStep::EndpointGone,
            answer => {
                let retry_after = match answer {
                    Answer::Throttled { retry_after, .. } => *retry_after,
                    _ => None,
                };
                match self
                    .schedule
                    .delay_before(usize::try_from(step).unwrap_or(usize::MAX))
                {
                    None => NextStep::GiveUp,
                    Some(delay) => {
                        let wait = retry_after
                            .map_or(delay, |after| delay.max(after.min(MAX_RETRY_AFTER)));
                        NextStep::RetryAt(
                            Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                        )
                    }
                }
            }
        };
        AttemptRecord {
            delivery_id: f.delivery.delivery_id,
            endpoint_id: f.delivery.endpoint_id,
            started_at: attempt.started_at,
            latency_ms: i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX),
            status_code: attempt.answer.status().map(i32::from),
            error: attempt.answer.error(),
            next,
            step,
        }
    }

    /// Records until PostgreSQL takes it: the slots stay taken meanwhile.
    async fn record(&self, records: &[AttemptRecord]) {
        let mut wait = Duration::from_millis(100);
        loop {
            match self
                .store
                .record_webhook_attempts(records, self.disable_after, ENDPOINT_DISABLED, notice)
                .await
            {
                Ok(disabled) => {
                    for d in disabled {
                        metrics::counter!("orderflow_webhook_endpoints_disabled_total",
                            "reason" => if d.disabled_reason.as_deref() == Some("gone") { "gone" } else { "failing" })
                        .increment(1);
                        tracing::warn!(endpoint_id = %d.endpoint_id, storefront = %d.storefront_id,
                            reason = d.disabled_reason.as_deref().unwrap_or(""), "webhook endpoint disabled");
                    }
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "recording webhook attempts failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// The `webhook.endpoint_disabled` notification about `d`: its event id and body.
fn notice(d: &DisabledEndpoint) -> (Uuid, Vec<u8>) {
    let body = Payload {
        kind: ENDPOINT_DISABLED,
        timestamp: Utc::now(),
        data: Data::EndpointDisabled {
            endpoint_id: d.endpoint_id,
            url: &d.url,
            reason: d.disabled_reason.as_deref().unwrap_or("failing"),
        },
    };
    (
        Uuid::now_v7(),
        serde_json::to_vec(&body).expect("the notice serializes"),
    )
}
